"""``cdp-spark demo``: generate a small population, run the nightly pipeline day by day.

Days are delivered one at a time (day k's landing files appear, then the nightly run for day
k), which is how a real deployment sees data and what exercises the incremental paths.
The summary is printed and written to ``<workspace>/reports/`` as JSON and Markdown.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdp_spark import catalog
from cdp_spark.pipeline import PipelineOutcome, run_pipeline

if TYPE_CHECKING:
    from cdp_spark.context import CdpContext

log = logging.getLogger(__name__)

LAYERS = ("bronze", "silver", "gold", "ops")


@dataclass
class DemoSummary:
    """What the demo produced; rendered by the CLI and saved as a report."""

    workspace: str
    dates: list[str]
    runs: list[dict[str, Any]] = field(default_factory=list)
    tables: dict[str, int] = field(default_factory=dict)
    quarantine_by_reason: dict[str, int] = field(default_factory=dict)
    landing_lines: int = 0
    report_paths: list[str] = field(default_factory=list)
    persons: int = 0
    known_persons: int = 0
    identity_changes: dict[str, int] = field(default_factory=dict)
    lifecycle: dict[str, int] = field(default_factory=dict)
    top_tags: dict[str, int] = field(default_factory=dict)
    story_person: dict[str, Any] | None = None

    @property
    def rows_per_layer(self) -> dict[str, int]:
        out = dict.fromkeys(LAYERS, 0)
        for name, rows in self.tables.items():
            out[name.split(".", 1)[0]] += rows
        return out

    @property
    def ok(self) -> bool:
        return all(r["status"] == "succeeded" for r in self.runs)


def table_rows(ctx: CdpContext, name: str) -> int:
    """Row count of a table's latest snapshot (from the Delta log on the embedded runtime)."""
    if ctx.store.kind == "embedded":
        import pyarrow as pa
        from deltalake import DeltaTable

        actions = pa.table(DeltaTable(ctx.store.location(name)).get_add_actions(flatten=True))
        return int(sum(v or 0 for v in actions.column("num_records").to_pylist())) if actions.num_rows else 0
    return int(ctx.store.read(name).count())


def lake_tables(ctx: CdpContext) -> list[str]:
    """Logical names of the tables present in the workspace lake."""
    names = []
    for layer in LAYERS:
        folder = ctx.workspace.lake / layer
        if folder.exists():
            names += [f"{layer}.{p.name}" for p in sorted(folder.iterdir()) if (p / "_delta_log").exists()]
    return names


def run_demo(
    ctx: CdpContext,
    *,
    persons: int,
    days: int,
    seed: int,
    start_date: date,
    on_event: Any = None,
) -> DemoSummary:
    """Generate ``days`` days for ``persons`` people and run ``nightly`` after each delivery."""
    from cdp_spark.datagen import DatagenSettings, generate

    settings = DatagenSettings(persons=persons, days=days, seed=seed, start_date=start_date)
    summary = DemoSummary(workspace=ctx.workspace.root_uri, dates=[])
    for day in range(days):
        run_date = start_date + timedelta(days=day)
        log.info("demo: delivering day %d (%s)", day, run_date)
        generated = generate(ctx.spark, ctx.workspace.root, settings, days=[day])
        summary.landing_lines += generated.total_records
        outcome: PipelineOutcome = run_pipeline(ctx, "nightly", run_date, on_event=on_event)
        summary.dates.append(run_date.isoformat())
        summary.runs.append(
            {
                "date": run_date.isoformat(),
                "status": "succeeded" if outcome.ok else "failed",
                "line": outcome.summary_line(),
                "stages": {s.stage: s.status for s in outcome.stages},
                "errors": {s.stage: s.error for s in outcome.stages if s.error},
            }
        )
        if not outcome.ok:
            break
    for name in lake_tables(ctx):
        summary.tables[name] = table_rows(ctx, name)
    if ctx.store.exists(catalog.BRONZE_QUARANTINE.name):
        from pyspark.sql import functions as F

        rows = (
            ctx.store.read(catalog.BRONZE_QUARANTINE.name)
            .select(F.regexp_extract("reason", r"^([a-z_]+)", 1).alias("reason"))
            .groupBy("reason")
            .count()
            .collect()
        )
        summary.quarantine_by_reason = {r["reason"]: int(r["count"]) for r in rows}
    _gold_summary(ctx, summary)
    summary.report_paths = [str(p) for p in write_report(ctx, summary)]
    return summary


