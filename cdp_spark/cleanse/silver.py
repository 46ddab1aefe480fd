"""The ``cleanse`` stage: bronze partitions of the run date → canonical silver tables.

Flow of one run (``--date D``):

1. Read the mappings (``conf/mappings/*.yaml``) and, per mapped source, only the bronze
   partition ``_run_date = D`` (incremental: what ingest delivered for D).
2. Map (expressions, standardisers, casts, allowed values, missing policies), impute, and
   classify every row against the batch and the current silver table (see
   :mod:`cdp_spark.cleanse.silver_transform` for the outcomes). The classified batch is
   materialised once with ``localCheckpoint`` so the later steps do not re-plan the
   standardisers' large expressions (a few seconds of analysis per action otherwise).
3. Measure: one aggregation per source gives outcome counts and per-column null rate,
   validity rate and distinct count; quarantined counts come from ``bronze.quarantine``.
4. Write ``silver.dq_metrics`` (appended, one set of rows per run), then evaluate the quality
   gate (``conf/quality.yaml``). A ``fail`` breach raises :class:`QualityGateError` *before*
   any silver table is touched, so evidence is kept and nothing is published.
5. Merge inserts and updates into each silver table by ``(record_id, event_date)`` with the
   table's idempotency token, then order lines (old lines of a re-delivered order that no
   longer exist are deleted), then ``silver.rejected``.

Reconciliation, per source and run date, holds by construction and is checked against an
independent count of the bronze partition::

    bronze_rows = inserted + updated + duplicates_removed + superseded + rejected
    silver_rows (written this run) = inserted + updated

``duplicates_removed`` counts exact duplicates (same record id, same raw line) within the batch
and rows whose identical version is already in silver (a re-delivered line, a rerun).
``superseded`` counts other versions of a key that lost (older ``version_by``; without
``version_by``, the first version seen wins). Ingest's own equation
``landing lines = bronze_rows + quarantined`` is in ``ops.ingested_files``; ``quarantined`` is
repeated here per source so one table answers the whole question.

Idempotency: a rerun of D (``--force``, a new generation) finds every row already in silver,
writes nothing and so changes no silver table version; only ``silver.dq_metrics`` gains the
rerun's rows. A resume after a crash re-classifies against what the failed attempt committed.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from cdp_spark import catalog
from cdp_spark.cleanse import silver_schema as S
from cdp_spark.cleanse.mapping import SourceMapping, mappings_dir, require_mappings
from cdp_spark.cleanse.silver_quality import QUALITY_FILE, Breach, QualityConfig, evaluate
from cdp_spark.cleanse.silver_transform import (
    NATURAL_KEY,
    OUTCOME,
    RAW,
    REJECT_RULE,
    CompiledMapping,
    batch_stats,
    classify,
    impute,
    map_lines,
    map_source,
)
from cdp_spark.errors import CdpSparkError, QualityGateError
from cdp_spark.pipeline import RunContext, StageResult, stage
from cdp_spark.storage import Txn

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructType

    from cdp_spark.context import CdpContext

log = logging.getLogger(__name__)

BRONZE_RUN_DATE = "_run_date"
QUARANTINE = catalog.BRONZE_QUARANTINE.name

__all__ = ["SourceBatch", "cleanse_run", "run_cleanse"]


@dataclass
class SourceBatch:
    """One source's classified batch of a run and what was measured on it."""

    source: str
    mapping: SourceMapping
    compiled: CompiledMapping
    classified: DataFrame
    stats: dict[str, Any]
    bronze_rows: int
    quarantined: int
    imputed: dict[str, Any]

    @property
    def table(self) -> str:
        return self.mapping.target

    def counts(self) -> dict[str, Any]:
        o = self.stats["outcomes"]
        return {
            "bronze_rows": self.bronze_rows,
            "inserted": o["insert"],
            "updated": o["update"],
            "silver_rows": o["insert"] + o["update"],
            "duplicates_removed": o["duplicate"],
            "duplicates_in_batch": self.stats["duplicates"]["batch"],
            "duplicates_already_in_silver": self.stats["duplicates"]["silver"],
            "superseded": o["superseded"],
            "rejected": o["rejected"],
            "rejected_by_rule": dict(self.stats["rejected_rules"]),
            "quarantined": self.quarantined,
        }


def _as_nullable(schema: StructType) -> StructType:
    from pyspark.sql.types import StructField, StructType

    return StructType([StructField(f.name, f.dataType, True, f.metadata) for f in schema.fields])


