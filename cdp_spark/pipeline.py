"""Stage graph and runner: ``cdp-spark run <stage|nightly> --date D``.

Why it looks like this:

* Schedulers retry. A rerun of a date must resume where the last attempt failed and must not
  redo (or double-append) what already succeeded, so every stage execution is recorded in
  ``ops.runs`` and succeeded stages are skipped unless ``--force``.
* Stages write with idempotency tokens (:meth:`RunContext.txn`) whose version is the date's
  *generation*: the same for a resume, bumped by ``--force``. A stage that died after some of
  its commits re-commits nothing twice.
* Two runs for one date must not race: a lock file per date refuses the second one with a
  message naming the holder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import socket
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from cdp_spark import catalog
from cdp_spark.cost import StageCost, job_group, metered
from cdp_spark.errors import CdpSparkError, ConcurrentRunError
from cdp_spark.storage import Txn
from cdp_spark.storage.recording import RecordingStore, TableAccess

if TYPE_CHECKING:
    from pyspark.sql.types import StructType

    from cdp_spark.config import Config
    from cdp_spark.context import CdpContext
    from cdp_spark.sizing import Sizing

log = logging.getLogger(__name__)

RUNS_TABLE = catalog.OPS_RUNS.name
NIGHTLY = "nightly"
Status = Literal["succeeded", "failed", "blocked", "skipped"]


class StageOptions(BaseModel):
    """A stage's options (``cdp-spark run --full``, ``Cdp.run(options=...)``): a stage declares a
    subclass, the runner validates what it is given, and an option no planned stage takes is
    an error instead of being ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


_O = TypeVar("_O", bound=StageOptions)


@dataclass(frozen=True)
class RunContext:
    """What a stage knows about the run it is part of."""

    run_id: str
    run_date: date
    stage: str
    generation: int
    force: bool = False
    options: StageOptions = field(default_factory=StageOptions)

    def options_as(self, model: type[_O]) -> _O:
        """The validated options, typed as the stage's model."""
        if not isinstance(self.options, model):
            raise CdpSparkError(
                f"stage {self.stage}: options are {type(self.options).__name__}, not {model.__name__}"
            )
        return self.options

    def txn(self, table: str) -> Txn:
        """Idempotency token for one table written by this stage on this date."""
        return Txn(
            app_id=f"cdp-spark/{self.stage}/{table}/{self.run_date.isoformat()}", version=self.generation
        )


@dataclass
class StageResult:
    """What a stage reports back; the runner adds timing and writes it to ``ops.runs``."""

    rows_in: int = 0
    rows_out: int = 0
    tables: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    def wrote(self, table: str, version: int | None) -> None:
        if version is not None:
            self.tables[table] = version


StageFn = Callable[["CdpContext", RunContext], StageResult]


@dataclass(frozen=True)
class Stage:
    """A registered stage. ``reads`` and ``writes`` name catalogue tables (``bronze.<source>``
    stands for every configured source's table); the runner records what it really touched."""

    name: str
    fn: StageFn
    depends_on: tuple[str, ...] = ()
    description: str = ""
    group: str = NIGHTLY
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    options: type[StageOptions] = StageOptions


_STAGES: dict[str, Stage] = {}


def stage(
    name: str,
    *,
    depends_on: Sequence[str] = (),
    description: str = "",
    group: str = NIGHTLY,
    reads: Sequence[str] = (),
    writes: Sequence[str] = (),
    options: type[StageOptions] = StageOptions,
) -> Callable[[StageFn], StageFn]:
    """Register a stage function under ``name`` in pipeline ``group`` (decorator)."""

    def register(fn: StageFn) -> StageFn:
        summary = description or (fn.__doc__ or "").strip().split("\n")[0]
        _STAGES[name] = Stage(
            name=name,
            fn=fn,
            depends_on=tuple(depends_on),
            description=summary,
            group=group,
            reads=tuple(reads),
            writes=tuple(writes),
            options=options,
        )
        return fn

    return register


def registered_stages() -> dict[str, Stage]:
    """All stages in dependency order (importing the stage packages registers them)."""
    import cdp_spark.stages  # noqa: F401  (registers the built-in stages)

    return {name: _STAGES[name] for name in _topological(_STAGES)}


def _topological(stages: Mapping[str, Stage]) -> list[str]:
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise CdpSparkError(f"stage dependency cycle: {' -> '.join((*path, name))}")
        if name not in stages:
            raise CdpSparkError(f"stage {path[-1]!r} depends on unknown stage {name!r}")
        state[name] = 1
        for dep in stages[name].depends_on:
            visit(dep, (*path, name))
        state[name] = 2
        order.append(name)

    for name in sorted(stages):
        visit(name, ())
    return order


