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

from cdp_spark.errors import CdpSparkError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Row, SparkSession

    from cdp_spark.context import CdpContext
    from cdp_spark.pipeline import RunContext
    from cdp_spark.storage.base import WriteResult

log = logging.getLogger(__name__)

RUN_STATE = "ops.run_state"

#: ``succeeded``: the run finished (every row a stage writes).
Status = Literal["succeeded"]
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
        StructField("generation", IntegerType(), True),
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
        f"in {RUN_STATE}, and the run recorded before it ({before.run_date}) does not say which version of "
        f"{table} it left. Rerun {before.run_date} with --force, then {rc.run_date}."
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
