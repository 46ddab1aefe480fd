"""Spark settings that suit the size of a run's input, chosen per run and logged.

On a few megabytes a nightly's time goes to fixed costs per Spark job, not to rows: compiling
generated code for every new plan, adaptive execution re-planning after each shuffle, and
more shuffle partitions than there are cores. For such runs the runner switches those off for
the run's duration and puts the session's own values back afterwards. Large runs keep the
session's settings as they are. None of these settings changes what a query returns (Spark's
own test suites run interpreted and compiled evaluation, with and without adaptive execution,
against the same answers); a test runs one workspace both ways and compares every table.

The input size is what the workspace has received up to the run date: the landing files in
folders dated on or before it. Every stage's input grows with it (a full profile build reads
all of it), and it is known before anything runs, from file sizes alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from cdp_spark.config import SparkSettings
    from cdp_spark.workspace import Workspace

log = logging.getLogger(__name__)

SizeClass = Literal["small", "large"]
_DATE_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Sizing:
    """The size class a run got, why, and the session settings it changes."""

    size: SizeClass
    input_bytes: int | None
    reason: str
    conf: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        changed = ", ".join(f"{k}={v}" for k, v in sorted(self.conf.items())) or "session settings unchanged"
        return f"{self.size} input ({self.reason}): {changed}"


def small_input_conf(spark: SparkSession, settings: SparkSettings) -> dict[str, str]:
    """Interpreted evaluation, no adaptive re-planning, one shuffle partition per core.

    Keys the user set in ``spark.conf`` are left as the user set them.
    """
    cores = max(1, spark.sparkContext.defaultParallelism)
    conf = {
        "spark.sql.codegen.wholeStage": "false",
        "spark.sql.codegen.factoryMode": "NO_CODEGEN",
        "spark.sql.adaptive.enabled": "false",
        "spark.sql.shuffle.partitions": str(min(settings.shuffle_partitions, cores)),
    }
    return {k: v for k, v in conf.items() if k not in settings.conf}


def landing_bytes(workspace: Workspace, landing_subdir: str, up_to: date) -> int:
    """Bytes of the landing files in ``<source>/<YYYY-MM-DD>/`` folders dated up to ``up_to``
    (a local workspace only)."""
    total = 0
    landing = workspace.require_local("measuring landed bytes for spark.sizing=auto") / landing_subdir
    if not landing.is_dir():
        return 0
    for folder, _dirs, files in os.walk(landing):
        name = Path(folder).name
        if _DATE_DIR.match(name) and date.fromisoformat(name) > up_to:
            continue
        total += sum(os.path.getsize(os.path.join(folder, f)) for f in files)
    return total


def choose(
    spark: SparkSession, settings: SparkSettings, workspace: Workspace, landing_subdir: str, run_date: date
) -> Sizing:
    """The sizing of one run from ``spark.sizing`` and, for ``auto``, the landed bytes."""
    if settings.sizing == "large":
        return Sizing("large", None, "spark.sizing=large")
    if settings.sizing == "small":
        return Sizing("small", None, "spark.sizing=small", small_input_conf(spark, settings))
    if not workspace.is_local:
        # Only local folders are listed here; a URI workspace is a cluster's, whose settings stay.
        return Sizing("large", None, f"auto: landing files on {workspace.scheme}: are not measured")
    size = landing_bytes(workspace, landing_subdir, run_date)
    limit = settings.small_input_mb * 1024 * 1024
    if size > limit:
        reason = f"auto: {size / 2**20:.1f} MB landed > spark.small_input_mb={settings.small_input_mb}"
        return Sizing("large", size, reason)
    reason = f"auto: {size / 2**20:.1f} MB landed <= spark.small_input_mb={settings.small_input_mb}"
    return Sizing("small", size, reason, small_input_conf(spark, settings))


@contextlib.contextmanager
def applied(spark: SparkSession, sizing: Sizing) -> Iterator[Sizing]:
    """Set the sizing's settings for the block; the session's previous values come back after."""
    previous: dict[str, str | None] = {k: spark.conf.get(k, None) for k in sizing.conf}
    log.info("spark sizing: %s", sizing.describe())
    for key, value in sizing.conf.items():
        spark.conf.set(key, value)
    try:
        yield sizing
    finally:
        for key, before in previous.items():
            if before is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, before)