def _ensure_tables(ctx: CdpContext, tables: set[str]) -> None:
    """Create empty silver tables up front so readers never meet a missing table.

    Nullability in :mod:`silver_schema` documents invariants; the Delta tables are created all
    nullable like every table the store creates, so writers are not rejected by the log.
    """
    specs: dict[str, tuple[StructType, str]] = {
        S.REJECTED: (S.rejected_schema(), S.RUN_DATE),
        S.DQ_METRICS: (S.dq_metrics_schema(), "run_date"),
        S.ORDER_LINES: (S.order_lines_schema(), S.EVENT_DATE),
    }
    for table in sorted(tables):
        if table in specs:
            schema, part = specs[table]
        elif table in S.BUSINESS:
            schema, part = S.table_schema(table), S.EVENT_DATE
        else:
            continue
        if not ctx.store.exists(table):
            ctx.store.create(
                table,
                _as_nullable(schema),
                partition_by=[part],
                description=f"cdp-spark silver table {table}",
            )


def _quarantined(ctx: CdpContext, run_date: date) -> dict[str, int]:
    from pyspark.sql import functions as F

    if not ctx.store.exists(QUARANTINE):
        return {}
    rows = (
        ctx.store.read(QUARANTINE, partition_filters=[(BRONZE_RUN_DATE, "=", run_date.isoformat())])
        .groupBy("_source")
        .agg(F.count(F.lit(1)).alias("n"))
        .collect()
    )
    return {r["_source"]: int(r["n"]) for r in rows}


def _existing(ctx: CdpContext, mapping: SourceMapping, source: str) -> DataFrame | None:
    from pyspark.sql import functions as F

    if not ctx.store.exists(mapping.target):
        return None
    cols = [S.RECORD_ID, S.EVENT_DATE, S.RECORD_HASH, *([mapping.version_by] if mapping.version_by else [])]
    return ctx.store.read(mapping.target).filter(F.col(S.SOURCE) == source).select(*cols)


def prepare_source(
    ctx: CdpContext, rc: RunContext, source: str, mapping: SourceMapping, *, label: str, quarantined: int
) -> SourceBatch | None:
    """Map, impute, classify and measure one source's bronze partition of the run date."""
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    from cdp_spark.observe import metrics

    started = time.monotonic()
    bronze_name = f"bronze.{source}"
    if not ctx.store.exists(bronze_name):
        log.info("cleanse %s: %s does not exist yet; nothing to do", source, bronze_name)
        return None
    bronze = ctx.store.read(bronze_name, partition_filters=[(BRONZE_RUN_DATE, "=", rc.run_date.isoformat())])
    # Counted while the batch is computed (no extra pass): the independent side of the reconciliation.
    seen = Observation(f"bronze_{source}_{uuid.uuid4().hex[:8]}")
    raw_bronze = bronze
    bronze = bronze.observe(seen, F.count(F.lit(1)).alias("rows"))
    mapped, compiled = map_source(
        bronze, mapping, source=source, run_id=rc.run_id, run_date=rc.run_date, label=label
    )
    # The batch is computed once and its lineage cut (localCheckpoint): the stats, the merges and
    # silver.rejected then read the materialised rows instead of re-planning the standardisers.
    if compiled.deferred_imputation:  # imputation statistics need a pass of their own
        mapped = mapped.localCheckpoint(eager=True)
    mapped, imputed = impute(mapped, compiled)
    classified = classify(mapped, _existing(ctx, mapping, source), version_col=mapping.version_by)
    classified = classified.localCheckpoint(eager=True)
    stats = batch_stats(classified, compiled)
    observed = metrics(seen)
    # None: the bronze partition was empty and Spark pruned the observation; count directly.
    bronze_rows = int(observed.get("rows", 0)) if observed is not None else raw_bronze.count()
    batch = SourceBatch(source, mapping, compiled, classified, stats, bronze_rows, quarantined, imputed)
    counts = batch.counts()
    accounted = (
        counts["silver_rows"] + counts["duplicates_removed"] + counts["superseded"] + counts["rejected"]
    )
    if (
        accounted != bronze_rows or stats["total"] != bronze_rows
    ):  # pragma: no cover - guarded by construction
        raise CdpSparkError(
            f"cleanse {source}: reconciliation failed for {rc.run_date}: bronze has {bronze_rows} rows, "
            f"classified {stats['total']}, accounted {accounted} ({counts}); this is a bug, please report it"
        )
    log.info(
        "cleanse %s: %s (%.1fs)",
        source,
        {k: v for k, v in counts.items() if k != "rejected_by_rule"},
        time.monotonic() - started,
    )
    return batch


