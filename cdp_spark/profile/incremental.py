"""Which persons a nightly profile build must aggregate again, and which rows it may keep.

Why this is exact: a person's aggregated columns (everything but
:data:`cdp_spark.profile.build.FINALISED`) are a function of (a) the rollups and candidates of
the person's anchors up to the as-of date, (b) the person's identifier set, and (c) the
configuration. Going from the previous snapshot (as of ``D0``) to the run date ``D`` they can
only change for a person who

1. holds an anchor whose rollup or candidate rows differ from those the previous snapshot was
   built from (new, late and updated silver records; found by comparing row digests of the
   rows rolled up again against the rollup version recorded in ``ops.run_state``),
2. has rollups on a day that entered the as-of range, ``(D0, D]`` (events dated in the future
   when they arrived),
3. has rollups on a day that left a behaviour window, ``(D0 - w, D - w]`` for each window ``w``,
4. gained or lost an identifier, or was merged, split, created or retired (identity
   fingerprint differs), or
5. was built with another configuration (then nothing is kept: a full rebuild, as when the
   previous snapshot has no build record, another schema or a later as-of date).

Which rows are rolled up again (:func:`touched_keys`): a rollup row of ``(anchor, day)``
depends only on the silver records of that day whose anchor it is. A run's silver rows change
exactly the keys of the rows it wrote and of the versions those replaced (an update keeps its
``event_date`` but may change the identifiers, hence the anchor), so only those keys are rolled
up again, not whole days: a contact updated in a year-old partition costs one key, not the
year-old day. The replaced versions are read from silver at the versions the previous build
read (recorded in ``ops.run_state``); order lines change only with their order, so the
order's keys cover them. Of those keys, the rollup row is rolled up again only where a
record's per-record partial changed, and the candidate rows only where its candidate rows did
(``rolls`` and ``states``): an updated contact usually changes the second only.

A person touched by rule 1 only through *appended* keys (:func:`rollup_changes`: keys without a
row before, on days after ``D0``), and perhaps by rule 4 only through identifiers new to the
person that held no rows before (:func:`identity_changes`), is not aggregated again:
:func:`cdp_spark.profile.build.merge_behaviour` adds the aggregate of the new rows to the
stored row. Everyone else keeps their row; :func:`cdp_spark.profile.build.finalise_profiles` then
recomputes the date- and population-dependent columns (age, recency, RFM cut points,
lifecycle, catalogue categories) for all persons. ``tests/test_profile.py`` checks the result
against a full rebuild.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from pyspark.sql import Column, Observation
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DataType, MapType, StructType

from cdp_spark.profile.build import identifier_hash, person_anchors
from cdp_spark.profile.rollups import (
    ANCHORED_TABLES,
    ORDER_LINES,
    ORDERS,
    WRITTEN,
    table_candidate_rows,
    table_partials,
    union_all,
    with_anchor,
)
from cdp_spark.profile.schema import (
    ANCHOR_TYPE,
    ANCHOR_VALUE,
    CANDIDATES,
    ROLLUP_KEY,
    ROLLUPS,
    profile_schema,
)
from cdp_spark.runstate import RUN_STATE

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pyspark.sql import DataFrame

    from cdp_spark.identity.config import IdentityConfig
    from cdp_spark.profile.config import ProfileConfig
    from cdp_spark.runstate import RunState


#: The silver tables a profile build reads: their versions are among its recorded inputs.
SILVER_READ: tuple[str, ...] = (*ANCHORED_TABLES, ORDER_LINES)


#: Settings that change how a build is computed, not what it computes: changing them does
#: not make the next night a full rebuild.
NOT_FINGERPRINTED: frozenset[str] = frozenset({"merge_new_rows"})


#: ``auto`` merges only where the history is at least this deep, in rollup rows per person
#: (table rows over persons, both counted from file metadata). Fitted on nights run both ways
#: from the same snapshot (same profiles either way): with about 3 rows per person (30-day
#: histories) aggregating the candidates again was faster, with about 7 (120 days) and 10
#: (365 days) merging was. Where between those two the break-even lies is not known.
MERGE_MIN_ROWS_PER_PERSON = 5.0


def merge_possible(mode: str, rows_per_person: float | None) -> bool:
    """Whether :func:`merge_pays` can say yes for some counts: not under ``again``, nor under
    ``auto`` with a history shallower than :data:`MERGE_MIN_ROWS_PER_PERSON`. A night that
    knows this first spares the passes that tell merge candidates from the other persons
    (new identifiers without history, appended keys, departed rows), and aggregates them
    again with the rest."""
    if mode == "again":
        return False
    if mode == "merge" or rows_per_person is None:
        return True
    return rows_per_person >= MERGE_MIN_ROWS_PER_PERSON


def merge_pays(mode: str, candidates: int, again: int, rows_per_person: float | None = None) -> bool:
    """Whether to merge ``candidates`` persons (only new rows) into their stored rows rather than
    aggregate them again with the ``again`` persons aggregated again anyway (``merge_new_rows``).

    Why ``auto`` weighs the history and then compares the two counts: merging has passes of
    its own (the new rows, the stored rows, the days that left a window, the join that merges
    them) that cost seconds whatever the number of persons, while aggregating a person again
    costs their rows of history. With a shallow history (``rows_per_person`` below
    :data:`MERGE_MIN_ROWS_PER_PERSON`) aggregating again is the cheaper way however many
    candidates there are. With a deep one, merging wins when the candidates are at least as
    many as the persons aggregated anyway (below that, the merge's fixed passes cost more
    than aggregating the few candidates along with the others).
    ``rows_per_person`` None: not known, the counts alone decide.
    """
    if mode == "merge":
        return True
    if mode == "again":
        return False
    if rows_per_person is not None and rows_per_person < MERGE_MIN_ROWS_PER_PERSON:
        return False
    return candidates >= again


def config_fingerprint(profile: ProfileConfig, identity: IdentityConfig) -> str:
    """16 hex digits over both configurations (identity's blocklist decides anchors)."""
    payload = json.dumps(
        [profile.model_dump(mode="json", exclude=set(NOT_FINGERPRINTED)), identity.model_dump(mode="json")],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Base:
    """A previous snapshot an incremental build may start from, and what it was built from."""

    profiles: DataFrame
    as_of: date
    rollups_version: int
    candidates_version: int
    silver_versions: dict[str, int]  # silver table -> the version the build read (absent: none)
    persons: int | None = None  # rows of ``profiles``, as its build recorded them


def reusable_base(
    previous: DataFrame | None,
    build: RunState | None,
    run_date: date,
    config: ProfileConfig,
    fingerprint: str,
) -> Base | str:
    """The previous snapshot with the run that built it (its ``ops.run_state`` row), or why it
    cannot be reused (a full rebuild)."""
    if previous is None:
        return "no previous profiles"
    made = build.profile if build is not None else None
    if build is None or made is None:
        return f"the previous profiles have no record of their build in {RUN_STATE}"
    expected = [f.name for f in profile_schema(config.windows).fields]
    if previous.columns != expected:
        return "the previous profiles have another schema (new version or other windows)"
    if made.config_fingerprint != fingerprint:
        return "profile.yaml or identity.yaml changed since the previous build"
    if made.as_of_date > run_date:
        return f"the previous profiles are as of {made.as_of_date}, after {run_date}"
    rollups, candidates = build.outputs.get(ROLLUPS), build.outputs.get(CANDIDATES)
    if rollups is None or candidates is None:
        return f"the previous build's record in {RUN_STATE} names no {ROLLUPS} or {CANDIDATES} version"
    return Base(
        previous,
        made.as_of_date,
        int(rollups),
        int(candidates),
        {t: int(v) for t, v in build.inputs.items() if t in SILVER_READ and v is not None},
        made.persons,
    )


def window_days(previous_as_of: date, run_date: date, windows: Sequence[int]) -> list[date]:
    """Days that entered the as-of range or left a behaviour window since ``previous_as_of``."""
    out: set[date] = set()
    for k in range(1, (run_date - previous_as_of).days + 1):
        day = previous_as_of + timedelta(days=k)
        out.add(day)  # entered the as-of range
        out.update(day - timedelta(days=w) for w in windows)  # left window w
    return sorted(out)


def touched_keys(
    written: dict[str, DataFrame],
    replaced: dict[str, DataFrame],
    profile: ProfileConfig,
    identity: IdentityConfig,
    observation: Observation | None = None,
) -> DataFrame:
    """``(anchor_type, anchor_value, event_date, rolls, states)`` of the rows a run wrote and of
    the versions they replaced.

    ``written``: per anchored silver table, the rows the run wrote; ``replaced``: the same
    tables as the previous build read them (missing: the table did not exist then). Updates
    keep their ``record_id`` and ``event_date``, which is how the replaced version is found.

    ``rolls``: the key's rollup row can change, because one of its records is new, left it, or
    contributes another per-record partial (:func:`~cdp_spark.profile.rollups.partials`) than
    the version it replaced. ``states``: likewise for its attribute candidate rows. The two
    differ because a contact updated today keeps its old day and its partial (key, time and
    channel only) while its candidate rows change: at 10k persons x 365 days, 402 keys on 44
    days were touched in a night, and only the last month's rollup rows changed. Rolling up
    just the ``rolls`` keys reads the silver days they lie on instead of all 44. Orders are
    not compared (their partials need their lines): an order's keys always roll.

    Rows without a usable identifier have no key; ``observation`` (if given) counts the
    written ones as ``written`` and ``unanchored``, in the same pass.
    """
    keyed: list[DataFrame] = []
    compared: list[DataFrame] = []
    for name, rows in written.items():
        old = replaced.get(name)
        if old is not None:
            # The written rows are read twice below (to pick the replaced versions, then with
            # them): computed once. Updates rewrite whole day files, so this read is of every
            # file a merge added (for contacts, a few rows in each of hundreds of files).
            rows = rows.localCheckpoint()
        both = rows.withColumn(WRITTEN, F.lit(True))
        if old is not None:
            matched = old.join(
                rows.select("record_id", "event_date"), ["record_id", "event_date"], "left_semi"
            )
            both = both.unionByName(matched.withColumn(WRITTEN, F.lit(False)), allowMissingColumns=True)
        # Both versions anchored in one pass over the files added and removed, then read three times.
        anchored = with_anchor(both, profile, identity).localCheckpoint()
        keyed.append(anchored.select(*ROLLUP_KEY, F.lit(name == ORDERS).alias("_rolls"), WRITTEN))
        also = (F.lit(name).alias("_table"), F.col("record_id"), F.col(WRITTEN))
        if name != ORDERS:
            part = table_partials(name, anchored, None, profile)
            compared.append(
                row_digests(part, ROLLUP_KEY, *also, F.lit("rolls").alias("_for"), exclude=[WRITTEN])
            )
        cands = table_candidate_rows(name, anchored)
        if cands is not None:
            compared.append(
                row_digests(cands, ROLLUP_KEY, *also, F.lit("states").alias("_for"), exclude=[WRITTEN])
            )
    keys = union_all(keyed)
    if observation is not None:
        keys = keys.observe(
            observation,
            F.sum(F.col(WRITTEN).cast("bigint")).alias("written"),
            F.sum((F.col(WRITTEN) & F.col(ANCHOR_TYPE).isNull()).cast("bigint")).alias("unanchored"),
        )
    anchored_keys = keys.where(F.col(ANCHOR_TYPE).isNotNull())
    # A record's partial (or candidate row) that is not there as often in the version written
    # as in the version replaced changed: its key must be rolled up (or stated) again.
    sign = F.when(F.col(WRITTEN), F.lit(1)).otherwise(F.lit(-1))
    differing = (
        union_all(compared)
        .where(F.col(ANCHOR_TYPE).isNotNull())
        .groupBy("_for", "_table", "record_id", "_digest", *ROLLUP_KEY)
        .agg(F.sum(sign).alias("_balance"))
        .where(F.col("_balance") != 0)
        .groupBy(*ROLLUP_KEY)
        .agg(
            F.max(F.col("_for") == "rolls").alias("_r"),
            F.max(F.col("_for") == "states").alias("_s"),
        )
    )
    out = (
        anchored_keys.groupBy(*ROLLUP_KEY)
        .agg(F.max("_rolls").alias("_always"))
        .join(differing, list(ROLLUP_KEY), "left")
    )
    return out.select(
        *ROLLUP_KEY,
        (F.col("_always") | F.coalesce(F.col("_r"), F.lit(False))).alias("rolls"),
        F.coalesce(F.col("_s"), F.lit(False)).alias("states"),
    )


def comparable(col: Column, dtype: DataType) -> Column:
    """``col`` with every map (nested ones too) as its entries sorted by key: map entry order
    depends on how partial maps were merged, which is not a difference in content."""
    if isinstance(dtype, MapType):
        value = dtype.valueType
        return F.transform(
            F.array_sort(F.map_entries(col)),
            lambda e: F.struct(e["key"].alias("key"), comparable(e["value"], value).alias("value")),
        )
    if isinstance(dtype, StructType):
        fields = [comparable(col[f.name], f.dataType).alias(f.name) for f in dtype.fields]
        return F.when(col.isNotNull(), F.struct(*fields))
    if isinstance(dtype, ArrayType) and isinstance(dtype.elementType, (MapType, StructType)):
        element = dtype.elementType
        return F.transform(col, lambda x: comparable(x, element))
    return col


def row_digests(
    df: DataFrame,
    key: Sequence[str] = (ANCHOR_TYPE, ANCHOR_VALUE),
    *also: Column,
    exclude: Sequence[str] = (),
) -> DataFrame:
    """``key`` columns and ``_digest`` (a hash of the row's :func:`comparable` columns but
    ``exclude``), then ``also``."""
    cols = [comparable(F.col(f.name), f.dataType) for f in df.schema.fields if f.name not in exclude]
    return df.select(*key, F.xxhash64(*cols).alias("_digest"), *also)


def differing_keys(before: DataFrame, after: DataFrame, key: Sequence[str] = ROLLUP_KEY) -> DataFrame:
    """Distinct ``key`` values with a row in one of two versions of the same rows that the other
    lacks: a row that changed, appeared or vanished. Both sides need the same columns in the
    same order (the digest hashes them in order)."""
    old = row_digests(before, key, F.lit(True).alias("_old"))
    new = row_digests(after, key, F.lit(True).alias("_new"))
    return (
        old.join(new, [*key, "_digest"], "full_outer")
        .where(F.col("_old").isNull() | F.col("_new").isNull())
        .select(*key)
        .distinct()
    )


def changed_anchors(before: DataFrame, after: DataFrame) -> DataFrame:
    """Anchors with a row in one of two versions of the same days that the other lacks."""
    return differing_keys(before, after, (ANCHOR_TYPE, ANCHOR_VALUE))


def rollup_changes(before: DataFrame, after: DataFrame, as_of: date, run_date: date) -> DataFrame:
    """``(anchor_type, anchor_value, event_date, appended)`` of every rollup key whose row differs
    between two versions of the same keys.

    ``appended``: the key had no row before and its day lies in ``(as_of, run_date]``: a person
    whose only changes are such keys can have the new rows merged into the stored profile
    (:func:`~cdp_spark.profile.build.merge_behaviour`) instead of being aggregated again. Any
    other difference (a row that changed or vanished, a late row) is not appended.
    """
    key = list(ROLLUP_KEY)
    old = row_digests(before, key, F.lit(True).alias("_old"))
    new = row_digests(after, key, F.lit(True).alias("_new"))
    day = F.col("event_date")
    per_key = (
        old.join(new, [*key, "_digest"], "full_outer")
        .where(F.col("_old").isNull() | F.col("_new").isNull())  # in one version only
        .groupBy(*key)  # a key whose row changed has two rows here: old digest, new digest
        .agg(F.max(F.col("_old").isNotNull()).alias("_had_row"))
    )
    appended = ~F.col("_had_row") & (day > F.lit(as_of)) & (day <= F.lit(run_date))
    return per_key.select(*key, appended.alias("appended"))


def identity_changes(identity_map: DataFrame, previous: DataFrame, as_of: date) -> DataFrame:
    """``(person_id, grown)`` of every person whose identity fingerprint differs from ``previous`` (rule 4).

    ``grown``: the whole difference is identifiers mapped to the person after ``as_of``
    (``first_run``): the XOR of their hashes equals old XOR new fingerprint, so the person
    lost none and was neither created nor retired. Most fingerprint changes on a night are of
    this kind (a known visitor on a new cookie or device); such a person can be merged like
    one with appended rows if those identifiers held no rows the snapshot was built from
    (:func:`fresh_identifiers`: an identifier moved over from another person brings history).
    An identity map without ``first_run`` marks nobody as grown.
    """
    hashed = identifier_hash()  # as person_identifiers computes the fingerprint
    fresh: Column = F.lit(None).cast("bigint")
    if "first_run" in identity_map.columns:
        fresh = F.when(F.col("first_run") > F.lit(as_of), hashed)
    now = identity_map.groupBy("person_id").agg(
        F.bit_xor(hashed).alias("_now"), F.coalesce(F.bit_xor(fresh), F.lit(0)).alias("_fresh")
    )
    then = previous.select("person_id", F.col("identity_fingerprint").alias("_then"))
    grown = F.col("_now").isNotNull() & F.col("_then").isNotNull() & (F.col("_fresh") != 0)
    grown &= F.col("_now").bitwiseXOR(F.col("_then")) == F.col("_fresh")
    return (
        now.join(then, "person_id", "full_outer")
        .where(~F.col("_now").eqNullSafe(F.col("_then")))
        .select("person_id", F.coalesce(grown, F.lit(False)).alias("grown"))
    )


def fresh_identifiers(identity_map: DataFrame, persons: DataFrame, as_of: date) -> DataFrame:
    """``(anchor_type, anchor_value, person_id)`` of the identifiers mapped to ``persons`` after ``as_of``."""
    return (
        identity_map.where(F.col("first_run") > F.lit(as_of))
        .join(persons.select("person_id"), "person_id", "left_semi")
        .select(F.col("id_type").alias(ANCHOR_TYPE), F.col("id_value").alias(ANCHOR_VALUE), "person_id")
    )


def persons_to_rebuild(
    anchors_changed: Sequence[DataFrame], identity_map: DataFrame, identity: DataFrame
) -> DataFrame:
    """``person_id`` of every person whose aggregated columns may differ from the previous snapshot.

    ``anchors_changed``: frames with ``anchor_type, anchor_value`` columns (rules 1-3);
    ``identity``: the persons of :func:`identity_changes` (rule 4) the caller does not merge.
    """
    out = identity.select("person_id")
    if anchors_changed:  # one join with the identity map for all rules, not one per rule
        keys = union_all([changed.select(ANCHOR_TYPE, ANCHOR_VALUE) for changed in anchors_changed])
        anchors = person_anchors(identity_map)
        out = out.unionByName(keys.distinct().join(anchors, [ANCHOR_TYPE, ANCHOR_VALUE]).select("person_id"))
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
