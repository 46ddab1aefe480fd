"""Logical Delta tables behind one interface; see :class:`TableStore`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cdp_spark.storage.base import (
    FileChanges,
    FileRange,
    PartitionFilter,
    TableStore,
    Txn,
    WriteMode,
    WriteResult,
    check_table_name,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from cdp_spark.config import StorageSettings
    from cdp_spark.session import RuntimeKind
    from cdp_spark.workspace import Workspace

__all__ = [
    "FileChanges",
    "FileRange",
    "PartitionFilter",
    "TableStore",
    "Txn",
    "WriteMode",
    "WriteResult",
    "check_table_name",
    "open_store",
]


def open_store(
    spark: SparkSession, workspace: Workspace, settings: StorageSettings, kind: RuntimeKind
) -> TableStore:
    """The store for the runtime the session factory chose."""
    if kind == "cluster":
        from cdp_spark.storage.deltaspark import DeltaSparkStore

        return DeltaSparkStore(spark, workspace, settings)
    from cdp_spark.storage.embedded import EmbeddedDeltaStore

    return EmbeddedDeltaStore(spark, workspace, settings)