def plan(target: str, config: Config | None = None) -> list[Stage]:
    """The stages ``run <target>`` executes, in order: a group's stages as ``conf/pipelines.yaml``
    lists them (without that file, each stage's registered group, dependencies first), or one stage."""
    from cdp_spark.groups import PIPELINES_FILE, group_stages, problems

    stages = registered_stages()
    groups = group_stages(config)
    if target in groups:
        names = groups[target].stages
        if config is None or PIPELINES_FILE not in config.domains:
            return [st for name, st in stages.items() if name in names]
        found = problems(groups, stages, PIPELINES_FILE)
        if found:  # loading the config reports these; a Config built in code may skip that
            raise CdpSparkError("; ".join(found))
        return [stages[name] for name in names]
    if target not in stages:
        known = ", ".join(dict.fromkeys([*groups, *stages]))
        raise CdpSparkError(f"unknown stage {target!r}; known groups and stages: {known}")
    return [stages[target]]


# ------------------------------------------------------------------------ ops.runs


def runs_schema() -> StructType:
    from pyspark.sql.types import (
        ArrayType,
        DateType,
        DoubleType,
        IntegerType,
        LongType,
        MapType,
        StringType,
        StructField,
        StructType,
        TimestampType,
    )

    return StructType(
        [
            StructField("run_id", StringType(), False),
            StructField("pipeline", StringType(), False),
            StructField("stage", StringType(), False),
            StructField("run_date", DateType(), False),
            StructField("generation", IntegerType(), False),
            StructField("status", StringType(), False),
            StructField("started_at", TimestampType(), True),
            StructField("ended_at", TimestampType(), True),
            StructField("duration_s", DoubleType(), True),
            StructField("spark_jobs", IntegerType(), True),
            StructField("spark_stages", IntegerType(), True),
            StructField("spark_tasks", LongType(), True),
            StructField("delta_commits", IntegerType(), True),
            StructField("sizing", StringType(), True),
            StructField("input_bytes", LongType(), True),
            StructField("rows_in", LongType(), True),
            StructField("rows_out", LongType(), True),
            StructField("tables_written", MapType(StringType(), LongType()), True),
            StructField("metrics", StringType(), True),
            StructField("error", StringType(), True),
            StructField("runtime", StringType(), True),
            StructField("touched_reads", ArrayType(StringType(), True), True),
            StructField("touched_writes", ArrayType(StringType(), True), True),
        ]
    )


def catalog_schema(_config: object, table: str) -> StructType:
    if table != RUNS_TABLE:
        raise KeyError(table)
    return runs_schema()


@dataclass(frozen=True)
class StageOutcome:
    stage: str
    status: Status
    duration_s: float = 0.0
    result: StageResult | None = None
    error: str | None = None
    cost: StageCost | None = None
    access: TableAccess | None = None


@dataclass(frozen=True)
class PipelineOutcome:
    run_id: str
    target: str
    run_date: date
    generation: int
    stages: list[StageOutcome]

    @property
    def ok(self) -> bool:
        return all(s.status in ("succeeded", "skipped") for s in self.stages)

    def summary_line(self) -> str:
        """One parseable line for schedulers: ``CDP_RUN status=... key=value ...``."""
        counts = {
            s: sum(1 for o in self.stages if o.status == s)
            for s in ("succeeded", "skipped", "failed", "blocked")
        }
        duration = sum(o.duration_s for o in self.stages)
        return (
            f"CDP_RUN status={'succeeded' if self.ok else 'failed'} run_id={self.run_id} target={self.target} "
            f"date={self.run_date.isoformat()} generation={self.generation} "
            + " ".join(f"{k}={v}" for k, v in counts.items())
            + f" duration_s={duration:.1f}"
        )


class _RunLog:
    """Reads and appends ``ops.runs`` through the table store."""

    def __init__(self, ctx: CdpContext):
        self.ctx = ctx

    def history(self, run_date: date) -> list[dict[str, Any]]:
        store = self.ctx.store
        if not store.exists(RUNS_TABLE):
            return []
        rows = store.read(RUNS_TABLE).filter(f"run_date = DATE'{run_date.isoformat()}'").collect()
        return [r.asDict() for r in rows]

    def append(self, rows: list[dict[str, Any]]) -> None:
        store = self.ctx.store
        schema = runs_schema()
        if not store.exists(RUNS_TABLE):
            store.create(RUNS_TABLE, schema)
        df = self.ctx.spark.createDataFrame(
            [tuple(r.get(f.name) for f in schema.fields) for r in rows], schema
        )
        store.write(RUNS_TABLE, df, mode="append")


