"""``cdp-spark demo`` at a small size: what it prints and the tables it leaves (one real subprocess).

The size is the smallest that exercises every line of the summary: 50 persons x 2 days with
seed 7. The Antarctic story person is added at any size, and with 2 days her later steps
(registration as member M95679010, family tickets, WeChat) move to day 1 (``story.story_day``),
so she is a known person with tags after the second run. Below 50 persons the generator draws
no malformed line for seed 7, so nothing would be quarantined and the quarantine line would not
be printed; at 50 persons exactly one app line of 2026-01-02 has a wrong type.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from conftest import DEMO_DATES as DATES
from conftest import DEMO_DAYS as DAYS
from conftest import DEMO_MARKS, REPO, DemoRun

from cdp_spark.datagen import story

NIGHTLY_STAGES = ("ingest", "cleanse", "identity", "profile", "tags")
LAYERS = ("bronze", "silver", "gold", "ops")
SOURCES = tuple(yaml.safe_load((REPO / "conf" / "sources.yaml").read_text())["sources"])
# Sources whose landing files have lines at this size (support tickets are too rare for 50 persons).
SOURCES_WITH_DATA = ("web", "app", "orders", "pos", "crm", "wechat", "email", "consents")
# Tables the demo must leave with rows; the rest of the lake must at least exist.
TABLES_WITH_ROWS = (
    *(f"bronze.{s}" for s in SOURCES_WITH_DATA),
    "bronze.quarantine",
    "silver.events",
    "silver.orders",
    "silver.order_lines",
    "silver.contacts",
    "silver.consents",
    "silver.identifiers",
    "silver.identity_edges",
    "silver.dq_metrics",
    "gold.identity_map",
    "gold.identity_changes",
    "gold.identity_report",
    "gold.profiles",
    "gold.lifecycle_changes",
    "gold.daily_rollups",
    "gold.attribute_candidates",
    "gold.tags",
    "gold.tag_changes",
    "ops.ingested_files",
    "ops.runs",
    "ops.run_state",
)
TABLES_MAYBE_EMPTY = ("bronze.support", "silver.rejected", "silver.tickets")
COST_COLUMNS = ("spark_jobs", "spark_stages", "spark_tasks", "delta_commits", "sizing", "input_bytes")

pytestmark = list(DEMO_MARKS)


def _path(ws: Path, name: str) -> Path:
    layer, table = name.split(".", 1)
    return ws / "lake" / layer / table


def _rows(ws: Path, name: str) -> list[dict[str, Any]]:
    from deltalake import DeltaTable

    return DeltaTable(str(_path(ws, name))).to_pyarrow_table().to_pylist()


def _count(ws: Path, name: str) -> int:
    from deltalake import DeltaTable

    return DeltaTable(str(_path(ws, name))).to_pyarrow_dataset().count_rows()


def _lake(ws: Path) -> dict[str, int]:
    """Every Delta table under <ws>/lake/<layer>/<table> with its row count."""
    return {
        f"{layer}.{p.name}": _count(ws, f"{layer}.{p.name}")
        for layer in LAYERS
        for p in sorted((ws / "lake" / layer).iterdir())
        if (p / "_delta_log").is_dir()
    }


def _joined(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}={v:,}" for k, v in counts.items()) or "none"


def _story_person(ws: Path) -> str:
    hits = [
        r["person_id"]
        for r in _rows(ws, "gold.identity_map")
        if r["id_type"] == "member_id" and r["id_value"] == story.STORY_MEMBER_ID
    ]
    assert len(hits) == 1, hits
    return str(hits[0])


def _reason_kind(reason: str) -> str:
    """The reason's leading word, as the demo groups them (``wrong_type: event_time`` -> ``wrong_type``)."""
    match = re.match(r"^([a-z_]+)", reason)
    assert match is not None, reason
    return match.group(1)


