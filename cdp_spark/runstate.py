"""``ops.run_state``: one row per finished run of a stage, saying what it started from and left.

A row holds the run's stage, run date and run id, the versions of the tables it read
(``inputs``: table → version, null where the table did not exist) and of the tables it
left behind (``outputs``), and typed fields a stage needs beyond versions (``profile``:
how a profile build was made). Stages append their row as their last commit, with their
idempotency token, so a row means the run finished, and a resume of the same generation
writes none twice. Three things read it:

* **Reruns of a date.** Stages that continue from their own previous output (identity from
  ``gold.identity_map`` and ``silver.identity_edges``, profile from ``gold.profiles``, tags
  from ``gold.tags``) also write what changed against it (person merges and splits,
  lifecycle transitions, tags gained and lost). A rerun of a date must start from that
  output as it was before the date's first run, not from its own earlier output, or it would
  report no changes and identity would not reproduce the same ids. :func:`start_from` gives
  a rerun the ``inputs`` of the date's first recorded run.
* **The first run of a date** starts from the current versions; if an earlier attempt of the
  date wrote one of those tables and stopped before recording its row (the table carries the
  attempt's idempotency token), it starts from the ``outputs`` of the stage's run before.
* **Incremental profile builds.** The row whose ``outputs`` hold the snapshot's version says
  which rollups it was built from, as of when, with which configuration, and which silver
  versions it read (:func:`cdp_spark.profile.incremental.reusable_base`).

Rerunning an older date after later dates built on it is refused: it would rewrite the
history the later runs were computed from.

Workspaces written before this table existed kept the same facts in ``ops.stage_state``,
``ops.identity_runs`` and ``ops.profile_builds``; :func:`migrate_legacy` copies their rows
into this table once (:func:`legacy_states` says how).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from pyspark.sql import functions as F
from pyspark.sql.types import (
    DateType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from cdp_spark import catalog
from cdp_spark.errors import CdpSparkError
from cdp_spark.storage import Txn

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Row, SparkSession

    from cdp_spark.context import CdpContext
    from cdp_spark.pipeline import RunContext
    from cdp_spark.storage.base import WriteResult

log = logging.getLogger(__name__)

RUN_STATE = catalog.OPS_RUN_STATE.name

#: ``succeeded``: the run finished (every row a stage writes). ``started``: a row migrated from
#: a record the old tables wrote when a run started; whether that run finished is not known.
Status = Literal["succeeded", "started"]
BuildMode = Literal["full", "incremental"]

_VERSIONS = MapType(StringType(), LongType(), valueContainsNull=True)
PROFILE_BUILD_SCHEMA = StructType(
    [
        StructField("as_of_date", DateType(), False),
        StructField("mode", StringType(), False),  # full | incremental
        StructField("full_reason", StringType(), True),  # why a build was full
        StructField("config_fingerprint", StringType(), False),  # profile.yaml + identity.yaml
        StructField("persons", LongType(), False),
        StructField("persons_rebuilt", LongType(), False),
    ]
)
RUN_STATE_SCHEMA = StructType(
    [
        StructField("stage", StringType(), False),
        StructField("run_date", DateType(), False),
        StructField("run_id", StringType(), False),
        StructField("generation", IntegerType(), True),  # null in rows migrated without one
        StructField("status", StringType(), False),
        StructField("recorded_at", TimestampType(), False),
        StructField("inputs", _VERSIONS, False),  # table -> version read (null: did not exist)
        StructField("outputs", _VERSIONS, False),  # table -> version the run left it at
        StructField("profile", PROFILE_BUILD_SCHEMA, True),  # profile stage only
    ]
)


@dataclass(frozen=True)
class ProfileBuild:
    """How a profile build was made (the ``profile`` column)."""

    as_of_date: date
    mode: BuildMode
    full_reason: str | None
    config_fingerprint: str
    persons: int
    persons_rebuilt: int


@dataclass(frozen=True)
class RunState:
    """One row of ``ops.run_state``."""

    stage: str
    run_date: date
    run_id: str
    generation: int | None
    status: Status
    recorded_at: datetime
    inputs: Mapping[str, int | None] = field(default_factory=dict)
    outputs: Mapping[str, int | None] = field(default_factory=dict)
    profile: ProfileBuild | None = None

    def as_row(self) -> tuple[Any, ...]:
        build = self.profile
        return (
            self.stage,
            self.run_date,
            self.run_id,
            self.generation,
            self.status,
            self.recorded_at,
            dict(self.inputs),
            dict(self.outputs),
            None
            if build is None
            else (
                build.as_of_date,
                build.mode,
                build.full_reason,
                build.config_fingerprint,
                build.persons,
                build.persons_rebuilt,
            ),
        )

    @classmethod
    def from_row(cls, row: Row) -> RunState:
        build = row["profile"]
        return cls(
            stage=row["stage"],
            run_date=row["run_date"],
            run_id=row["run_id"],
            generation=row["generation"],
            status=row["status"],
            recorded_at=row["recorded_at"],
            inputs=dict(row["inputs"] or {}),
            outputs=dict(row["outputs"] or {}),
            profile=None if build is None else ProfileBuild(**build.asDict()),
        )


def frame(spark: SparkSession, states: Iterable[RunState]) -> DataFrame:
    """``states`` as rows of :data:`RUN_STATE_SCHEMA`."""
    return spark.createDataFrame([s.as_row() for s in states], RUN_STATE_SCHEMA)


def _order(state: RunState) -> tuple[datetime, str]:
    return state.recorded_at, state.run_id


def history(ctx: CdpContext, stage: str) -> list[RunState]:
    """Every recorded run of ``stage``, oldest first."""
    if not ctx.store.exists(RUN_STATE):
        return []
    rows = ctx.store.read(RUN_STATE).where(F.col("stage") == stage).collect()
    return sorted((RunState.from_row(r) for r in rows), key=_order)


def current_versions(ctx: CdpContext, tables: Iterable[str]) -> dict[str, int | None]:
    """The current version of each of ``tables`` (None: it does not exist)."""
    store = ctx.store
    return {t: (store.version(t) if store.exists(t) else None) for t in tables}


@dataclass(frozen=True)
class Start:
    """Where a run starts: the versions of the tables it continues from, and the stage's runs."""

    versions: Mapping[str, int | None]
    runs: tuple[RunState, ...]  # the stage's recorded runs, oldest first
    rerun: bool  # a run of this date was recorded before

    def written(self, table: str, version: int | None) -> RunState | None:
        """The latest recorded run that left ``table`` at ``version``."""
        if version is None:
            return None
        return next((r for r in reversed(self.runs) if r.outputs.get(table) == version), None)


