"""``cdp-spark bench ingest`` on a few thousand lines: the JSON it reports and the reuse of landing files.

Only the shape and the bookkeeping are checked; speed belongs to the benchmark itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def test_bench_ingest_reports_ratio_and_silver_throughput(
    spark: Any, runtime_info: Any, workspace: Path
) -> None:
    from cdp_spark.config import load_config
    from cdp_spark.context import CdpContext
    from cdp_spark.ingest.bench import MARKER, prepare_landing, run_ingest_benchmark

    config = load_config(REPO / "conf" / "local.yaml", environ={}, overrides={"workspace": str(workspace)})
    ctx = CdpContext.attach(config, spark, runtime_info)
    result = run_ingest_benchmark(ctx, lines=2_000, days=2)

    assert {
        "baseline_read_json_schema_write_parquet_s",
        "baseline_read_json_inferred_write_parquet_s",
        "bronze_ingest_s",
        "ratio",
        "ratio_vs_inferred_baseline",
        "ratio_target",
        "ratio_met",
        "landing",
        "bronze",
        "silver",
    } <= set(result)
    assert result["ratio"] > 0 and isinstance(result["ratio_met"], bool)
    assert result["floor_ratio"] > 0 and len(result["floor_text_typed_raw_s"]) == result["repeats"]
    landing = result["landing"]
    assert landing["reused"] is False and 1_500 <= landing["generated_lines"] <= 2_500
    bronze = result["bronze"]
    assert bronze["lines"] == landing["generated_lines"] == bronze["bronze_rows"] + bronze["quarantined_rows"]
    silver = result["silver"]
    assert silver["bronze_rows"] == bronze["bronze_rows"] and silver["silver_rows"] > 0
    assert silver["rows_per_second"] > 0
    json.dumps(result)  # JSON-able as the CLI writes it

    root = workspace / "bench" / "ingest"
    assert (
        json.loads((root / "landing" / MARKER).read_text())["generated_lines"] == landing["generated_lines"]
    )
    again = prepare_landing(ctx, root, lines=2_000, seed=42, days=2)
    assert again["reused"] is True and again["generated_lines"] == landing["generated_lines"]
