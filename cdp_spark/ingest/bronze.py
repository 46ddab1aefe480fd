"""Landing → bronze: new files only, schema-on-read, nothing lost.

Every line of every new file ends up in exactly one place: a row of ``bronze.<source>``
(raw text kept, declared fields parsed) or a row of ``bronze.quarantine`` (raw text, line
number and the reason). ``ops.ingested_files`` records each file with size, mtime, checksum
and the reconciliation ``lines = bronze_rows + quarantined_rows``.

A quarantine row is only useful if it says *which* line of *which* file; Spark's line
reader does not number lines, so :func:`read_lines` derives numbers from file splits.
CSV records must be single-line (quoted newlines are not supported by the line-based reader).

Idempotency: a file is "new" when ``(source, path)`` is not in ``ops.ingested_files``. The
bronze and quarantine appends carry a token derived from the batch of files, so a stage that
died after its data commit and before its bookkeeping commit re-commits nothing on resume.
A file whose size or mtime changed after ingestion is reported, never re-ingested silently.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdp_spark import catalog
from cdp_spark.errors import CdpSparkError
from cdp_spark.ingest.config import SourceConfig, SourcesConfig
from cdp_spark.pipeline import RunContext, StageResult, stage
from cdp_spark.storage import Txn, WriteResult

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, Observation
    from pyspark.sql.types import StructType

    from cdp_spark.config import Config
    from cdp_spark.context import CdpContext

log = logging.getLogger(__name__)

QUARANTINE = catalog.BRONZE_QUARANTINE.name
INGESTED_FILES = catalog.OPS_INGESTED_FILES.name
_DATE_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Column names of bronze metadata (schema.py-style constants: one place to change them).
SOURCE, FILE, LINE, RAW, FILE_DATE, FILE_MODIFIED = (
    "_source",
    "_file",
    "_line",
    "_raw",
    "_file_date",
    "_file_modified",
)
INGESTED_AT, RUN_ID, RUN_DATE, RECORD_HASH, EXTRA_FIELDS = (
    "_ingested_at",
    "_run_id",
    "_run_date",
    "_record_hash",
    "_extra_fields",
)


@dataclass(frozen=True)
class LandingFile:
    source: str
    path: str
    relative: str
    size: int
    modified: datetime
    file_date: date | None


def bronze_table(source: str) -> str:
    return f"bronze.{source}"


def list_landing_files(ctx: CdpContext, name: str, source: SourceConfig, up_to: date) -> list[LandingFile]:
    """Files of one source delivered for dates up to ``up_to`` (folders named YYYY-MM-DD)."""
    sources: SourcesConfig = ctx.config.domain("sources.yaml")  # type: ignore[assignment]
    landing = (
        ctx.workspace.require_local(f"listing landing files ({sources.landing_subdir}/)")
        / sources.landing_subdir
    )
    base = landing / (source.path or name)
    if not base.is_dir():
        return []
    suffix = f".{source.extension or source.format}"
    files = []
    for folder, _dirs, names in os.walk(base):
        day = Path(folder).name
        file_date = date.fromisoformat(day) if _DATE_DIR.match(day) else None
        if file_date is not None and file_date > up_to:
            continue
        for file_name in names:
            if not file_name.endswith(suffix) or file_name.startswith((".", "_")):
                continue
            path = os.path.join(folder, file_name)
            stat = os.stat(path)
            # Millisecond precision, as Hadoop file systems report modification times.
            modified = datetime.fromtimestamp(stat.st_mtime_ns // 1_000_000 / 1000, tz=timezone.utc)
            rel = str(Path(path).relative_to(landing))
            files.append(LandingFile(name, path, rel, int(stat.st_size), modified, file_date))
    return sorted(files, key=lambda f: f.relative)


def _local_path(uri: str) -> str:
    from urllib.parse import unquote

    for prefix in ("file://", "file:"):
        if uri.startswith(prefix):
            return unquote(uri[len(prefix) :])
    return uri


# ---------------------------------------------------------------------------- parsing


def _uri_key(uri: str) -> str:
    """Spark's file URI form ("file:/x") and pathlib's ("file:///x") made comparable."""
    return re.sub(r"^file:(//)?", "file://", uri)


def read_lines(
    ctx: CdpContext, files: Sequence[LandingFile], parses: Sequence[Column] = ()
) -> tuple[DataFrame, dict[str, int]]:
    """One row per line (``_file``, ``_file_modified``, ``_file_date``, 1-based ``_line``,
    ``_raw``, plus the ``parses`` columns) and the line count per file.

    Spark's line reader keeps raw bytes (invalid UTF-8 stays detectable) and splits large
    files, but does not number lines. Within one file split rows arrive in order, so a line's
    number is the lines of the file's earlier splits plus its position in its own split; the
    position comes from ``monotonically_increasing_id`` (consecutive within a partition) and
    is used transiently, never stored. The per-split counts are computed once, up front (one
    cheap pass over the text), and travel as a broadcast literal table; they also give each
    file's line count for reconciliation independently of where the lines end up, and carry the
    file's metadata to its lines in the same join. Keys of the count dict are
    ``LandingFile.path`` values.

    ``parses`` (expressions over ``_raw``) are computed in the same projection as the line
    position. That projection is nondeterministic, so Spark cannot push a later filter on a
    parse result (bronze keeps lines whose reason is null) below it; pushed down, the filter
    carried its own copy of the parse and every kept line was parsed twice.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    raw = (
        ctx.spark.read.text([f.path for f in files])
        .select(
            F.col("_metadata.file_path").alias("_uri"),
            F.col("_metadata.file_block_start").alias("_block"),
            F.col("value").alias(RAW),
        )
        .select("*", F.monotonically_increasing_id().alias("_mono"), *parses)
    )
    splits = raw.groupBy("_uri", "_block").agg(F.min("_mono").alias("_first"), F.count(F.lit(1)).alias("_n"))
    before = Window.partitionBy("_uri").orderBy("_block").rowsBetween(Window.unboundedPreceding, -1)
    splits = splits.withColumn("_offset", F.coalesce(F.sum("_n").over(before), F.lit(0)))
    split_rows = splits.collect()
    by_key = {_uri_key(Path(f.path).as_uri()): f for f in files}
    per_file = {f.path: 0 for f in files}
    known = []
    for r in split_rows:
        f = by_key.get(_uri_key(r["_uri"]))
        if f is None:  # pragma: no cover - Spark and pathlib disagree on the file's URI
            raise CdpSparkError(f"cannot match Spark's file URI {r['_uri']!r} to a landing file")
        per_file[f.path] += int(r["_n"])
        known.append((r["_uri"], r["_block"], r["_first"], r["_offset"], f.relative, f.modified, f.file_date))
    splits_df = ctx.spark.createDataFrame(
        known,
        f"_uri string, _block long, _first long, _offset long, {FILE} string, {FILE_MODIFIED} timestamp, "
        f"{FILE_DATE} date",
    )
    lines = raw.join(F.broadcast(splits_df), ["_uri", "_block"])
    numbered = lines.select(
        FILE,
        FILE_MODIFIED,
        FILE_DATE,
        ((F.col("_mono") - F.col("_first")) + F.col("_offset") + 1).cast("long").alias(LINE),
        RAW,
        *[c for c in raw.columns if c not in ("_uri", "_block", "_mono", RAW)],
    )
    return numbered, per_file


