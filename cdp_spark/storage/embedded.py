"""Embedded runtime store: Spark computes and writes Parquet, delta-rs commits the Delta log.

Why this split: the delta-spark JVM jars cannot be fetched on machines without Maven access,
but the ``deltalake`` wheel (delta-rs) can. Spark still does all the computation and writes
the data files in parallel; delta-rs then commits ``add``/``remove`` actions (and app
transactions for idempotency) atomically, with its own conflict detection. The result is a
genuine Delta table that delta-spark, Databricks, DuckDB and Polars read.

Write protocol for every operation:

1. Spark writes Parquet into a private staging folder inside the table folder
   (``_staging/<write-id>/``), so concurrent writers never share Spark's ``_temporary``.
2. The files are moved (same filesystem: atomic renames) to their final place in the table,
   keeping Hive-style partition folders; stats come from the Parquet footers.
3. One delta-rs transaction commits the adds, the removes (merge/delete/optimize rewrite only
   the files that hold affected rows) and the app transaction. Files of a failed commit are
   unreferenced and removed by ``maintenance.vacuum``.

Reads go through the log: delta-rs lists the files of the requested snapshot (pruned by
partition filters), Spark reads exactly those files.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import quote, unquote

import pyarrow.parquet as pq

from cdp_spark.config import StorageSettings
from cdp_spark.errors import (
    SchemaContractError,
    TableConflictError,
    TableNotFoundError,
    WorkspaceNotLocalError,
)
from cdp_spark.observe import metrics as observed_metrics
from cdp_spark.storage.base import (
    CommitCounter,
    FileChanges,
    FileRange,
    PartitionFilter,
    Txn,
    WriteMode,
    WriteResult,
    check_table_name,
    filters_to_sql,
)
from cdp_spark.workspace import Workspace

if TYPE_CHECKING:
    from deltalake import DeltaTable
    from deltalake.transaction import AddAction, RemoveAction
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructType

log = logging.getLogger(__name__)

T = TypeVar("T")

_STAGING = "_staging"
_FILE_COL = "__cdp_file"
_HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
_UNSUPPORTED_READER_FEATURES = {"deletionVectors", "columnMapping", "v2Checkpoint", "typeWidening"}
# Widening Spark allows when the data's type is narrower than the table's column.
_WIDENING = {
    ("byte", "short"),
    ("byte", "integer"),
    ("byte", "long"),
    ("short", "integer"),
    ("short", "long"),
    ("integer", "long"),
    ("float", "double"),
    ("integer", "double"),
    ("long", "double"),
    ("date", "timestamp"),
    ("void", "*"),
}


@dataclass(frozen=True)
class _FileInfo:
    """One live data file of a snapshot, as the log describes it."""

    name: str
    path: str
    log_path: str
    size: int
    num_records: int
    partition: dict[str, str | None]


@dataclass(frozen=True)
class _StagedFiles:
    adds: list[AddAction]
    rows: int


def _now_ms() -> int:
    return int(time.time() * 1000)


def check_workspace(workspace: Workspace) -> None:
    """Refuse a workspace this runtime cannot write, before anything touches it.

    The write protocol moves Spark's staged files into the table with local renames and reads
    Parquet footers from local disk, so a workspace must be a local folder (or a ``file:`` URI);
    object stores are the cluster runtime's.
    """
    if workspace.is_local:
        return
    raise WorkspaceNotLocalError(
        f"the embedded runtime cannot use workspace {workspace.root_uri}: it handles local folders and "
        f"file: URIs only (it moves staged files with local renames), not {workspace.scheme}: URIs. "
        "Fix: for an object-store workspace use the cluster runtime (runtime.mode: cluster in the "
        "config, or CDP_SPARK__RUNTIME__MODE=cluster, with the delta-spark jars on the Spark classpath), "
        "or set `workspace` (--workspace, CDP_SPARK_WORKSPACE or CDP_SPARK__WORKSPACE) to a local folder."
    )


class EmbeddedDeltaStore:
    """TableStore for the embedded runtime (see module docstring)."""

    kind = "embedded"

    def __init__(self, spark: SparkSession, workspace: Workspace, settings: StorageSettings | None = None):
        check_workspace(workspace)
        self.spark = spark
        self.workspace = workspace
        self.settings = settings or StorageSettings()
        self.maintenance = _EmbeddedMaintenance(self)
        self.commits = CommitCounter()

    # ------------------------------------------------------------------ metadata

    def location(self, name: str) -> str:
        return str(self.workspace.table_path(check_table_name(name)))

    def exists(self, name: str) -> bool:
        from deltalake import DeltaTable

        return DeltaTable.is_deltatable(self.location(name))

    def _table(self, name: str, *, version: int | None = None, as_of: datetime | None = None) -> DeltaTable:
        from deltalake import DeltaTable

        path = self.location(name)
        if not DeltaTable.is_deltatable(path):
            raise TableNotFoundError(
                f"table {name} does not exist yet (no Delta log at {path}); run the stage that "
                "creates it first, or check --workspace"
            )
        dt = DeltaTable(path)
        if version is not None:
            dt.load_as_version(version)
        elif as_of is not None:
            dt.load_as_version(as_of if as_of.tzinfo else as_of.replace(tzinfo=timezone.utc))
        return dt

    def version(self, name: str) -> int:
        return self._table(name).version()

    def history(self, name: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        return self._table(name).history(limit)

    def txn_version(self, name: str, app_id: str) -> int | None:
        if not self.exists(name):
            return None
        return self._table(name).transaction_version(app_id)

    def partition_columns(self, name: str) -> list[str]:
        return list(self._table(name).metadata().partition_columns)

    def file_ranges(self, name: str, column: str) -> list[FileRange] | None:
        import pyarrow as pa

        dt = self._table(name)
        parts = list(dt.metadata().partition_columns)
        return [
            FileRange(
                _partition_of(a, parts),
                a.get(f"min.{column}"),
                a.get(f"max.{column}"),
            )
            for a in pa.table(dt.get_add_actions(flatten=True)).to_pylist()
        ]

    def file_changes(self, name: str, since: int) -> FileChanges | None:
        """From the add actions of the two snapshots: files live now but not at ``since`` were
        added, files live then but not now were removed (their rows read at ``since``)."""
        now, then = self._table(name), self._table(name, version=since)
        live_now, live_then = _files(now), _files(then)
        paths_now, paths_then = {f.log_path for f in live_now}, {f.log_path for f in live_then}
        return FileChanges(
            added=self._read_files(now, [f for f in live_now if f.log_path not in paths_then]),
            removed=self._read_files(then, [f for f in live_then if f.log_path not in paths_now]),
        )

    def missing_files(self, name: str, version: int) -> int:
        """Data files of the snapshot at ``version`` that are not on disk."""
        return sum(1 for f in _files(self._table(name, version=version)) if not Path(f.path).is_file())

    def schema(self, name: str) -> StructType:
        from pyspark.sql.types import StructType

        return StructType.fromJson(json.loads(self._table(name).schema().to_json()))

    # ------------------------------------------------------------------ create / read

    def create(
        self,
        name: str,
        schema: StructType,
        *,
        partition_by: Sequence[str] = (),
        if_exists: Literal["ignore", "error"] = "ignore",
        description: str | None = None,
    ) -> int:
        from deltalake import Schema
        from deltalake.transaction import create_table_with_add_actions

        if self.exists(name):
            if if_exists == "error":
                raise SchemaContractError(f"table {name} already exists at {self.location(name)}")
            return self.version(name)
        missing = [c for c in partition_by if c not in schema.fieldNames()]
        if missing:
            raise SchemaContractError(
                f"table {name}: partition columns {missing} are not in the schema "
                f"(columns: {', '.join(schema.fieldNames())})"
            )
        path = self.location(name)
        Path(path).mkdir(parents=True, exist_ok=True)
        try:
            create_table_with_add_actions(
                path,
                Schema.from_json(schema.json()),
                [],
                mode="error",
                partition_by=list(partition_by),
                name=name,
                description=description,
                configuration={"delta.checkpointInterval": str(self.settings.checkpoint_interval)},
            )
            self.commits.add()
        except Exception as exc:  # a concurrent creator won: fine when it is the same table
            if not self.exists(name):
                raise
            log.debug("table %s was created concurrently: %s", name, exc)
        return self.version(name)

    def read(
        self,
        name: str,
        *,
        version: int | None = None,
        as_of: datetime | None = None,
        partition_filters: Sequence[PartitionFilter] | None = None,
    ) -> DataFrame:
        dt = self._table(name, version=version, as_of=as_of)
        _check_readable(name, dt)
        return self._read_files(dt, _files(dt, partition_filters))

    def _read_files(
        self, dt: DeltaTable, files: Sequence[_FileInfo], *, with_file: bool = False
    ) -> DataFrame:
        """Read exactly these files; ``with_file`` adds the file name so rewrites know their inputs."""
        from pyspark.sql import functions as F
        from pyspark.sql.types import StructType

        schema = StructType.fromJson(json.loads(dt.schema().to_json()))
        partition_cols = list(dt.metadata().partition_columns)
        if not files:
            empty = self.spark.createDataFrame([], schema)
            return empty.withColumn(_FILE_COL, F.lit(None).cast("string")) if with_file else empty
        data_schema = StructType([f for f in schema.fields if f.name not in partition_cols])
        reader = self.spark.read.schema(data_schema)
        df = reader.parquet(*[f.path for f in files])
        if partition_cols:
            # Partition values come from the log, not from folder names: join each file's values.
            values = self._partition_values_df(files, schema, partition_cols)
            df = df.withColumn(_FILE_COL, F.col("_metadata.file_name"))
            df = df.join(F.broadcast(values), _FILE_COL, "left")
        elif with_file:
            df = df.withColumn(_FILE_COL, F.col("_metadata.file_name"))
        cols = [*schema.fieldNames(), *([_FILE_COL] if with_file else [])]
        return df.select(*cols)

    def _partition_values_df(
        self, files: Sequence[_FileInfo], schema: StructType, partition_cols: list[str]
    ) -> DataFrame:
        from pyspark.sql import functions as F
        from pyspark.sql.types import StringType, StructField, StructType

        rows = [(f.name, *[f.partition.get(c) for c in partition_cols]) for f in files]
        str_schema = StructType(
            [StructField(_FILE_COL, StringType()), *[StructField(c, StringType()) for c in partition_cols]]
        )
        df = self.spark.createDataFrame(rows, str_schema)
        types = {f.name: f.dataType for f in schema.fields}
        return df.select(_FILE_COL, *[F.col(c).cast(types[c]).alias(c) for c in partition_cols])

    # ------------------------------------------------------------------ writes

    def write(
        self,
        name: str,
        df: DataFrame,
        *,
        mode: WriteMode,
        partition_by: Sequence[str] | None = None,
        replace_where: Sequence[PartitionFilter] | None = None,
        txn: Txn | None = None,
        schema_evolution: bool | None = None,
        optimize_write: bool = True,
    ) -> WriteResult:
        check_table_name(name)
        if mode == "replace_where" and not replace_where:
            raise ValueError("mode='replace_where' needs replace_where=[(column, op, value), ...]")
        if (skipped := self._already_committed(name, txn, mode)) is not None:
            return skipped
        evolve = self.settings.allow_schema_evolution if schema_evolution is None else schema_evolution
        if not self.exists(name):
            self.create(name, _nullable(df.schema), partition_by=partition_by or ())
        dt = self._table(name)
        table_parts = _table_partitioning(name, dt, partition_by)
        df = self._conform(
            name, dt, df, evolve=evolve and mode != "overwrite", replace_schema=mode == "overwrite"
        )
        filters: list[PartitionFilter] | None = None
        if mode == "replace_where":
            filters = list(replace_where or [])
            bad = [c for c, _, _ in filters if c not in table_parts]
            if bad:
                raise SchemaContractError(
                    f"table {name}: replace_where may only filter partition columns {table_parts}, got {bad}"
                )
        staged = self._stage(name, df, table_parts, rebalance=optimize_write)
        if filters:
            # Checked on the staged files' partition values, not by a Spark job over ``df``:
            # that job computed the whole input a second time (the profile's rollups, say).
            outside = _outside(staged.adds, filters)
            if outside is None:  # values not comparable as partition strings: ask Spark
                outside = df.filter(f"NOT coalesce({filters_to_sql(filters)}, false)").limit(1).count()
            if outside:
                self._discard(name, staged.adds)
                raise SchemaContractError(
                    f"table {name}: rows being written fall outside replace_where "
                    f"({filters_to_sql(filters)}); they would be silently kept otherwise"
                )
        delta_mode: Literal["append", "overwrite"] = "append" if mode == "append" else "overwrite"
        removed = 0
        if delta_mode == "overwrite":
            removed = len(_files(dt, filters))
        version = self._commit(
            name,
            dt,
            staged.adds,
            [],
            mode=delta_mode,
            filters=filters,
            txn=txn,
            operation=mode.upper(),
            schema=_nullable(df.schema) if mode == "overwrite" else None,
            replaced=removed,
        )
        return WriteResult(
            table=name,
            operation=mode,
            version=version,
            rows_written=staged.rows,
            files_added=len(staged.adds),
            files_removed=removed,
        )

    def merge(
        self,
        name: str,
        source: DataFrame,
        *,
        keys: Sequence[str],
        when_matched: Literal["update", "ignore"] = "update",
        when_not_matched: Literal["insert", "ignore"] = "insert",
        delete_when: str | None = None,
        partition_by: Sequence[str] | None = None,
        txn: Txn | None = None,
        schema_evolution: bool | None = None,
    ) -> WriteResult:
        from pyspark.sql import Observation
        from pyspark.sql import functions as F

        check_table_name(name)
        if not keys:
            raise ValueError("merge needs at least one key column")
        if (skipped := self._already_committed(name, txn, "merge")) is not None:
            return skipped
        missing = [k for k in keys if k not in source.columns]
        if missing:
            raise SchemaContractError(
                f"merge into {name}: key columns {missing} are not in the source "
                f"(source columns: {', '.join(source.columns)})"
            )
        dupes = source.groupBy(*keys).count().filter("count > 1").limit(1).count()
        if dupes:
            # Key values are not quoted here: they are often e-mails or phone numbers (no PII in logs).
            raise SchemaContractError(
                f"merge into {name}: the source has several rows for the same key ({', '.join(keys)}); "
                "de-duplicate the source first"
            )
        evolve = self.settings.allow_schema_evolution if schema_evolution is None else schema_evolution
        if not self.exists(name):
            self.create(name, _nullable(source.schema), partition_by=partition_by or ())

        def attempt() -> WriteResult:
            dt = self._table(name)
            parts = list(dt.metadata().partition_columns)
            src = self._conform(name, dt, source, evolve=evolve)
            dt = self._table(name)  # schema may have evolved
            columns = [f.name for f in self.schema(name).fields]
            candidates = self._candidate_files(dt, src, keys, parts)
            target = self._read_files(dt, candidates, with_file=True)
            key_match = target.select(*keys, _FILE_COL).join(src.select(*keys), list(keys), "left_semi")
            hit = {r[0] for r in key_match.select(_FILE_COL).distinct().collect()}
            affected = [f for f in candidates if f.name in hit]
            tgt = self._read_files(dt, affected).select(*columns).withColumn("__t", F.lit(True)).alias("t")
            s = src.select(*columns).withColumn("__s", F.lit(True)).alias("s")
            cond = None
            for k in keys:
                c = F.col(f"t.{k}") == F.col(f"s.{k}")
                cond = c if cond is None else cond & c
            joined = tgt.join(s, cond, "full_outer")
            both = F.col("t.__t").isNotNull() & F.col("s.__s").isNotNull()
            matched_action = F.lit("update" if when_matched == "update" else "keep")
            if delete_when:
                matched_action = F.when(F.expr(delete_when), F.lit("delete")).otherwise(matched_action)
            action = (
                F.when(both, matched_action)
                .when(F.col("t.__t").isNotNull(), F.lit("keep"))
                .otherwise(F.lit("insert" if when_not_matched == "insert" else "drop"))
            )
            joined = joined.withColumn("__action", action)
            obs = Observation(f"merge_{uuid.uuid4().hex[:8]}")
            joined = joined.observe(
                obs,
                F.sum(F.when(F.col("__action") == "insert", 1).otherwise(0)).alias("inserted"),
                F.sum(F.when(F.col("__action") == "update", 1).otherwise(0)).alias("updated"),
                F.sum(F.when(F.col("__action") == "delete", 1).otherwise(0)).alias("deleted"),
            )
            out = joined.filter(F.col("__action").isin("keep", "update", "insert")).select(
                *[
                    F.when(F.col("__action") == "keep", F.col(f"t.{c}")).otherwise(F.col(f"s.{c}")).alias(c)
                    for c in columns
                ]
            )
            staged = self._stage(name, out, parts)
            removes = [_remove(f) for f in affected]
            # An empty source lets Spark prune the observation away: nothing was inserted or updated.
            metrics = {k: int(v or 0) for k, v in (observed_metrics(obs) or {}).items()}
            if not staged.adds and not removes:
                return WriteResult(table=name, operation="merge", version=dt.version(), metrics=metrics)
            version = self._commit(name, dt, staged.adds, removes, mode="append", txn=txn, operation="MERGE")
            return WriteResult(
                table=name,
                operation="merge",
                version=version,
                rows_written=staged.rows,
                files_added=len(staged.adds),
                files_removed=len(removes),
                metrics=metrics,
            )

        return self._retry_on_conflict(name, attempt)

    def delete(self, name: str, predicate: str, *, txn: Txn | None = None) -> WriteResult:
        from pyspark.sql import functions as F

        check_table_name(name)
        if (skipped := self._already_committed(name, txn, "delete")) is not None:
            return skipped

        def attempt() -> WriteResult:
            dt = self._table(name)
            parts = list(dt.metadata().partition_columns)
            live = _files(dt)
            current = self._read_files(dt, live, with_file=True)
            hit = {r[0] for r in current.filter(F.expr(predicate)).select(_FILE_COL).distinct().collect()}
            affected = [f for f in live if f.name in hit]
            if not affected:
                return WriteResult(table=name, operation="delete", version=dt.version())
            kept = self._read_files(dt, affected).filter(f"NOT coalesce(({predicate}), false)")
            before = sum(f.num_records for f in affected)
            staged = self._stage(name, kept, parts, rebalance=False)  # rows keep their files' partitions
            removes = [_remove(f) for f in affected]
            version = self._commit(name, dt, staged.adds, removes, mode="append", txn=txn, operation="DELETE")
            return WriteResult(
                table=name,
                operation="delete",
                version=version,
                rows_written=staged.rows,
                files_added=len(staged.adds),
                files_removed=len(removes),
                metrics={"deleted": before - staged.rows},
            )

        return self._retry_on_conflict(name, attempt)

    # ------------------------------------------------------------------ internals

    def _already_committed(self, name: str, txn: Txn | None, operation: str) -> WriteResult | None:
        if txn is None or not self.exists(name):
            return None
        committed = self._table(name).transaction_version(txn.app_id)
        if committed is not None and committed >= txn.version:
            log.info(
                "%s %s skipped: app %s already committed version %s", operation, name, txn.app_id, committed
            )
            return WriteResult(table=name, operation=operation, version=self.version(name), skipped=True)
        return None

    def _candidate_files(
        self, dt: DeltaTable, src: DataFrame, keys: Sequence[str], parts: list[str]
    ) -> list[_FileInfo]:
        """Files that can hold a key of ``src``: pruned by partition when the keys include them."""
        live = _files(dt)
        if parts and set(parts) <= set(keys):
            combos = src.select(*parts).distinct().limit(10_001).collect()
            if len(combos) <= 10_000:
                wanted = {tuple(_partition_string(row[c]) for c in parts) for row in combos}
                return [f for f in live if tuple(f.partition.get(c) for c in parts) in wanted]
        return live

    def _conform(
        self,
        name: str,
        dt: DeltaTable,
        df: DataFrame,
        *,
        evolve: bool,
        replace_schema: bool = False,
        carry: Sequence[str] = (),
    ) -> DataFrame:
        """Align ``df`` with the table schema: cast widenings, add missing nullable columns,
        add new nullable columns to the table when evolution is allowed, refuse the rest.
        ``carry`` columns are not table columns; they pass through, last."""
        from deltalake import Field
        from pyspark.sql import functions as F
        from pyspark.sql.types import StructField, StructType

        table_schema = StructType.fromJson(json.loads(dt.schema().to_json()))
        if replace_schema:
            # An overwrite replaces data and schema (as delta-spark's overwriteSchema); the
            # partitioning stays, so the partition columns must still be there.
            parts = list(dt.metadata().partition_columns)
            missing_parts = [p for p in parts if p not in df.columns]
            if missing_parts:
                raise SchemaContractError(
                    f"table {name}: overwrite data lacks partition columns {missing_parts}"
                )
            return df
        existing = {f.name: f for f in table_schema.fields}
        new_fields = [f for f in df.schema.fields if f.name not in existing and f.name not in carry]
        problems = []
        for field in df.schema.fields:
            old = existing.get(field.name)
            if old is None:
                continue
            if old.dataType == field.dataType:
                continue
            if not _widens(field.dataType, old.dataType):
                problems.append(
                    f"column {field.name}: table has {old.dataType.simpleString()}, "
                    f"data has {field.dataType.simpleString()}"
                )
        if problems:
            raise SchemaContractError(
                f"table {name}: incompatible schema change ({'; '.join(problems)}); cast the data to the "
                "table's type or rebuild the table with an explicit overwrite"
            )
        if new_fields:
            if not evolve:
                raise SchemaContractError(
                    f"table {name}: new columns {[f.name for f in new_fields]} are not in the table schema and "
                    "schema evolution is off (storage.allow_schema_evolution or schema_evolution=False)"
                )
            # Rows written before this commit lack the column, so it can only be added as nullable.
            new_fields = [StructField(f.name, f.dataType, True, f.metadata) for f in new_fields]
            dt.alter.add_columns([Field.from_json(json.dumps(f.jsonValue())) for f in new_fields])
            log.info("table %s: added columns %s", name, [f.name for f in new_fields])
            table_schema = StructType(table_schema.fields + new_fields)
        cols = []
        for field in table_schema.fields:
            if field.name in df.columns:
                cols.append(F.col(f"`{field.name}`").cast(field.dataType).alias(field.name))
            else:
                if not field.nullable:
                    raise SchemaContractError(f"table {name}: data lacks non-nullable column {field.name}")
                cols.append(F.lit(None).cast(field.dataType).alias(field.name))
        return df.select(*cols, *[F.col(f"`{c}`") for c in carry])

    def _stage(
        self, name: str, df: DataFrame, partition_cols: list[str], *, rebalance: bool = True
    ) -> _StagedFiles:
        """Spark writes ``df`` as Parquet into a private folder; files move into the table.

        With ``rebalance`` (and partition columns) rows are first shuffled by the partition
        columns, which Spark's adaptive execution splits and coalesces into files of about
        ``spark.sql.adaptive.advisoryPartitionSizeInBytes`` (see ``TableStore.write``).
        """
        if rebalance and partition_cols:
            df = df.hint("rebalance", *partition_cols)
        staging, write_id = self._spark_write(name, df, partition_cols)
        try:
            return self._adopt(name, staging, write_id, partition_cols)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _spark_write(self, name: str, df: DataFrame, partition_cols: Sequence[str]) -> tuple[Path, str]:
        write_id = f"{_now_ms()}-{uuid.uuid4().hex[:12]}"
        staging = Path(self.location(name)) / _STAGING / write_id
        writer = df.write.mode("overwrite").option("compression", "snappy")
        if partition_cols:
            writer = writer.partitionBy(*partition_cols)
        writer.parquet(str(staging))
        return staging, write_id

    def _adopt(self, name: str, staged: Path, write_id: str, partition_cols: list[str]) -> _StagedFiles:
        """Move the Parquet files under ``staged`` into the table and describe them as adds."""
        root = Path(self.location(name))
        adds: list[AddAction] = []
        rows = 0
        for index, file in enumerate(sorted(staged.rglob("*.parquet"))):
            rel = file.relative_to(staged)
            meta = pq.read_metadata(file)
            if meta.num_rows == 0:
                file.unlink()
                continue
            # Spark reuses a task's file name in every partition folder; names must be unique per table.
            final_rel = Path(*rel.parts[:-1], f"{write_id}-{index:05d}-{rel.name}")
            final = root / final_rel
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(file, final)
            rows += meta.num_rows
            adds.append(_add_action(final, final_rel, meta, partition_cols))
        return _StagedFiles(adds=adds, rows=rows)

    def append_split(
        self,
        name: str,
        df: DataFrame,
        *,
        route: str,
        rejects: Callable[[DataFrame], WriteResult],
        partition_by: Sequence[str] | None = None,
        txn: Txn | None = None,
    ) -> tuple[WriteResult, WriteResult | None]:
        """One Spark job writes every row to staging, partitioned by ``route`` first: files of
        the null route become the table's adds; the rest are read back (a few rows) for
        ``rejects``. The route value lives in the folder name only, so the committed files
        hold exactly the table's columns."""
        from pyspark.sql import functions as F

        check_table_name(name)
        if (skipped := self._already_committed(name, txn, "append")) is not None:
            return skipped, rejects(df.filter(F.col(route).isNotNull()))
        if route not in df.columns:
            raise SchemaContractError(f"table {name}: append_split route column {route!r} is not in the data")
        if not self.exists(name):
            self.create(name, _nullable(df.drop(route).schema), partition_by=partition_by or ())
        dt = self._table(name)
        table_parts = _table_partitioning(name, dt, partition_by)
        routed = self._conform(
            name,
            dt,
            # Spark writes "" as the null folder too; such a row must not count as accepted.
            df.withColumn(
                route, F.when(F.col(route) == "", F.lit("(empty)")).otherwise(F.col(route).cast("string"))
            ),
            evolve=self.settings.allow_schema_evolution,
            carry=[route],
        )
        staging, write_id = self._spark_write(name, routed, [route, *table_parts])
        try:
            accepted_dir = staging / f"{route}={_HIVE_NULL}"
            staged = (
                self._adopt(name, accepted_dir, write_id, table_parts)
                if accepted_dir.exists()
                else _StagedFiles(adds=[], rows=0)
            )
            version = self._commit(name, dt, staged.adds, [], mode="append", txn=txn, operation="APPEND")
            accepted = WriteResult(
                table=name,
                operation="append",
                version=version,
                rows_written=staged.rows,
                files_added=len(staged.adds),
            )
            rejected_dirs = [
                str(p)
                for p in staging.iterdir()
                if p.is_dir() and p.name.startswith(f"{route}=") and p != accepted_dir
            ]
            if not rejected_dirs:  # nothing rejected: no empty commit to the rejects' table
                return accepted, None
            rejected_df = (
                self.spark.read.schema(routed.schema).option("basePath", str(staging)).parquet(*rejected_dirs)
            )
            return accepted, rejects(rejected_df)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _commit(
        self,
        name: str,
        dt: DeltaTable,
        adds: list[AddAction],
        removes: list[RemoveAction],
        *,
        mode: Literal["append", "overwrite"],
        filters: Sequence[PartitionFilter] | None = None,
        txn: Txn | None = None,
        operation: str,
        schema: StructType | None = None,
        replaced: int = 0,
    ) -> int:
        """Commit ``adds``/``removes``; in overwrite mode delta-rs also removes every file that
        matches ``filters`` (``replaced`` says how many, for the log)."""
        from deltalake import Schema
        from deltalake.exceptions import CommitFailedError
        from deltalake.transaction import CommitProperties, Transaction

        props = CommitProperties(
            custom_metadata={"cdp.operation": operation, "cdp.rows": sum(_num_records(a) for a in adds)},
            max_commit_retries=self.settings.commit_retries,
            app_transactions=[Transaction(txn.app_id, txn.version, _now_ms())] if txn else None,
        )
        delta_schema = Schema.from_json(schema.json() if schema is not None else dt.schema().to_json())
        try:
            dt.create_write_transaction(
                [*adds, *removes],
                mode,
                delta_schema,
                partition_by=list(dt.metadata().partition_columns),
                partition_filters=list(filters) if filters else None,
                commit_properties=props,
            )
        except CommitFailedError as exc:
            self._discard(name, adds)
            raise TableConflictError(
                f"table {name}: {operation} conflicted with a concurrent commit after "
                f"{self.settings.commit_retries} retries ({exc}); nothing was committed by this write, "
                "the table is unchanged by it and readable"
            ) from exc
        except Exception:
            self._discard(name, adds)
            raise
        self.commits.add()
        version = self._table(name).version()
        log.info(
            "table %s: %s committed version %s (+%d files, -%d files)",
            name,
            operation,
            version,
            len(adds),
            len(removes) + replaced,
        )
        return version

    def _discard(self, name: str, adds: list[AddAction]) -> None:
        root = Path(self.location(name))
        for add in adds:
            with contextlib.suppress(OSError):
                (root / unquote(add.path)).unlink()

    def _retry_on_conflict(self, name: str, attempt: Callable[[], T]) -> T:
        """Rewrites (merge/delete) re-read and retry when a concurrent commit removed their files."""
        tries = max(1, self.settings.commit_retries)
        for i in range(tries):
            try:
                return attempt()
            except TableConflictError:
                if i == tries - 1:
                    raise
                log.warning("table %s: conflict, retrying (%d/%d)", name, i + 1, tries)
                time.sleep(0.2 * (i + 1))
        raise AssertionError("unreachable")


