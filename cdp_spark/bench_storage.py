"""``cdp-spark bench storage``: what the embedded Delta commit costs over writing plain Parquet.

Both sides write the same cached DataFrame in the same process, alternating, several times;
medians are compared, because single timings on a shared 2-core machine are noise.
"""

from __future__ import annotations

import shutil
import statistics
import time
from typing import TYPE_CHECKING, Any

from cdp_spark import catalog

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructType

    from cdp_spark.context import CdpContext


def catalog_schema(_config: object, _table: str) -> StructType:
    """The scratch tables' schema: the columns :func:`_bench_frame` makes."""
    from pyspark.sql.types import (
        BooleanType,
        DateType,
        DoubleType,
        LongType,
        StringType,
        StructField,
        StructType,
    )

    types = {
        "id": LongType(), "c_int": LongType(), "c_str": StringType(), "c_double": DoubleType(),
        "c_date": DateType(), "c_bool": BooleanType(), "c_hash": StringType(), "c_long": LongType(),
        "c_const": StringType(), "c_nullable": LongType(),
    }  # fmt: skip
    return StructType([StructField(n, t) for n, t in types.items()])


def _bench_frame(ctx: CdpContext, rows: int, partitions: int) -> DataFrame:
    from pyspark.sql import functions as F

    df = ctx.spark.range(rows, numPartitions=partitions).select(
        F.col("id"),
        (F.xxhash64("id") % 1000).alias("c_int"),
        F.concat(F.lit("user-"), F.col("id").cast("string")).alias("c_str"),
        (F.abs(F.xxhash64(F.col("id"), F.lit(1))) % 100000 / 100.0).alias("c_double"),
        F.date_add(F.lit("2026-01-01").cast("date"), (F.col("id") % 365).cast("int")).alias("c_date"),
        (F.col("id") % 2 == 0).alias("c_bool"),
        F.sha2(F.col("id").cast("string"), 256).alias("c_hash"),
        (F.col("id") * 7).alias("c_long"),
        F.lit("CN").alias("c_const"),
        F.when(F.col("id") % 10 == 0, None).otherwise(F.col("id") % 97).alias("c_nullable"),
    )
    return df


def run_storage_benchmark(ctx: CdpContext, *, rows: int, repeats: int = 3) -> dict[str, Any]:
    """Append ratio (store / plain parquet) and a 1% merge, clustered and scattered."""
    from pyspark.sql import functions as F

    spark = ctx.spark
    root = ctx.workspace.bench / "storage"
    shutil.rmtree(root, ignore_errors=True)
    partitions = max(2, spark.sparkContext.defaultParallelism * 4)
    df = _bench_frame(ctx, rows, partitions).cache()
    df.count()

    store = ctx.store
    # Warm-up, untimed: the first write of a session pays JIT and file-system caches.
    df.write.mode("overwrite").parquet(str(root / "warmup"))
    shutil.rmtree(root / "warmup", ignore_errors=True)
    plain_times: list[float] = []
    store_times: list[float] = []
    table = catalog.OPS_BENCH_APPEND.name
    for i in range(repeats):
        path = root / f"plain-{i}"
        t0 = time.perf_counter()
        df.write.mode("overwrite").parquet(str(path))
        plain_times.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        store.write(table, df, mode="overwrite" if i else "append")
        store_times.append(time.perf_counter() - t0)
        shutil.rmtree(path, ignore_errors=True)

    plain = statistics.median(plain_times)
    embedded = statistics.median(store_times)

    # Merge: a table laid out by id (as a real table keyed by customer id would compact to),
    # then 1% of rows changed, once as a contiguous key range and once spread over all keys.
    merge_table = catalog.OPS_BENCH_MERGE.name
    laid_out = df.repartitionByRange(64, "id").sortWithinPartitions("id")
    store.write(merge_table, laid_out, mode="overwrite" if store.exists(merge_table) else "append")
    total_files = _file_count(ctx, merge_table)
    changed = max(1, rows // 100)
    scenarios = {
        "clustered": df.filter(F.col("id") >= rows - changed),
        "scattered": df.filter(F.col("id") % 100 == 0),
    }
    merge_results: dict[str, Any] = {}
    for label, subset in scenarios.items():
        src = subset.withColumn("c_str", F.concat(F.col("c_str"), F.lit("-v2")))
        t0 = time.perf_counter()
        res = store.merge(merge_table, src, keys=["id"])
        merge_results[label] = {
            "seconds": round(time.perf_counter() - t0, 3),
            "rows_changed": res.metrics.get("updated", 0),
            "files_rewritten": res.files_removed,
            "files_total_before": total_files,
            "files_rewritten_share": round(res.files_removed / total_files, 4) if total_files else None,
        }
        total_files = _file_count(ctx, merge_table)
    df.unpersist()
    return {
        "benchmark": "storage",
        "runtime": ctx.runtime.kind,
        "rows": rows,
        "columns": 10,
        "repeats": repeats,
        "append_plain_parquet_s": [round(t, 3) for t in plain_times],
        "append_store_s": [round(t, 3) for t in store_times],
        "append_ratio_median": round(embedded / plain, 3),
        "append_ratio_target": 1.15,
        "append_ratio_met": embedded / plain <= 1.15,
        "merge_1pct": merge_results,
        "spark_version": ctx.runtime.spark_version,
        "cores": spark.sparkContext.defaultParallelism,
    }


def _file_count(ctx: CdpContext, name: str) -> int:
    from deltalake import DeltaTable

    if ctx.store.kind != "embedded":
        return -1
    return len(DeltaTable(ctx.store.location(name)).file_uris())
