"""The ``profile`` stage: silver days touched by this run → rollups → ``gold.profiles``.

Incremental by default: only event dates that received silver rows in this run (late events
included) are rolled up again, by replacing those ``event_date`` partitions of
``gold.daily_rollups`` and ``gold.attribute_candidates``. Profiles are then aggregated again
only for the persons whose rows can have changed (:mod:`cdp_spark.profile.incremental` says
which and why); the others keep their previous row. ``--full`` rolls up every day from silver
and aggregates every person; both paths give the same tables because a rollup depends only on
its silver day and a profile row only on its person's rollups, identifiers and the config.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING, Any

from pyspark.sql import Observation
from pyspark.sql import functions as F

from cdp_spark.identity.config import identity_config
from cdp_spark.observe import metrics as observed
from cdp_spark.pipeline import RunContext, StageResult, stage
from cdp_spark.profile.build import (
    aggregate_profiles,
    aggregated_columns,
    build_profiles,
    finalise_profiles,
    lifecycle_changes,
    product_catalogue,
)
from cdp_spark.profile.config import ProfileConfig, profile_config
from cdp_spark.profile.incremental import (
    changed_days,
    config_fingerprint,
    persons_to_rebuild,
    reusable_base,
    unresolved_anchors,
)
from cdp_spark.profile.rollups import (
    ANCHORED_TABLES,
    ORDER_LINES,
    attribute_candidates,
    candidate_rows,
    daily_rollups,
    partials,
    touched_dates,
)
from cdp_spark.profile.schema import (
    ANCHOR_TYPE,
    CANDIDATE_SCHEMA,
    CANDIDATES,
    LIFECYCLE_CHANGES,
    LIFECYCLE_CHANGES_SCHEMA,
    PROFILES,
    ROLLUP_SCHEMA,
    ROLLUPS,
)
from cdp_spark.runstate import read_before, versions_before

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pyspark.sql import DataFrame

    from cdp_spark.context import CdpContext
    from cdp_spark.storage.base import PartitionFilter

log = logging.getLogger(__name__)

IDENTITY_MAP = "gold.identity_map"


def _on_days(days: Sequence[date]) -> list[PartitionFilter]:
    return [("event_date", "in", [d.isoformat() for d in days])]


def silver_tables(ctx: CdpContext, run_date: date, dates: list[date] | None = None) -> dict[str, DataFrame]:
    """Silver tables as a run of ``run_date`` sees them (rows of later runs left out)."""
    out: dict[str, DataFrame] = {}
    for name in (*ANCHORED_TABLES, ORDER_LINES):
        if not ctx.store.exists(name):
            continue
        df = ctx.store.read(name, partition_filters=_on_days(dates) if dates is not None else None)
        if "_run_date" in df.columns:
            df = df.where(F.col("_run_date").isNull() | (F.col("_run_date") <= F.lit(run_date)))
        out[name] = df
    return out


def profiles_as_of(ctx: CdpContext, as_of: date, config: ProfileConfig | None = None) -> DataFrame:
    """Profiles as of any past date from the stored rollups (point-in-time features).

    Uses the current identity map: person ids are today's, behaviour stops at ``as_of``.
    """
    cfg = config or profile_config(ctx.config)
    store = ctx.store
    lines = store.read(ORDER_LINES) if store.exists(ORDER_LINES) else None
    return build_profiles(
        store.read(ROLLUPS),
        store.read(CANDIDATES),
        store.read(IDENTITY_MAP),
        as_of,
        cfg,
        catalogue=product_catalogue(lines),
        config_fingerprint=config_fingerprint(cfg, identity_config(ctx.config)),
    )


@stage(
    "profile",
    depends_on=["identity"],
    description="silver + identity map → daily rollups → gold.profiles (golden record, behaviour, RFM, lifecycle)",
)
def run_profile(ctx: CdpContext, rc: RunContext) -> StageResult:
    """Build profiles for the run date; option ``full`` rolls up every silver day again."""
    pcfg = profile_config(ctx.config)
    icfg = identity_config(ctx.config)
    store = ctx.store
    result = StageResult()
    if not store.exists(IDENTITY_MAP):
        log.warning("profile: %s does not exist yet (no identities resolved); nothing to build", IDENTITY_MAP)
        result.metrics = {"persons": 0}
        return result
    before = versions_before(ctx, rc, [PROFILES])
    full = bool(rc.options.get("full", False)) or not store.exists(ROLLUPS)
    visible = silver_tables(ctx, rc.run_date)
    if full:
        days: list[date] | None = None
        tables = visible
    else:
        days = list(touched_dates(visible, F.col("_run_date") == F.lit(rc.run_date)))  # type: ignore[arg-type]
        tables = silver_tables(ctx, rc.run_date, days) if days else {}
    metrics: dict[str, Any] = {
        "mode": "full" if full else "incremental",
        "days_rolled_up": None if full else len(days or []),
    }

    if tables and any(t in tables for t in ANCHORED_TABLES):
        obs = Observation("profile_partials")
        parts = partials(tables, pcfg, icfg).observe(
            obs,
            F.count(F.lit(1)).alias("records"),
            F.sum(F.when(F.col(ANCHOR_TYPE).isNull(), 1).otherwise(0)).alias("unanchored"),
        )
        rollups = daily_rollups(parts, pcfg.session_gap_minutes)
        cands_rows = candidate_rows(tables, pcfg, icfg)
        cands = (
            attribute_candidates(cands_rows)
            if cands_rows is not None
            else ctx.spark.createDataFrame([], CANDIDATE_SCHEMA)
        )
        for table, df in ((ROLLUPS, rollups), (CANDIDATES, cands)):
            if full:
                out = store.write(table, df, mode="overwrite", partition_by=["event_date"], txn=rc.txn(table))
            else:
                out = store.write(
                    table,
                    df,
                    mode="replace_where",
                    partition_by=["event_date"],
                    replace_where=_on_days(days or []),
                    txn=rc.txn(table),
                )
            result.wrote(table, None if out.skipped else out.version)
            if table == ROLLUPS:
                result.rows_out += out.rows_written
                seen = observed(obs) if not out.skipped else None
                if seen is not None:
                    result.rows_in = int(seen.get("records") or 0)
                    metrics["records_rolled_up"] = result.rows_in
                    metrics["records_without_identifier"] = int(seen.get("unanchored") or 0)
    for table, schema in ((ROLLUPS, ROLLUP_SCHEMA), (CANDIDATES, CANDIDATE_SCHEMA)):
        if not store.exists(table):
            store.create(table, schema, partition_by=["event_date"])

    identity_map = store.read(IDENTITY_MAP)
    lines = visible.get(ORDER_LINES)
    catalogue = product_catalogue(lines)
    fingerprint = config_fingerprint(pcfg, icfg)
    previous = read_before(ctx, PROFILES, before[PROFILES])
    reuse = None if full else reusable_base(previous, rc.run_date, pcfg, fingerprint)
    if isinstance(reuse, str) or reuse is None:
        metrics["profiles"] = "rebuilt"
        metrics["profiles_full_reason"] = reuse or "full run"
        profiles = build_profiles(
            store.read(ROLLUPS),
            store.read(CANDIDATES),
            identity_map,
            rc.run_date,
            pcfg,
            catalogue=catalogue,
            config_fingerprint=fingerprint,
        ).localCheckpoint()
    else:
        base, base_as_of = reuse
        days_changed = changed_days(days or [], base_as_of, rc.run_date, pcfg.windows)
        changed = {
            t: store.read(t, partition_filters=_on_days(days_changed)) if days_changed else None
            for t in (ROLLUPS, CANDIDATES)
        }
        persons = persons_to_rebuild(
            changed[ROLLUPS], changed[CANDIDATES], identity_map, base, pcfg
        ).localCheckpoint()
        rebuilt = aggregate_profiles(
            store.read(ROLLUPS),
            store.read(CANDIDATES),
            identity_map.join(persons, "person_id", "left_semi"),
            rc.run_date,
            pcfg,
            config_fingerprint=fingerprint,
        )
        kept = base.join(persons, "person_id", "left_anti").select(*aggregated_columns(pcfg))
        profiles = finalise_profiles(
            kept.unionByName(rebuilt), rc.run_date, pcfg, catalogue=catalogue
        ).localCheckpoint()
        metrics["profiles"] = "incremental"
        metrics["persons_rebuilt"] = persons.count()
        metrics["days_changed"] = len(days_changed)
    if days is None or days:
        rolled = store.read(ROLLUPS, partition_filters=None if days is None else _on_days(days))
        metrics["unresolved_anchors"] = unresolved_anchors(rolled, identity_map, rc.run_date)
    changes = lifecycle_changes(previous, profiles, rc.run_date)
    out = store.write(PROFILES, profiles, mode="overwrite", txn=rc.txn(PROFILES))
    result.wrote(PROFILES, None if out.skipped else out.version)
    out = store.write(
        LIFECYCLE_CHANGES,
        changes.select(*[F.col(f.name).cast(f.dataType) for f in LIFECYCLE_CHANGES_SCHEMA.fields]),
        mode="replace_where",
        partition_by=["run_date"],
        replace_where=[("run_date", "=", rc.run_date.isoformat())],
        txn=rc.txn(LIFECYCLE_CHANGES),
    )
    result.wrote(LIFECYCLE_CHANGES, None if out.skipped else out.version)
    stages = {r["lifecycle_stage"]: r["count"] for r in profiles.groupBy("lifecycle_stage").count().collect()}
    metrics["persons"] = sum(stages.values())
    metrics["lifecycle"] = dict(sorted(stages.items()))
    result.metrics = metrics
    return result
