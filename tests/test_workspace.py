"""Workspace roots: local folders become absolute paths, object-store URIs reach storage as given.

Most of these start no Spark: the root is parsed and joined without it, and the embedded
runtime refuses a URI workspace before a JVM starts when the config forces it.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from cdp_spark.errors import ConfigError, RuntimeUnavailableError, WorkspaceNotLocalError
from cdp_spark.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
URI_ROOTS = [
    ("s3://b/cdp", "s3"),
    ("s3a://bucket/deep/cdp", "s3a"),
    ("abfss://lake@account.dfs.core.windows.net/cdp", "abfss"),
    ("dbfs:/mnt/cdp", "dbfs"),
    ("gs://b/cdp", "gs"),
    ("hdfs://namenode:8020/cdp", "hdfs"),
]


@pytest.mark.parametrize(("root", "scheme"), URI_ROOTS)
def test_uri_roots_are_kept_intact(root: str, scheme: str) -> None:
    ws = Workspace.at(root)
    assert ws.root_uri == root and not ws.is_local and ws.scheme == scheme
    assert ws.table_uri("gold.profiles") == f"{root}/lake/gold/profiles"
    assert ws.table_uri("bronze.web_events") == f"{root}/lake/bronze/web_events"
    assert ws.uri("landing", "web") == f"{root}/landing/web"
    assert ws.uri() == root
    assert Workspace.at(root + "/") == ws  # a trailing slash names the same root


def test_file_uris_become_local_paths(tmp_path: Path) -> None:
    for root in (f"file://{tmp_path}", f"file:{tmp_path}", f"file://localhost{tmp_path}/"):
        ws = Workspace.at(root)
        assert ws.is_local and ws.scheme is None
        assert ws.root == tmp_path.resolve() and ws.root_uri == str(tmp_path.resolve())
        assert ws.table_path("gold.profiles") == tmp_path.resolve() / "lake" / "gold" / "profiles"
        assert ws.table_uri("gold.profiles") == f"{tmp_path.resolve()}/lake/gold/profiles"
    spaced = Workspace.at(f"file://{tmp_path}/a%20b")
    assert spaced.root == tmp_path.resolve() / "a b"


def test_local_paths_resolve_against_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert Workspace.at("ws").root == tmp_path.resolve() / "ws"
    assert Workspace.at(Path("ws")) == Workspace.at(str(tmp_path / "ws"))
    assert Workspace.at("ws").locks == tmp_path.resolve() / "ws" / "locks"
    assert not (tmp_path / "ws").exists()  # parsing creates nothing


@pytest.mark.parametrize("root", ["s3://", "dbfs:/", "file:", "file://otherhost/srv/cdp"])
def test_uris_without_a_local_or_remote_location_are_config_errors(root: str) -> None:
    with pytest.raises(ConfigError, match="workspace: "):
        Workspace.at(root)


def test_local_only_helpers_on_a_uri_root_say_what_needs_a_local_folder() -> None:
    ws = Workspace.at("s3://b/cdp")
    helpers = {
        "per-date run lock": lambda: ws.locks,
        "landing files": lambda: ws.landing,
        "lake tables on disk": lambda: ws.table_path("gold.profiles"),
        "MLflow": lambda: ws.mlflow_uri,
        "local file access": lambda: ws.root,
    }
    for purpose, helper in helpers.items():
        with pytest.raises(WorkspaceNotLocalError) as err:
            helper()
        message = str(err.value)
        assert purpose in message and "s3://b/cdp" in message and "s3: URI" in message
        assert "CDP_SPARK_WORKSPACE" in message and "local folder" in message
    assert isinstance(err.value, RuntimeUnavailableError)


def test_embedded_runtime_refuses_s3_before_spark_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cdp_spark.config import load_config
    from cdp_spark.session import build_session

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CDP_SPARK_CONFIG", raising=False)
    config = load_config(
        None, environ={"CDP_SPARK__WORKSPACE": "s3://b/cdp", "CDP_SPARK__RUNTIME__MODE": "embedded"}
    )
    assert config.workspace == "s3://b/cdp"
    with pytest.raises(WorkspaceNotLocalError) as err:
        build_session(config.settings)
    message = str(err.value)
    assert "embedded runtime" in message and "s3://b/cdp" in message and "not s3: URIs" in message
    assert "runtime.mode: cluster" in message and "CDP_SPARK__RUNTIME__MODE=cluster" in message
    assert "`workspace`" in message and "CDP_SPARK__WORKSPACE" in message
    assert list(tmp_path.iterdir()) == []  # no s3: folder, no checkpoints, nothing


def test_demo_on_a_uri_workspace_refuses_without_spark(tmp_path: Path) -> None:
    conf = str(REPO / "conf" / "local.yaml")
    proc = subprocess.run(
        [sys.executable, "-m", "cdp_spark.cli", "--config", conf, "--workspace", "s3://b/cdp", "demo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 3, proc.stderr
    assert "cdp-spark demo needs the workspace on a local" in proc.stderr and "s3://b/cdp" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def _config(spark_settings, workspace: str, mode: str = "auto"):  # type: ignore[no-untyped-def]
    from cdp_spark.config import Config

    base = spark_settings.settings
    settings = base.model_copy(
        update={"workspace": workspace, "runtime": base.runtime.model_copy(update={"mode": mode})}
    )
    return Config(settings=settings, conf_dir=None, source="test", domains={})


def test_embedded_context_refuses_s3_and_creates_no_folder(  # type: ignore[no-untyped-def]
    spark, runtime_info, spark_settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ``auto`` path: Spark is up, the runtime resolved to embedded; opening the store refuses."""
    from cdp_spark.context import CdpContext
    from cdp_spark.storage.embedded import EmbeddedDeltaStore

    assert runtime_info.kind == "embedded"
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WorkspaceNotLocalError, match=r"embedded runtime cannot use workspace s3://b/cdp"):
        CdpContext.attach(_config(spark_settings, "s3://b/cdp"), spark, runtime_info)
    with pytest.raises(WorkspaceNotLocalError, match=r"runtime\.mode: cluster"):
        EmbeddedDeltaStore(spark, Workspace.at("abfss://lake@account.dfs.core.windows.net/cdp"))
    assert list(tmp_path.iterdir()) == []


