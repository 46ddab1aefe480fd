"""The TableStore interface both runtimes implement.

Stages talk to logical names (``bronze.web_events``) and never to paths or to a Delta API
directly, so the same stage code runs on the embedded runtime (Spark writes Parquet,
delta-rs commits) and on a cluster (delta-spark). Contract tests in
``tests/test_storage_contract.py`` run against every implementation that can start here.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from cdp_spark.errors import CdpSparkError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructType

WriteMode = Literal["append", "overwrite", "replace_where"]
# (column, op, value) with op one of "=", "!=", "in", "not in" — delta-rs's filter format.
PartitionFilter = tuple[str, str, Any]

_NAME_RE = re.compile(r"^(bronze|silver|gold|ops)\.[a-z][a-z0-9_]*$")


def check_table_name(name: str) -> str:
    """Logical names are ``<layer>.<table>`` in lower snake case; anything else is a bug."""
    if not _NAME_RE.match(name):
        raise CdpSparkError(
            f"invalid table name {name!r}: expected '<layer>.<table>' with layer one of "
            "bronze, silver, gold, ops and a lower_snake_case table name"
        )
    return name


@dataclass(frozen=True)
class Txn:
    """An idempotency token: a write tagged (app_id, version) commits at most once.

    Delta records the highest version committed per app_id in the table's log; a retried
    stage presents the same token and its write is skipped instead of appending twice.
    """

    app_id: str
    version: int


@dataclass(frozen=True)
class WriteResult:
    """What one write did; stages sum these into ``ops.runs``."""

    table: str
    operation: str
    version: int | None
    skipped: bool = False
    rows_written: int = 0
    files_added: int = 0
    files_removed: int = 0
    metrics: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class FileRange:
    """One live data file: its partition values and one column's min/max from the log.

    ``low``/``high`` are None when the file carries no statistics for the column (written
    without them, or every value null): a caller must then treat the file as matching.
    """

    partition: dict[str, str | None]
    low: Any
    high: Any


@dataclass(frozen=True)
class FileChanges:
    """Rows of the data files a table gained and lost between a version and the latest one.

    ``added`` holds every row of the files added since (rows a merge copied unchanged into a
    rewritten file included: filter by a run column to find the rows written); ``removed``
    every row of the files removed since, as they were, so the versions an update replaced
    are among them. Reading only those files is what keeps "which rows changed" proportional
    to the change rather than to the partitions it touched.
    """

    added: DataFrame
    removed: DataFrame


class CommitCounter:
    """Delta commits a store has made in this process; the runner reads it per stage.

    Stages commit from several threads at once (cleanse prepares sources side by side), hence
    the lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    def add(self, n: int = 1) -> None:
        with self._lock:
            self._value += n

    @property
    def value(self) -> int:
        return self._value


@runtime_checkable
class Maintenance(Protocol):
    """Housekeeping kept apart from the data path (``store.maintenance.vacuum(...)``)."""

    def vacuum(self, name: str, *, retention_hours: int | None = None, dry_run: bool = False) -> list[str]:
        """Delete data files no version within the retention window references."""
        ...

    def optimize(self, name: str, *, target_file_mb: int | None = None) -> WriteResult:
        """Compact small files per partition without changing data (``dataChange=false``)."""
        ...


@runtime_checkable
class TableStore(Protocol):
    """Logical Delta tables, one interface for both runtimes."""

    kind: str
    commits: CommitCounter

    @property
    def maintenance(self) -> Maintenance: ...

    def location(self, name: str) -> str:
        """The table's storage location (path or URI)."""
        ...

    def exists(self, name: str) -> bool: ...

    def partition_columns(self, name: str) -> list[str]:
        """The table's partition columns, from its log (the table must exist)."""
        ...

    def file_ranges(self, name: str, column: str) -> list[FileRange] | None:
        """Per live file, its partition values and ``column``'s min/max from the Delta log's
        file statistics, without reading data; None when this store cannot answer that way
        (the caller then scans). Lets a stage find the partitions a run wrote in milliseconds."""
        ...

    def file_changes(self, name: str, since: int) -> FileChanges | None:
        """Rows of the files added and removed after version ``since`` (see :class:`FileChanges`);
        None when this store cannot tell from the log (the caller then scans partitions)."""
        ...

    def missing_files(self, name: str, version: int) -> int | None:
        """How many data files of ``version`` are gone (a VACUUM after a rewrite), from the log
        and a stat per file, without reading data; None when this store cannot tell (the
        caller then reads the version). Raises if the version's log entry itself is gone."""
        ...

    def create(
        self,
        name: str,
        schema: StructType,
        *,
        partition_by: Sequence[str] = (),
        if_exists: Literal["ignore", "error"] = "ignore",
        description: str | None = None,
    ) -> int:
        """Create an empty table; returns its version."""
        ...

    def read(
        self,
        name: str,
        *,
        version: int | None = None,
        as_of: datetime | None = None,
        partition_filters: Sequence[PartitionFilter] | None = None,
    ) -> DataFrame:
        """Latest snapshot, or as of a version/timestamp; partition filters prune files from the log."""
        ...

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
        """Append, overwrite or replace partitions.

        ``optimize_write`` shuffles rows by the partition columns first (Spark's ``rebalance``
        hint, what Delta calls optimized writes), so each partition value gets a few files of
        a useful size instead of one small file per task: the output of an aggregation or a
        join spread over many dates otherwise makes thousands of files. Pass False when every
        task already writes a single partition value (bronze batches), to skip the shuffle.
        """
        ...

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
        """Append the rows whose ``route`` column is null to ``name`` (without that column) and
        hand the others, with it, to ``rejects``; returns both write results, the second
        None when the runtime knows without a pass of its own that nothing was rejected.

        For validation: accepted rows to a table, rejected rows with their reason to a
        quarantine, from one computation of ``df`` where the runtime allows it, because
        computing it is the expensive part (parsing every line). Non-null ``route`` values
        may become folder names while staging, so they should be few (reasons, not row ids).
        If ``txn`` is already committed to ``name`` only ``rejects`` runs, on ``df`` again.
        """
        ...

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
        """Upsert by keys. ``delete_when`` is SQL over ``t.`` (target) and ``s.`` (source)."""
        ...

    def delete(self, name: str, predicate: str, *, txn: Txn | None = None) -> WriteResult: ...

    def version(self, name: str) -> int: ...

    def history(self, name: str, *, limit: int | None = None) -> list[dict[str, Any]]: ...

    def txn_version(self, name: str, app_id: str) -> int | None:
        """Highest committed version for ``app_id``, None if it never wrote to this table."""
        ...


def filters_to_sql(filters: Sequence[PartitionFilter]) -> str:
    """Render partition filters as a Spark SQL predicate (for checks and delta-spark's replaceWhere)."""
    parts = []
    for column, op, value in filters:
        ident = f"`{column}`"
        if op in ("in", "not in"):
            values = ", ".join(_sql_literal(v) for v in value)
            parts.append(f"{ident} {op.upper()} ({values})")
        elif value is None:
            parts.append(f"{ident} IS {'NOT ' if op == '!=' else ''}NULL")
        else:
            parts.append(f"{ident} {'<>' if op == '!=' else '='} {_sql_literal(value)}")
    return " AND ".join(parts) if parts else "TRUE"


def _sql_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"