# ------------------------------------------------------------------------ locking


@contextlib.contextmanager
def date_lock(lock_dir: Path, run_date: date, run_id: str, *, stale_hours: float) -> Iterator[Path]:
    """Exclusive per-date lock: a file created with O_EXCL, holding who owns it.

    A lock left by a dead process on this host, or older than ``stale_hours``, is taken over
    with a warning; anything else refuses with :class:`ConcurrentRunError`.
    """
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_dir / f"run-{run_date.isoformat()}.lock"
    info = {"run_id": run_id, "pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _read_lock(path)
            if _lock_is_stale(holder, stale_hours):
                log.warning("taking over stale lock %s held by %s", path, holder)
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                continue
            started = datetime.fromtimestamp(float(holder.get("started", 0)), tz=timezone.utc)
            raise ConcurrentRunError(
                f"another run holds the lock for {run_date.isoformat()}: run_id={holder.get('run_id')} "
                f"pid={holder.get('pid')} host={holder.get('host')} since {started:%Y-%m-%d %H:%M:%S}Z. "
                f"Wait for it to finish; if that process is gone, delete {path}."
            ) from None
        with os.fdopen(fd, "w") as handle:
            json.dump(info, handle)
        break
    else:  # pragma: no cover - two takeovers in a row
        raise ConcurrentRunError(f"could not acquire {path}; another run keeps taking it")
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            if _read_lock(path).get("run_id") == run_id:
                path.unlink()


def _read_lock(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text() or "{}"))
    except (OSError, ValueError):
        return {}


def _lock_is_stale(holder: Mapping[str, Any], stale_hours: float) -> bool:
    if not holder:
        return True
    if time.time() - float(holder.get("started", 0)) > stale_hours * 3600:
        return True
    if holder.get("host") == socket.gethostname():
        try:
            os.kill(int(holder.get("pid", -1)), 0)
        except ProcessLookupError:
            return True
        except (PermissionError, ValueError):
            return False
    return False


# ------------------------------------------------------------------------ runner


Callback = Callable[[str, str], None]


def new_run_id(run_date: date) -> str:
    now = datetime.now(timezone.utc)
    return f"{run_date:%Y%m%d}-{now:%Y%m%dT%H%M%S%f}"[:-3] + f"-{os.getpid()}"


def run_pipeline(
    ctx: CdpContext,
    target: str,
    run_date: date,
    *,
    force: bool = False,
    options: Mapping[str, Any] | None = None,
    on_event: Callback | None = None,
) -> PipelineOutcome:
    """Run ``target`` (a stage name or ``nightly``) for ``run_date``; see module docstring."""
    from cdp_spark.sizing import applied, choose

    stages = plan(target, ctx.config)
    per_stage = stage_options(stages, options or {})
    run_id = new_run_id(run_date)
    notify = on_event or (lambda _stage, _event: None)
    runlog = _RunLog(ctx)
    settings = ctx.config.settings
    with date_lock(ctx.workspace.locks, run_date, run_id, stale_hours=settings.pipeline.stale_lock_hours):
        history = runlog.history(run_date)
        generation = max((int(r["generation"]) for r in history), default=0)
        generation = generation + 1 if (force or generation == 0) else generation
        succeeded = {
            r["stage"] for r in history if r["status"] == "succeeded" and int(r["generation"]) == generation
        }
        sizing = choose(ctx.spark, settings.spark, ctx.workspace, landing_subdir(ctx), run_date)
        run = _Run(ctx, runlog, run_id, target, run_date, generation, sizing)
        log.info("run %s: %s for %s, generation %d", run_id, target, run_date, generation)
        outcomes: list[StageOutcome] = []
        failed: set[str] = set()
        with applied(ctx.spark, sizing):
            for st in stages:
                upstream = [d for d in st.depends_on if d in failed]
                if upstream:
                    outcome = StageOutcome(
                        st.name, "blocked", error=f"upstream stage(s) failed: {', '.join(upstream)}"
                    )
                    run.record(outcome)
                elif st.name in succeeded and not force:
                    log.info(
                        "stage %s already succeeded for %s (generation %d); skipped",
                        st.name,
                        run_date,
                        generation,
                    )
                    outcome = StageOutcome(st.name, "skipped")
                else:
                    notify(st.name, "started")
                    outcome = run.execute(st, force=force, options=per_stage[st.name])
                if outcome.status in ("failed", "blocked"):
                    failed.add(st.name)
                outcomes.append(outcome)
                notify(st.name, outcome.status)
    return PipelineOutcome(
        run_id=run_id, target=target, run_date=run_date, generation=generation, stages=outcomes
    )