def file_checksum(path: str) -> str:
    """SHA-256 of a landing file (recorded so a later change can be proven, not guessed)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


_JSON_KEYS, _JSON_TYPED, _CORRUPT = "_json_keys", "_json_typed", "_cdp_corrupt_record"


def _json_parses(source: SourceConfig) -> list[Column]:
    """The two parses every JSON line needs, as columns to add in a projection of their own.

    One parse with the declared types, in PERMISSIVE mode with a corrupt-record column (set
    when the line is not JSON or a declared field has a value of the wrong type), and one that
    lists the object's top-level keys (schema drift). Both must be materialised (by
    :func:`read_lines`) before :func:`_json_parse` uses them: referenced inline, Spark rewrites every
    ``from_json(...)[field]`` into a separate single-field parse, so each line was parsed about
    thirty times.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    typed = StructType([*source.spark_schema().fields, StructField(_CORRUPT, StringType())])
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": _CORRUPT}
    return [
        F.from_json(F.col(RAW), typed, options).alias(_JSON_TYPED),
        F.json_object_keys(F.col(RAW)).alias(_JSON_KEYS),
    ]


def _json_parse(source: SourceConfig) -> tuple[list[Column], Column, Column]:
    """Parsed columns, the quarantine reason (null when fine) and the undeclared field names.

    Inputs are the columns of :func:`_json_parses`. Only a line the typed parse marked corrupt
    is parsed a third time (as ``map<string,string>``) to name the fields of the wrong type: a
    declared field with a value as text and none with its type. Clean lines skip that parse;
    done for every line it cost more than the typed parse itself.
    """
    from pyspark.sql import functions as F

    schema = source.spark_schema()
    typed = F.col(_JSON_TYPED)
    keys = F.col(_JSON_KEYS)
    as_text = F.from_json(F.col(RAW), "map<string,string>", {"mode": "PERMISSIVE"})
    wrong_type = F.filter(
        F.array(
            *[
                F.when(as_text[f.name].isNotNull() & typed[f.name].isNull(), F.lit(f.name))
                for f in schema.fields
            ]
        ),
        lambda x: x.isNotNull(),
    )
    wrong_type_reason = F.when(
        F.size(wrong_type) > 0, F.concat(F.lit("wrong_type: "), F.array_join(wrong_type, ", "))
    ).otherwise(F.lit("broken_json"))  # corrupt for another reason than a field's type
    # Inside the corrupt branch the keys are parsed inline, not taken from the materialised
    # column: the quarantine write needs no undeclared-field list, so Spark drops that column
    # there and clean lines are parsed once.
    reason = (
        F.when(F.col(RAW).isNull() | (F.trim(F.col(RAW)) == ""), F.lit("empty_line"))
        .when(~F.is_valid_utf8(F.col(RAW)), F.lit("invalid_encoding"))
        .when(~F.ltrim(F.col(RAW)).startswith("{"), F.lit("broken_json"))
        .when(
            typed[_CORRUPT].isNotNull(),
            F.when(F.json_object_keys(F.col(RAW)).isNull(), F.lit("broken_json")).otherwise(
                wrong_type_reason
            ),
        )
    )
    declared = schema.fieldNames()
    extra = F.filter(keys, lambda k: ~k.isin(*declared))
    cols = [typed[f.name].alias(f.name) for f in schema.fields]
    return cols, reason, extra