def start_from(
    ctx: CdpContext,
    rc: RunContext,
    tables: Sequence[str],
    *,
    depends: str = "were built on top of it",
    rebuild: str = "with --full to rebuild",
) -> Start:
    """The versions of ``tables`` (the stage's own earlier output) this run of ``rc.run_date``
    starts from; see the module docstring. Raises when later dates were recorded
    (``depends`` and ``rebuild`` word the refusal for the stage)."""
    migrate_legacy(ctx)
    runs = tuple(history(ctx, rc.stage))
    later = sorted({r.run_date for r in runs if r.run_date > rc.run_date})
    if later:
        raise CdpSparkError(
            f"{rc.stage}: {rc.run_date} cannot be rerun: later date(s) {', '.join(map(str, later[:3]))} "
            f"{depends}. Run the latest date instead ({rebuild})."
        )
    same = [r for r in runs if r.run_date == rc.run_date]
    first = next((r for r in same if all(t in r.inputs for t in tables)), None)
    if first is not None:
        log.info("%s: rerun of %s starts from the versions its first run started from", rc.stage, rc.run_date)
        return Start({t: first.inputs[t] for t in tables}, runs, rerun=True)
    before = next((r for r in reversed(runs) if r.run_date < rc.run_date), None)
    return Start({t: _first_run_version(ctx, rc, t, before) for t in tables}, runs, rerun=bool(same))


