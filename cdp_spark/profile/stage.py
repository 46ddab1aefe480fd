"""The ``profile`` stage: silver rows written by this run → rollups → ``gold.profiles``.

Incremental by default: only the ``(anchor, day)`` keys of the silver rows this run wrote
(late events and updates of old records included) and of the versions those replaced are
rolled up again; their rows in ``gold.daily_rollups`` and ``gold.attribute_candidates`` are
replaced, every other row is kept. Profiles are then aggregated again
only for the persons whose rows can have changed (:mod:`cdp_spark.profile.incremental` says
which and why); the others keep their previous row. ``--full`` rolls up every day from silver
and aggregates every person; both paths give the same tables because a rollup depends only on
its silver day and a profile row only on its person's rollups, identifiers and the config.
"""

from __future__ import annotations

import logging
import time
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from pyspark.sql import Observation
from pyspark.sql import functions as F

from cdp_spark import catalog
from cdp_spark.errors import CdpSparkError
from cdp_spark.identity.config import identity_config
from cdp_spark.observe import metrics as observed
from cdp_spark.pipeline import RunContext, StageOptions, StageResult, stage
from cdp_spark.profile.build import (
    aggregate_profiles,
    aggregated_columns,
    behaviour,
    build_profiles,
    departed_windows,
    finalise_profiles,
    lifecycle_changes,
    merge_behaviour,
    person_anchors,
    product_catalogue,
    subtract_windows,
)
from cdp_spark.profile.config import ProfileConfig, profile_config
from cdp_spark.profile.incremental import (
    SILVER_READ,
    Base,
    changed_anchors,
    config_fingerprint,
    differing_keys,
    fresh_identifiers,
    identity_changes,
    merge_pays,
    merge_possible,
    persons_to_rebuild,
    reusable_base,
    rollup_changes,
    touched_keys,
    unresolved_anchors,
    window_days,
)
from cdp_spark.profile.rollups import (
    ANCHORED_TABLES,
    ORDER_LINES,
    attribute_candidates,
    candidate_rows,
    daily_rollups,
    partials,
    removable,
    touched_dates,
    union_all,
)
from cdp_spark.profile.schema import (
    ANCHOR_TYPE,
    ANCHOR_VALUE,
    CANDIDATE_SCHEMA,
    CANDIDATES,
    EVENT_MONTH,
    LIFECYCLE_CHANGES,
    LIFECYCLE_CHANGES_SCHEMA,
    PROFILES,
    ROLLUP_KEY,
    ROLLUP_SCHEMA,
    ROLLUPS,
)
from cdp_spark.runstate import (
    LEGACY_TABLES,
    RUN_STATE,
    ProfileBuild,
    current_versions,
    read_at,
    record,
    start_from,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from pyspark.sql import DataFrame

    from cdp_spark.context import CdpContext
    from cdp_spark.identity.config import IdentityConfig
    from cdp_spark.storage.base import PartitionFilter, WriteResult

log = logging.getLogger(__name__)

IDENTITY_MAP = catalog.GOLD_IDENTITY_MAP.name


class _Laps:
    """Seconds per step of one build, for the run metrics and ``bench gold``.

    Spark is lazy: a step's time is that of the actions run in it (writes, checkpoints,
    collects), which is what a breakdown of a night needs.
    """

    def __init__(self) -> None:
        self._mark = time.perf_counter()
        self.seconds: dict[str, float] = {}

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.seconds[step] = round(self.seconds.get(step, 0.0) + now - self._mark, 2)
        self._mark = now


def _on_days(days: Sequence[date]) -> list[PartitionFilter]:
    """Partition filter of silver tables (partitioned by ``event_date``)."""
    return [("event_date", "in", [d.isoformat() for d in days])]


def _months(days: Sequence[date]) -> list[PartitionFilter]:
    """Partition filter of rollups and candidates (partitioned by ``event_month``)."""
    return [(EVENT_MONTH, "in", sorted({d.replace(day=1).isoformat() for d in days}))]


def _rows_on(ctx: CdpContext, table: str, days: Sequence[date], version: int | None = None) -> DataFrame:
    """Rollup or candidate rows of ``days`` (at ``version``, default latest); none for no days."""
    df = ctx.store.read(table, version=version, partition_filters=_months(days) if days else None)
    return df.where(F.col("event_date").isin(list(days)))


def silver_versions(ctx: CdpContext) -> dict[str, int]:
    """The current version of every silver table a profile build reads."""
    return {name: ctx.store.version(name) for name in SILVER_READ if ctx.store.exists(name)}


def silver_tables(
    ctx: CdpContext, run_date: date, dates: list[date] | None = None, versions: dict[str, int] | None = None
) -> dict[str, DataFrame]:
    """Silver tables as a run of ``run_date`` sees them (rows of later runs left out).

    ``versions``: read each table at that version (a build pins what it reads, and records it).
    """
    out: dict[str, DataFrame] = {}
    for name in SILVER_READ:
        if not (ctx.store.exists(name) if versions is None else name in versions):
            continue
        df = ctx.store.read(
            name,
            version=None if versions is None else versions[name],
            partition_filters=_on_days(dates) if dates is not None else None,
        )
        if "_run_date" in df.columns:
            df = df.where(F.col("_run_date").isNull() | (F.col("_run_date") <= F.lit(run_date)))
        out[name] = df
    return out


def profiles_as_of(ctx: CdpContext, as_of: date, config: ProfileConfig | None = None) -> DataFrame:
    """Profiles as of any past date from the stored rollups (point-in-time features).

    Uses the current identity map: person ids are today's, behaviour stops at ``as_of``. The
    product catalogue (sku → category, for ``viewed_categories``) is learnt only from order
    lines dated up to ``as_of``, so a product first sold later does not leak into the past.
    Silver keeps one version per record: a record dated up to ``as_of`` and updated after it
    (a contact's new name) states its latest values here too.
    """
    cfg = config or profile_config(ctx.config)
    store = ctx.store
    lines = (
        store.read(ORDER_LINES).where(F.col("event_date") <= F.lit(as_of))
        if store.exists(ORDER_LINES)
        else None
    )
    return build_profiles(
        store.read(ROLLUPS),
        store.read(CANDIDATES),
        store.read(IDENTITY_MAP),
        as_of,
        cfg,
        catalogue=product_catalogue(lines),
    )


class ProfileOptions(StageOptions):
    """``full``: roll every silver day up again instead of building incrementally."""

    full: bool = False


@stage(
    "profile",
    options=ProfileOptions,
    depends_on=["identity"],
    description="silver + identity map → daily rollups → gold.profiles (golden record, behaviour, RFM, lifecycle)",
    reads=[
        *ANCHORED_TABLES,
        ORDER_LINES,
        IDENTITY_MAP,
        ROLLUPS,
        CANDIDATES,
        PROFILES,
        RUN_STATE,
        *LEGACY_TABLES,
    ],
    writes=[ROLLUPS, CANDIDATES, PROFILES, LIFECYCLE_CHANGES, RUN_STATE],
)
def run_profile(ctx: CdpContext, rc: RunContext) -> StageResult:
    """Build profiles for the run date; option ``full`` rolls up every silver day again."""
    pcfg = profile_config(ctx.config)
    icfg = identity_config(ctx.config)
    store = ctx.store
    result = StageResult()
    laps = _Laps()
    if not store.exists(IDENTITY_MAP):
        log.warning("profile: %s does not exist yet (no identities resolved); nothing to build", IDENTITY_MAP)
        result.metrics = {"persons": 0}
        return result
    start = start_from(ctx, rc, [PROFILES])
    before = start.versions[PROFILES]
    previous = read_at(ctx, PROFILES, before)
    fingerprint = config_fingerprint(pcfg, icfg)
    if rc.options_as(ProfileOptions).full:
        base: Base | str = "full run requested"
    elif not store.exists(ROLLUPS):
        base = "no rollups yet"
    else:
        base = reusable_base(previous, start.written(PROFILES, before), rc.run_date, pcfg, fingerprint)
        if isinstance(base, Base):
            base = _still_readable(ctx, base)
    full = isinstance(base, str)
    versions = silver_versions(ctx)
    visible = silver_tables(ctx, rc.run_date, versions=versions)
    laps.lap("previous_snapshot")
    keys: DataFrame | None = None
    diffs: dict[str, DataFrame] = {}
    metrics: dict[str, Any] = {
        "mode": "full" if full else "incremental",
        "full_reason": base if full else None,
    }
    if isinstance(base, Base):
        # Silver rows written since the previous snapshot (more than one run date when a run
        # stopped before its profiles): the keys of their event dates are rolled up again.
        days: list[date] | None = _touched_days(ctx, visible, base.as_of, rc.run_date)
        tables = silver_tables(ctx, rc.run_date, days, versions) if days else {}
        laps.lap("touched_days")
        if tables:
            keys = _touched_keys(ctx, base, tables, days or [], rc.run_date, pcfg, icfg, metrics)
            laps.lap("touched_keys")
    else:
        days = None
    scopes = _scopes(days, keys)
    for name, table in (("days_rolled_up", ROLLUPS), ("candidate_days", CANDIDATES)):
        scope_days = scopes[table].days
        metrics[name] = None if scope_days is None else len(scope_days)

    for table in (ROLLUPS, CANDIDATES):
        scope = scopes[table]
        rewritten = f"{table.split('.')[-1]}_months_rewritten"
        if scope.days is None:
            tables = visible
        else:
            tables = silver_tables(ctx, rc.run_date, scope.days, versions) if scope.days else {}
        if not any(t in tables for t in ANCHORED_TABLES):
            if keys is not None:
                metrics[rewritten] = 0
            continue
        _check_partitioning(ctx, table)
        if table == ROLLUPS:
            obs = Observation("profile_partials")
            parts = partials(tables, pcfg, icfg, scope.keys).observe(
                obs,
                F.count(F.lit(1)).alias("records"),
                F.sum(F.when(F.col(ANCHOR_TYPE).isNull(), 1).otherwise(0)).alias("unanchored"),
            )
            df = daily_rollups(parts, pcfg.session_gap_minutes)
        else:
            cands_rows = candidate_rows(tables, pcfg, icfg, scope.keys)
            df = (
                attribute_candidates(cands_rows)
                if cands_rows is not None
                else ctx.spark.createDataFrame([], CANDIDATE_SCHEMA)
            )
        # The rows replaced are those the snapshot was built from when nothing wrote the table
        # since: then their comparison is also rule 1's (see ``_incremental``).
        as_of = None
        if isinstance(base, Base) and store.exists(table):
            built_from = base.rollups_version if table == ROLLUPS else base.candidates_version
            as_of = base.as_of if store.version(table) == built_from else None
        out, months, diff = _replace_rows(ctx, table, df, scope.days, scope.keys, rc, as_of, laps)
        if diff is not None:
            diffs[table] = diff
        metrics[rewritten] = months
        result.wrote(table, None if out is None or out.skipped else out.version)
        laps.lap(table)
        if table == ROLLUPS:
            result.rows_out += out.rows_written if out is not None else 0
            seen = observed(obs) if out is None or not out.skipped else None
            if seen is not None:
                result.rows_in = int(seen.get("records") or 0)
                metrics["records_rolled_up"] = result.rows_in
                # With keys, records without an identifier have no key: counted among the
                # rows written (``_touched_keys``), not here.
                metrics.setdefault("records_without_identifier", int(seen.get("unanchored") or 0))
    for table, schema in ((ROLLUPS, ROLLUP_SCHEMA), (CANDIDATES, CANDIDATE_SCHEMA)):
        if not store.exists(table):
            store.create(table, schema, partition_by=[EVENT_MONTH])

    identity_version = store.version(IDENTITY_MAP)  # recorded as read (nothing else writes it meanwhile)
    identity_map = store.read(IDENTITY_MAP)
    catalogue = product_catalogue(visible.get(ORDER_LINES))
    if isinstance(base, Base):
        profiles, counts = _incremental(
            ctx, base, scopes, diffs, identity_map, rc.run_date, pcfg, catalogue, laps
        )
        metrics.update(counts)
    else:
        profiles = build_profiles(
            store.read(ROLLUPS), store.read(CANDIDATES), identity_map, rc.run_date, pcfg, catalogue=catalogue
        )
    laps.lap("aggregate")
    rolled_up = scopes[ROLLUPS]
    if rolled_up.days is None or rolled_up.days:
        rolled = (
            store.read(ROLLUPS)
            if rolled_up.days is None
            else _keyed(_rows_on(ctx, ROLLUPS, rolled_up.days), rolled_up.keys)
        )
        metrics["unresolved_anchors"] = unresolved_anchors(rolled, identity_map, rc.run_date)
    laps.lap("unresolved_anchors")
    # The finalised rows are computed once, by the write; what else needs them (stage changes,
    # counts) reads the committed version back: two columns of Parquet. Checkpointing them
    # for those readers instead holds every row in memory first, and was slower.
    out = store.write(PROFILES, profiles, mode="overwrite", txn=rc.txn(PROFILES))
    result.wrote(PROFILES, None if out.skipped else out.version)
    profiles = store.read(PROFILES, version=out.version)
    changes = lifecycle_changes(previous, profiles, rc.run_date)
    laps.lap("finalise_and_write_profiles.profiles")
    out = store.write(
        LIFECYCLE_CHANGES,
        changes.select(*[F.col(f.name).cast(f.dataType) for f in LIFECYCLE_CHANGES_SCHEMA.fields]),
        mode="replace_where",
        partition_by=["run_date"],
        replace_where=[("run_date", "=", rc.run_date.isoformat())],
        txn=rc.txn(LIFECYCLE_CHANGES),
    )
    result.wrote(LIFECYCLE_CHANGES, None if out.skipped else out.version)
    laps.lap("finalise_and_write_profiles")
    stages = {r["lifecycle_stage"]: r["count"] for r in profiles.groupBy("lifecycle_stage").count().collect()}
    metrics["persons"] = sum(stages.values())
    metrics["lifecycle"] = dict(sorted(stages.items()))
    out = record(
        ctx,
        rc,
        inputs={PROFILES: before, IDENTITY_MAP: identity_version, **versions},
        outputs=current_versions(ctx, [PROFILES, ROLLUPS, CANDIDATES, LIFECYCLE_CHANGES]),
        profile=ProfileBuild(
            as_of_date=rc.run_date,
            mode=metrics["mode"],
            full_reason=metrics["full_reason"],
            config_fingerprint=fingerprint,
            persons=metrics["persons"],
            persons_rebuilt=metrics.get("persons_rebuilt", metrics["persons"]),
        ),
    )
    result.wrote(RUN_STATE, None if out.skipped else out.version)
    laps.lap("record_build")
    metrics["step_seconds"] = laps.seconds
    result.metrics = metrics
    return result


def _replace_rows(
    ctx: CdpContext,
    table: str,
    rows: DataFrame,
    days: list[date] | None,
    keys: DataFrame | None,
    rc: RunContext,
    as_of: date | None = None,
    laps: _Laps | None = None,
) -> tuple[WriteResult | None, int | None, DataFrame | None]:
    """Write rolled-up ``rows`` (of ``keys``, or whole ``days``, or everything when ``days`` is
    None) into ``table``; returns the write (None: nothing changed), the months rewritten and,
    with keys and ``as_of`` (the snapshot's date), the comparison of the keys' rows as
    :func:`~cdp_spark.profile.incremental.rollup_changes` gives it (checkpointed).

    A month partition is rewritten whole (its new rows of the keys + its other rows as they
    were), so with keys only the months where a key's rows differ from the stored ones are:
    a night's silver rows touch keys on days scattered over the years (contacts updated today
    keep their old creation day), and almost all of those keys roll up as before. At 10k
    persons x 365 days a night rolled up 402 keys on 44 days; their rollup rows changed in one
    month and their attribute candidates in 36. Before, every month holding one of the 44
    days was rewritten with all its rows. The step's time did not change at that size: it is
    computing the keys from those days of silver and comparing them, not writing.
    """
    store = ctx.store
    laps = laps or _Laps()  # a caller without laps (a test) times into a throwaway
    diff: DataFrame | None = None
    if days is None:
        out = store.write(table, rows, mode="overwrite", partition_by=[EVENT_MONTH], txn=rc.txn(table))
        return out, None, None
    if keys is None:
        months, rewritten = _months(days), len({d.replace(day=1) for d in days})
        new = rows
        others = store.read(table, partition_filters=months).where(~F.col("event_date").isin(days))
    else:
        stored = _keyed(store.read(table, partition_filters=_months(days)), keys)
        rows = rows.select(*stored.columns).localCheckpoint()  # compared, then written
        laps.lap(f"{table}.roll_up_keys")
        if as_of is not None:
            diff = rollup_changes(stored, rows, as_of, rc.run_date).localCheckpoint()
            changed = diff.select(*ROLLUP_KEY)
        else:
            changed = differing_keys(stored, rows).localCheckpoint()
        per_month = changed.groupBy(F.trunc("event_date", "month")).count().collect()
        laps.lap(f"{table}.compare")
        if not per_month:
            return None, 0, diff
        firsts = {r[0] for r in per_month}
        # A few keys are broadcast: the month's stored rows are then filtered as they are
        # read, not shuffled (and sorted) to meet them.
        changed = _small(changed, sum(r[1] for r in per_month))
        months, rewritten = [(EVENT_MONTH, "in", sorted(m.isoformat() for m in firsts))], len(firsts)
        new = rows.join(changed, list(ROLLUP_KEY), "left_semi")
        others = store.read(table, partition_filters=months).join(changed, list(ROLLUP_KEY), "left_anti")
    out = store.write(
        table,
        new.unionByName(others),
        mode="replace_where",
        partition_by=[EVENT_MONTH],
        replace_where=months,
        txn=rc.txn(table),
    )
    return out, rewritten, diff


def _touched_days(ctx: CdpContext, visible: dict[str, DataFrame], after: date, upto: date) -> list[date]:
    """Event dates of silver rows written by the runs in ``(after, upto]``.

    From the Delta log where the store can: silver tables are partitioned by ``event_date`` and
    every data file's statistics hold its ``_run_date`` range, so a file whose range meets the
    interval marks its partition (a superset of the scan's answer, never fewer days: an extra
    day is rolled up again and compares equal). Reading the log takes milliseconds; the scan
    it replaces read every silver file. Tables without statistics, or on a store that cannot
    read them, are scanned.
    """
    since = (F.col("_run_date") > F.lit(after)) & (F.col("_run_date") <= F.lit(upto))
    out: set[date] = set()
    for name, df in visible.items():
        if "_run_date" not in df.columns:
            continue
        by_day = ctx.store.partition_columns(name) == ["event_date"]
        ranges = ctx.store.file_ranges(name, "_run_date") if by_day else None
        if ranges is None:
            out.update(touched_dates(df, since))
            continue
        for r in ranges:
            day = r.partition.get("event_date")
            if day is not None and (r.low is None or r.high is None or (r.high > after and r.low <= upto)):
                out.add(date.fromisoformat(day))
    return sorted(out)


def _touched_keys(
    ctx: CdpContext,
    base: Base,
    tables: dict[str, DataFrame],
    days: list[date],
    run_date: date,
    pcfg: ProfileConfig,
    icfg: IdentityConfig,
    metrics: dict[str, Any],
) -> DataFrame | None:
    """Rollup keys the silver rows written since ``base`` touch, flagged ``rolls`` and ``states``
    (:func:`~cdp_spark.profile.incremental.touched_keys`), checkpointed (read several times).

    None (whole days are rolled up, as exact and slower) when a table has no ``_run_date``,
    or a version the previous build read cannot be read any more (vacuumed). Sets
    ``rolled_up`` and the counts in ``metrics``.
    """
    reason = None
    if any("_run_date" not in df.columns for name, df in tables.items() if name in ANCHORED_TABLES):
        reason = "a silver table has no _run_date column"
    else:
        obs = Observation("profile_written")
        try:
            written, replaced = _written_since(ctx, base.silver_versions, tables, days, base.as_of, run_date)
            keys = touched_keys(written, replaced, pcfg, icfg, obs).localCheckpoint()
        except Exception as exc:  # a version the base read is gone (vacuumed): whole days are still exact
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            reason = f"the silver versions the previous build read are not readable ({first})"
        else:
            seen = observed(obs) or {}
            metrics["rolled_up"] = "keys"
            counts = keys.agg(
                F.count(F.lit(1)).alias("touched"),
                F.sum(F.col("rolls").cast("bigint")).alias("rolls"),
                F.sum(F.col("states").cast("bigint")).alias("states"),
            ).first()
            metrics["keys_touched"] = int(counts["touched"] or 0) if counts else 0
            metrics["keys_rolled_up"] = int(counts["rolls"] or 0) if counts else 0
            metrics["candidate_keys"] = int(counts["states"] or 0) if counts else 0
            metrics["records_written"] = int(seen.get("written") or 0)
            metrics["records_without_identifier"] = int(seen.get("unanchored") or 0)
            return keys
    log.info("profile: rolling up whole days: %s", reason)
    metrics["rolled_up"] = "days"
    metrics["rolled_up_days_reason"] = reason
    return None


def _written_since(
    ctx: CdpContext,
    then: dict[str, int],
    tables: dict[str, DataFrame],
    days: list[date],
    after: date,
    upto: date,
) -> tuple[dict[str, DataFrame], dict[str, DataFrame]]:
    """Per anchored silver table: rows written by the runs in ``(after, upto]``, and the rows
    of the versions ``then`` (what the base read) that the writes may have replaced.

    Where the store reads the log, only files added or removed since ``then`` are read (an
    append-only table has no removed file at all); otherwise every file of the touched days.
    """
    since = (F.col("_run_date") > F.lit(after)) & (F.col("_run_date") <= F.lit(upto))
    written: dict[str, DataFrame] = {}
    replaced: dict[str, DataFrame] = {}
    for name, df in tables.items():
        if name not in ANCHORED_TABLES:
            continue
        version = then.get(name)  # None: the table is newer than the base, every row is new
        changes = ctx.store.file_changes(name, version) if version is not None else None
        if changes is not None:
            written[name] = changes.added.where(since)
            replaced[name] = changes.removed
        else:
            written[name] = df.where(since)
            if version is not None:
                replaced[name] = ctx.store.read(name, version=version, partition_filters=_on_days(days))
    return written, replaced


def _keyed(rows: DataFrame, keys: DataFrame | None) -> DataFrame:
    """``rows`` of the keys rolled up again (all of them when whole days were)."""
    return rows if keys is None else rows.join(keys, list(ROLLUP_KEY), "left_semi")


class _Scope(NamedTuple):
    """What a night rolls up again into one of the rollup tables: every silver day (``days``
    None: a full build), whole ``days``, or only ``keys`` (checkpointed) on ``days``."""

    days: list[date] | None
    keys: DataFrame | None


def _scopes(days: list[date] | None, keys: DataFrame | None) -> dict[str, _Scope]:
    """Per rollup table, its :class:`_Scope`: the keys :func:`touched_keys` flags for it (``rolls``
    for the rollups, ``states`` for the candidates) and the days they lie on, or the same
    whole days for both when there are no keys.

    Keys up to :data:`BROADCAST_PERSONS` are marked for broadcast: every join that picks rows by
    key (silver rows of the days read, stored rows of the months compared) then filters them
    as they are scanned instead of shuffling all of them to meet a few keys.
    """
    if keys is None:
        return {ROLLUPS: _Scope(days, None), CANDIDATES: _Scope(days, None)}
    per_day = (
        keys.groupBy("event_date")
        .agg(
            F.sum(F.col("rolls").cast("bigint")).alias("r"),
            F.sum(F.col("states").cast("bigint")).alias("s"),
        )
        .collect()
    )
    rolls, states = sum(r.r for r in per_day), sum(r.s for r in per_day)
    return {
        ROLLUPS: _Scope(
            sorted(r.event_date for r in per_day if r.r),
            _small(keys.where("rolls").select(*ROLLUP_KEY), rolls),
        ),
        CANDIDATES: _Scope(
            sorted(r.event_date for r in per_day if r.s),
            _small(keys.where("states").select(*ROLLUP_KEY), states),
        ),
    }


def _still_readable(ctx: CdpContext, base: Base) -> Base | str:
    """``base``, or why the rollup versions it was built from cannot be read any more.

    The incremental path compares today's rollups with the versions the previous snapshot was
    built from. A rewrite of those tables (OPTIMIZE, a manual repair) followed by a VACUUM with
    a retention shorter than the time since that build deletes their files; the right answer
    then is a full rebuild with the reason on record, not a failed night. The version's log
    entry and a stat of every data file it names prove the files are there (milliseconds);
    a store that cannot list them reads every file's footer instead (a count, seconds).
    """
    for table, version in ((ROLLUPS, base.rollups_version), (CANDIDATES, base.candidates_version)):
        try:
            missing = ctx.store.missing_files(table, version)
            if missing is None:
                ctx.store.read(table, version=version).count()
            elif missing:
                raise FileNotFoundError(f"{missing} data files of the version are gone")
        except Exception as exc:  # missing log entry or data file: any failure means "not reusable"
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            log.warning(
                "profile: %s version %s is not readable (%s); rebuilding in full", table, version, first
            )
            return f"{table} version {version}, which the previous profiles were built from, is not readable (vacuumed?)"
    return base


def _check_partitioning(ctx: CdpContext, table: str) -> None:
    """Tables of an earlier version were partitioned by day; say how to move on."""
    store = ctx.store
    if store.exists(table):
        parts = store.partition_columns(table)
        if parts != [EVENT_MONTH]:
            raise CdpSparkError(
                f"{table} is partitioned by {parts}, this version partitions it by [{EVENT_MONTH}]: "
                f"delete {store.location(table)} and run the profile stage with --full to rebuild it"
            )


def _incremental(
    ctx: CdpContext,
    base: Base,
    scopes: Mapping[str, _Scope],
    diffs: Mapping[str, DataFrame],
    identity_map: DataFrame,
    run_date: date,
    config: ProfileConfig,
    catalogue: DataFrame | None,
    laps: _Laps,
) -> tuple[DataFrame, dict[str, Any]]:
    """Profiles from ``base``: persons whose rows can have changed are aggregated again, those
    whose only changes are new mergeable rows, new identifiers without history and removable
    rows on days that left a window get the new rows merged in and the departed ones
    subtracted from their windows, everyone else keeps their row.

    Returns the profiles and the counts ``persons_rebuilt``, ``persons_merged``,
    ``persons_merged_new_identifiers`` (merged persons who also gained identifiers),
    ``persons_merged_departed_days`` (merged persons whose rows on days that left a window
    were subtracted from it), ``rollup_rows_per_person`` (the history's depth ``auto`` weighed,
    None when it did not) and ``persons_merge_candidates`` (persons who could have been
    merged; ``merge_new_rows`` decides whether they were, or were aggregated again with the
    rest; None when the setting or the history's depth ruled merging out before they were
    told apart, see :func:`~cdp_spark.profile.incremental.merge_possible`).
    """
    store = ctx.store
    # Whether merging can pay is known before anything is counted when the setting or the
    # history's depth rules it out (``auto`` below MERGE_MIN_ROWS_PER_PERSON rows per person,
    # counted from file metadata): then the persons it would merge are simply aggregated again
    # with the rest, found in the same join, and the passes that tell them apart are skipped.
    depth = None
    if config.merge_new_rows == "auto":
        rows = store.read(ROLLUPS, version=base.rollups_version).count()
        persons_then = base.persons if base.persons is not None else base.profiles.count()
        depth = round(rows / max(persons_then, 1), 2)
    may_merge = merge_possible(config.merge_new_rows, depth)
    changed: list[DataFrame] = []
    appended: DataFrame | None = None
    # Rule 1: rows of the keys rolled up again that differ from what the base was built from.
    # ``diffs``: the same comparisons, made while writing the rows when the table versions
    # replaced were those the base was built from (the usual night): not made twice.
    days, keys = scopes[ROLLUPS]
    if days:
        diff = diffs.get(ROLLUPS)
        if diff is None:
            before, after = _rows_on(ctx, ROLLUPS, days, base.rollups_version), _rows_on(ctx, ROLLUPS, days)
            diff = rollup_changes(
                _keyed(before, keys), _keyed(after, keys), base.as_of, run_date
            ).localCheckpoint()
        if may_merge:
            changed.append(diff.where(~F.col("appended")))
            appended = diff.where(F.col("appended")).select(*ROLLUP_KEY)
        else:
            changed.append(diff)
    days, keys = scopes[CANDIDATES]
    if days:
        cands = diffs.get(CANDIDATES)
        if cands is None:
            before, after = (
                _rows_on(ctx, CANDIDATES, days, base.candidates_version),
                _rows_on(ctx, CANDIDATES, days),
            )
            cands = changed_anchors(_keyed(before, keys), _keyed(after, keys))
        changed.append(cands)
    entered = [base.as_of + timedelta(days=k) for k in range(1, (run_date - base.as_of).days + 1)]
    left = [d for d in window_days(base.as_of, run_date, config.windows) if d <= base.as_of]
    if entered:  # rule 2: rows the base held beyond its as-of date (newer rows are rule 1's)
        changed.append(_rows_on(ctx, ROLLUPS, entered, base.rollups_version))
        changed.append(_rows_on(ctx, CANDIDATES, entered, base.candidates_version))
    departing: DataFrame | None = None
    if left and may_merge:  # rule 3: rows on days that left a behaviour window (the golden record has none)
        left_rows = _rows_on(ctx, ROLLUPS, left).localCheckpoint()  # read here, in _merging, departed_windows
        changed.append(left_rows.where(~removable()))  # cannot be subtracted from a window
        departing = left_rows.where(removable())
    elif left:
        changed.append(_rows_on(ctx, ROLLUPS, left))
    laps.lap("persons_to_rebuild.rules_1_to_3")
    identity = identity_changes(identity_map, base.profiles, base.as_of).localCheckpoint()  # rule 4
    laps.lap("persons_to_rebuild.identity_changes")
    grown = _grown_without_history(ctx, base, identity, identity_map, run_date) if may_merge else None
    if grown is not None:
        identity = identity.join(grown, "person_id", "left_anti")
    laps.lap("persons_to_rebuild.grown_without_history")
    persons = persons_to_rebuild(changed, identity_map, identity).localCheckpoint()
    rebuilt_count = persons.count()
    laps.lap("persons_to_rebuild.persons")
    merging = None
    candidates: int | None = None
    if may_merge:
        merging = _merging(
            appended, grown, departing, identity_map, _small(persons, rebuilt_count), base.profiles
        )
        candidates = merging.count() if merging is not None else 0
    laps.lap("persons_to_rebuild.merging")
    if (
        merging is not None
        and candidates
        and not merge_pays(config.merge_new_rows, candidates, rebuilt_count, depth)
    ):
        persons = persons.unionByName(merging).localCheckpoint()  # aggregated again with the rest
        rebuilt_count += candidates
        merging = None
    persons = _small(persons, rebuilt_count)
    laps.lap("persons_to_rebuild")
    rebuilt = aggregate_profiles(
        store.read(ROLLUPS),
        store.read(CANDIDATES),
        identity_map.join(persons, "person_id", "left_semi"),
        run_date,
        config,
        few_persons=rebuilt_count <= BROADCAST_PERSONS,
    )
    # The aggregated and merged persons are read twice by finalise_profiles (RFM cut points
    # over everybody, then the rows): checkpointed, their history is scanned once.
    parts = [rebuilt.localCheckpoint()]
    laps.lap("aggregate.aggregate")
    subtracted = 0
    untouched = base.profiles.join(persons, "person_id", "left_anti")
    if merging is not None and candidates:
        merging = _small(merging, candidates)
        if appended is not None:  # appended keys lie after the snapshot: only those days are read
            new_keys = _small(appended, appended.count())  # the night's new keys: broadcast when few
            new_rows = _rows_on(ctx, ROLLUPS, entered).join(new_keys, list(ROLLUP_KEY), "left_semi")
        else:  # new identifiers without any new row
            new_rows = ctx.spark.createDataFrame([], ROLLUP_SCHEMA)
        ids = identity_map.join(merging, "person_id", "left_semi")
        stored = base.profiles.join(merging, "person_id", "left_semi")
        anchors = person_anchors(ids)
        if candidates <= BROADCAST_PERSONS:
            anchors = F.broadcast(anchors)
        new = behaviour(new_rows, anchors, run_date, config)
        merged = merge_behaviour(stored, new, config, identity_map=ids)
        if departing is not None:  # the days that left a window, taken out of it
            departed = departed_windows(departing, anchors, base.as_of, run_date, config)
            departed = departed.localCheckpoint()
            subtracted = departed.count()
            merged = subtract_windows(merged, departed, config)
        parts.append(merged.localCheckpoint())
        laps.lap("aggregate.merge")
        untouched = untouched.join(merging, "person_id", "left_anti")
    parts.append(untouched.select(*aggregated_columns(config)))
    profiles = finalise_profiles(union_all(parts), run_date, config, catalogue=catalogue)
    counts = {
        "persons_rebuilt": rebuilt_count,
        "persons_merge_candidates": candidates,
        "persons_merged": 0,
        "persons_merged_new_identifiers": 0,
        "persons_merged_departed_days": subtracted,
        "rollup_rows_per_person": depth,
    }
    if merging is not None:
        counts["persons_merged"] = candidates or 0
        if grown is not None:
            counts["persons_merged_new_identifiers"] = merging.join(grown, "person_id", "left_semi").count()
    return profiles, counts


#: Person sets up to this many rows are broadcast to the joins that pick their rows. Their
#: checkpoints carry the size estimate of the plan that computed them (far above Spark's
#: broadcast threshold), so without the hint the planner shuffles the other side, the whole
#: previous snapshot, before AQE sees the real size (twice, for a few percent of its
#: persons). A million ids are ~60 MB.
BROADCAST_PERSONS = 1_000_000


def _small(persons: DataFrame, rows: int) -> DataFrame:
    """``persons`` (or their identifiers, or rollup keys; counted: ``rows``) marked for broadcast
    when they are few enough."""
    return F.broadcast(persons) if rows <= BROADCAST_PERSONS else persons


def _grown_without_history(
    ctx: CdpContext, base: Base, identity: DataFrame, identity_map: DataFrame, run_date: date
) -> DataFrame | None:
    """Persons of :func:`identity_changes` marked ``grown`` whose new identifiers held no rollup
    or candidate row the snapshot was built from (checkpointed), or None if there are none.

    An identifier moved over from another person (a merge) is new to this person but brings
    that person's history, which the stored row lacks: such persons are aggregated again. A
    brand-new identifier has no row at the base versions; its rows are all new keys, which
    rule 1 sees (appended, or else the person is aggregated again).
    """
    grown = identity.where(F.col("grown")).select("person_id")
    if "first_run" not in identity_map.columns or grown.isEmpty():
        return None
    fresh = fresh_identifiers(identity_map, grown, base.as_of).localCheckpoint()
    # A night's fresh identifiers are few: broadcast, they filter the history as it is scanned.
    wanted = _small(fresh.select(ANCHOR_TYPE, ANCHOR_VALUE).distinct(), fresh.count())
    upto = F.col("event_date") <= F.lit(run_date)  # later rows are invisible to both builds
    held = [
        store_rows.where(upto)
        .select(ANCHOR_TYPE, ANCHOR_VALUE)
        .join(wanted, [ANCHOR_TYPE, ANCHOR_VALUE], "left_semi")
        for store_rows in (
            ctx.store.read(ROLLUPS, version=base.rollups_version),
            ctx.store.read(CANDIDATES, version=base.candidates_version),
        )
    ]
    with_history = fresh.join(
        held[0].unionByName(held[1]).distinct(), [ANCHOR_TYPE, ANCHOR_VALUE], "left_semi"
    )
    out = grown.join(with_history.select("person_id"), "person_id", "left_anti").localCheckpoint()
    return out if not out.isEmpty() else None


def _merging(
    appended: DataFrame | None,
    grown: DataFrame | None,
    departing: DataFrame | None,
    identity_map: DataFrame,
    rebuilt: DataFrame,
    previous: DataFrame,
) -> DataFrame | None:
    """Persons whose only changes are appended rollup keys, new identifiers without history and
    removable rows on days that left a window (checkpointed), or None if there are none."""
    frames: list[DataFrame] = []
    for rows in (appended, departing):
        if rows is not None:
            frames.append(
                rows.select(ANCHOR_TYPE, ANCHOR_VALUE)
                .distinct()
                .join(person_anchors(identity_map), [ANCHOR_TYPE, ANCHOR_VALUE])
                .select("person_id")
            )
    if grown is not None:
        frames.append(grown.select("person_id"))
    if not frames:
        return None
    persons = (
        union_all(frames)
        .distinct()
        .join(rebuilt, "person_id", "left_anti")
        .join(previous.select("person_id"), "person_id", "left_semi")  # new persons are rebuilt anyway
        .localCheckpoint()
    )
    return persons if not persons.isEmpty() else None
