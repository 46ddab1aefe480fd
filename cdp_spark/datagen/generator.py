"""``generate`` and ``bench_generate``: the population, each day's raw files, the truth.

Incremental delivery: every record is a pure function of (settings, day), so
``generate(days=[k])`` writes exactly the files day k has in a full run, and can be
called after day k-1 was ingested. A call replaces the day folders it writes
(``landing/<source>/<date>/`` and the truth partitions of those dates) and rewrites
``truth/persons`` (identical every time), so reruns are idempotent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from cdp_spark.datagen import story as story_mod
from cdp_spark.datagen._common import OUTPUT_COLUMNS, Gen
from cdp_spark.datagen._writer import header_rows, write_batch, write_persons
from cdp_spark.datagen.population import build_persons
from cdp_spark.datagen.schemas import SOURCES
from cdp_spark.datagen.settings import DatagenSettings
from cdp_spark.datagen.sources import app, consents, crm, email, orders, pos, support, web, wechat
from cdp_spark.errors import ConfigError
from cdp_spark.workspace import Workspace

log = logging.getLogger(__name__)

SOURCE_MODULES: dict[str, ModuleType] = {
    "web": web,
    "app": app,
    "orders": orders,
    "pos": pos,
    "crm": crm,
    "wechat": wechat,
    "email": email,
    "consents": consents,
    "support": support,
}
assert tuple(SOURCE_MODULES) == SOURCES

ROWS_PER_TASK = 500_000
# Rows a batch should hold at most; bigger runs are cut into batches of whole days.
BATCH_ROWS = 8_000_000
# Expected raw records per person and day at activity 1.0 (for batch sizing only).
ROWS_PER_PERSON_DAY = 3.0

# Session settings generation relies on, set for the duration of a call and restored.
# UTC makes rendered timestamps independent of the caller's zone.
SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.compression.codec": "snappy",
    "spark.sql.files.maxRecordsPerFile": "0",
}
# Small runs (tests, demos) evaluate expressions interpreted: compiling the generators'
# many distinct projections costs more CPU than evaluating a few hundred thousand rows.
# Big runs compile.
# The cached batch is not compressed either (mostly long, unique strings: compressing
# cost more CPU than it saved); big runs keep compression to stay within the heap.
SMALL_RUN_CONF = {
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.sql.inMemoryColumnarStorage.compressed": "false",
}
INTERPRET_BELOW_ROWS = 2_000_000


@dataclass(frozen=True)
class GenerationResult:
    """What a ``generate`` call wrote. Paths are absolute; dates are ``YYYY-MM-DD``."""

    workspace_root: Path
    days: tuple[int, ...]
    dates: tuple[str, ...]
    files: dict[str, dict[str, tuple[Path, ...]]]  # source -> date -> part files
    records: dict[str, dict[str, int]]  # source -> date -> raw records (data lines)
    truth: dict[str, Path]  # "persons", "records", "identifiers"
    persons: int
    elapsed_seconds: float

    @property
    def total_records(self) -> int:
        return sum(n for per_day in self.records.values() for n in per_day.values())

    def records_by_source(self) -> dict[str, int]:
        return {source: sum(per_day.values()) for source, per_day in self.records.items()}


def _expected_rows(settings: DatagenSettings, days: int) -> float:
    return settings.persons * ROWS_PER_PERSON_DAY * settings.activity * days


@contextmanager
def _session_conf(spark: SparkSession, expected_rows: float) -> Iterator[None]:
    conf = dict(SESSION_CONF)
    if expected_rows < INTERPRET_BELOW_ROWS:
        conf.update(SMALL_RUN_CONF)
    old: dict[str, str | None] = {key: spark.conf.get(key, None) for key in conf}
    for key, value in conf.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, previous in old.items():
            if previous is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, previous)


def _check_days(settings: DatagenSettings, days: Sequence[int] | None) -> list[int]:
    if days is None:
        return list(range(settings.days))
    wanted = sorted(set(days))
    bad = [d for d in wanted if not 0 <= d < settings.days]
    if bad:
        raise ConfigError(
            [f"generate: days {bad} are outside 0..{settings.days - 1} (datagen.days={settings.days})"]
        )
    return wanted


def _check_sources(sources: Sequence[str] | None) -> list[str]:
    if sources is None:
        return list(SOURCES)
    unknown = [s for s in sources if s not in SOURCE_MODULES]
    if unknown:
        raise ConfigError([f"generate: unknown sources {unknown}; expected some of {', '.join(SOURCES)}"])
    return [s for s in SOURCES if s in sources]


def _source_frame(
    g: Gen, source: str, persons: DataFrame, days: DataFrame, day_list: Sequence[int]
) -> DataFrame:
    module = SOURCE_MODULES[source]
    semantic = module.events(g, persons.where("NOT is_story"), days)  # the story is scripted, not random
    if g.settings.story:
        scripted = story_mod.story_events(days.sparkSession, g, source, list(day_list), semantic.schema)
        if scripted is not None:
            semantic = semantic.unionByName(scripted)
    rendered: DataFrame = module.render(g, semantic)
    return rendered.select(*OUTPUT_COLUMNS)


def _batches(settings: DatagenSettings, day_list: list[int]) -> list[list[int]]:
    per_day = max(1.0, settings.persons * ROWS_PER_PERSON_DAY * settings.activity)
    size = max(1, int(BATCH_ROWS // per_day))
    return [day_list[i : i + size] for i in range(0, len(day_list), size)]


def _population(spark: SparkSession, ws: Workspace, settings: DatagenSettings) -> DataFrame:
    """Write truth/persons (always identical for the same settings) and read it back."""
    population = build_persons(spark, settings)
    if settings.story:
        population = population.unionByName(story_mod.story_person(spark, settings, population))
    return spark.read.parquet(str(write_persons(population, ws)))


def _deliver(
    spark: SparkSession,
    ws: Workspace,
    settings: DatagenSettings,
    persons: DataFrame,
    day_list: list[int],
    source_list: list[str],
) -> tuple[dict[str, dict[str, tuple[Path, ...]]], dict[str, dict[str, int]]]:
    g = Gen(settings)
    n_files = {s: g.file_count(s, SOURCE_MODULES[s].ROWS_PER_PERSON_DAY) for s in source_list}
    files: dict[str, dict[str, tuple[Path, ...]]] = {s: {} for s in source_list}
    records: dict[str, dict[str, int]] = {s: {} for s in source_list}
    for batch in _batches(settings, day_list):
        days_df = spark.createDataFrame([(d,) for d in batch], "day int")
        frames = [_source_frame(g, s, persons, days_df, batch) for s in source_list]
        frame = frames[0]
        for other in frames[1:]:
            frame = frame.unionByName(other)
        # Fewer, bigger tasks: every task deserialises the whole (large) plan of the batch.
        tasks = max(2, int(_expected_rows(settings, len(batch)) // ROWS_PER_TASK))
        frame = frame.coalesce(tasks).unionByName(header_rows(spark, g, batch, source_list, n_files))
        stats = write_batch(spark, ws, g, frame, days=batch, sources=source_list, n_files=n_files)
        for (source, date), paths in stats.files.items():
            files[source][date] = tuple(paths)
            records[source][date] = stats.records.get((source, date), 0)
        log.info("days %s written (%d records)", batch, sum(stats.records.values()))
    return files, records


def generate(
    spark: SparkSession,
    workspace_root: Path,
    settings: DatagenSettings,
    *,
    days: list[int] | None = None,
    sources: Sequence[str] | None = None,
) -> GenerationResult:
    """Write raw files for ``days`` (default: all) under ``<workspace>/landing`` and the truth.

    ``days=[k]`` produces files byte-identical to day k of a full run. ``sources`` limits
    the run to some sources (benchmarks); other sources' folders are left untouched.
    """
    t0 = time.perf_counter()
    ws = Workspace.at(workspace_root)
    ws.root.mkdir(parents=True, exist_ok=True)
    day_list = _check_days(settings, days)
    source_list = _check_sources(sources)
    log.info(
        "generating %d persons, days %s, sources %s, seed %d into %s",
        settings.persons,
        day_list,
        ",".join(source_list),
        settings.seed,
        ws.root,
    )
    with _session_conf(spark, _expected_rows(settings, len(day_list))):
        persons = _population(spark, ws, settings)
        files, records = _deliver(spark, ws, settings, persons, day_list, source_list)
    result = GenerationResult(
        workspace_root=ws.root,
        days=tuple(day_list),
        dates=tuple((settings.start_date + timedelta(days=d)).isoformat() for d in day_list),
        files=files,
        records=records,
        truth={
            "persons": ws.truth / "persons",
            "records": ws.truth / "records",
            "identifiers": ws.truth / "identifiers",
        },
        persons=settings.persons + (1 if settings.story else 0),
        elapsed_seconds=time.perf_counter() - t0,
    )
    log.info("generated %d records in %.1f s", result.total_records, result.elapsed_seconds)
    return result


def bench_generate(
    spark: SparkSession,
    workspace_root: Path,
    *,
    persons: int,
    days: int,
    seed: int = 42,
    sources: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Rows per second of generation, per source and in total (JSON-able).

    The population is written once and timed on its own; then each source is generated
    for all days on its own, so each source's rate is its own. ``total`` is all raw
    records over population + per-source time. The files land in ``workspace_root`` like
    a normal run (ready for ``cdp-spark bench ingest`` or similar).
    """
    settings = DatagenSettings(persons=persons, days=days, seed=seed)
    ws = Workspace.at(workspace_root)
    ws.root.mkdir(parents=True, exist_ok=True)
    day_list = list(range(days))
    per_source: dict[str, dict[str, float]] = {}
    with _session_conf(spark, _expected_rows(settings, days)):
        t0 = time.perf_counter()
        population = _population(spark, ws, settings)
        population_seconds = time.perf_counter() - t0
        total_records = 0
        total_seconds = population_seconds
        for source in _check_sources(sources):
            t1 = time.perf_counter()
            _files, records = _deliver(spark, ws, settings, population, day_list, [source])
            seconds = time.perf_counter() - t1
            n = sum(records[source].values())
            per_source[source] = {
                "records": n,
                "seconds": round(seconds, 3),
                "rows_per_second": round(n / seconds, 1) if seconds else 0.0,
            }
            total_records += n
            total_seconds += seconds
    return {
        "benchmark": "generate",
        "persons": persons,
        "days": days,
        "seed": seed,
        "events": total_records,
        "population_seconds": round(population_seconds, 3),
        "population_rows_per_second": round(persons / population_seconds, 1) if population_seconds else 0.0,
        "elapsed_seconds": round(total_seconds, 3),
        "rows_per_second": round(total_records / total_seconds, 1) if total_seconds else 0.0,
        "sources": per_source,
        "spark_version": spark.version,
    }