def stage_options(stages: Sequence[Stage], given: Mapping[str, Any]) -> dict[str, StageOptions]:
    """Each stage's validated options from one set; an option no stage takes is an error."""
    taken = {name for st in stages for name in st.options.model_fields}
    unknown = sorted(set(given) - taken)
    if unknown:
        offers = "; ".join(
            f"{st.name}: {', '.join(st.options.model_fields)}" for st in stages if st.options.model_fields
        )
        raise CdpSparkError(
            f"option(s) {', '.join(unknown)} not taken by any stage planned ({', '.join(s.name for s in stages)}); "
            f"options by stage: {offers or 'none'}"
        )
    out: dict[str, StageOptions] = {}
    for st in stages:
        mine = {k: v for k, v in given.items() if k in st.options.model_fields}
        try:
            out[st.name] = st.options.model_validate(mine)
        except ValidationError as exc:
            raise CdpSparkError(
                f"stage {st.name}: invalid options: {exc.errors()[0]['msg']} ({mine})"
            ) from None
    return out


def landing_subdir(ctx: CdpContext) -> str:
    """Where landing files live in the workspace (``sources.yaml``), for the run's sizing."""
    sources = ctx.config.domain("sources.yaml") if "sources.yaml" in ctx.config.domains else None
    return str(getattr(sources, "landing_subdir", "landing"))


@dataclass(frozen=True)
class _Run:
    """One run of a target for a date: executes stages and records each in ``ops.runs``."""

    ctx: CdpContext
    runlog: _RunLog
    run_id: str
    target: str
    run_date: date
    generation: int
    sizing: Sizing

    def execute(self, st: Stage, *, force: bool, options: StageOptions) -> StageOutcome:
        """Run one stage under its own job group and meter; a failure is an outcome, not a raise."""
        rc = RunContext(self.run_id, self.run_date, st.name, self.generation, force, options)
        started = time.time()
        group = job_group(self.run_id, st.name)
        recording = RecordingStore(self.ctx.store)
        stage_ctx = dataclasses.replace(self.ctx, store=recording.as_store())
        with metered(self.ctx, group, f"{self.target} {self.run_date} {st.name}") as cost:
            try:
                result: StageResult | None = st.fn(stage_ctx, rc)
                error = None
            except Exception as exc:
                log.error("stage %s failed: %s", st.name, exc)
                log.debug("%s", traceback.format_exc())
                result, error = None, _error_text(exc)
        status: Status = "failed" if error else "succeeded"
        outcome = StageOutcome(
            st.name, status, cost.seconds, result, error=error, cost=cost, access=recording.access
        )
        log.info("stage %s %s: %s", st.name, status, cost.as_dict())
        self.record(outcome, started)
        return outcome

    def record(self, outcome: StageOutcome, started: float | None = None) -> None:
        self.runlog.append([_row(self, outcome, started)])


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) < 4000 else text[:4000] + "..."


def _row(run: _Run, outcome: StageOutcome, started: float | None = None) -> dict[str, Any]:
    result = outcome.result
    cost = outcome.cost
    now = datetime.now(timezone.utc)
    return {
        "run_id": run.run_id,
        "pipeline": run.target,
        "stage": outcome.stage,
        "run_date": run.run_date,
        "generation": run.generation,
        "status": outcome.status,
        "started_at": datetime.fromtimestamp(started, tz=timezone.utc) if started else now,
        "ended_at": now,
        "duration_s": float(outcome.duration_s),
        "spark_jobs": cost.spark_jobs if cost else None,
        "spark_stages": cost.spark_stages if cost else None,
        "spark_tasks": cost.spark_tasks if cost else None,
        "delta_commits": cost.delta_commits if cost else None,
        "sizing": run.sizing.size,
        "input_bytes": run.sizing.input_bytes,
        "rows_in": result.rows_in if result else None,
        "rows_out": result.rows_out if result else None,
        "tables_written": dict(result.tables) if result else {},
        "metrics": json.dumps(result.metrics, default=str, sort_keys=True) if result else None,
        "error": outcome.error,
        "runtime": run.ctx.runtime.kind,
        "touched_reads": outcome.access.reads if outcome.access else None,
        "touched_writes": outcome.access.writes if outcome.access else None,
    }