_CSV_SPLIT = '(?=(?:[^"]*"[^"]*")*[^"]*$)'


_CSV_TOKENS = "_csv_tokens"


def _csv_tokens(source: SourceConfig) -> list[Column]:
    """A CSV line split into fields (quoted delimiters kept), computed once per line by
    :func:`read_lines`: the lookahead regex is the expensive part of CSV parsing."""
    from pyspark.sql import functions as F

    return [F.split(F.col(RAW), re.escape(source.csv.delimiter) + _CSV_SPLIT).alias(_CSV_TOKENS)]


def _csv_parse(source: SourceConfig, header: Column) -> tuple[list[Column], Column, Column]:
    from pyspark.sql import functions as F

    schema = source.spark_schema()
    tokens = F.col(_CSV_TOKENS)
    unquoted = F.transform(
        tokens,
        lambda t: F.when(F.trim(t) == "", F.lit(None).cast("string")).otherwise(
            F.when(
                t.startswith('"') & t.endswith('"') & (F.length(t) >= 2),
                F.regexp_replace(F.substring(t, F.lit(2), F.length(t) - 2), '""', '"'),
            ).otherwise(t)
        ),
    )
    header_tokens = F.transform(header, lambda t: F.regexp_replace(F.trim(t), '^"|"$', ""))
    count_ok = F.size(tokens) == F.size(header)
    as_map = F.when(count_ok, F.map_from_arrays(header_tokens, unquoted))
    cols = []
    wrong = []
    for f in schema.fields:
        raw_value = as_map[f.name]
        if f.dataType.typeName() == "string":
            value = raw_value
        else:
            value = _try_cast(raw_value, f.dataType.simpleString())
            wrong.append(F.when(raw_value.isNotNull() & value.isNull(), F.lit(f.name)))
        cols.append(value.alias(f.name))
    wrong_type = (
        F.filter(F.array(*wrong), lambda x: x.isNotNull()) if wrong else F.array().cast("array<string>")
    )
    reason = (
        F.when(F.col(RAW).isNull() | (F.trim(F.col(RAW)) == ""), F.lit("empty_line"))
        .when(~F.is_valid_utf8(F.col(RAW)), F.lit("invalid_encoding"))
        .when(
            ~count_ok,
            F.format_string("wrong_column_count: %d fields, header has %d", F.size(tokens), F.size(header)),
        )
        .when(F.size(wrong_type) > 0, F.concat(F.lit("wrong_type: "), F.array_join(wrong_type, ", ")))
    )
    extra = F.filter(header_tokens, lambda k: ~k.isin(*schema.fieldNames()))
    return cols, reason, extra


