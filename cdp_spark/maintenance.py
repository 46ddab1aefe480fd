"""The ``maintenance`` stage: compact and vacuum the ``ops.*`` tables.

Bookkeeping tables gain a small file with every run (``ops.runs`` one per stage), and the
nightly reads some of them whole (the runner reads ``ops.runs`` for the date's history, ingest
reads ``ops.ingested_files`` for the files it knows, identity, profile and tags read their rows
of ``ops.run_state``). Compaction keeps those reads to a few
files; vacuum then deletes the compacted files once they are older than
``storage.vacuum_retention_hours``, so time travel within that window still works.

It runs on its own schedule (``cdp-spark run maintenance --date D``), not in the nightly: it
rewrites tables the nightly appends to, and the per-date lock keeps the two apart.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from cdp_spark import catalog
from cdp_spark.pipeline import RunContext, StageResult, stage

if TYPE_CHECKING:
    from cdp_spark.context import CdpContext

log = logging.getLogger(__name__)

MAINTENANCE = "maintenance"


def ops_tables(ctx: CdpContext) -> list[str]:
    """The catalogued ``ops.*`` tables present in the workspace."""
    specs = catalog.for_config(ctx.config).in_layer("ops")
    return sorted(s.name for s in specs if ctx.store.exists(s.name))


@stage(
    MAINTENANCE,
    group=MAINTENANCE,
    description="compact and vacuum the ops.* tables",
    reads=[],
    writes=[catalog.OPS_TABLES],
)
def run_maintenance(ctx: CdpContext, rc: RunContext) -> StageResult:
    """Optimize then vacuum every ``ops.*`` table; metrics per table."""
    result = StageResult()
    per_table: dict[str, dict[str, int]] = {}
    for table in ops_tables(ctx):
        compacted = ctx.store.maintenance.optimize(table)
        removed = ctx.store.maintenance.vacuum(table)
        if compacted.files_removed:
            result.wrote(table, compacted.version)
        per_table[table] = {
            "files_compacted": compacted.files_removed,
            "files_written": compacted.files_added,
            "files_vacuumed": len(removed),
        }
        log.info("maintenance %s: %s", table, per_table[table])
    result.metrics = {"tables": per_table}
    return result
