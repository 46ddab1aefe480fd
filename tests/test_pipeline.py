"""Runner behaviour: ordering, ops.runs rows, blocking, resume, no-op reruns, --force, locking."""

from __future__ import annotations

import json
import os
import socket
import time
from datetime import date
from pathlib import Path

import pytest

import cdp_spark.stages  # noqa: F401  (register built-ins before the registry is swapped)
from cdp_spark import pipeline
from cdp_spark.errors import CdpSparkError, ConcurrentRunError
from cdp_spark.pipeline import StageResult, run_pipeline

DAY = date(2026, 1, 1)


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A private stage registry: a -> b -> c, plus d independent; b fails while `fail_b` is set."""
    monkeypatch.setattr(pipeline, "_STAGES", {})
    calls: list[str] = []
    flags = {"fail_b": False}

    @pipeline.stage("a", description="source")
    def stage_a(ctx, rc):  # type: ignore[no-untyped-def]
        calls.append("a")
        df = ctx.spark.createDataFrame([(rc.run_date, rc.generation)], "day date, generation int")
        res = ctx.store.write("bronze.a", df, mode="append", txn=rc.txn("bronze.a"))
        out = StageResult(rows_in=1, rows_out=1)
        out.wrote("bronze.a", res.version)
        return out

    @pipeline.stage("b", depends_on=["a"])
    def stage_b(ctx, rc):  # type: ignore[no-untyped-def]
        calls.append("b")
        if flags["fail_b"]:
            raise ValueError("b exploded")
        return StageResult(rows_in=1, rows_out=1)

    @pipeline.stage("c", depends_on=["b"])
    def stage_c(ctx, rc):  # type: ignore[no-untyped-def]
        calls.append("c")
        return StageResult()

    @pipeline.stage("d")
    def stage_d(ctx, rc):  # type: ignore[no-untyped-def]
        calls.append("d")
        return StageResult()

    return calls, flags


def runs(ctx):  # type: ignore[no-untyped-def]
    return [r.asDict() for r in ctx.store.read("ops.runs").orderBy("ended_at").collect()]


def test_plan_orders_by_dependencies(registry) -> None:  # type: ignore[no-untyped-def]
    names = [s.name for s in pipeline.plan("nightly")]
    assert names.index("a") < names.index("b") < names.index("c")
    assert [s.name for s in pipeline.plan("b")] == ["b"]
    with pytest.raises(CdpSparkError, match="unknown stage 'zzz'; known groups and stages: nightly, a"):
        pipeline.plan("zzz")


def test_cycle_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "_STAGES", {})
    pipeline.stage("x", depends_on=["y"])(lambda ctx, rc: StageResult())
    pipeline.stage("y", depends_on=["x"])(lambda ctx, rc: StageResult())
    with pytest.raises(CdpSparkError, match="cycle"):
        pipeline.plan("nightly")


def test_failure_blocks_dependants_and_rerun_resumes(ctx, registry) -> None:  # type: ignore[no-untyped-def]
    calls, flags = registry
    flags["fail_b"] = True
    outcome = run_pipeline(ctx, "nightly", DAY)
    status = {s.stage: s.status for s in outcome.stages}
    assert status == {"a": "succeeded", "b": "failed", "c": "blocked", "d": "succeeded"}
    assert not outcome.ok
    assert "status=failed" in outcome.summary_line()
    rows = runs(ctx)
    assert {r["stage"]: r["status"] for r in rows} == status
    failed = next(r for r in rows if r["stage"] == "b")
    assert failed["error"] == "ValueError: b exploded"
    first_a = next(r for r in rows if r["stage"] == "a")
    assert first_a["tables_written"] == {"bronze.a": 1} and first_a["rows_out"] == 1
    assert first_a["runtime"] == "embedded" and first_a["generation"] == 1

    # Resume: a and d are not run again, b and c are.
    calls.clear()
    flags["fail_b"] = False
    outcome = run_pipeline(ctx, "nightly", DAY)
    assert calls == ["b", "c"]
    assert {s.stage: s.status for s in outcome.stages} == {
        "a": "skipped",
        "b": "succeeded",
        "c": "succeeded",
        "d": "skipped",
    }
    assert outcome.ok and outcome.generation == 1


def test_rerun_of_succeeded_date_is_a_noop_unless_forced(ctx, registry) -> None:  # type: ignore[no-untyped-def]
    calls, _ = registry
    run_pipeline(ctx, "nightly", DAY)
    runs_version = ctx.store.version("ops.runs")
    data_version = ctx.store.version("bronze.a")
    calls.clear()
    outcome = run_pipeline(ctx, "nightly", DAY)
    assert calls == [] and outcome.ok
    assert ctx.store.version("ops.runs") == runs_version
    assert ctx.store.version("bronze.a") == data_version

    forced = run_pipeline(ctx, "nightly", DAY, force=True)
    assert sorted(calls) == ["a", "b", "c", "d"]
    assert forced.generation == 2
    assert ctx.store.read("bronze.a").count() == 2  # generation 2's token is new, so it writes


def test_retried_stage_does_not_append_twice(ctx, registry) -> None:  # type: ignore[no-untyped-def]
    from cdp_spark.pipeline import RunContext

    rc = RunContext(run_id="r1", run_date=DAY, stage="a", generation=1)
    stage_a = pipeline._STAGES["a"].fn
    stage_a(ctx, rc)
    stage_a(ctx, rc)  # a retry of the same attempt after a crash between commit and bookkeeping
    assert ctx.store.read("bronze.a").count() == 1


def test_concurrent_run_for_same_date_refuses(ctx, registry) -> None:  # type: ignore[no-untyped-def]
    lock = ctx.workspace.locks / f"run-{DAY.isoformat()}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(
        json.dumps(
            {"run_id": "other", "pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        )
    )
    with pytest.raises(ConcurrentRunError) as err:
        run_pipeline(ctx, "nightly", DAY)
    assert "run_id=other" in str(err.value) and str(lock) in str(err.value)
    assert not ctx.store.exists("ops.runs")
    # Another date is not blocked.
    assert run_pipeline(ctx, "d", date(2026, 1, 2)).ok


def test_stale_lock_of_dead_process_is_taken_over(ctx, registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lock = ctx.workspace.locks / f"run-{DAY.isoformat()}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(
        json.dumps(
            {"run_id": "dead", "pid": 2**22 + 12345, "host": socket.gethostname(), "started": time.time()}
        )
    )
    assert run_pipeline(ctx, "d", DAY).ok
    assert not lock.exists(), "the lock is released after the run"


def test_single_stage_run(ctx, registry) -> None:  # type: ignore[no-untyped-def]
    calls, _ = registry
    outcome = run_pipeline(ctx, "d", DAY)
    assert calls == ["d"] and [s.stage for s in outcome.stages] == ["d"]
    assert [r["pipeline"] for r in runs(ctx)] == ["d"]


def test_maintenance_group_compacts_and_vacuums_the_ops_tables(ctx, registry) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from deltalake import DeltaTable

    from cdp_spark.context import CdpContext
    from cdp_spark.maintenance import run_maintenance

    pipeline.stage("maintenance", group="maintenance")(run_maintenance)
    assert [s.name for s in pipeline.plan("maintenance")] == ["maintenance"]
    assert "maintenance" not in [s.name for s in pipeline.plan("nightly")]
    for day in range(1, 4):
        assert run_pipeline(ctx, "nightly", date(2026, 1, day)).ok
    runs_path = ctx.store.location("ops.runs")
    rows_before = sorted(map(tuple, ctx.store.read("ops.runs").collect()))
    assert len(DeltaTable(runs_path).file_uris()) == 12  # one append per stage and night
    storage = ctx.config.settings.storage.model_copy(update={"vacuum_retention_hours": 0})
    config = replace(ctx.config, settings=ctx.config.settings.model_copy(update={"storage": storage}))
    maint = CdpContext.attach(config, ctx.spark, ctx.runtime)
    outcome = run_pipeline(maint, "maintenance", date(2026, 1, 4))
    assert outcome.ok and [s.stage for s in outcome.stages] == ["maintenance"]
    metrics = outcome.stages[0].result.metrics["tables"]  # type: ignore[union-attr]
    assert metrics["ops.runs"]["files_compacted"] == 12 and metrics["ops.runs"]["files_written"] == 1
    assert metrics["ops.runs"]["files_vacuumed"] >= 12
    # The maintenance run's own ops.runs row is one more file; the rows before are all kept.
    assert len(DeltaTable(runs_path).file_uris()) == 2
    rows_after = sorted(map(tuple, ctx.store.read("ops.runs").where("stage != 'maintenance'").collect()))
    assert rows_after == rows_before
    assert len(list(Path(runs_path).glob("*.parquet"))) == 2  # compacted-away files are deleted