def _first_run_version(ctx: CdpContext, rc: RunContext, table: str, before: RunState | None) -> int | None:
    """The first run of a date starts from the current version, unless an unfinished attempt of
    the date already wrote the table: then from what the run before left (see module docstring)."""
    store = ctx.store
    if not store.exists(table):
        return None
    current = store.version(table)
    if before is not None and before.outputs.get(table) == current:
        return current  # as the run before left it (the usual night): no need to ask the log
    if store.txn_version(table, rc.txn(table).app_id) is None:
        return current
    if before is None:  # the stage never finished a run: the table holds only that attempt's output
        log.warning(
            "%s: %s was written by an unfinished attempt of %s; starting empty", rc.stage, table, rc.run_date
        )
        return None
    if table in before.outputs:
        log.info("%s: %s was written by an unfinished attempt of %s", rc.stage, table, rc.run_date)
        return before.outputs[table]
    raise CdpSparkError(
        f"{rc.stage}: an earlier attempt for {rc.run_date} wrote {table} and stopped before recording its run "
        f"in {RUN_STATE}, and the run recorded before it ({before.run_date}, migrated from an older version) "
        f"does not say which version of {table} it left. Rerun {before.run_date} with --force, then "
        f"{rc.run_date}."
    )


def record(
    ctx: CdpContext,
    rc: RunContext,
    *,
    inputs: Mapping[str, int | None],
    outputs: Mapping[str, int | None],
    profile: ProfileBuild | None = None,
) -> WriteResult:
    """Append this run's row (the stage's last commit; skipped when its generation already did)."""
    state = RunState(
        stage=rc.stage,
        run_date=rc.run_date,
        run_id=rc.run_id,
        generation=rc.generation,
        status="succeeded",
        recorded_at=datetime.now(timezone.utc),
        inputs=inputs,
        outputs=outputs,
        profile=profile,
    )
    return ctx.store.write(RUN_STATE, frame(ctx.spark, [state]), mode="append", txn=rc.txn(RUN_STATE))


def read_at(ctx: CdpContext, table: str, version: int | None) -> DataFrame | None:
    """The table at ``version`` (None when it did not exist then)."""
    return None if version is None else ctx.store.read(table, version=version)


# ------------------------------------------------------------- migration from the old tables

#: The tables ``ops.run_state`` replaces, with what each recorded:
#: ``ops.stage_state`` (stage, run_date, table, version_before, recorded_at): per table, the
#: version a date's first run of profile or tags started from; ``ops.identity_runs``
#: (run_date, run_id, generation, map_version_before, edges_version_before, recorded_at):
#: the same for identity; ``ops.profile_builds`` (run_id, run_date, as_of_date, mode,
#: full_reason, profiles_version, rollups_version, candidates_version, config_fingerprint,
#: persons, persons_rebuilt, built_at, silver_versions): one row per finished profile build.
LEGACY_TABLES = (
    catalog.OPS_STAGE_STATE.name,
    catalog.OPS_IDENTITY_RUNS.name,
    catalog.OPS_PROFILE_BUILDS.name,
)
_MIGRATION = Txn(app_id="cdp-spark/migrate/ops.run_state", version=1)
# Table names as the old rows knew them (from the catalogue: the stages import this module).
_PROFILES, _ROLLUPS, _CANDIDATES = (
    catalog.GOLD_PROFILES.name,
    catalog.GOLD_DAILY_ROLLUPS.name,
    catalog.GOLD_ATTRIBUTE_CANDIDATES.name,
)
_IDENTITY_MAP, _IDENTITY_EDGES = catalog.GOLD_IDENTITY_MAP.name, catalog.SILVER_IDENTITY_EDGES.name


def migrate_legacy(ctx: CdpContext) -> int:
    """Copy the rows of :data:`LEGACY_TABLES` into ``ops.run_state`` once; returns the rows written.

    One commit with its own idempotency token, so it happens once per workspace; the old
    tables are left as they were (nothing reads them any more; they may be deleted).
    """
    store = ctx.store
    present = [t for t in LEGACY_TABLES if store.exists(t)]
    if not present or store.txn_version(RUN_STATE, _MIGRATION.app_id) is not None:
        return 0
    rows = {t: [r.asDict() for r in store.read(t).collect()] for t in present}
    states = legacy_states(
        rows.get(catalog.OPS_STAGE_STATE.name, []),
        rows.get(catalog.OPS_IDENTITY_RUNS.name, []),
        rows.get(catalog.OPS_PROFILE_BUILDS.name, []),
    )
    if not states:
        return 0
    store.write(RUN_STATE, frame(ctx.spark, states), mode="append", txn=_MIGRATION)
    log.warning(
        "migrated %d row(s) of %s into %s; nothing reads the old tables any more, they may be deleted (%s)",
        len(states),
        ", ".join(present),
        RUN_STATE,
        ", ".join(store.location(t) for t in present),
    )
    return len(states)


