"""Shared fixtures: one local SparkSession for the whole run, a fresh workspace per test.

The session follows Splink's test fixture: small shuffle partitions, UI off, adaptive
execution off for tiny data, UTC, loopback driver host, scratch dirs in a temp folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("PYSPARK_PYTHON", os.sys.executable)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def spark_settings(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from cdp_spark.config import load_config

    base = tmp_path_factory.mktemp("spark-session")
    config = load_config(
        None,
        environ={},
        overrides={
            "workspace": str(base),
            "runtime": {"mode": "embedded"},
            "spark": {
                "master": "local[2]",
                "driver_memory": "2g",
                "shuffle_partitions": 2,
                "conf": {
                    "spark.sql.adaptive.enabled": "false",
                    "spark.default.parallelism": "2",
                    "spark.rdd.compress": "false",
                    "spark.shuffle.compress": "false",
                    # Tiny data: compiling generated code costs more than it saves. Interpreted
                    # evaluation gives the same results (Spark's own suites run both modes);
                    # measured on a 40-person incremental profile run: 36-40 s -> 29-30 s.
                    "spark.sql.codegen.wholeStage": "false",
                    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
                    # Spark sizes memory pages from heap / cores / 16: 32 MB here. Every sort,
                    # aggregation and broadcast hash table takes at least one page, so on tiny
                    # data the pages, not the rows, fill the 2 GB driver: the late-events profile
                    # test peaked at 1911 MB of old generation and once failed to build a
                    # broadcast. With 1 MB pages the same test peaks at 1246 MB, same time.
                    "spark.buffer.pageSize": "1m",
                },
            },
        },
    )
    return config


@pytest.fixture(scope="session")
def spark(spark_settings):  # type: ignore[no-untyped-def]
    from cdp_spark.session import build_session

    session, _info = build_session(spark_settings.settings)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def runtime_info(spark, spark_settings):  # type: ignore[no-untyped-def]
    from cdp_spark.session import build_session

    return build_session(spark_settings.settings)[1]


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "ws"
    root.mkdir()
    yield root


@pytest.fixture
def config(workspace: Path, spark_settings):  # type: ignore[no-untyped-def]
    """A config whose workspace is this test's own folder (Spark settings shared)."""
    from cdp_spark.config import Config

    settings = spark_settings.settings.model_copy(update={"workspace": str(workspace)})
    return Config(settings=settings, conf_dir=None, source="test", domains={})


@pytest.fixture
def ctx(spark, runtime_info, config):  # type: ignore[no-untyped-def]
    """A CdpContext on this test's workspace, sharing the session-wide SparkSession."""
    from cdp_spark.context import CdpContext

    return CdpContext.attach(config, spark, runtime_info)


# ------------------------------------------------------------------ one demo for the session

DEMO_PERSONS, DEMO_DAYS, DEMO_SEED = 50, 2, 7
DEMO_DATES = ("2026-01-01", "2026-01-02")
REPO = Path(__file__).resolve().parents[1]


#: Marks for a test using ``demo``: one xdist worker runs them all, so the demo runs once, and
#: whichever comes first pays for the demo itself within its timeout.
DEMO_MARKS = (pytest.mark.slow, pytest.mark.timeout(1800), pytest.mark.xdist_group("demo"))


@dataclass(frozen=True)
class DemoRun:
    """``cdp-spark demo`` run once in a subprocess: its output and the workspace it left."""

    workspace: Path
    proc: subprocess.CompletedProcess[str]
    seconds: float

    @property
    def lines(self) -> list[str]:
        return self.proc.stdout.splitlines()

    def line(self, prefix: str) -> str:
        found = [line for line in self.lines if line.startswith(prefix)]
        assert len(found) == 1, f"expected one stdout line starting with {prefix!r}, got {found}"
        return found[0]


def cli_command() -> list[str]:
    """The installed entry point next to this interpreter, else the module."""
    entry = Path(sys.executable).with_name("cdp-spark")
    return [str(entry)] if entry.exists() else [sys.executable, "-m", "cdp_spark.cli"]


def _run_demo(ws: Path) -> DemoRun:
    args = ["--workspace", str(ws), "demo", "--persons", str(DEMO_PERSONS), "--days", str(DEMO_DAYS)]
    args += ["--seed", str(DEMO_SEED), "--start-date", DEMO_DATES[0]]
    t0 = time.perf_counter()
    proc = subprocess.run(
        [*cli_command(), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable},
        timeout=1700,
    )
    return DemoRun(ws, proc, time.perf_counter() - t0)


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """The smallest demo that exercises every summary line (see tests/test_demo.py), shared by
    the demo, catalogue, facade and README tests; they read its workspace and never write to it.

    Run once per test run, not per xdist worker: the first worker to get here runs it under a
    file lock in the run's shared temp folder and saves its output; another waits and reuses it.
    """
    import fcntl
    import json

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # this run's own folder
    saved = shared / "demo-run.json"
    with open(shared / "demo-run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if saved.exists():
            data = json.loads(saved.read_text())
            proc = subprocess.CompletedProcess(
                data["args"], data["returncode"], data["stdout"], data["stderr"]
            )
            run = DemoRun(Path(data["workspace"]), proc, data["seconds"])
        else:
            run = _run_demo(tmp_path_factory.mktemp("demo") / "ws")
            fields = {"args": run.proc.args, "returncode": run.proc.returncode, "stdout": run.proc.stdout}
            fields |= {"stderr": run.proc.stderr, "workspace": str(run.workspace), "seconds": run.seconds}
            saved.write_text(json.dumps(fields))
            print(f"cdp-spark demo --persons {DEMO_PERSONS} --days {DEMO_DAYS} took {run.seconds:.1f} s")
    assert run.proc.returncode == 0, run.proc.stdout[-3000:] + run.proc.stderr[-5000:]
    return run
