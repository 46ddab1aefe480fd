"""Landing → bronze. Entry points: the ``ingest`` stage and :func:`ingest_source`."""

from __future__ import annotations

from cdp_spark.ingest.bronze import QUARANTINE, bronze_table, ingest_source, run_ingest
from cdp_spark.ingest.config import SourceConfig, SourcesConfig, parse_ddl_type

__all__ = [
    "QUARANTINE",
    "SourceConfig",
    "SourcesConfig",
    "bronze_table",
    "ingest_source",
    "parse_ddl_type",
    "run_ingest",
]
