"""``cdp-spark bench nightly``: what a whole nightly costs, stage by stage, at a given size.

Data for ``days`` days is generated once; each repeat copies the landing files into a fresh
workspace and runs the nightly for every day in order, exactly as ``cdp-spark run nightly``
does (same session, same settings, same runner). Per stage and night the runner's own meter
gives wall seconds, Spark jobs, stages, tasks and Delta commits; what the runner itself costs
around the stages (reading and appending ``ops.runs``) is reported as ``runner``.

Nights are grouped as the first night (empty lake: tables are created, everything is new) and
steady-state nights (every later one). Figures are medians over every night of the group
across repeats; totals are the median of each night's own totals.
"""

from __future__ import annotations

import shutil
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdp_spark.pipeline import NIGHTLY, PipelineOutcome, run_pipeline

if TYPE_CHECKING:
    from cdp_spark.context import CdpContext

MEASURES = ("seconds", "spark_jobs", "spark_stages", "spark_tasks", "delta_commits")
RUNNER = "runner"


@dataclass
class Night:
    """One nightly run: the cost of each stage and of the runner around them."""

    day: int
    status: str
    stages: dict[str, dict[str, float]] = field(default_factory=dict)

    def totals(self) -> dict[str, float]:
        return {m: sum(s[m] for s in self.stages.values()) for m in MEASURES}


def bench_nightly(
    ctx: CdpContext, *, persons: int, days: int, repeats: int, seed: int = 42
) -> dict[str, Any]:
    """Generate once, then ``repeats`` times: a fresh workspace, the nightly for every day."""
    from cdp_spark.datagen import DatagenSettings, generate

    if days < 2 or repeats < 1:
        raise ValueError(
            "bench nightly needs --days >= 2 (a first and a steady-state night) and --repeats >= 1"
        )
    root = Path(ctx.workspace.bench) / "nightly"
    shutil.rmtree(root, ignore_errors=True)
    data = DatagenSettings(persons=persons, days=days, seed=seed)
    started = time.perf_counter()
    generated = generate(ctx.spark, root / "source", data)
    generate_s = time.perf_counter() - started
    nights: list[Night] = []
    for repeat in range(repeats):
        run_ctx = _fresh_workspace(ctx, root / "source", root / f"run-{repeat}")
        nights += [_night(run_ctx, day, data.start_date + timedelta(days=day)) for day in range(days)]
    first = [n for n in nights if n.day == 0]
    steady = [n for n in nights if n.day > 0]
    return {
        "benchmark": "nightly",
        "persons": persons,
        "days": days,
        "repeats": repeats,
        "seed": seed,
        "raw_records": generated.total_records,
        "generate_seconds": round(generate_s, 2),
        "spark": _spark_settings(ctx),
        "all_succeeded": all(n.status == "succeeded" for n in nights),
        "first_night": _summary(first),
        "steady_state_night": _summary(steady),
        "nights": [
            {"day": n.day, "status": n.status, "totals": n.totals(), "stages": n.stages} for n in nights
        ],
    }


def _fresh_workspace(ctx: CdpContext, source: Path, target: Path) -> CdpContext:
    from cdp_spark.config import Config
    from cdp_spark.context import CdpContext

    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for folder in ("landing", "truth"):
        if (source / folder).exists():
            shutil.copytree(source / folder, target / folder)
    settings = ctx.config.settings.model_copy(update={"workspace": str(target)})
    config = Config(
        settings=settings, conf_dir=ctx.config.conf_dir, source=ctx.config.source, domains=ctx.config.domains
    )
    return CdpContext.attach(config, ctx.spark, ctx.runtime)


def _night(ctx: CdpContext, day: int, run_date: date) -> Night:
    """Run the nightly for ``run_date`` and meter each stage and the runner around them."""
    from cdp_spark.cost import StageCost, metered

    with metered(ctx, f"cdp-spark/bench/{run_date}", f"bench nightly {run_date}") as whole:
        outcome: PipelineOutcome = run_pipeline(ctx, NIGHTLY, run_date)
    night = Night(day=day, status="succeeded" if outcome.ok else "failed")
    for s in outcome.stages:
        night.stages[s.stage] = (s.cost or StageCost()).as_dict()
    # Jobs outside the stages keep the night's own job group; time and commits cover all.
    staged, around = night.totals(), whole.as_dict()
    night.stages[RUNNER] = {
        **around,
        "seconds": round(around["seconds"] - staged["seconds"], 3),
        "delta_commits": around["delta_commits"] - staged["delta_commits"],
    }
    if not outcome.ok:
        raise RuntimeError(f"bench nightly: the night of {run_date} failed: {outcome.summary_line()}")
    return night


def _summary(nights: Sequence[Night]) -> dict[str, Any]:
    """Per-stage medians and the median of the nights' totals."""
    names = list(dict.fromkeys(name for n in nights for name in n.stages))
    return {
        "nights": len(nights),
        "total": {m: _median([n.totals()[m] for n in nights]) for m in MEASURES},
        "stages": {
            name: {m: _median([n.stages[name][m] for n in nights if name in n.stages]) for m in MEASURES}
            for name in names
        },
    }


def _median(values: Sequence[float]) -> float:
    return round(float(statistics.median(values)), 3) if values else 0.0


def _spark_settings(ctx: CdpContext) -> dict[str, str | None]:
    keys = (
        "spark.master",
        "spark.driver.memory",
        "spark.sql.shuffle.partitions",
        "spark.sql.adaptive.enabled",
        "spark.sql.codegen.wholeStage",
    )
    return {k: ctx.spark.conf.get(k, None) for k in keys}