def _counts(df: Any, column: str) -> dict[str, int]:
    return {str(r[column]): int(r["count"]) for r in df.groupBy(column).count().orderBy(column).collect()}


def _gold_summary(ctx: CdpContext, summary: DemoSummary) -> None:
    """Persons, merges and splits, lifecycle stages, the most common tags, the story person."""
    from pyspark.sql import functions as F

    store = ctx.store
    if store.exists(catalog.GOLD_PROFILES.name):
        profiles = store.read(catalog.GOLD_PROFILES.name)
        summary.persons = profiles.count()
        summary.known_persons = profiles.where(F.col("is_known")).count()
        summary.lifecycle = _counts(profiles, "lifecycle_stage")
    if store.exists(catalog.GOLD_IDENTITY_CHANGES.name):
        summary.identity_changes = _counts(store.read(catalog.GOLD_IDENTITY_CHANGES.name), "change")
    if store.exists(catalog.GOLD_TAGS.name):
        top = (
            store.read(catalog.GOLD_TAGS.name)
            .groupBy("tag")
            .count()
            .orderBy(F.desc("count"), "tag")
            .limit(10)
            .collect()
        )
        summary.top_tags = {r["tag"]: int(r["count"]) for r in top}
    if store.exists(catalog.GOLD_IDENTITY_MAP.name):
        from cdp_spark.datagen.story import STORY_MEMBER_ID

        hit = (
            store.read(catalog.GOLD_IDENTITY_MAP.name)
            .where((F.col("id_type") == "member_id") & (F.col("id_value") == STORY_MEMBER_ID))
            .select("person_id")
            .collect()
        )
        if hit:
            person = hit[0]["person_id"]
            tags = []
            if store.exists(catalog.GOLD_TAGS.name):
                tags = sorted(
                    r["tag"]
                    for r in store.read(catalog.GOLD_TAGS.name).where(F.col("person_id") == person).collect()
                )
            summary.story_person = {"person_id": person, "tags": tags}


def write_report(ctx: CdpContext, summary: DemoSummary) -> list[Path]:
    """JSON for machines, Markdown for people; both under ``<workspace>/reports/``."""
    folder = ctx.workspace.reports
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"demo-{summary.dates[-1] if summary.dates else 'none'}"
    json_path = folder / f"{stem}.json"
    json_path.write_text(json.dumps(summary.__dict__, indent=2, default=str))
    lines = [
        f"# cdp-spark demo report ({', '.join(summary.dates)})",
        "",
        f"Workspace: `{summary.workspace}`",
        "",
        "| date | status | stages |",
        "|---|---|---|",
        *[
            f"| {r['date']} | {r['status']} | {', '.join(f'{k}={v}' for k, v in r['stages'].items())} |"
            for r in summary.runs
        ],
        "",
        "| table | rows |",
        "|---|---:|",
        *[f"| `{name}` | {rows:,} |" for name, rows in summary.tables.items()],
        "",
        "Quarantined lines by reason: "
        + (", ".join(f"{k}={v}" for k, v in sorted(summary.quarantine_by_reason.items())) or "none"),
        "",
        f"Persons: {summary.persons:,} ({summary.known_persons:,} known). Identity changes: "
        + (", ".join(f"{k}={v:,}" for k, v in summary.identity_changes.items()) or "none"),
        "",
        "Lifecycle: " + (", ".join(f"{k}={v:,}" for k, v in summary.lifecycle.items()) or "none"),
        "",
        "Top tags: " + (", ".join(f"{k}={v:,}" for k, v in summary.top_tags.items()) or "none"),
        "",
    ]
    md_path = folder / f"{stem}.md"
    md_path.write_text("\n".join(lines))
    return [md_path, json_path]
