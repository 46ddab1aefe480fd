"""Which tables a stage actually read and wrote, whatever runtime stores them.

The runner hands each stage a context whose store is a :class:`RecordingStore` around the
real one, and writes the two sets into ``ops.runs`` next to the tables the stage declares. A
stage that starts reading a table it does not declare (or stops writing one it does) is then
visible in the run log and fails the catalogue test, instead of surprising the next person who
reorders the pipeline or erases a person.

Only data access counts: reading rows or the log's file list, and every kind of write or
maintenance. ``exists``, ``version`` and ``history`` are bookkeeping any stage may do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, cast

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructType

    from cdp_spark.storage.base import (
        FileChanges,
        FileRange,
        Maintenance,
        PartitionFilter,
        TableStore,
        Txn,
        WriteMode,
        WriteResult,
    )


class TableAccess:
    """Thread-safe sets of table names read and written (stages use threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reads: set[str] = set()
        self._writes: set[str] = set()

    def read(self, name: str) -> None:
        with self._lock:
            self._reads.add(name)

    def wrote(self, name: str) -> None:
        with self._lock:
            self._writes.add(name)

    @property
    def reads(self) -> list[str]:
        return sorted(self._reads)

    @property
    def writes(self) -> list[str]:
        return sorted(self._writes)


class _RecordingMaintenance:
    def __init__(self, inner: Maintenance, access: TableAccess):
        self._inner, self._access = inner, access

    def vacuum(self, name: str, *, retention_hours: int | None = None, dry_run: bool = False) -> list[str]:
        if not dry_run:
            self._access.wrote(name)
        return self._inner.vacuum(name, retention_hours=retention_hours, dry_run=dry_run)

    def optimize(self, name: str, *, target_file_mb: int | None = None) -> WriteResult:
        self._access.wrote(name)
        return self._inner.optimize(name, target_file_mb=target_file_mb)


class RecordingStore:
    """A :class:`TableStore` that forwards every call and notes the tables it touched."""

    def __init__(self, inner: TableStore, access: TableAccess | None = None):
        self._inner = inner
        self.access = access or TableAccess()

    def __getattr__(self, attribute: str) -> Any:  # exists, version, history, kind, commits, ...
        return getattr(self._inner, attribute)

    def as_store(self) -> TableStore:
        """This object typed as the protocol it forwards (``__getattr__`` covers the rest)."""
        return cast("TableStore", self)

    @property
    def maintenance(self) -> Maintenance:
        return _RecordingMaintenance(self._inner.maintenance, self.access)

    def read(
        self,
        name: str,
        *,
        version: int | None = None,
        as_of: datetime | None = None,
        partition_filters: Sequence[PartitionFilter] | None = None,
    ) -> DataFrame:
        self.access.read(name)
        return self._inner.read(name, version=version, as_of=as_of, partition_filters=partition_filters)

    def file_ranges(self, name: str, column: str) -> list[FileRange] | None:
        self.access.read(name)
        return self._inner.file_ranges(name, column)

    def file_changes(self, name: str, since: int) -> FileChanges | None:
        self.access.read(name)
        return self._inner.file_changes(name, since)

    def missing_files(self, name: str, version: int) -> int | None:
        self.access.read(name)
        return self._inner.missing_files(name, version)

    def create(
        self,
        name: str,
        schema: StructType,
        *,
        partition_by: Sequence[str] = (),
        if_exists: Literal["ignore", "error"] = "ignore",
        description: str | None = None,
    ) -> int:
        if not self._inner.exists(name):  # creating if missing is a write only when it creates
            self.access.wrote(name)
        return self._inner.create(
            name, schema, partition_by=partition_by, if_exists=if_exists, description=description
        )

    def write(self, name: str, df: DataFrame, *, mode: WriteMode, **kw: Any) -> WriteResult:
        self.access.wrote(name)
        return self._inner.write(name, df, mode=mode, **kw)

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
        self.access.wrote(name)
        return self._inner.append_split(
            name, df, route=route, rejects=rejects, partition_by=partition_by, txn=txn
        )

    def merge(self, name: str, source: DataFrame, *, keys: Sequence[str], **kw: Any) -> WriteResult:
        self.access.wrote(name)
        return self._inner.merge(name, source, keys=keys, **kw)

    def delete(self, name: str, predicate: str, *, txn: Txn | None = None) -> WriteResult:
        self.access.wrote(name)
        return self._inner.delete(name, predicate, txn=txn)