def _try_cast(col: Column, type_name: str) -> Column:
    """ANSI-safe cast: null instead of an exception when the text does not fit the type."""
    from pyspark.sql import functions as F

    if type_name == "boolean":
        lowered = F.lower(F.trim(col))
        return F.when(lowered.isin("true", "1"), F.lit(True)).when(lowered.isin("false", "0"), F.lit(False))
    return col.try_cast(type_name)


# ---------------------------------------------------------------------------- stage


def bronze_schema(source: SourceConfig) -> StructType:
    """``bronze.<source>``: lineage columns, the raw line and its hash, the declared fields
    (null where a line lacks them) and the names of undeclared fields it carried."""
    from pyspark.sql.types import (
        ArrayType,
        DateType,
        LongType,
        StringType,
        StructField,
        StructType,
        TimestampType,
    )

    lineage = [
        StructField(SOURCE, StringType()),
        StructField(FILE, StringType()),
        StructField(LINE, LongType()),
        StructField(FILE_DATE, DateType()),
        StructField(FILE_MODIFIED, TimestampType()),
        StructField(INGESTED_AT, TimestampType()),
        StructField(RUN_ID, StringType()),
        StructField(RUN_DATE, DateType()),
        StructField(RAW, StringType()),
        StructField(RECORD_HASH, StringType()),
    ]
    extra = StructField(EXTRA_FIELDS, ArrayType(StringType()))
    return StructType([*lineage, *source.spark_schema().fields, extra])


def catalog_schema(config: Config, table: str) -> StructType:
    """Schemas of the tables ingest writes (the catalogue's lookup)."""
    quarantine, files = _schemas()
    if table == QUARANTINE:
        return quarantine
    if table == INGESTED_FILES:
        return files
    sources: SourcesConfig = config.domain("sources.yaml")  # type: ignore[assignment]
    return bronze_schema(sources.sources[table.partition(".")[2]])


def _schemas() -> tuple[Any, Any]:
    from pyspark.sql.types import (
        DateType,
        LongType,
        StringType,
        StructField,
        StructType,
        TimestampType,
    )

    quarantine = StructType(
        [
            StructField(SOURCE, StringType()),
            StructField(FILE, StringType()),
            StructField(LINE, LongType()),
            StructField(RAW, StringType()),
            StructField("_raw_base64", StringType()),
            StructField("reason", StringType()),
            StructField(RUN_ID, StringType()),
            StructField(RUN_DATE, DateType()),
            StructField(INGESTED_AT, TimestampType()),
        ]
    )
    files = StructType(
        [
            StructField("source", StringType()),
            StructField("file", StringType()),
            StructField("size", LongType()),
            StructField("modified_at", TimestampType()),
            StructField("checksum", StringType()),
            StructField("file_date", DateType()),
            StructField("lines", LongType()),
            StructField("bronze_rows", LongType()),
            StructField("quarantined_rows", LongType()),
            StructField("status", StringType()),
            StructField("detail", StringType()),
            StructField(RUN_ID, StringType()),
            StructField(RUN_DATE, DateType()),
            StructField(INGESTED_AT, TimestampType()),
        ]
    )
    return quarantine, files


def _batch_token(rc: RunContext, table: str, files: Sequence[LandingFile]) -> Txn:
    digest = hashlib.sha256("\n".join(f.relative for f in files).encode()).hexdigest()[:16]
    return Txn(app_id=f"cdp-spark/ingest/{table}/{rc.run_date.isoformat()}/{digest}", version=rc.generation)


def _known_files(ctx: CdpContext) -> dict[tuple[str, str], tuple[int, datetime]]:
    if not ctx.store.exists(INGESTED_FILES):
        return {}
    rows = (
        ctx.store.read(INGESTED_FILES)
        .filter("status = 'ingested'")
        .select("source", "file", "size", "modified_at")
        .collect()
    )
    return {(r["source"], r["file"]): (int(r["size"]), r["modified_at"]) for r in rows}