def test_exit_code_and_scheduler_lines(demo: DemoRun) -> None:
    assert demo.proc.returncode == 0, demo.proc.stdout[-3000:] + demo.proc.stderr[-5000:]
    run_lines = [line for line in demo.lines if line.startswith("CDP_RUN ")]
    pattern = re.compile(
        r"CDP_RUN status=succeeded run_id=(\S+) target=nightly date=(\S+) generation=1 "
        rf"succeeded={len(NIGHTLY_STAGES)} skipped=0 failed=0 blocked=0 duration_s=\d+\.\d"
    )
    matches = [pattern.fullmatch(line) for line in run_lines]
    assert all(matches) and len(matches) == DAYS, run_lines
    assert [m.group(2) for m in matches if m] == list(DATES)
    runs_by_date = {str(r["run_date"]): r["run_id"] for r in _rows(demo.workspace, "ops.runs")}
    assert [m.group(1) for m in matches if m] == [runs_by_date[d] for d in DATES]
    assert demo.lines[-1] == f"CDP_DEMO status=succeeded days={DAYS} tables={len(_lake(demo.workspace))}"


def test_printed_tables_match_the_lake(demo: DemoRun) -> None:
    lake = _lake(demo.workspace)
    row = re.compile(r"^\W\s*((?:bronze|silver|gold|ops)\.\w+)\s+\W\s*([\d,]+)\s+\W$")
    printed = {
        m.group(1): int(m.group(2).replace(",", "")) for m in map(row.match, demo.lines) if m is not None
    }
    assert "lake tables" in demo.lines
    assert printed == lake
    missing = set(TABLES_WITH_ROWS + TABLES_MAYBE_EMPTY) - set(lake)
    assert not missing, f"tables the demo did not produce: {sorted(missing)}"
    assert {f"bronze.{s}" for s in SOURCES} <= set(lake)
    assert [name for name in TABLES_WITH_ROWS if lake[name] == 0] == []
    per_layer = {layer: sum(n for t, n in lake.items() if t.startswith(f"{layer}.")) for layer in LAYERS}
    assert demo.line("rows per layer: ") == f"rows per layer: {_joined(per_layer)}"


def test_quarantine_and_reconciliation(demo: DemoRun) -> None:
    ws = demo.workspace
    quarantine = _rows(ws, "bronze.quarantine")
    reasons = Counter(_reason_kind(r["reason"]) for r in quarantine)
    assert sum(reasons.values()) > 0
    assert demo.line("quarantined lines by reason: ") == "quarantined lines by reason: " + _joined(
        dict(sorted(reasons.items()))
    )
    files = _rows(ws, "ops.ingested_files")
    assert {f["source"] for f in files} == set(SOURCES)
    assert {str(f["file_date"]) for f in files} == set(DATES)
    assert all(f["status"] == "ingested" for f in files), [f for f in files if f["status"] != "ingested"]
    bronze = sum(_count(ws, f"bronze.{s}") for s in SOURCES)
    assert sum(f["lines"] for f in files) == bronze + len(quarantine)
    assert all(f["lines"] == f["bronze_rows"] + f["quarantined_rows"] for f in files)
    assert sum(f["quarantined_rows"] for f in files) == len(quarantine)
    for source in SOURCES:
        assert sum(f["bronze_rows"] for f in files if f["source"] == source) == _count(ws, f"bronze.{source}")


def test_gold_summary_lines(demo: DemoRun) -> None:
    ws = demo.workspace
    profiles = _rows(ws, "gold.profiles")
    known = sum(1 for p in profiles if p["is_known"])
    changes = dict(sorted(Counter(r["change"] for r in _rows(ws, "gold.identity_changes")).items()))
    assert len(profiles) > known > 0 and sum(changes.values()) > 0
    assert demo.line("persons: ") == (
        f"persons: {len(profiles):,} ({known:,} known); identity changes: {_joined(changes)}"
    )
    lifecycle = dict(sorted(Counter(p["lifecycle_stage"] for p in profiles).items()))
    assert demo.line("lifecycle: ") == f"lifecycle: {_joined(lifecycle)}"
    tags = _rows(ws, "gold.tags")
    top = dict(sorted(Counter(t["tag"] for t in tags).items(), key=lambda kv: (-kv[1], kv[0]))[:10])
    assert len(top) == min(10, len({t["tag"] for t in tags})) > 0
    assert demo.line("top tags: ") == f"top tags: {_joined(top)}"


def test_story_customer_line(demo: DemoRun) -> None:
    person = _story_person(demo.workspace)
    tags = sorted(t["tag"] for t in _rows(demo.workspace, "gold.tags") if t["person_id"] == person)
    assert {"interested_in_antarctica", "has_children", "wechat_follower"} <= set(tags)
    assert demo.line("Antarctic story person ") == (
        f"Antarctic story person {person}: tags {', '.join(tags)}"
        f"  (cdp-spark profile show member_id:{story.STORY_MEMBER_ID})"
    )
    profile = [p for p in _rows(demo.workspace, "gold.profiles") if p["person_id"] == person]
    assert len(profile) == 1
    assert profile[0]["is_known"] and profile[0]["orders"] == 2 and profile[0]["wechat_following"]


