"""Shared fixtures: one local SparkSession for the whole run, a fresh workspace per test.

The session follows Splink's test fixture: small shuffle partitions, UI off, adaptive
execution off for tiny data, UTC, loopback driver host, scratch dirs in a temp folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
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
