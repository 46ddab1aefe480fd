"""``cdp-spark bench ingest``: what bronze ingestion costs over a plain JSON-to-Parquet copy.

Bronze does more than ``spark.read.json(...).write.parquet(...)``: it keeps every raw line,
numbers lines (one extra pass counting lines per file split), parses each line with the declared
types and once more for its list of keys (schema drift), routes bad lines to the quarantine
(from the same computation, see ``TableStore.append_split``), hashes each line and each file,
and reconciles per file. Issue 4 bounds that overhead:
bronze ingestion of about 20M JSON lines within 1.3x the plain copy of the same files, measured
in the same process. This module measures it, and silver throughput (the cleanse stage over the
ingested bronze) in rows per second.

The landing files are the generator's ``web`` source (JSON lines with its real noise: broken
lines, wrong types, schema drift, duplicates), sized by choosing the population for the
requested number of lines. They are kept under ``<workspace>/bench/ingest/landing`` with a
marker file and reused by later runs with the same size and seed, because generating 20M lines
costs more than ingesting them.

Order of work: an untimed warm-up (JIT, file-system cache), then per repetition the baseline
first and bronze second. The baseline is timed twice: with the declared schema (the strict
comparison: one pass over the files, like bronze) and with schema inference (literally
``spark.read.json(path)``, which reads the files twice). The target ratio is checked against
the declared-schema baseline. A third timing, the floor, keeps each raw line and does nothing
else bronze does (see :func:`run_ingest_benchmark`); its ratio says how much of the target is
left for line numbers, hashes, drift keys, quarantine and bookkeeping.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shutil
import statistics
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdp_spark.errors import CdpSparkError

if TYPE_CHECKING:
    from cdp_spark.context import CdpContext

log = logging.getLogger(__name__)

SOURCE = "web"
RATIO_TARGET = 1.3
MARKER = ".bench-ingest.json"


def _context_at(ctx: CdpContext, root: Path) -> CdpContext:
    """A context on workspace ``root`` sharing ``ctx``'s session, runtime and config files."""
    from cdp_spark.context import CdpContext

    settings = ctx.config.settings.model_copy(update={"workspace": str(root)})
    return CdpContext.attach(dataclasses.replace(ctx.config, settings=settings), ctx.spark, ctx.runtime)


def prepare_landing(
    ctx: CdpContext, root: Path, *, lines: int, seed: int, days: int, reuse: bool = True
) -> dict[str, Any]:
    """Generate (or reuse) ``web`` landing files of about ``lines`` lines under ``root/landing``.

    The population is sized from the generator's expected web lines per person and day, so the
    actual count differs by a few percent; the marker file records it.
    """
    from cdp_spark.datagen import DatagenSettings, generate
    from cdp_spark.datagen.sources import web

    marker = root / "landing" / MARKER
    wanted = {"lines": lines, "seed": seed, "days": days, "source": SOURCE}
    if reuse and marker.exists():
        found = json.loads(marker.read_text())
        if {k: found.get(k) for k in wanted} == wanted:
            log.info(
                "bench ingest: reusing %d landing lines in %s", found["generated_lines"], root / "landing"
            )
            return {**found, "reused": True}
    shutil.rmtree(root, ignore_errors=True)
    base = ctx.config.domain("datagen.yaml")
    per_person = web.ROWS_PER_PERSON_DAY * float(getattr(base, "activity", 1.0)) * days
    persons = max(1, math.ceil(lines / per_person))
    settings = DatagenSettings.model_validate(
        {**base.model_dump(), "persons": persons, "days": days, "seed": seed, "story": False}
    )
    t0 = time.perf_counter()
    result = generate(ctx.spark, root, settings, sources=[SOURCE])
    info = {
        **wanted,
        "persons": persons,
        "generated_lines": result.total_records,
        "files": sum(len(paths) for paths in result.files[SOURCE].values()),
        "bytes": sum(p.stat().st_size for paths in result.files[SOURCE].values() for p in paths),
        "dates": list(result.dates),
        "generate_seconds": round(time.perf_counter() - t0, 2),
    }
    marker.write_text(json.dumps(info, indent=2))
    return {**info, "reused": False}