def dq_rows(rc: RunContext, batch: SourceBatch) -> list[dict[str, Any]]:
    """``silver.dq_metrics`` rows of one source: the table row (``column='*'``) and one per column."""
    c = batch.counts()
    base = {
        "run_id": rc.run_id,
        "run_date": rc.run_date,
        "source": batch.source,
        "table": batch.table,
        "bronze_rows": c["bronze_rows"],
        "inserted": c["inserted"],
        "updated": c["updated"],
        "duplicates_removed": c["duplicates_removed"],
        "superseded": c["superseded"],
        "rejected": c["rejected"],
        "quarantined": c["quarantined"],
    }
    rows = [
        {
            **base,
            "column": "*",
            "rows": batch.stats["winners"],
            "null_rate": None,
            "validity_rate": None,
            "distinct_count": None,
        }
    ]
    for name, measures in batch.stats["columns"].items():
        rows.append({**base, "column": name, **measures})
    return rows


def _write_dq(ctx: CdpContext, rc: RunContext, rows: list[dict[str, Any]]) -> int | None:
    schema = S.dq_metrics_schema()
    df = ctx.spark.createDataFrame(
        [tuple(r.get(f.name) for f in schema.fields) for r in rows], _as_nullable(schema)
    )
    # One token per run: every run's evidence is kept, a resumed run does not append twice.
    txn = Txn(app_id=f"cdp-spark/{rc.stage}/{S.DQ_METRICS}/{rc.run_id}", version=rc.generation)
    res = ctx.store.write(S.DQ_METRICS, df, mode="append", partition_by=["run_date"], txn=txn)
    return None if res.skipped else res.version


def _gate(ctx: CdpContext, rows: list[dict[str, Any]]) -> list[Breach]:
    quality = ctx.config.domain(QUALITY_FILE)
    assert isinstance(quality, QualityConfig)
    breaches = evaluate(quality.rules, rows)
    for b in breaches:
        (log.error if b.action == "fail" else log.warning)("quality %s: %s", b.action, b.describe())
    failed = [b for b in breaches if b.action == "fail"]
    if failed:
        shown = "; ".join(b.describe() for b in failed[:10])
        more = f" (and {len(failed) - 10} more)" if len(failed) > 10 else ""
        raise QualityGateError(
            f"{len(failed)} quality rule(s) with action 'fail' broken: {shown}{more}. Nothing was merged into "
            f"silver; the measurements are in {S.DQ_METRICS}. Fix the source data or the mapping, or relax "
            f"conf/{QUALITY_FILE}, then rerun the date."
        )
    return breaches


def _merge(
    ctx: CdpContext,
    rc: RunContext,
    table: str,
    df: DataFrame,
    keys: list[str],
    part: str,
    result: StageResult,
    *,
    delete_when: str | None = None,
) -> int:
    started = time.monotonic()
    res = ctx.store.merge(
        table,
        df,
        keys=keys,
        when_matched="update",
        delete_when=delete_when,
        partition_by=[part],
        txn=rc.txn(table),
    )
    if not res.skipped:
        result.wrote(table, res.version)
    log.info(
        "cleanse: merge %s %s (%.1fs)",
        table,
        "skipped (already committed)" if res.skipped else res.metrics,
        time.monotonic() - started,
    )
    return int(res.metrics.get("inserted", 0)) + int(res.metrics.get("updated", 0))


def _select_table(df: DataFrame, table: str) -> DataFrame:
    from pyspark.sql import functions as F

    schema = S.order_lines_schema() if table == S.ORDER_LINES else S.table_schema(table)
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


def _publish_tables(
    ctx: CdpContext, rc: RunContext, batches: list[SourceBatch], result: StageResult
) -> dict[str, Any]:
    from functools import reduce

    from pyspark.sql import functions as F

    written: dict[str, Any] = {}
    by_table: dict[str, list[SourceBatch]] = {}
    for b in batches:
        by_table.setdefault(b.table, []).append(b)
    for table, group in sorted(by_table.items()):
        rows = sum(b.counts()["silver_rows"] for b in group)
        if rows == 0:
            written[table] = 0
            continue
        parts = [
            _select_table(b.classified.filter(F.col(OUTCOME).isin("insert", "update")), table) for b in group
        ]
        df = reduce(lambda a, b: a.unionByName(b), parts)
        _merge(ctx, rc, table, df, [S.RECORD_ID, S.EVENT_DATE], S.EVENT_DATE, result)
        written[table] = rows
    written[S.ORDER_LINES] = _publish_lines(
        ctx, rc, [b for b in batches if b.mapping.lines is not None], result
    )
    return written