class _EmbeddedMaintenance:
    def __init__(self, store: EmbeddedDeltaStore):
        self.store = store

    def vacuum(self, name: str, *, retention_hours: int | None = None, dry_run: bool = False) -> list[str]:
        """delta-rs vacuum, plus staging folders older than the retention (crashed writes)."""
        hours = self.store.settings.vacuum_retention_hours if retention_hours is None else retention_hours
        dt = self.store._table(name)
        removed = list(dt.vacuum(retention_hours=hours, dry_run=dry_run, enforce_retention_duration=False))
        staging = Path(self.store.location(name)) / _STAGING
        cutoff = time.time() - hours * 3600
        if staging.exists():
            for folder in staging.iterdir():
                if folder.stat().st_mtime <= cutoff:
                    removed.append(str(folder))
                    if not dry_run:
                        shutil.rmtree(folder, ignore_errors=True)
        return removed

    def optimize(self, name: str, *, target_file_mb: int | None = None) -> WriteResult:
        """Rewrite partitions holding several files smaller than half the target into fewer files."""
        from pyspark.sql import functions as F

        store = self.store
        target = (target_file_mb or store.settings.optimize_target_file_mb) * 1024 * 1024
        dt = store._table(name)
        parts = list(dt.metadata().partition_columns)
        groups: dict[tuple[str | None, ...], list[_FileInfo]] = {}
        for info in _files(dt):
            if info.size < target // 2:
                groups.setdefault(tuple(info.partition.get(c) for c in parts), []).append(info)
        picked = [f for files in groups.values() if len(files) > 1 for f in files]
        if not picked:
            return WriteResult(table=name, operation="optimize", version=dt.version())
        total = sum(f.size for f in picked)
        n_out = max(1, math.ceil(total / target)) * max(1, len(groups))
        df = store._read_files(dt, picked)
        if parts:
            df = df.repartition(n_out, *[F.col(c) for c in parts])
        else:
            df = df.coalesce(max(1, math.ceil(total / target)))
        staged = store._stage(name, df, parts, rebalance=False)  # already repartitioned above
        adds = [_replace_data_change(a, False) for a in staged.adds]
        removes = [_remove(f, data_change=False) for f in picked]
        version = store._commit(name, dt, adds, removes, mode="append", operation="OPTIMIZE")
        return WriteResult(
            table=name,
            operation="optimize",
            version=version,
            rows_written=staged.rows,
            files_added=len(adds),
            files_removed=len(removes),
        )