def run_ingest_benchmark(
    ctx: CdpContext,
    *,
    lines: int = 20_000_000,
    seed: int = 42,
    days: int = 7,
    repeats: int = 1,
    reuse: bool = True,
    root: Path | None = None,
) -> dict[str, Any]:
    """Bronze ingestion vs a plain JSON → Parquet copy of the same files, then silver rows/s.

    Runs in its own workspace (``root``, default ``<workspace>/bench/ingest``); the lake there is
    emptied before every bronze repetition so each one ingests every file. JSON-able result.
    """
    from cdp_spark.cleanse.silver import run_cleanse
    from cdp_spark.ingest.bronze import run_ingest
    from cdp_spark.ingest.config import SourcesConfig
    from cdp_spark.pipeline import RunContext

    if lines < 1 or repeats < 1:
        raise CdpSparkError(
            f"bench ingest: lines and repeats must be >= 1, got lines={lines}, repeats={repeats}"
        )
    root = (root or ctx.workspace.bench / "ingest").resolve()
    landing = prepare_landing(ctx, root, lines=lines, seed=seed, days=days, reuse=reuse)
    bctx = _context_at(ctx, root)
    sources: SourcesConfig = bctx.config.domain("sources.yaml")  # type: ignore[assignment]
    if SOURCE not in sources.sources:
        raise CdpSparkError(
            f"bench ingest: sources.yaml declares no {SOURCE!r} source; the benchmark needs it"
        )
    schema = sources.sources[SOURCE].spark_schema()
    files = sorted(str(p) for p in (root / sources.landing_subdir / SOURCE).rglob("*.jsonl"))
    if not files:
        raise CdpSparkError(f"bench ingest: no landing files under {root / sources.landing_subdir / SOURCE}")
    run_date = date.fromisoformat(landing["dates"][-1])
    spark = ctx.spark
    scratch = root / "baseline"

    def timed_copy(copy: Callable[[str], None]) -> float:
        """Seconds ``copy`` takes to write the landing files to the scratch folder (emptied around it)."""
        shutil.rmtree(scratch, ignore_errors=True)
        t0 = time.perf_counter()
        copy(str(scratch))
        seconds = time.perf_counter() - t0
        shutil.rmtree(scratch, ignore_errors=True)
        return seconds

    def baseline(infer: bool) -> float:
        reader = spark.read if infer else spark.read.schema(schema)
        return timed_copy(lambda out: reader.json(files).write.mode("overwrite").parquet(out))

    def floor() -> float:
        """The least any bronze that keeps each raw line can do: read the lines as text, parse
        them with the declared types, write raw text and parsed fields. No line numbers, hash,
        drift keys, quarantine or bookkeeping: if this alone exceeds the target, so does bronze."""
        from pyspark.sql import functions as F

        text = spark.read.text(files)
        parsed = text.select("value", F.from_json("value", schema).alias("j")).select("value", "j.*")
        return timed_copy(lambda out: parsed.write.parquet(out))

    def reset_lake() -> None:
        for sub in ("lake", "locks", "checkpoints"):
            shutil.rmtree(root / sub, ignore_errors=True)

    # Warm-up, untimed: one file through both paths' readers and writers.
    spark.read.schema(schema).json(files[:1]).write.mode("overwrite").parquet(str(scratch))
    spark.read.text(files[:1]).write.mode("overwrite").parquet(str(scratch))
    shutil.rmtree(scratch, ignore_errors=True)

    plain_schema: list[float] = []
    plain_inferred: list[float] = []
    bronze: list[float] = []
    floors: list[float] = []
    stats: dict[str, Any] = {}
    for i in range(repeats):
        plain_schema.append(baseline(infer=False))
        plain_inferred.append(baseline(infer=True))
        floors.append(floor())
        reset_lake()
        rc = RunContext(run_id=f"bench-ingest-{i}", run_date=run_date, stage="ingest", generation=1)
        t0 = time.perf_counter()
        result = run_ingest(bctx, rc)
        bronze.append(time.perf_counter() - t0)
        stats = result.metrics["sources"][SOURCE]

    rc = RunContext(run_id="bench-cleanse", run_date=run_date, stage="cleanse", generation=1)
    t0 = time.perf_counter()
    cleansed = run_cleanse(bctx, rc)
    cleanse_s = time.perf_counter() - t0
    per_source = cleansed.metrics["sources"].get(SOURCE, {})

    plain = statistics.median(plain_schema)
    inferred = statistics.median(plain_inferred)
    ingest_s = statistics.median(bronze)
    ratio = ingest_s / plain if plain else float("inf")
    return {
        "benchmark": "ingest",
        "runtime": ctx.runtime.kind,
        "lines_requested": lines,
        "landing": landing,
        "repeats": repeats,
        "baseline_read_json_schema_write_parquet_s": [round(t, 3) for t in plain_schema],
        "baseline_read_json_inferred_write_parquet_s": [round(t, 3) for t in plain_inferred],
        "bronze_ingest_s": [round(t, 3) for t in bronze],
        "ratio": round(ratio, 3),
        "ratio_vs_inferred_baseline": round(ingest_s / inferred, 3) if inferred else None,
        "ratio_target": RATIO_TARGET,
        "ratio_met": ratio <= RATIO_TARGET,
        "floor_text_typed_raw_s": [round(t, 3) for t in floors],
        "floor_ratio": round(statistics.median(floors) / plain, 3) if plain else None,
        "bronze": {
            "lines": stats.get("lines"),
            "bronze_rows": stats.get("bronze_rows"),
            "quarantined_rows": stats.get("quarantined_rows"),
            "quarantine_reasons": stats.get("quarantine_reasons"),
            "lines_per_second": round(stats.get("lines", 0) / ingest_s, 1) if ingest_s else None,
        },
        "silver": {
            "bronze_rows": per_source.get("bronze_rows"),
            "silver_rows": per_source.get("silver_rows"),
            "duplicates_removed": per_source.get("duplicates_removed"),
            "rejected": per_source.get("rejected"),
            "seconds": round(cleanse_s, 3),
            "rows_per_second": round((per_source.get("bronze_rows") or 0) / cleanse_s, 1)
            if cleanse_s
            else None,
        },
        "spark_version": ctx.runtime.spark_version,
        "cores": os.cpu_count(),
    }