def ingest_source(
    ctx: CdpContext, rc: RunContext, name: str, source: SourceConfig, files: Sequence[LandingFile]
) -> dict[str, Any]:
    """Ingest a batch of new files of one source; returns per-source counts."""
    from pyspark.sql import functions as F

    ingested_at = datetime.now(timezone.utc)
    parses = _csv_tokens(source) if source.format == "csv" else _json_parses(source)
    lines, lines_per_file = read_lines(ctx, files, parses)
    if source.format == "csv":
        headers = lines.filter(F.col(LINE) == 1).select(
            F.col(FILE).alias("_hf"),
            F.split(F.col(RAW), re.escape(source.csv.delimiter) + _CSV_SPLIT).alias("_header"),
        )
        lines = lines.filter(F.col(LINE) > 1).join(F.broadcast(headers), F.col(FILE) == F.col("_hf"), "left")
        cols, reason, extra = _csv_parse(source, F.col("_header"))
        for f in files:  # the header line is neither bronze nor quarantine
            lines_per_file[f.path] = max(lines_per_file[f.path] - 1, 0)
    else:
        cols, reason, extra = _json_parse(source)

    meta = [
        F.lit(name).alias(SOURCE),
        F.col(FILE),
        F.col(LINE),
        F.col(FILE_DATE),
        F.col(FILE_MODIFIED),
        F.lit(ingested_at).cast("timestamp").alias(INGESTED_AT),
        F.lit(rc.run_id).alias(RUN_ID),
        F.lit(rc.run_date).cast("date").alias(RUN_DATE),
    ]
    # Bronze rows and quarantine rows come from one computation of ``parsed`` (append_split
    # routes by the reason); the counts below come from the committed rows.
    parsed = lines.select(
        *meta,
        F.col(RAW),
        F.sha2(F.col(RAW), 256).alias(RECORD_HASH),
        *cols,
        extra.alias(EXTRA_FIELDS),
        reason.alias("_reason"),
    )

    observation, observed_columns = _per_file_observation(files)
    if observation is not None:
        parsed = parsed.observe(observation, *observed_columns)

    def quarantine(rejected: DataFrame) -> WriteResult:
        bad = rejected.select(
            F.col(SOURCE),
            F.col(FILE),
            F.col(LINE),
            F.make_valid_utf8(F.col(RAW)).alias(RAW),
            F.when(~F.is_valid_utf8(F.col(RAW)), F.base64(F.col(RAW).cast("binary"))).alias("_raw_base64"),
            F.col("_reason").alias("reason"),
            F.col(RUN_ID),
            F.col(RUN_DATE),
            F.col(INGESTED_AT),
        )
        return ctx.store.write(
            QUARANTINE,
            bad,
            mode="append",
            partition_by=[RUN_DATE],
            txn=_batch_token(rc, f"{QUARANTINE}/{name}", files),
            optimize_write=False,
        )

    table = bronze_table(name)
    bronze_res, quarantine_res = ctx.store.append_split(
        table,
        parsed,
        route="_reason",
        rejects=quarantine,
        partition_by=[RUN_DATE],
        txn=_batch_token(rc, table, files),
    )
    counts = _observed_counts(observation, files, bronze_res)
    if counts is None:  # a resumed run skipped a commit, or too many files to observe: read back
        counts = _committed_counts(ctx, rc, name, files)
    rows = [
        (
            name,
            f.relative,
            f.size,
            f.modified,
            file_checksum(f.path),
            f.file_date,
            lines_per_file[f.path],
            counts.bronze.get(f.relative, 0),
            counts.quarantined.get(f.relative, 0),
            "ingested",
            None,
            rc.run_id,
            rc.run_date,
            ingested_at,
        )
        for f in files
    ]
    _reconcile(name, rows)
    return {
        "files": len(files),
        "lines": sum(r[6] for r in rows),
        "bronze_rows": sum(r[7] for r in rows),
        "quarantined_rows": sum(r[8] for r in rows),
        "quarantine_reasons": counts.reasons,
        "bronze_version": None if bronze_res.skipped else bronze_res.version,
        "quarantine_version": None
        if quarantine_res is None or quarantine_res.skipped
        else quarantine_res.version,
        "file_rows": rows,
    }


#: Reason prefixes the parsers produce; anything else is counted as ``other``.
REASONS = ("empty_line", "invalid_encoding", "broken_json", "wrong_type", "wrong_column_count")
#: Batches of up to this many files are counted per file while they are written; larger
#: ones (a catch-up of many days) are counted by reading the committed rows back.
OBSERVED_FILES_MAX = 200