def _publish_lines(ctx: CdpContext, rc: RunContext, batches: list[SourceBatch], result: StageResult) -> int:
    """Lines of the orders written this run; lines an updated order no longer has are deleted.

    Deletion rides on the same merge: a tombstone row (``line_no`` null) for each stale line
    matches it and ``delete_when`` removes it, so lines change in one commit with no window
    where an order has no lines.
    """
    from functools import reduce

    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    frames = []
    for b in batches:
        if b.counts()["silver_rows"] == 0:
            continue
        orders = b.classified.filter(F.col(OUTCOME).isin("insert", "update"))
        frames.append(map_lines(orders, b.mapping, run_date=rc.run_date, label=b.compiled.label))
    if not frames:
        return 0
    lines = _select_table(reduce(lambda a, b: a.unionByName(b), frames), S.ORDER_LINES)
    if ctx.store.exists(S.ORDER_LINES):
        updated = reduce(
            lambda a, b: a.unionByName(b),
            [b.classified.filter(F.col(OUTCOME) == "update").select(S.RECORD_ID) for b in batches],
        )
        stale = (
            ctx.store.read(S.ORDER_LINES)
            .join(updated.withColumnRenamed(S.RECORD_ID, S.ORDER_RECORD_ID), S.ORDER_RECORD_ID, "left_semi")
            .join(lines.select(S.RECORD_ID), S.RECORD_ID, "left_anti")
            .select(S.RECORD_ID, S.EVENT_DATE, S.ORDER_RECORD_ID, S.SOURCE, S.EVENT_TIME)
        )
        tombstones = _select_table(
            stale.select(
                "*",
                *[
                    F.lit(None).cast(f.dataType).alias(f.name)
                    for f in S.order_lines_schema().fields
                    if f.name not in stale.columns
                ],
            ),
            S.ORDER_LINES,
        )
        lines = lines.unionByName(tombstones)
    # The merge evaluates its source several times (key checks, partitions, write): compute once.
    lines = lines.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        return _merge(
            ctx,
            rc,
            S.ORDER_LINES,
            lines,
            [S.RECORD_ID, S.EVENT_DATE],
            S.EVENT_DATE,
            result,
            delete_when=f"s.{S.LINE_NO} IS NULL",
        )
    finally:
        lines.unpersist()


def _publish_rejected(
    ctx: CdpContext, rc: RunContext, batches: list[SourceBatch], result: StageResult
) -> None:
    """Rejected rows, merged by ``(reject_id, _run_date)``; rows already there are not rewritten."""
    from functools import reduce

    from pyspark.sql import functions as F

    parts = [
        b.classified.filter(F.col(OUTCOME) == "rejected").select(
            F.sha2(
                F.concat_ws(
                    "\x1f", F.lit(b.source), F.col(S.BRONZE_FILE), F.col(S.BRONZE_LINE).cast("string")
                ),
                256,
            ).alias("reject_id"),
            F.col(S.SOURCE),
            F.lit(b.table).alias("target_table"),
            F.col(REJECT_RULE).alias("rule"),
            F.col(NATURAL_KEY).alias("natural_key"),
            S.BRONZE_FILE,
            S.BRONZE_LINE,
            F.col(RAW).alias("_raw"),
            S.RECORD_HASH,
            S.RUN_ID,
            S.RUN_DATE,
        )
        for b in batches
        if b.counts()["rejected"]
    ]
    if not parts:
        return
    df = reduce(lambda a, b: a.unionByName(b), parts)
    if ctx.store.exists(S.REJECTED):
        known = ctx.store.read(S.REJECTED, partition_filters=[(S.RUN_DATE, "=", rc.run_date.isoformat())])
        df = df.join(known.select("reject_id"), "reject_id", "left_anti")
    if df.limit(1).count() == 0:
        return
    _merge(ctx, rc, S.REJECTED, df, ["reject_id", S.RUN_DATE], S.RUN_DATE, result)


#: Sources prepared at once. Preparing a source only reads (bronze, the current silver keys)
#: and materialises its classified batch, so sources are independent; on small batches a
#: source is a chain of short Spark jobs with driver-side gaps between them, which other
#: sources' jobs fill. Publishing stays sequential: merges side by side gained nothing.
PREPARE_PARALLELISM = 4