def legacy_states(
    stage_state: Sequence[Mapping[str, Any]],
    identity_runs: Sequence[Mapping[str, Any]],
    profile_builds: Sequence[Mapping[str, Any]],
) -> list[RunState]:
    """The ``ops.run_state`` rows the old tables' rows say (deterministic: sorted, nothing drawn).

    * ``ops.profile_builds`` → one ``succeeded`` profile row per build: outputs the three
      versions it recorded, inputs the silver versions it read plus the ``gold.profiles``
      version its date started from (``ops.stage_state``). A build recorded before builds kept
      their silver versions gets no ``profile`` fields: it is not a base for an incremental
      build, so the next build is full and says why.
    * ``ops.stage_state`` → one ``started`` row per (stage, date) no build row covers, inputs
      the versions its first run started from (as the old reader took them: first recorded).
    * ``ops.identity_runs`` → one ``started`` identity row per row, inputs the map and edge
      versions the date's first run started from.
    """
    started: dict[tuple[str, date], dict[str, int | None]] = {}
    first_at: dict[tuple[str, date], datetime] = {}
    for r in sorted(stage_state, key=lambda r: (r["recorded_at"], r["stage"], r["run_date"], r["table"])):
        key = (r["stage"], r["run_date"])
        started.setdefault(key, {}).setdefault(r["table"], r["version_before"])
        first_at.setdefault(key, r["recorded_at"])
    out: list[RunState] = []
    built: set[tuple[str, date]] = set()
    for b in profile_builds:
        key = ("profile", b["run_date"])
        built.add(key)
        silver = b.get("silver_versions")
        build = None
        if silver is not None:
            build = ProfileBuild(
                as_of_date=b["as_of_date"],
                mode=b["mode"],
                full_reason=b["full_reason"],
                config_fingerprint=b["config_fingerprint"],
                persons=int(b["persons"]),
                persons_rebuilt=int(b["persons_rebuilt"]),
            )
        out.append(
            RunState(
                stage="profile",
                run_date=b["run_date"],
                run_id=b["run_id"],
                generation=None,
                status="succeeded",
                recorded_at=b["built_at"],
                inputs={**dict(sorted((silver or {}).items())), **started.get(key, {})},
                outputs={
                    _PROFILES: b["profiles_version"],
                    _ROLLUPS: b["rollups_version"],
                    _CANDIDATES: b["candidates_version"],
                },
                profile=build,
            )
        )
    for key, inputs in started.items():
        if key not in built:
            stage, day = key
            run_id = f"migrated-{stage}-{day.isoformat()}"
            out.append(RunState(stage, day, run_id, None, "started", first_at[key], inputs))
    for r in identity_runs:
        inputs = {_IDENTITY_MAP: r["map_version_before"], _IDENTITY_EDGES: r["edges_version_before"]}
        out.append(
            RunState(
                "identity", r["run_date"], r["run_id"], r["generation"], "started", r["recorded_at"], inputs
            )
        )
    return sorted(out, key=lambda s: (s.stage, s.run_date, *_order(s)))


def catalog_schema(_config: object, table: str) -> StructType:
    """The legacy tables' schemas, as earlier versions wrote them (the catalogue's lookup)."""
    s, d, t, long_, i = StringType(), DateType(), TimestampType(), LongType(), IntegerType()
    columns: dict[str, list[tuple[str, Any]]] = {
        catalog.OPS_STAGE_STATE.name: [
            ("stage", s), ("run_date", d), ("table", s), ("version_before", long_), ("recorded_at", t),
        ],
        catalog.OPS_IDENTITY_RUNS.name: [
            ("run_date", d), ("run_id", s), ("generation", i), ("map_version_before", long_),
            ("edges_version_before", long_), ("recorded_at", t),
        ],
        catalog.OPS_PROFILE_BUILDS.name: [
            ("run_id", s), ("run_date", d), ("as_of_date", d), ("mode", s), ("full_reason", s),
            ("profiles_version", long_), ("rollups_version", long_), ("candidates_version", long_),
            ("config_fingerprint", s), ("persons", long_), ("persons_rebuilt", long_), ("built_at", t),
            ("silver_versions", MapType(StringType(), LongType())),
        ],
    }  # fmt: skip
    return StructType([StructField(name, dtype) for name, dtype in columns[table]])
