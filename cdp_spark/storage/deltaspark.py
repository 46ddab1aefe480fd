"""Cluster runtime store: the same TableStore contract over delta-spark's DeltaTable API.

Used when the delta-spark jars are on the classpath (Databricks, EMR, ``spark-submit
--packages``). The contract tests run against it wherever those jars exist; on machines
without Maven access they are skipped with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from cdp_spark.config import StorageSettings
from cdp_spark.errors import (
    RuntimeUnavailableError,
    SchemaContractError,
    TableConflictError,
    TableNotFoundError,
)
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
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

log = logging.getLogger(__name__)


def _delta() -> Any:
    try:
        import delta.tables
    except ImportError as exc:
        raise RuntimeUnavailableError(
            "the cluster runtime needs the delta-spark Python package: `pip install 'cdp-spark[cluster]'` "
            "(and the matching io.delta:delta-spark_2.13 jar on the Spark classpath), or set "
            "runtime.mode: embedded"
        ) from exc
    return delta.tables


class DeltaSparkStore:
    """TableStore over delta-spark; tables live at ``<workspace>/lake/<layer>/<name>``."""

    kind = "cluster"

    def __init__(self, spark: SparkSession, workspace: Workspace, settings: StorageSettings | None = None):
        self.spark = spark
        self.workspace = workspace
        self.settings = settings or StorageSettings()
        self.maintenance = _DeltaSparkMaintenance(self)
        self.commits = CommitCounter()

    def location(self, name: str) -> str:
        """``<workspace>/lake/<layer>/<table>`` as Spark and delta-spark take it: ``s3://b/cdp/lake/...``
        stays that URI, a local workspace gives an absolute path (which Spark resolves against
        the cluster's default file system, as it would any path)."""
        return self.workspace.table_uri(check_table_name(name))

    def _dt(self, name: str) -> Any:
        if not self.exists(name):
            raise TableNotFoundError(f"table {name} does not exist yet at {self.location(name)}")
        return _delta().DeltaTable.forPath(self.spark, self.location(name))

    def exists(self, name: str) -> bool:
        return bool(_delta().DeltaTable.isDeltaTable(self.spark, self.location(name)))

    def partition_columns(self, name: str) -> list[str]:
        return list(self._dt(name).detail().first()["partitionColumns"])

    def file_ranges(self, name: str, column: str) -> list[FileRange] | None:
        """delta-spark has no public API for per-file statistics: callers scan instead."""
        return None

    def file_changes(self, name: str, since: int) -> FileChanges | None:
        """Not from the log here (the change data feed is off by default): callers scan."""
        return None

    def missing_files(self, name: str, version: int) -> int | None:
        """No public API lists a version's files here: callers read the version instead."""
        return None

    def create(
        self,
        name: str,
        schema: StructType,
        *,
        partition_by: Sequence[str] = (),
        if_exists: Literal["ignore", "error"] = "ignore",
        description: str | None = None,
    ) -> int:
        builder = (
            _delta().DeltaTable.createIfNotExists if if_exists == "ignore" else _delta().DeltaTable.create
        )
        b = builder(self.spark).location(self.location(name)).addColumns(schema)
        if partition_by:
            b = b.partitionedBy(*partition_by)
        if description:
            b = b.comment(description)
        existed = if_exists == "ignore" and self.exists(name)
        b.property("delta.checkpointInterval", str(self.settings.checkpoint_interval)).execute()
        if not existed:
            self.commits.add()
        return self.version(name)

    def read(
        self,
        name: str,
        *,
        version: int | None = None,
        as_of: datetime | None = None,
        partition_filters: Sequence[PartitionFilter] | None = None,
    ) -> DataFrame:
        if not self.exists(name):
            raise TableNotFoundError(f"table {name} does not exist yet at {self.location(name)}")
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        elif as_of is not None:
            reader = reader.option("timestampAsOf", as_of.isoformat())
        df = reader.load(self.location(name))
        return df.filter(filters_to_sql(partition_filters)) if partition_filters else df

    def _txn_options(self, txn: Txn | None) -> dict[str, str]:
        return {"txnAppId": txn.app_id, "txnVersion": str(txn.version)} if txn else {}

    def _skipped(self, name: str, txn: Txn | None, operation: str) -> WriteResult | None:
        committed = self.txn_version(name, txn.app_id) if txn and self.exists(name) else None
        if txn and committed is not None and committed >= txn.version:
            return WriteResult(table=name, operation=operation, version=self.version(name), skipped=True)
        return None

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
        if (skipped := self._skipped(name, txn, mode)) is not None:
            return skipped
        evolve = self.settings.allow_schema_evolution if schema_evolution is None else schema_evolution
        if optimize_write and partition_by:
            df = df.hint("rebalance", *partition_by)
        writer = df.write.format("delta").mode("append" if mode == "append" else "overwrite")
        for key, value in self._txn_options(txn).items():
            writer = writer.option(key, value)
        if mode == "replace_where":
            writer = writer.option("replaceWhere", filters_to_sql(replace_where or []))
        if evolve and mode != "overwrite":
            writer = writer.option("mergeSchema", "true")
        if mode == "overwrite":
            writer = writer.option("overwriteSchema", "true")
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        try:
            writer.save(self.location(name))
        except Exception as exc:
            raise _translate(name, exc) from exc
        return self._result(name, mode)

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
        # Delta's writer commits the files of one job to one table, so ``df`` is computed
        # once per side here (the embedded store computes it once).
        from pyspark.sql import functions as F

        accepted = self.write(
            name,
            df.filter(F.col(route).isNull()).drop(route),
            mode="append",
            partition_by=partition_by,
            txn=txn,
            optimize_write=False,
        )
        return accepted, rejects(df.filter(F.col(route).isNotNull()))

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
        if (skipped := self._skipped(name, txn, "merge")) is not None:
            return skipped
        if not self.exists(name):
            return self.write(name, source, mode="append", partition_by=partition_by, txn=txn)
        evolve = self.settings.allow_schema_evolution if schema_evolution is None else schema_evolution
        if evolve:
            self.spark.conf.set("spark.databricks.delta.schema.autoMerge.enabled", "true")
        if txn:
            self.spark.conf.set("spark.databricks.delta.write.txnAppId", txn.app_id)
            self.spark.conf.set("spark.databricks.delta.write.txnVersion", str(txn.version))
        cond = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
        m = self._dt(name).alias("t").merge(source.alias("s"), cond)
        if delete_when:
            m = m.whenMatchedDelete(condition=delete_when)
        if when_matched == "update":
            m = m.whenMatchedUpdateAll()
        if when_not_matched == "insert":
            m = m.whenNotMatchedInsertAll()
        try:
            m.execute()
        except Exception as exc:
            raise _translate(name, exc) from exc
        finally:
            self.spark.conf.unset("spark.databricks.delta.write.txnAppId")
            self.spark.conf.unset("spark.databricks.delta.write.txnVersion")
        return self._result(name, "merge")

    def delete(self, name: str, predicate: str, *, txn: Txn | None = None) -> WriteResult:
        if (skipped := self._skipped(name, txn, "delete")) is not None:
            return skipped
        self._dt(name).delete(predicate)
        return self._result(name, "delete")

    def version(self, name: str) -> int:
        return int(self._dt(name).history(1).collect()[0]["version"])

    def history(self, name: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        rows = (self._dt(name).history(limit) if limit else self._dt(name).history()).collect()
        return [r.asDict(recursive=True) for r in rows]

    def txn_version(self, name: str, app_id: str) -> int | None:
        # delta-spark has no public getter; the log's txn actions are readable as JSON.
        log_df = self.spark.read.json(f"{self.location(name)}/_delta_log/*.json")
        if "txn" not in log_df.columns:
            return None
        row = log_df.filter(f"txn.appId = '{app_id}'").agg({"txn.version": "max"}).collect()
        return int(row[0][0]) if row and row[0][0] is not None else None

    def _result(self, name: str, operation: str) -> WriteResult:
        """What the write just committed, read from the table's last history entry."""
        self.commits.add()
        last = self.history(name, limit=1)[0]
        metrics = {k: int(v) for k, v in (last.get("operationMetrics") or {}).items() if str(v).isdigit()}
        return WriteResult(
            table=name,
            operation=operation,
            version=int(last["version"]),
            rows_written=metrics.get("numOutputRows", 0),
            files_added=metrics.get("numAddedFiles", metrics.get("numFiles", 0)),
            files_removed=metrics.get("numRemovedFiles", 0),
            metrics=metrics,
        )


class _DeltaSparkMaintenance:
    def __init__(self, store: DeltaSparkStore):
        self.store = store

    def vacuum(self, name: str, *, retention_hours: int | None = None, dry_run: bool = False) -> list[str]:
        hours = self.store.settings.vacuum_retention_hours if retention_hours is None else retention_hours
        if dry_run:
            rows = self.store.spark.sql(
                f"VACUUM delta.`{self.store.location(name)}` RETAIN {hours} HOURS DRY RUN"
            )
            return [r[0] for r in rows.collect()]
        self.store._dt(name).vacuum(hours)
        return []

    def optimize(self, name: str, *, target_file_mb: int | None = None) -> WriteResult:
        if target_file_mb:
            self.store.spark.conf.set(
                "spark.databricks.delta.optimize.maxFileSize", str(target_file_mb * 1024 * 1024)
            )
        self.store._dt(name).optimize().executeCompaction()
        return self.store._result(name, "optimize")


def _translate(name: str, exc: Exception) -> Exception:
    text = str(exc)
    if (
        "ConcurrentAppendException" in text
        or "ConcurrentDeleteReadException" in text
        or "Concurrent" in type(exc).__name__
    ):
        return TableConflictError(f"table {name}: concurrent commit conflict: {text.splitlines()[0]}")
    if "AnalysisException" in type(exc).__name__ and "schema" in text.lower():
        return SchemaContractError(f"table {name}: {text.splitlines()[0]}")
    return exc