def _prepare_all(
    ctx: CdpContext,
    rc: RunContext,
    mappings: Mapping[str, SourceMapping],
    labels: Mapping[str, str],
    quarantined: Mapping[str, int],
) -> list[SourceBatch]:
    """:func:`prepare_source` for every source (in source order), several at a time."""
    from concurrent.futures import ThreadPoolExecutor

    from pyspark.util import inheritable_thread_target

    items = sorted(mappings.items())
    # The worker threads carry the stage's job group over, so their Spark jobs count as its own.
    prepare = inheritable_thread_target(prepare_source)
    with ThreadPoolExecutor(max_workers=max(1, min(PREPARE_PARALLELISM, len(items)))) as pool:
        futures = [
            pool.submit(
                prepare,
                ctx,
                rc,
                source,
                mapping,
                label=labels.get(source, f"mappings/{source}.yaml"),
                quarantined=quarantined.get(source, 0),
            )
            for source, mapping in items
        ]
        done: list[SourceBatch] = []
        failure: BaseException | None = None
        for future in futures:  # every future is awaited, so no source is still running on failure
            try:
                batch = future.result()
            except BaseException as exc:  # re-raised below, once the others have finished
                failure = failure or exc
                continue
            if batch is not None:
                done.append(batch)
    if failure is not None:
        for b in done:
            b.classified.unpersist()
        raise failure
    return done


def cleanse_run(
    ctx: CdpContext,
    rc: RunContext,
    mappings: Mapping[str, SourceMapping],
    *,
    labels: Mapping[str, str] | None = None,
) -> StageResult:
    """Run the cleanse flow (module docstring) for the given mappings; the stage's body."""
    result = StageResult()
    labels = labels or {}
    tables = {m.target for m in mappings.values()} | {S.REJECTED, S.DQ_METRICS}
    if any(m.lines is not None for m in mappings.values()):
        tables.add(S.ORDER_LINES)
    _ensure_tables(ctx, tables)
    quarantined = _quarantined(ctx, rc.run_date)
    batches: list[SourceBatch] = []
    try:
        batches = _prepare_all(ctx, rc, mappings, labels, quarantined)
        rows = [r for b in batches for r in dq_rows(rc, b)]
        if rows:
            version = _write_dq(ctx, rc, rows)
            if version is not None:
                result.wrote(S.DQ_METRICS, version)
        breaches = _gate(ctx, rows)
        written = _publish_tables(ctx, rc, batches, result)
        _publish_rejected(ctx, rc, batches, result)
    finally:
        for b in batches:
            b.classified.unpersist()  # frees the local checkpoint's blocks
    per_source = {b.source: {**b.counts(), "table": b.table, "imputed": b.imputed} for b in batches}
    result.rows_in = sum(c["bronze_rows"] for c in per_source.values())
    result.rows_out = sum(c["silver_rows"] for c in per_source.values())
    result.metrics = {
        "sources": per_source,
        "reconciliation": "bronze_rows = inserted + updated + duplicates_removed + superseded + rejected",
        "reconciled": all(
            c["bronze_rows"] == c["silver_rows"] + c["duplicates_removed"] + c["superseded"] + c["rejected"]
            for c in per_source.values()
        ),
        "rows_written": written,
        "quality_warnings": [b.describe() for b in breaches if b.action == "warn"],
    }
    return result


@stage(
    "cleanse",
    depends_on=["ingest"],
    description="bronze.<source> of the run date → silver tables (mapped, standardised, de-duplicated) + dq",
    reads=[catalog.BRONZE_SOURCES, QUARANTINE, *S.MAPPABLE_TABLES, S.ORDER_LINES],
    writes=[*S.MAPPABLE_TABLES, S.ORDER_LINES, S.REJECTED, S.DQ_METRICS],
)
def run_cleanse(ctx: CdpContext, rc: RunContext) -> StageResult:
    """Load and validate the mappings, then run :func:`cleanse_run`."""
    folder = mappings_dir(ctx.config.conf_dir)
    known = None
    if "sources.yaml" in ctx.config.domains:
        known = set(getattr(ctx.config.domains["sources.yaml"], "sources", {}))
    mappings = require_mappings(folder, known_sources=known)
    labels = {name: str(folder / f"{name}.yaml") for name in mappings}
    return cleanse_run(ctx, rc, mappings, labels=labels)
