"""What one stage execution costs: wall seconds, Spark jobs, stages and tasks, Delta commits.

The runner wraps every stage in :func:`metered`. Spark's work is attributed through a job
group named after the run and stage, read back from Spark's status tracker when the stage
ends; commits come from the store's :class:`~cdp_spark.storage.base.CommitCounter`. Threads a
stage starts must carry the group over (``pyspark.util.inheritable_thread_target``), or their
jobs are not counted.

On small inputs a run's time is mostly per-job and per-commit overhead, so these counts, not
row counts, say where a small night goes (``cdp-spark bench nightly`` reports them per stage).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark import SparkContext

    from cdp_spark.context import CdpContext

log = logging.getLogger(__name__)


@dataclass
class StageCost:
    """Filled in when the metered block ends; zeros where Spark cannot say (Spark Connect)."""

    seconds: float = 0.0
    spark_jobs: int = 0
    spark_stages: int = 0
    spark_tasks: int = 0
    delta_commits: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 3),
            "spark_jobs": self.spark_jobs,
            "spark_stages": self.spark_stages,
            "spark_tasks": self.spark_tasks,
            "delta_commits": self.delta_commits,
        }


def job_group(run_id: str, stage: str) -> str:
    return f"cdp-spark/{run_id}/{stage}"


@contextlib.contextmanager
def metered(ctx: CdpContext, group: str, description: str) -> Iterator[StageCost]:
    """Run the block under Spark job group ``group`` and measure it into the yielded cost."""
    cost = StageCost()
    sc = _spark_context(ctx)
    previous = sc.getLocalProperty("spark.jobGroup.id") if sc is not None else None
    if sc is not None:
        sc.setJobGroup(group, description)
    commits_before = ctx.store.commits.value
    started = time.perf_counter()
    try:
        yield cost
    finally:
        cost.seconds = time.perf_counter() - started
        cost.delta_commits = ctx.store.commits.value - commits_before
        if sc is not None:
            _count_spark_work(sc, group, cost)
            sc.setLocalProperty("spark.jobGroup.id", previous)  # type: ignore[arg-type]
            sc.setLocalProperty("spark.job.description", None)  # type: ignore[arg-type]


def _spark_context(ctx: CdpContext) -> SparkContext | None:
    try:
        return ctx.spark.sparkContext
    except Exception:  # Spark Connect sessions have no SparkContext
        return None


def _count_spark_work(sc: SparkContext, group: str, cost: StageCost) -> None:
    """Jobs of the group, their distinct stages that ran tasks, and the tasks completed."""
    _drain_listener_bus(sc)
    tracker = sc.statusTracker()
    stage_ids: set[int] = set()
    job_ids = tracker.getJobIdsForGroup(group)
    for job_id in job_ids:
        info = tracker.getJobInfo(job_id)
        if info is not None:
            stage_ids.update(info.stageIds)
    tasks = 0
    ran = 0
    for stage_id in stage_ids:
        stage = tracker.getStageInfo(stage_id)
        if stage is not None and stage.numCompletedTasks > 0:
            ran += 1
            tasks += stage.numCompletedTasks
    cost.spark_jobs, cost.spark_stages, cost.spark_tasks = len(job_ids), ran, tasks


def _drain_listener_bus(sc: SparkContext) -> None:
    """Spark records jobs asynchronously; wait until the events of finished jobs are in."""
    try:
        sc._jsc.sc().listenerBus().waitUntilEmpty()
    except Exception as exc:  # not part of Spark's public API: counts may lag by a job
        log.debug("could not wait for Spark's listener bus: %s", exc)
