"""Size-dependent Spark settings: chosen per run from the landed bytes, undone after the run,
and without effect on what the nightly writes."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cdp_spark.config import SparkSettings, load_config
from cdp_spark.sizing import Sizing, applied, choose, landing_bytes
from cdp_spark.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
START = date(2025, 1, 6)

# Columns that say when or by which run a row was written: they differ between any two runs.
VOLATILE = {"_ingested_at", "_run_id", "run_id", "ingested_at", "updated_at", "recorded_at", "computed_at"}
# What a session has when nobody tuned it: the "large" side must run with Spark's defaults,
# not with the test session's interpreted settings.
SPARK_DEFAULTS = {
    "spark.sql.codegen.wholeStage": "true",
    "spark.sql.codegen.factoryMode": "FALLBACK",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.shuffle.partitions": "8",
}


def _land(root: Path, day: str, name: str, size: int) -> None:
    folder = root / "landing" / "web" / day
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(b"x" * size)


def test_landing_bytes_count_only_folders_dated_up_to_the_run_date(tmp_path: Path) -> None:
    _land(tmp_path, "2026-01-01", "a.jsonl", 100)
    _land(tmp_path, "2026-01-02", "b.jsonl", 30)
    _land(tmp_path, "2026-01-03", "c.jsonl", 7)
    ws = Workspace.at(tmp_path)
    assert landing_bytes(ws, "landing", date(2026, 1, 2)) == 130
    assert landing_bytes(ws, "landing", date(2026, 1, 3)) == 137
    assert landing_bytes(Workspace.at(tmp_path / "none"), "landing", date(2026, 1, 3)) == 0


def test_auto_sizing_switches_at_the_threshold_and_keeps_user_settings(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _land(tmp_path, "2026-01-01", "a.jsonl", 2 * 1024 * 1024)
    ws = Workspace.at(tmp_path)
    small = choose(spark, SparkSettings(small_input_mb=2), ws, "landing", date(2026, 1, 1))
    assert small.size == "small" and small.input_bytes == 2 * 1024 * 1024
    assert small.conf["spark.sql.adaptive.enabled"] == "false"
    assert small.conf["spark.sql.codegen.wholeStage"] == "false"
    assert small.conf["spark.sql.shuffle.partitions"] == str(min(8, spark.sparkContext.defaultParallelism))
    large = choose(spark, SparkSettings(small_input_mb=1), ws, "landing", date(2026, 1, 1))
    assert (
        large.size == "large"
        and large.conf == {}
        and "2.0 MB landed > spark.small_input_mb=1" in large.reason
    )
    kept = choose(
        spark, SparkSettings(conf={"spark.sql.adaptive.enabled": "true"}), ws, "landing", date(2026, 1, 1)
    )
    assert "spark.sql.adaptive.enabled" not in kept.conf and kept.size == "small"
    forced = choose(spark, SparkSettings(sizing="large", small_input_mb=100), ws, "landing", date(2026, 1, 1))
    assert forced.size == "large" and forced.reason == "spark.sizing=large"


def test_applied_settings_are_undone_after_the_block(spark) -> None:  # type: ignore[no-untyped-def]
    key, unset_key = "spark.sql.shuffle.partitions", "spark.sql.cdp.sizing.test"
    before = spark.conf.get(key)
    with applied(spark, Sizing("small", 0, "test", {key: "1", unset_key: "x"})):
        assert spark.conf.get(key) == "1" and spark.conf.get(unset_key) == "x"
    assert spark.conf.get(key) == before
    assert spark.conf.get(unset_key, None) is None


def _nightly(spark: Any, runtime_info: Any, landed: Path, root: Path, sizing: str) -> Any:
    import shutil

    from cdp_spark.context import CdpContext
    from cdp_spark.pipeline import run_pipeline

    shutil.copytree(landed, root)  # copy2 keeps modification times, which bronze records
    overrides = {"workspace": str(root), "spark": {"sizing": sizing}}
    config = load_config(REPO / "conf" / "local.yaml", environ={}, overrides=overrides)
    ctx = CdpContext.attach(config, spark, runtime_info)
    outcome = run_pipeline(ctx, "nightly", START)
    assert outcome.ok, outcome.summary_line()
    return ctx


def _canon(value: Any) -> Any:
    """Maps compare by content: Spark keeps a map's entries in no particular order."""
    from pyspark.sql import Row

    if isinstance(value, dict):
        return sorted((repr(k), _canon(v)) for k, v in value.items())
    if isinstance(value, Row):
        return tuple((k, _canon(v)) for k, v in value.asDict(recursive=False).items())
    if isinstance(value, list):
        return [_canon(v) for v in value]
    return value


def _columns(ctx: Any, table: str) -> dict[str, list[str]]:
    """Each non-volatile column's values, sorted, so a difference names its column."""
    df = ctx.store.read(table)
    cols = sorted(c for c in df.columns if c not in VOLATILE)
    rows = df.select(*cols).collect()
    return {c: sorted(repr(_canon(r[c])) for r in rows) for c in cols}


@pytest.mark.slow
def test_nightly_tables_do_not_depend_on_the_size_settings(spark, runtime_info, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from cdp_spark.datagen import DatagenSettings, generate
    from cdp_spark.demo import lake_tables

    # One night of a small population: every stage writes, and every table is created.
    landed = tmp_path / "landed"
    generate(spark, landed, DatagenSettings(persons=20, days=1, seed=5, start_date=START))
    small = _nightly(spark, runtime_info, landed, tmp_path / "small", "small")
    with applied(spark, Sizing("large", None, "Spark's defaults", SPARK_DEFAULTS)):
        large = _nightly(spark, runtime_info, landed, tmp_path / "large", "large")
    assert {r["sizing"] for r in large.store.read("ops.runs").collect()} == {"large"}
    assert {r["sizing"] for r in small.store.read("ops.runs").collect()} == {"small"}
    tables = [t for t in lake_tables(small) if not t.startswith("ops.")]
    assert tables == [t for t in lake_tables(large) if not t.startswith("ops.")]
    assert {"bronze.web", "silver.events", "gold.identity_map", "gold.profiles", "gold.tags"} <= set(tables)
    differing = {}
    for table in tables:
        one, other = _columns(small, table), _columns(large, table)
        differing[table] = [c for c in one if one[c] != other.get(c)]
    assert {t: cols for t, cols in differing.items() if cols} == {}
