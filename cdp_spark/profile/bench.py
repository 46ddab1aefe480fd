"""``cdp-spark bench gold``: a full profile + tags build vs the incremental nightly of one day.

Both are measured in the same process on the same data: the nightly pipeline runs for every
day but the last, the last day runs ingest, cleanse and identity, then its profile + tags run
incrementally (what a nightly does), then the same date is rebuilt with ``full`` (every silver
day rolled up again, every person aggregated). The ratio incremental / full
is what the issue's target (<= 0.25) is about; the absolute times depend on this machine.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from cdp_spark.pipeline import RunContext, run_pipeline
from cdp_spark.profile.incremental import row_digests
from cdp_spark.profile.schema import PROFILES

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from cdp_spark.context import CdpContext


def profiles_differing(one: DataFrame, other: DataFrame) -> int:
    """Persons whose rows differ between two profile snapshots (missing on one side included)."""
    a, b = row_digests(one, ["person_id"]).alias("a"), row_digests(other, ["person_id"]).alias("b")
    joined = a.join(b, "person_id", "full_outer")
    return joined.where(~F.col("a._digest").eqNullSafe(F.col("b._digest"))).count()


def bench_gold(
    ctx: CdpContext,
    *,
    persons: int,
    days: int,
    seed: int = 42,
    activity: float = 1.0,
    catch_up: bool = False,
) -> dict[str, Any]:
    """Generate ``persons`` x ``days`` into ``<workspace>/bench/gold``; time profile + tags.

    What decides the ratio is the share of persons a night touches, and that is a property of
    the data: ``activity`` scales the generator's daily chances of being active online (1.0:
    a quarter to a half of the persons are active on a given day, dense enough for tests over
    a few days; real customer bases see a few percent a day). ``catch_up`` builds the history
    with one pipeline run for the day before the measured one (all earlier files at once)
    instead of one run per day: long histories become affordable, and the measured night is
    the same kind of night.
    """
    from cdp_spark.config import Config
    from cdp_spark.context import CdpContext
    from cdp_spark.datagen import DatagenSettings, generate
    from cdp_spark.profile.stage import ProfileOptions, run_profile
    from cdp_spark.tags.stage import run_tags

    if days < 2:
        raise ValueError("bench gold needs at least 2 days: history plus the day measured")
    root = Path(ctx.workspace.bench) / "gold"
    settings = ctx.config.settings.model_copy(update={"workspace": str(root)})
    bench_ctx = CdpContext.attach(
        Config(
            settings=settings,
            conf_dir=ctx.config.conf_dir,
            source=ctx.config.source,
            domains=ctx.config.domains,
        ),
        ctx.spark,
        ctx.runtime,
    )
    data = DatagenSettings(persons=persons, days=days, seed=seed, activity=activity)
    t0 = time.perf_counter()
    generated = generate(ctx.spark, root, data)
    generate_s = time.perf_counter() - t0
    last = data.start_date + timedelta(days=days - 1)
    t0 = time.perf_counter()
    history_days = (
        [last - timedelta(days=1)]
        if catch_up
        else [data.start_date + timedelta(days=k) for k in range(days - 1)]
    )
    for day in history_days:
        outcome = run_pipeline(bench_ctx, "nightly", day)
        if not outcome.ok:
            raise RuntimeError(f"history run failed: {outcome.summary_line()}")
    for upstream in ("ingest", "cleanse", "identity"):  # the measured day's data, up to identity
        outcome = run_pipeline(bench_ctx, upstream, last)
        if not outcome.ok:
            raise RuntimeError(f"{upstream} for {last} failed: {outcome.summary_line()}")
    history_s = time.perf_counter() - t0

    def timed(generation: int, full: bool) -> dict[str, Any]:
        rc = RunContext(run_id=f"bench-gold-{generation}", run_date=last, stage="profile", generation=generation,
                        options=ProfileOptions(full=full))  # fmt: skip
        t = time.perf_counter()
        prof = run_profile(bench_ctx, rc)
        profile_s = time.perf_counter() - t
        t = time.perf_counter()
        run_tags(bench_ctx, replace(rc, stage="tags"))
        tags_s = time.perf_counter() - t
        return {
            "profile_seconds": round(profile_s, 2),
            "tags_seconds": round(tags_s, 2),
            "total_seconds": round(profile_s + tags_s, 2),
            "persons": prof.metrics.get("persons", 0),
            "persons_rebuilt": prof.metrics.get("persons_rebuilt", prof.metrics.get("persons", 0)),
            "persons_merge_candidates": prof.metrics.get("persons_merge_candidates", 0),
            "persons_merged": prof.metrics.get("persons_merged", 0),
            "persons_merged_new_identifiers": prof.metrics.get("persons_merged_new_identifiers", 0),
            "persons_merged_departed_days": prof.metrics.get("persons_merged_departed_days", 0),
            "rollup_rows_per_person": prof.metrics.get("rollup_rows_per_person"),
            "profiles_version": bench_ctx.store.version(PROFILES),
            "keys_touched": prof.metrics.get("keys_touched"),
            "days_rolled_up": prof.metrics.get("days_rolled_up"),
            "keys_rolled_up": prof.metrics.get("keys_rolled_up"),
            "candidate_days": prof.metrics.get("candidate_days"),
            "candidate_keys": prof.metrics.get("candidate_keys"),
            "rollup_months_rewritten": prof.metrics.get("daily_rollups_months_rewritten"),
            "candidate_months_rewritten": prof.metrics.get("attribute_candidates_months_rewritten"),
            "profile_steps_seconds": prof.metrics.get("step_seconds"),
        }

    incremental = timed(1000, full=False)
    full = timed(1001, full=True)
    ratio = incremental["total_seconds"] / full["total_seconds"] if full["total_seconds"] else None
    # The night is only worth its time if it is exact: persons whose incremental row differs.
    differing = profiles_differing(
        bench_ctx.store.read(PROFILES, version=incremental["profiles_version"]),
        bench_ctx.store.read(PROFILES, version=full["profiles_version"]),
    )
    return {
        "benchmark": "gold",
        "persons": persons,
        "days": days,
        "activity": activity,
        "history": "catch-up" if catch_up else "day by day",
        "raw_records": generated.total_records,
        "generate_seconds": round(generate_s, 2),
        "history_pipeline_seconds": round(history_s, 2),
        "full": full,
        "incremental": incremental,
        "incremental_over_full": round(ratio, 3) if ratio is not None else None,
        "share_of_persons_rebuilt": round(incremental["persons_rebuilt"] / incremental["persons"], 3)
        if incremental["persons"]
        else None,
        "persons_differing_from_full": differing,
        "target_ratio": 0.25,
        "meets_target": ratio is not None and ratio <= 0.25,
    }
