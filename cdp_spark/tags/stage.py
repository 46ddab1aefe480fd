"""The ``tags`` stage: ``gold.profiles`` → declared tags → ``gold.tags`` and ``gold.tag_changes``.

Order of work, so a bad definition or a stale profile publishes nothing:

1. validate every definition of ``tags.yaml`` (Spark analysis, no job) and fail with a
   :class:`~cdp_spark.errors.ConfigError` listing all problems;
2. check that ``gold.profiles`` is as of the run date (tags of a date are computed from the
   profile of that date);
3. find the snapshot to compare against: on the first run of a date the current
   ``gold.tags``; on a rerun the version the date's first run started from, read from
   ``ops.run_state`` (time travel), so a rerun reproduces the same tables and the same
   changes. Rerunning an older date after later dates is refused
   (:func:`cdp_spark.runstate.start_from`);
4. evaluate, diff, overwrite ``gold.tags`` and replace the run date's partition of
   ``gold.tag_changes``, both with idempotency tokens; then record the run in
   ``ops.run_state``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from cdp_spark import catalog
from cdp_spark.errors import CdpSparkError, ConfigError
from cdp_spark.pipeline import RunContext, StageResult, stage
from cdp_spark.profile.config import profile_config
from cdp_spark.profile.schema import PROFILES
from cdp_spark.runstate import LEGACY_TABLES, RUN_STATE, current_versions, read_at, record, start_from
from cdp_spark.tags.config import tags_config, tags_source
from cdp_spark.tags.engine import (
    CHANGED,
    GAINED,
    LOST,
    TAG_CHANGES_SCHEMA,
    TAGS_SCHEMA,
    conform,
    diff_tags,
    evaluate_tags,
    validate_tags,
)

if TYPE_CHECKING:
    from cdp_spark.context import CdpContext

log = logging.getLogger(__name__)

TAGS = catalog.GOLD_TAGS.name
TAG_CHANGES = catalog.GOLD_TAG_CHANGES.name


@stage(
    "tags",
    depends_on=["profile"],
    description="gold.profiles → declared tags of tags.yaml (gold.tags, gold.tag_changes)",
    reads=[catalog.GOLD_PROFILES.name, TAGS, RUN_STATE, *LEGACY_TABLES],
    writes=[TAGS, TAG_CHANGES, RUN_STATE],
)
def run_tags(ctx: CdpContext, rc: RunContext) -> StageResult:
    """Evaluate ``tags.yaml`` over the run date's profiles; see the module docstring for the order."""
    config = tags_config(ctx.config)
    windows = profile_config(ctx.config).windows
    problems = validate_tags(ctx.spark, config, windows, source=tags_source(ctx.config))
    if problems:
        raise ConfigError(problems)
    store = ctx.store
    result = StageResult()
    if not store.exists(PROFILES):
        log.warning("tags: %s does not exist yet (no profiles built); nothing to tag", PROFILES)
        result.metrics = {"persons": 0, "tags_defined": len(config.tags)}
        return result

    profiles_version = store.version(PROFILES)  # recorded as read (nothing else writes it meanwhile)
    profiles = store.read(PROFILES)
    stats = profiles.agg(
        F.count(F.lit(1)).alias("n"), F.min("as_of_date").alias("first"), F.max("as_of_date").alias("last")
    ).first()
    persons = int(stats["n"]) if stats is not None else 0
    if stats is not None and persons and not (stats["first"] == stats["last"] == rc.run_date):
        dates = sorted({str(stats["first"]), str(stats["last"])})
        raise CdpSparkError(
            f"tags: {PROFILES} is as of {' to '.join(dates)}, not the run date {rc.run_date}; tags of a date are "
            f"computed from that date's profiles. Run `cdp-spark run profile --date {rc.run_date}` first "
            "(or run the nightly pipeline for that date)."
        )

    before = start_from(ctx, rc, [TAGS]).versions
    previous = read_at(ctx, TAGS, before[TAGS])
    diff = diff_tags(previous, evaluate_tags(profiles, config.tags), run_date=rc.run_date)

    out = store.write(TAGS, conform(diff.tags, TAGS_SCHEMA), mode="overwrite", txn=rc.txn(TAGS))
    result.wrote(TAGS, None if out.skipped else out.version)
    result.rows_out = out.rows_written
    out = store.write(
        TAG_CHANGES,
        conform(diff.changes, TAG_CHANGES_SCHEMA),
        mode="replace_where",
        partition_by=["run_date"],
        replace_where=[("run_date", "=", rc.run_date.isoformat())],
        txn=rc.txn(TAG_CHANGES),
    )
    result.wrote(TAG_CHANGES, None if out.skipped else out.version)
    out = record(
        ctx,
        rc,
        inputs={TAGS: before[TAGS], PROFILES: profiles_version},
        outputs=current_versions(ctx, [TAGS, TAG_CHANGES]),
    )
    result.wrote(RUN_STATE, None if out.skipped else out.version)

    counts = diff.counts()
    defined = [t.name for t in config.tags]
    removed = sorted(set(counts) - set(defined))  # tags dropped from tags.yaml: lost by everyone
    zero = {"tagged": 0, GAINED: 0, LOST: 0, CHANGED: 0}
    per_tag = {name: counts.get(name, zero) for name in [*defined, *removed]}
    result.rows_in = persons
    result.metrics = {
        "persons": persons,
        "tags_defined": len(defined),
        "persons_tagged": {name: c["tagged"] for name, c in per_tag.items() if name in defined},
        "gained": {name: c[GAINED] for name, c in per_tag.items() if c[GAINED]},
        "lost": {name: c[LOST] for name, c in per_tag.items() if c[LOST]},
        "changed": {name: c[CHANGED] for name, c in per_tag.items() if c[CHANGED]},
        "changes": {kind: sum(c[kind] for c in per_tag.values()) for kind in (GAINED, LOST, CHANGED)},
        "compared_with_version": before[TAGS],
    }
    log.info("tags: %d persons, %d tags, changes %s", persons, len(defined), result.metrics["changes"])
    return result