def test_embedded_context_takes_a_file_uri(spark, runtime_info, spark_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from cdp_spark.context import CdpContext

    ctx = CdpContext.attach(_config(spark_settings, f"file://{tmp_path}/ws"), spark, runtime_info)
    assert ctx.workspace.root == tmp_path.resolve() / "ws" and ctx.workspace.root.is_dir()
    assert ctx.store.location("gold.profiles") == str(
        tmp_path.resolve() / "ws" / "lake" / "gold" / "profiles"
    )


@pytest.mark.parametrize(("root", "_scheme"), URI_ROOTS)
def test_cluster_store_receives_the_uri_unchanged(  # type: ignore[no-untyped-def]
    spark, runtime_info, spark_settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, root, _scheme
) -> None:
    """What delta-spark is handed; opening the store reads and creates nothing (no jars needed)."""
    from cdp_spark.context import CdpContext
    from cdp_spark.storage.deltaspark import DeltaSparkStore

    monkeypatch.chdir(tmp_path)
    cluster = dataclasses.replace(runtime_info, kind="cluster")
    ctx = CdpContext.attach(_config(spark_settings, root, mode="cluster"), spark, cluster)
    assert isinstance(ctx.store, DeltaSparkStore)
    assert ctx.store.location("gold.profiles") == f"{root}/lake/gold/profiles"
    assert ctx.store.location("ops.runs") == f"{root}/lake/ops/runs"
    assert list(tmp_path.iterdir()) == []


def test_auto_sizing_on_a_uri_workspace_keeps_the_session_settings(spark) -> None:  # type: ignore[no-untyped-def]
    from datetime import date

    from cdp_spark.config import SparkSettings
    from cdp_spark.sizing import choose

    sizing = choose(
        spark, SparkSettings(sizing="auto"), Workspace.at("s3://b/cdp"), "landing", date(2026, 1, 1)
    )
    assert sizing.size == "large" and sizing.conf == {} and sizing.input_bytes is None
    assert "not measured" in sizing.reason and "s3:" in sizing.reason


@pytest.mark.cluster
def test_delta_spark_writes_a_file_uri_workspace_where_the_path_says(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from cdp_spark.session import DELTA_CLASS, _jvm_has_class

    if not _jvm_has_class(spark, DELTA_CLASS):
        pytest.skip(f"delta-spark store: {DELTA_CLASS} is not on the JVM classpath here")
    from pyspark.sql.types import LongType, StructField, StructType

    from cdp_spark.storage.deltaspark import DeltaSparkStore

    store = DeltaSparkStore(spark, Workspace.at(f"file://{tmp_path}"))
    store.create("silver.people", StructType([StructField("id", LongType(), True)]))
    assert (tmp_path / "lake" / "silver" / "people" / "_delta_log").is_dir()
    assert store.exists("silver.people")