# ---------------------------------------------------------------------- helpers


def _table_partitioning(name: str, dt: DeltaTable, partition_by: Sequence[str] | None) -> list[str]:
    """The table's partition columns; a write that asks for others is refused, not obeyed."""
    table_parts = list(dt.metadata().partition_columns)
    if partition_by is not None and list(partition_by) != table_parts:
        raise SchemaContractError(
            f"table {name} is partitioned by {table_parts}, the write asked for {list(partition_by)}; "
            "repartitioning a table needs an explicit rebuild"
        )
    return table_parts


def _check_readable(name: str, dt: DeltaTable) -> None:
    proto = dt.protocol()
    features = set(proto.reader_features or [])
    bad = features & _UNSUPPORTED_READER_FEATURES
    if bad or proto.min_reader_version > 3:
        raise SchemaContractError(
            f"table {name} uses Delta reader features {sorted(bad) or proto.min_reader_version} that the "
            "embedded runtime does not read; run on the cluster runtime (delta-spark) for this table"
        )


def _table_root(dt: DeltaTable) -> str:
    uri = dt.table_uri
    return unquote(uri[len("file://") :]) if uri.startswith("file://") else uri


def _files(dt: DeltaTable, filters: Sequence[PartitionFilter] | None = None) -> list[_FileInfo]:
    """Live files of the loaded snapshot (pruned by partition filters), from the Delta log."""
    import pyarrow as pa

    root = _table_root(dt)
    actions = pa.table(dt.get_add_actions(flatten=True)).to_pylist()
    parts = list(dt.metadata().partition_columns)
    if filters:
        keep = {_uri_to_path(u) for u in dt.file_uris(file_pruning_predicate=list(filters))}
    out = []
    for action in actions:
        log_path = action["path"]
        path = str(Path(root, unquote(log_path)))
        if filters and path not in keep:
            continue
        out.append(
            _FileInfo(
                name=Path(path).name,
                path=path,
                log_path=log_path,
                size=int(action["size_bytes"]),
                num_records=int(action.get("num_records") or 0),
                partition=_partition_of(action, parts),
            )
        )
    return out


