"""Where a snapshot stage's "before" state lives, so reruns of a date reproduce their output.

Stages that overwrite a snapshot (``gold.profiles``, ``gold.tags``) also write what changed
against the previous snapshot (lifecycle transitions, tags gained and lost). A rerun of the
same date must compare against the snapshot as it was *before that date's first run*, not
against its own earlier output, or the second run would report no changes. The first run of a
date records the versions it started from in ``ops.stage_state``; a rerun time-travels to them.
Rerunning an older date after later dates built on it is refused: it would rewrite the history
the later snapshots were compared against.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from pyspark.sql import functions as F
from pyspark.sql.types import DateType, LongType, StringType, StructField, StructType, TimestampType

from cdp_spark.errors import CdpSparkError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from cdp_spark.context import CdpContext
    from cdp_spark.pipeline import RunContext

STATE_TABLE = "ops.stage_state"
STATE_SCHEMA = StructType(
    [
        StructField("stage", StringType(), False),
        StructField("run_date", DateType(), False),
        StructField("table", StringType(), False),
        StructField("version_before", LongType(), True),  # null: the table did not exist
        StructField("recorded_at", TimestampType(), False),
    ]
)


def versions_before(ctx: CdpContext, rc: RunContext, tables: Sequence[str]) -> dict[str, int | None]:
    """The versions of ``tables`` this stage's run of ``rc.run_date`` starts from.

    First run of the date: the current versions, recorded. Rerun: the recorded ones.
    """
    store = ctx.store
    if store.exists(STATE_TABLE):
        rows = (
            store.read(STATE_TABLE)
            .where((F.col("stage") == rc.stage) & (F.col("run_date") >= F.lit(rc.run_date)))
            .collect()
        )
        later = sorted({r["run_date"] for r in rows if r["run_date"] > rc.run_date})
        if later:
            raise CdpSparkError(
                f"{rc.stage}: {rc.run_date} cannot be rerun: later date(s) {', '.join(map(str, later[:3]))} "
                "were built on top of it. Run the latest date instead (with --full to rebuild)."
            )
        recorded: dict[str, int | None] = {}
        for r in sorted(rows, key=lambda r: r["recorded_at"]):  # a forced rerun appends: first wins
            if r["run_date"] == rc.run_date:
                recorded.setdefault(r["table"], r["version_before"])
        if all(t in recorded for t in tables):
            return {t: recorded[t] for t in tables}
    current = {t: (store.version(t) if store.exists(t) else None) for t in tables}
    now = datetime.now(timezone.utc)
    rows_out = [(rc.stage, rc.run_date, t, v, now) for t, v in current.items()]
    store.write(
        STATE_TABLE, ctx.spark.createDataFrame(rows_out, STATE_SCHEMA), mode="append", txn=rc.txn(STATE_TABLE)
    )
    return current


def read_before(ctx: CdpContext, table: str, version: int | None) -> DataFrame | None:
    """The table at ``version`` (None when it did not exist then)."""
    return None if version is None else ctx.store.read(table, version=version)
