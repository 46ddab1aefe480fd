"""Which persons a nightly profile build must aggregate again, and which rows it may keep.

Why this is exact: a person's aggregated columns (everything but
:data:`cdp_spark.profile.build.FINALISED`) are a function of (a) the rollups and candidates of
the person's anchors up to the as-of date, (b) the person's identifier set, and (c) the
configuration. Going from the previous snapshot (as of ``D0``) to the run date ``D`` they can
only change for a person who

1. has rollups or candidates on a day rolled up again by this run (new and late data),
2. has rollups on a day that entered the as-of range, ``(D0, D]`` (events dated in the future
   when they arrived),
3. has rollups on a day that left a behaviour window, ``(D0 - w, D - w]`` for each window ``w``,
4. gained or lost an identifier, or was merged, split, created or retired (identity
   fingerprint differs), or
5. was built with another configuration (then nothing is kept: a full rebuild).

Everyone else keeps their row; :func:`cdp_spark.profile.build.finalise_profiles` then
recomputes the date- and population-dependent columns (age, recency, RFM cut points,
lifecycle, catalogue categories) for all persons. ``tests/test_profile.py`` checks the result
against a full rebuild.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from cdp_spark.profile.build import person_anchors, person_identifiers
from cdp_spark.profile.schema import ANCHOR_TYPE, ANCHOR_VALUE, profile_schema

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from pyspark.sql import DataFrame

    from cdp_spark.identity.config import IdentityConfig
    from cdp_spark.profile.config import ProfileConfig


def config_fingerprint(profile: ProfileConfig, identity: IdentityConfig) -> str:
    """16 hex digits over both configurations (identity's blocklist decides anchors)."""
    payload = json.dumps(
        [profile.model_dump(mode="json"), identity.model_dump(mode="json")], sort_keys=True, default=str
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def reusable_base(
    previous: DataFrame | None, run_date: date, config: ProfileConfig, fingerprint: str
) -> tuple[DataFrame, date] | str:
    """The previous snapshot and its as-of date, or why it cannot be reused (a full rebuild)."""
    if previous is None:
        return "no previous profiles"
    expected = [f.name for f in profile_schema(config.windows).fields]
    if previous.columns != expected:
        return "the previous profiles have another schema (new version or other windows)"
    first = previous.select("as_of_date", "config_fingerprint").limit(1).collect()
    if not first:
        return "the previous profiles are empty"
    as_of, built_with = first[0]
    if built_with != fingerprint:
        return "profile.yaml or identity.yaml changed since the previous build"
    if as_of > run_date:
        return f"the previous profiles are as of {as_of}, after {run_date}"
    return previous, as_of


def changed_days(
    rolled_up: Iterable[date], previous_as_of: date, run_date: date, windows: Sequence[int]
) -> list[date]:
    """Event dates whose rollups can change some person's aggregates (rules 1-3 above)."""
    out = set(rolled_up)
    span = (run_date - previous_as_of).days
    for k in range(1, span + 1):
        day = previous_as_of + timedelta(days=k)
        out.add(day)  # entered the as-of range
        out.update(day - timedelta(days=w) for w in windows)  # left window w
    return sorted(out)


def persons_to_rebuild(
    changed_rollups: DataFrame | None,
    changed_candidates: DataFrame | None,
    identity_map: DataFrame,
    previous: DataFrame,
    config: ProfileConfig,
) -> DataFrame:
    """``person_id`` of every person whose aggregated columns may differ from ``previous``."""
    anchors = person_anchors(identity_map)
    by_data = None
    for changed in (changed_rollups, changed_candidates):
        if changed is None:
            continue
        persons = (
            changed.select(ANCHOR_TYPE, ANCHOR_VALUE).distinct().join(anchors, [ANCHOR_TYPE, ANCHOR_VALUE])
        )
        part = persons.select("person_id")
        by_data = part if by_data is None else by_data.unionByName(part)
    now = person_identifiers(identity_map, config).select(
        "person_id", F.col("identity_fingerprint").alias("_now")
    )
    then = previous.select("person_id", F.col("identity_fingerprint").alias("_then"))
    by_identity = (
        now.join(then, "person_id", "full_outer")
        .where(~F.col("_now").eqNullSafe(F.col("_then")))
        .select("person_id")
    )
    out = by_identity if by_data is None else by_identity.unionByName(by_data)
    return out.distinct()


def unresolved_anchors(rollups: DataFrame, identity_map: DataFrame, as_of: date) -> int:
    """Anchors with rollups up to ``as_of`` that no person holds (their records get no profile)."""
    return (
        rollups.where(F.col("event_date") <= F.lit(as_of))
        .select(ANCHOR_TYPE, ANCHOR_VALUE)
        .distinct()
        .join(
            identity_map.select(F.col("id_type").alias(ANCHOR_TYPE), F.col("id_value").alias(ANCHOR_VALUE)),
            [ANCHOR_TYPE, ANCHOR_VALUE],
            "left_anti",
        )
        .count()
    )