def _uri_to_path(uri: str) -> str:
    if uri.startswith("file://"):
        return str(Path(unquote(uri[len("file://") :])))
    if uri.startswith("file:"):
        return str(Path(unquote(uri[len("file:") :])))
    return str(Path(uri))


def _partition_of(action: dict[str, Any], parts: Sequence[str]) -> dict[str, str | None]:
    """Partition values of a flattened add action, in the Delta log's string form."""
    return {c: _partition_string(action.get(f"partition.{c}")) for c in parts}


def _partition_string(value: Any) -> str | None:
    """The Delta log's string form of a partition value."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return str(value)


def _remove(info: _FileInfo, *, data_change: bool = True) -> RemoveAction:
    from deltalake.transaction import RemoveAction

    return RemoveAction(quote(info.log_path, safe="/=:"), data_change, _now_ms(), info.size, None)


def _replace_data_change(add: AddAction, data_change: bool) -> AddAction:
    from deltalake.transaction import AddAction

    return AddAction(add.path, add.size, add.partition_values, add.modification_time, data_change, add.stats)


def _num_records(add: AddAction) -> int:
    try:
        return int(json.loads(add.stats).get("numRecords", 0))
    except (ValueError, TypeError):
        return 0


def _staged_partition_string(value: Any) -> str | None:
    """``value`` as a staged file's partition value spells it, None if unsure: Spark's folder
    names spell timestamps and floats differently from the Delta log's strings."""
    return None if isinstance(value, (datetime, float)) else _partition_string(value)