def test_where_results_are(demo: DemoRun) -> None:
    ws = demo.workspace
    assert demo.line("workspace: ") == f"workspace: {ws}"
    assert demo.line("tables:    ") == (
        f"tables:    {ws / 'lake'}/<layer>/<table> (Delta; open with deltalake, Spark, DuckDB, Polars)"
    )
    reports = [line.removeprefix("report:    ") for line in demo.lines if line.startswith("report:    ")]
    expected = [ws / "reports" / f"demo-{DATES[-1]}.md", ws / "reports" / f"demo-{DATES[-1]}.json"]
    assert reports == [str(p) for p in expected]
    assert sorted((ws / "reports").iterdir()) == sorted(expected)
    markdown = expected[0].read_text()
    assert markdown.startswith(f"# cdp-spark demo report ({', '.join(DATES)})")
    assert all(f"| {d} | succeeded | " in markdown for d in DATES)
    report = json.loads(expected[1].read_text())
    assert report["dates"] == list(DATES)
    assert [r["status"] for r in report["runs"]] == ["succeeded"] * DAYS
    assert [list(r["stages"]) for r in report["runs"]] == [list(NIGHTLY_STAGES)] * DAYS
    assert report["tables"] == _lake(ws)
    assert report["landing_lines"] == sum(f["lines"] for f in _rows(ws, "ops.ingested_files"))
    assert report["story_person"]["person_id"] == _story_person(ws)


def test_ops_runs_one_succeeded_row_per_stage_and_day(demo: DemoRun) -> None:
    runs = _rows(demo.workspace, "ops.runs")
    assert sorted((str(r["run_date"]), r["stage"]) for r in runs) == sorted(
        (d, s) for d in DATES for s in NIGHTLY_STAGES
    )
    assert {r["status"] for r in runs} == {"succeeded"}
    assert {r["pipeline"] for r in runs} == {"nightly"}
    missing = sorted({c for c in COST_COLUMNS if c not in runs[0]})
    assert not missing, f"ops.runs lacks {missing}"
    empty = [(r["stage"], str(r["run_date"]), c) for r in runs for c in COST_COLUMNS if r[c] is None]
    assert not empty, f"ops.runs cost columns left null: {empty}"
    assert all(r["spark_jobs"] > 0 and r["spark_stages"] > 0 and r["spark_tasks"] > 0 for r in runs), runs
    assert all(r["delta_commits"] > 0 for r in runs)
    assert {r["sizing"] for r in runs} == {"small"}
    input_bytes = {d: {r["input_bytes"] for r in runs if str(r["run_date"]) == d} for d in DATES}
    assert all(len(v) == 1 for v in input_bytes.values()), input_bytes
    assert 0 < min(input_bytes[DATES[0]]) < min(input_bytes[DATES[1]])


def test_no_personal_values_printed(demo: DemoRun) -> None:
    output = demo.proc.stdout + demo.proc.stderr
    ws = demo.workspace
    story_values = [
        story.STORY_EMAIL,
        story.STORY_PHONE,
        story.STORY_PHONE_NSN,
        story.STORY_NAME,
        story.STORY_DEVICE_ID,
        story.STORY_OPENID_OA,
        story.STORY_OPENID_MP,
        story.STORY_UNIONID,
        "漕溪北路",
    ]
    personal = {"email", "phone", "wechat_openid", "wechat_unionid"}
    values = [r["id_value"] for r in _rows(ws, "silver.identifiers") if r["id_type"] in personal]
    values += [p[c] for p in _rows(ws, "gold.profiles") for c in ("full_name", "street") if p[c]]
    values += [q["_raw"] for q in _rows(ws, "bronze.quarantine") if q["_raw"]]
    assert len(values) >= 20
    leaked = sorted({v for v in [*story_values, *values] if v in output})
    assert not leaked, f"personal values in the demo's output: {leaked}"
    assert not re.search(r"[\w.+-]+@[\w-]+\.[a-z]{2,}", output), "an e-mail address was printed"
