"""Writing one batch of days: numbered lines, landing files, truth tables, deterministic names.

Why this shape: line numbers must be known before the files exist (the truth is keyed by
file and line), and Spark's output file names contain random UUIDs. So all sources of a
batch are unioned, numbered with one window (partitioned by source, day and part file,
ordered by arrival time and record key), cached, and written three times (landing text,
truth records, truth identifiers) into a staging folder inside the workspace. Each
(source, day, part) is one window group and so one task and one file; the driver then
renames the files to ``part-NNNNN.<ext>`` and moves each day folder into place, replacing
an earlier delivery of the same day (idempotent reruns).

Spark's text writer only produces valid UTF-8, so lines meant to hold invalid bytes carry
a private-use placeholder that is swapped for a Latin-1 byte here, in files the stats say
contain one. This step and the renames need the workspace on a local (or mounted) file
system, which is what the embedded runtime and ``cdp-spark generate`` use.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from cdp_spark.datagen._common import INVALID_BYTES, OUTPUT_COLUMNS, UTF8_PLACEHOLDER, Gen
from cdp_spark.datagen.schemas import SOURCE_SCHEMAS
from cdp_spark.workspace import Workspace

log = logging.getLogger(__name__)

GROUP = ("source", "file_date", "file_idx")


@dataclass
class BatchStats:
    """What one batch delivered: files and data lines per (source, date)."""

    files: dict[tuple[str, str], list[Path]] = field(default_factory=dict)
    records: dict[tuple[str, str], int] = field(default_factory=dict)


def header_rows(
    spark: SparkSession, g: Gen, days: Sequence[int], sources: Sequence[str], n_files: dict[str, int]
) -> DataFrame:
    """The header line of every CSV part file (line 1), so even empty CSV files have one."""
    rows = []
    for source in sources:
        schema = SOURCE_SCHEMAS[source]
        if schema.format != "csv":
            continue
        header = schema.delimiter.join(schema.field_names)
        for day in days:
            for idx in range(n_files[source]):
                rows.append((source, day, idx, header))
    frame = spark.createDataFrame(rows, "source string, day int, file_idx int, value string")
    typed = {f.name: f.dataType for f in _output_schema().fields}
    cols = []
    for name in OUTPUT_COLUMNS:
        if name in ("source", "day", "file_idx", "value"):
            cols.append(F.col(name))
        elif name == "is_data":
            cols.append(F.lit(0).alias(name))
        else:
            cols.append(F.lit(None).cast(typed[name]).alias(name))
    return frame.select(*cols)


def _output_schema() -> StructType:
    ident = StructType(
        [
            StructField("id_type", StringType()),
            StructField("id_value", StringType()),
            StructField("id_value_true", StringType()),
            StructField("is_junk", BooleanType()),
        ]
    )
    types = {
        "source": StringType(),
        "day": IntegerType(),
        "file_idx": IntegerType(),
        "is_data": IntegerType(),
        "arrival": LongType(),
        "record_key": StringType(),
        "copy": IntegerType(),
        "value": StringType(),
        "person_id": StringType(),
        "event_date": StringType(),
        "malformed": BooleanType(),
        "noise": ArrayType(StringType()),
        "ids": ArrayType(ident),
        "story": BooleanType(),
        "bad_bytes": BooleanType(),
    }
    return StructType([StructField(name, types[name]) for name in OUTPUT_COLUMNS])


def _file_name(source: str) -> str:
    return f"part-{{idx:05d}}.{SOURCE_SCHEMAS[source].extension}"


def write_batch(
    spark: SparkSession,
    ws: Workspace,
    g: Gen,
    frame: DataFrame,
    *,
    days: Sequence[int],
    sources: Sequence[str],
    n_files: dict[str, int],
) -> BatchStats:
    """Number, write and move one batch; returns per-(source, date) files and record counts."""
    start = g.settings.start_date
    dates = {d: (start + timedelta(days=d)).isoformat() for d in days}
    staging = Path(tempfile.mkdtemp(prefix=".datagen-staging-", dir=ws.root))
    try:
        frame = frame.withColumn("file_date", F.expr(f"date_format({g.date_of()}, 'yyyy-MM-dd')"))
        window = Window.partitionBy(*GROUP).orderBy("is_data", "arrival", "record_key", "copy", "value")
        numbered = frame.withColumn("line_number", F.row_number().over(window).cast("long"))
        numbered = numbered.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            _write_landing(numbered, staging / "landing")
            _write_truth_records(numbered, staging / "records")
            _write_truth_identifiers(numbered, staging / "identifiers")
            counts = (
                numbered.groupBy(*GROUP)
                .agg(F.sum("is_data").alias("records"), F.max(F.col("bad_bytes").cast("int")).alias("bad"))
                .collect()
            )
        finally:
            numbered.unpersist()
        stats = BatchStats()
        bad_files: set[tuple[str, str, int]] = set()
        for row in counts:
            key = (row["source"], row["file_date"])
            stats.records[key] = stats.records.get(key, 0) + int(row["records"] or 0)
            if row["bad"]:
                bad_files.add((row["source"], row["file_date"], int(row["file_idx"])))
        for source in sources:
            for day in days:
                date = dates[day]
                stats.records.setdefault((source, date), 0)
                stats.files[(source, date)] = _move_landing(
                    ws, staging, source, date, n_files[source], bad_files
                )
                _move_truth_records(ws, staging, source, date)
                _move_identifiers(ws, staging, source, date)
        return stats
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_landing(numbered: DataFrame, path: Path) -> None:
    (
        numbered.select(*GROUP, "line_number", "value")
        .sortWithinPartitions(*GROUP, "line_number")
        .select("value", *GROUP)
        .write.mode("overwrite")
        .option("maxRecordsPerFile", 0)
        .partitionBy(*GROUP)
        .text(str(path))
    )


def _write_truth_records(numbered: DataFrame, path: Path) -> None:
    ext = F.lit("jsonl")
    for name, schema in SOURCE_SCHEMAS.items():
        if schema.format == "csv":
            ext = F.when(F.col("source") == name, F.lit("csv")).otherwise(ext)
    file_name = F.concat(
        F.col("source"),
        F.lit("/"),
        F.col("file_date"),
        F.lit("/part-"),
        F.lpad(F.col("file_idx").cast("string"), 5, "0"),
        F.lit("."),
        ext,
    )
    (
        numbered.filter(F.col("is_data") == 1)
        .select(
            *GROUP,
            file_name.alias("file"),
            "line_number",
            "record_key",
            "person_id",
            "event_date",
            "malformed",
            "noise",
            F.expr("transform(filter(ids, x -> NOT x.is_junk), x -> x.id_type)").alias("id_types"),
            "story",
        )
        .sortWithinPartitions(*GROUP, "line_number")
        .write.mode("overwrite")
        .option("maxRecordsPerFile", 0)
        .partitionBy(*GROUP)
        .parquet(str(path))
    )


def _write_truth_identifiers(numbered: DataFrame, path: Path) -> None:
    """One row per (source, day, identifier value as written, true person) with a record count.

    Grouping by source instead of collecting a set of sources keeps this a plain hash
    aggregate (``collect_set`` forces the slower object aggregate).
    """
    ids = numbered.filter((F.col("is_data") == 1) & ~F.col("malformed")).select(
        "file_date", "source", "person_id", F.explode("ids").alias("id")
    )
    agg = ids.groupBy(
        "file_date",
        F.col("id.id_type").alias("id_type"),
        F.col("id.id_value").alias("id_value"),
        F.col("id.id_value_true").alias("id_value_true"),
        "person_id",
        "source",
    ).agg(F.max(F.col("id.is_junk")).alias("is_junk"), F.count(F.lit(1)).alias("records"))
    (
        agg.repartition("source", "file_date")
        .sortWithinPartitions("source", "file_date", "id_type", "id_value", "person_id", "id_value_true")
        .select(
            "source", "file_date", "id_type", "id_value", "id_value_true", "person_id", "is_junk", "records"
        )
        .write.mode("overwrite")
        .option("maxRecordsPerFile", 0)
        .partitionBy("source", "file_date")
        .parquet(str(path))
    )


def _only_file(folder: Path, suffix: str) -> Path | None:
    if not folder.is_dir():
        return None
    files = sorted(p for p in folder.iterdir() if p.name.startswith("part-") and p.name.endswith(suffix))
    if len(files) > 1:  # pragma: no cover - one window group is one task, hence one file
        raise RuntimeError(f"expected one part file in {folder}, found {len(files)}")
    return files[0] if files else None


def _move_landing(
    ws: Workspace, staging: Path, source: str, date: str, n_files: int, bad_files: set[tuple[str, str, int]]
) -> list[Path]:
    target = ws.landing / source / date
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True, exist_ok=True)
    files = []
    for idx in range(n_files):
        dest = target / _file_name(source).format(idx=idx)
        found = _only_file(
            staging / "landing" / f"source={source}" / f"file_date={date}" / f"file_idx={idx}", ".txt"
        )
        if found is None:
            dest.write_bytes(b"")
        else:
            os.replace(found, dest)
            if (source, date, idx) in bad_files:
                _inject_invalid_bytes(dest)
        files.append(dest)
    return files


def _normalise_parquet(path: Path) -> None:
    """Rewrite a Spark-written Parquet file with pyarrow so its bytes are reproducible.

    parquet-mr lists each column's encodings from a hash set keyed by enum identity, so
    the footer of an otherwise identical file differs between JVM processes. Rewriting
    with pyarrow (pinned) gives the same bytes for the same rows in every run.
    """
    import pyarrow.parquet as pq

    table = pq.ParquetFile(path).read()  # not read_table: it would add hive partition columns from the path
    pq.write_table(table.replace_schema_metadata(None), path, compression="snappy")


def _inject_invalid_bytes(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data.replace(UTF8_PLACEHOLDER.encode("utf-8"), INVALID_BYTES))


def _move_truth_records(ws: Workspace, staging: Path, source: str, date: str) -> None:
    target = ws.truth / "records" / f"source={source}" / f"file_date={date}"
    shutil.rmtree(target, ignore_errors=True)
    src = staging / "records" / f"source={source}" / f"file_date={date}"
    if not src.is_dir():
        return
    target.mkdir(parents=True, exist_ok=True)
    for part in sorted(src.iterdir()):
        if not part.name.startswith("file_idx="):
            continue
        found = _only_file(part, ".parquet")
        if found is not None:
            dest = target / f"part-{int(part.name.split('=', 1)[1]):05d}.parquet"
            os.replace(found, dest)
            _normalise_parquet(dest)


def _move_identifiers(ws: Workspace, staging: Path, source: str, date: str) -> None:
    part = Path(f"source={source}") / f"file_date={date}"
    target = ws.truth / "identifiers" / part
    shutil.rmtree(target, ignore_errors=True)
    found = _only_file(staging / "identifiers" / part, ".parquet")
    if found is None:
        return
    target.mkdir(parents=True, exist_ok=True)
    os.replace(found, target / "part-00000.parquet")
    _normalise_parquet(target / "part-00000.parquet")


def write_persons(persons: DataFrame, ws: Workspace) -> Path:
    """truth/persons: one Parquet file per input partition, renamed by partition number."""
    target = ws.truth / "persons"
    staging = Path(tempfile.mkdtemp(prefix=".datagen-persons-", dir=ws.root))
    try:
        persons.write.mode("overwrite").option("maxRecordsPerFile", 0).parquet(str(staging / "p"))
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True, exist_ok=True)
        # Renumber in partition order: the numbers Spark gives depend on how many (empty)
        # partitions the small story frame got, i.e. on the cluster's default parallelism.
        parts = sorted((staging / "p").glob("part-*.parquet"), key=lambda p: int(p.name.split("-")[1]))
        for number, part in enumerate(parts):
            os.replace(part, target / f"part-{number:05d}.parquet")
            _normalise_parquet(target / f"part-{number:05d}.parquet")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