@dataclass(frozen=True)
class _Counts:
    bronze: dict[str, int]
    quarantined: dict[str, int]
    reasons: dict[str, int]


def _reason_prefix() -> Column:
    from pyspark.sql import functions as F

    return F.regexp_extract(F.col("_reason"), r"^([a-z_]+)", 1)


def _per_file_observation(files: Sequence[LandingFile]) -> tuple[Observation | None, list[Column]]:
    """Per file, rows kept and rows quarantined, and rows per reason, counted during the write."""
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    if len(files) > OBSERVED_FILES_MAX:
        return None, []
    kept, rejected = F.col("_reason").isNull(), F.col("_reason").isNotNull()
    columns = []
    for i, f in enumerate(files):
        in_file = F.col(FILE) == F.lit(f.relative)
        columns += [F.count_if(kept & in_file).alias(f"b{i}"), F.count_if(rejected & in_file).alias(f"q{i}")]
    prefix = _reason_prefix()
    columns += [F.count_if(prefix == F.lit(r)).alias(f"r_{r}") for r in REASONS]
    columns.append(F.count_if(rejected & ~prefix.isin(*REASONS)).alias("r_other"))
    return Observation(f"ingest-{hashlib.sha256(files[0].relative.encode()).hexdigest()[:12]}"), columns


def _observed_counts(
    observation: Observation | None, files: Sequence[LandingFile], bronze: WriteResult
) -> _Counts | None:
    """The observed counts, checked against the rows the bronze commit holds (file footers)."""
    from cdp_spark.observe import metrics

    if observation is None or bronze.skipped:
        return None
    seen = metrics(observation)
    if seen is None:  # Spark pruned an empty input, observation included
        return None
    kept = {f.relative: int(seen[f"b{i}"]) for i, f in enumerate(files)}
    if sum(kept.values()) != bronze.rows_written:
        raise CdpSparkError(
            f"{bronze.table}: {sum(kept.values())} rows counted while writing, {bronze.rows_written} committed; "
            "this is a bug in cdp-spark: please report it with the files"
        )
    reasons = {r: int(seen[f"r_{r}"]) for r in (*REASONS, "other") if int(seen[f"r_{r}"])}
    return _Counts(kept, {f.relative: int(seen[f"q{i}"]) for i, f in enumerate(files)}, reasons)


def _committed_counts(ctx: CdpContext, rc: RunContext, name: str, files: Sequence[LandingFile]) -> _Counts:
    """Per-file counts from the committed bronze and quarantine rows of the run date."""
    from pyspark.sql import functions as F

    batch = [f.relative for f in files]
    this_date = [(RUN_DATE, "=", rc.run_date.isoformat())]
    bronze: dict[str, int] = {}
    table = bronze_table(name)
    if ctx.store.exists(table):
        committed = ctx.store.read(table, partition_filters=this_date).where(F.col(FILE).isin(batch))
        grouped = committed.groupBy(FILE).agg(F.count(F.lit(1)).alias("n"))
        bronze = {r[FILE]: int(r["n"]) for r in grouped.collect()}
    quarantined: dict[str, int] = {}
    reasons: dict[str, int] = {}
    if ctx.store.exists(QUARANTINE):
        committed = ctx.store.read(QUARANTINE, partition_filters=this_date).where(
            (F.col(SOURCE) == name) & F.col(FILE).isin(batch)
        )
        prefix = F.regexp_extract(F.col("reason"), r"^([a-z_]+)", 1)
        by_reason = F.when(prefix.isin(*REASONS), prefix).otherwise(F.lit("other")).alias("reason")
        for r in committed.groupBy(FILE, by_reason).agg(F.count(F.lit(1)).alias("n")).collect():
            quarantined[r[FILE]] = quarantined.get(r[FILE], 0) + int(r["n"])
            reasons[r["reason"]] = reasons.get(r["reason"], 0) + int(r["n"])
    return _Counts(bronze, quarantined, reasons)