def _outside(adds: Sequence[AddAction], filters: Sequence[PartitionFilter]) -> int | None:
    """How many staged files lie outside ``filters`` (SQL semantics: a null never matches a
    value); None when a filter value cannot be compared with partition strings exactly."""
    wanted: list[tuple[str, str, frozenset[str] | None]] = []
    for column, op, value in filters:
        if op not in ("=", "!=", "in", "not in"):
            return None
        if value is None and op in ("=", "!="):
            wanted.append((column, op, None))  # IS [NOT] NULL
            continue
        spelled = [_staged_partition_string(v) for v in (value if op in ("in", "not in") else [value])]
        if any(v is None for v in spelled):
            return None
        wanted.append((column, op, frozenset(v for v in spelled if v is not None)))

    def inside(values: Mapping[str, str | None]) -> bool:
        for column, op, allowed in wanted:
            pv = values.get(column)
            if allowed is None:
                if (pv is None) != (op == "="):
                    return False
            elif pv is None or (pv in allowed) != (op in ("=", "in")):
                return False
        return True

    return len([add for add in adds if not inside(add.partition_values)])


def _add_action(file: Path, rel: Path, meta: pq.FileMetaData, partition_cols: list[str]) -> AddAction:
    from deltalake.transaction import AddAction

    partition_values: dict[str, str | None] = {}
    for part in rel.parts[:-1]:
        key, _, raw = part.partition("=")
        if key in partition_cols:
            value = unquote(raw)
            partition_values[key] = None if value == _HIVE_NULL else value
    stat = file.stat()
    return AddAction(
        quote(str(rel), safe="/=:"),
        stat.st_size,
        partition_values,
        int(stat.st_mtime * 1000),
        True,
        json.dumps(_stats(meta)),
    )