def _reconcile(name: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """Every file's lines are its bronze rows plus its quarantined rows, or nothing is recorded."""
    unbalanced = [r[1] for r in rows if r[6] != r[7] + r[8]]
    if unbalanced:
        lines, bronze, quarantined = (sum(r[i] for r in rows) for i in (6, 7, 8))
        raise CdpSparkError(
            f"{name}: reconciliation failed for {unbalanced[:5]}: lines read != bronze rows + quarantined rows "
            f"({lines} != {bronze} + {quarantined}); the files are not recorded in "
            f"{INGESTED_FILES}. This is a bug in cdp-spark: please report it with the files."
        )


#: Sources ingested at once. Each is a short chain of Spark jobs with driver-side gaps
#: (listing, checksums, commits) that another source's jobs fill.
INGEST_PARALLELISM = 4


def _new_files(
    ctx: CdpContext, rc: RunContext, sources: SourcesConfig
) -> tuple[dict[str, list[LandingFile]], list[str]]:
    """Per source, the landing files not yet ingested; and ingested files that changed since."""
    known = _known_files(ctx)
    new: dict[str, list[LandingFile]] = {}
    changed: list[str] = []
    for name, source in sources.sources.items():
        new[name] = []
        for f in list_landing_files(ctx, name, source, rc.run_date):
            seen = known.get((name, f.relative))
            if seen is None:
                new[name].append(f)
            elif (
                seen[0] != f.size
                or abs((seen[1].replace(tzinfo=timezone.utc) - f.modified).total_seconds()) > 1
            ):
                changed.append(f.relative)
    if changed:
        log.warning(
            "%d already-ingested file(s) changed since ingestion and were NOT re-ingested: %s",
            len(changed),
            changed[:10],
        )
    return new, changed


def _ingest_all(
    ctx: CdpContext, rc: RunContext, sources: SourcesConfig, new: dict[str, list[LandingFile]]
) -> dict[str, dict[str, Any]]:
    """:func:`ingest_source` for every source with new files, several at a time."""
    from concurrent.futures import ThreadPoolExecutor

    from pyspark.util import inheritable_thread_target

    ingest = inheritable_thread_target(ingest_source)  # the stage's job group goes along
    todo = [name for name in sources.sources if new[name]]
    per_source = {
        name: {"files": 0, "lines": 0, "bronze_rows": 0, "quarantined_rows": 0} for name in sources.sources
    }
    with ThreadPoolExecutor(max_workers=max(1, min(INGEST_PARALLELISM, len(todo)))) as pool:
        futures = {
            name: pool.submit(ingest, ctx, rc, name, sources.sources[name], new[name]) for name in todo
        }
        errors = {name: f.exception() for name, f in futures.items()}  # waits for every source
    failed = {name: exc for name, exc in errors.items() if exc is not None}
    if failed:
        first = next(iter(failed.values()))
        raise first
    for name, future in futures.items():
        per_source[name] = future.result()
    return per_source


@stage(
    "ingest",
    description="landing files → bronze.<source> + bronze.quarantine (new files only)",
    reads=[catalog.OPS_INGESTED_FILES.name],
    writes=[catalog.BRONZE_SOURCES, QUARANTINE, catalog.OPS_INGESTED_FILES.name],
)
def run_ingest(ctx: CdpContext, rc: RunContext) -> StageResult:
    """Ingest every configured source's new files delivered up to the run date.

    Sources run side by side; their files are recorded in ``ops.ingested_files`` in one
    append once every source has committed. A stage that fails part-way records no file, and
    the rerun finds the committed sources' bronze writes already done (their tokens) and
    counts those files from the committed rows.
    """
    sources: SourcesConfig = ctx.config.domain("sources.yaml")  # type: ignore[assignment]
    result = StageResult()
    new, changed = _new_files(ctx, rc, sources)
    per_source = _ingest_all(ctx, rc, sources, new)
    file_rows = [row for stats in per_source.values() for row in stats.pop("file_rows", [])]
    if file_rows:
        _, files_schema = _schemas()
        ctx.store.write(INGESTED_FILES, ctx.spark.createDataFrame(file_rows, files_schema), mode="append")
    for name, stats in per_source.items():
        result.rows_in += stats["lines"]
        result.rows_out += stats["bronze_rows"]
        if stats.get("bronze_version") is not None:
            result.wrote(bronze_table(name), stats["bronze_version"])
        if stats.get("quarantine_version") is not None:
            result.wrote(QUARANTINE, max(stats["quarantine_version"], result.tables.get(QUARANTINE, -1)))
    result.metrics = {
        "sources": per_source,
        "changed_files_ignored": changed,
        "quarantined_rows": sum(s.get("quarantined_rows", 0) for s in per_source.values()),
    }
    return result