_STAT_TYPES = {"INT32", "INT64"}


def _stats(meta: pq.FileMetaData) -> dict[str, Any]:
    """numRecords plus exact min/max/nullCount for integer, date and string columns.

    Timestamps and floats are left out on purpose: Delta's millisecond timestamp stats and NaN
    handling differ between engines, and a wrong bound silently skips files on read.
    """
    stats: dict[str, Any] = {"numRecords": meta.num_rows, "minValues": {}, "maxValues": {}, "nullCount": {}}
    schema = meta.schema
    for i in range(meta.num_columns):
        column = schema.column(i)
        if "." in column.path:
            continue
        logical = str(column.logical_type)
        physical = column.physical_type
        is_string = physical == "BYTE_ARRAY" and logical.startswith("String")
        is_date = physical == "INT32" and logical.startswith("Date")
        is_int = physical in _STAT_TYPES and logical in (
            "None",
            "Int(bitWidth=32, isSigned=true)",
            "Int(bitWidth=64, isSigned=true)",
            "Int(bitWidth=16, isSigned=true)",
            "Int(bitWidth=8, isSigned=true)",
        )
        if not (is_string or is_date or is_int):
            continue
        lo: Any = None
        hi: Any = None
        nulls = 0
        complete = True
        for rg in range(meta.num_row_groups):
            st = meta.row_group(rg).column(i).statistics
            if st is None or not st.has_null_count:
                complete = False
                break
            nulls += st.null_count
            if not st.has_min_max:
                continue
            if is_string and not (
                getattr(st, "is_min_value_exact", True) and getattr(st, "is_max_value_exact", True)
            ):
                complete = False
                break
            lo = st.min if lo is None else min(lo, st.min)
            hi = st.max if hi is None else max(hi, st.max)
        if not complete:
            continue
        stats["nullCount"][column.path] = nulls
        if lo is not None:
            if is_date:
                lo, hi = lo.isoformat(), hi.isoformat()
            stats["minValues"][column.path] = lo
            stats["maxValues"][column.path] = hi
    return stats


def _nullable(schema: StructType) -> StructType:
    """Tables created from data get nullable columns: literals are non-nullable in Spark, data isn't."""
    from pyspark.sql.types import StructField, StructType

    return StructType([StructField(f.name, f.dataType, True, f.metadata) for f in schema.fields])


def _widens(data: DataType, table: DataType) -> bool:
    return (data.typeName(), table.typeName()) in _WIDENING or data.typeName() == "void"
