"""Stable person ids: components of this run → person ids that survive across runs.

Why rules instead of "label = component id": a component label (the smallest node id) changes
whenever a smaller identifier joins, and downstream systems (profiles, segments, exports, ad
platforms) key on the person id. So ids are inherited from the previous ``gold.identity_map``
by these rules, all of them functions of *sets* (never of row order or partitioning):

1. **Heir.** Every previous person ``p`` whose identifiers are still in the graph names one
   heir component: the one holding the most of ``p``'s identifiers; ties go to the component
   holding ``p``'s earliest-mapped identifier (smallest ``first_run``), then to the one with
   the smallest node id among ``p``'s identifiers.
2. **Keep / merge.** A component that is the heir of exactly one previous person keeps that
   id. A component that is the heir of several persons is a *merge*: it keeps the oldest id
   (smallest person ``first_run``, i.e. the earliest run any of its current identifiers was
   mapped to it; then the lexicographically smallest id) and the others are *retired*.
3. **New / split.** A component that is nobody's heir gets a new id. If it holds identifiers
   of earlier persons it is a part of a *split* (those persons kept their id in their heir
   component); otherwise it is a *new* person.
4. **New ids** are ``p-`` + the first 16 hex digits of SHA-256 over the run date and the
   component's seed identifier: the one seen first (``first_seen``, then type, then value).
   The run date makes an id retired long ago impossible to hand out again for a later split
   of the same identifiers; rerunning the same date gives the same ids. Ids are checked for
   collisions (within the run and against existing ids) and the run fails loudly on one.
5. A previous person none of whose identifiers remains (all cut by guards) is *retired*.

``gold.identity_changes`` gets one row per merge (plus a ``retire`` row per merged-away id),
per split (a person whose identifiers now sit in several persons, or some of which left the
graph), per new person and per vanished person.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from pyspark.sql import Window
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from cdp_spark.errors import CdpSparkError
from cdp_spark.identity.graph import FIRST_SEEN, ID_TYPE, ID_VALUE, NODE_ID

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pyspark.sql import Column, DataFrame

log = logging.getLogger(__name__)

PERSON_ID = "person_id"
ANONYMOUS = "anonymous"
FIRST_RUN = "first_run"
LAST_RUN = "last_run"
CLUSTER = "cluster"
COMPONENT = "component"

#: ``gold.identity_map``: identifier → person. ``cluster`` is the identifier's component before
#: per-person limits (internal: it bounds what an incremental run must recompute).
IDENTITY_MAP_SCHEMA = StructType(
    [
        StructField(ID_TYPE, StringType(), False),
        StructField(ID_VALUE, StringType(), False),
        StructField(NODE_ID, LongType(), False),
        StructField(PERSON_ID, StringType(), False),
        StructField(ANONYMOUS, BooleanType(), False),
        StructField(FIRST_RUN, DateType(), False),
        StructField(LAST_RUN, DateType(), False),
        StructField(CLUSTER, LongType(), False),
    ]
)

# Nested types are fully nullable: Delta tables compare nested nullability exactly, and a cast
# towards nullable always succeeds whatever path produced the array.
_ID_STRUCT = StructType([StructField(ID_TYPE, StringType(), True), StructField(ID_VALUE, StringType(), True)])

#: ``gold.identity_changes``: every merge, split, new person and retired id, per run.
CHANGES_SCHEMA = StructType(
    [
        StructField("run_id", StringType(), False),
        StructField("run_date", DateType(), False),
        StructField("change", StringType(), False),
        StructField("person_ids_before", ArrayType(StringType(), True), False),
        StructField("person_ids_after", ArrayType(StringType(), True), False),
        StructField("identifiers_moved", ArrayType(_ID_STRUCT, True), False),
        StructField("identifiers_count", LongType(), False),
        StructField("reason", StringType(), False),
    ]
)

_FAR_FUTURE = "9999-12-31 00:00:00"


@dataclass(frozen=True)
class Assignment:
    """What :func:`assign_person_ids` decided for the recomputed components.

    ``map_rows``: identity-map rows without ``cluster``; ``changes``: :data:`CHANGES_SCHEMA`;
    ``persons``: one row per component (``component, person_id, size, changed, anonymous,
    n_claims, type_counts``) for the gate and the report.
    """

    map_rows: DataFrame
    changes: DataFrame
    persons: DataFrame


def new_person_id(run_date: date, seed_type: Column, seed_value: Column) -> Column:
    """``p-`` + 16 hex of SHA-256("person|<run date>|<type>|<value>")."""
    digest = F.sha2(
        F.concat_ws("|", F.lit("person"), F.lit(run_date.isoformat()), seed_type, seed_value), 256
    )
    return F.concat(F.lit("p-"), F.substring(digest, 1, 16))


def _ids(col: Column) -> Column:
    return F.array_sort(F.collect_set(col))


def assign_person_ids(
    nodes: DataFrame,
    labels: DataFrame,
    previous: DataFrame,
    *,
    run_id: str,
    run_date: date,
    anonymous_types: Iterable[str],
) -> Assignment:
    """Give every component in ``labels`` a person id (module docstring has the rules).

    ``nodes``: at least ``node_id, id_type, id_value, first_seen`` for the labelled nodes;
    ``labels``: ``id, component`` (final components); ``previous``: the previous
    ``gold.identity_map`` rows of every person that may be affected (all rows of every previous
    person with an identifier in ``labels``, plus rows of identifiers that left the graph).
    """
    anon = sorted(set(anonymous_types))
    # Inputs are materialised once: every rule below reads them several times, and re-running
    # their joins per branch made the plan (and the run) several times larger.
    cur = (
        nodes.select(NODE_ID, ID_TYPE, ID_VALUE, FIRST_SEEN)
        .join(labels.select(F.col("id").alias(NODE_ID), F.col(COMPONENT)), NODE_ID)
        .localCheckpoint()
    )
    prev = previous.select(
        NODE_ID,
        F.col(ID_TYPE).alias("prev_type"),
        F.col(ID_VALUE).alias("prev_value"),
        F.col(PERSON_ID).alias("prev_person"),
        F.col(FIRST_RUN).alias("prev_first_run"),
        F.col(ANONYMOUS).alias("prev_anonymous"),
    ).localCheckpoint()
    prev_persons = prev.groupBy("prev_person").agg(
        F.min("prev_first_run").alias("born"),
        F.count(F.lit(1)).alias("size_before"),
        F.max(F.col("prev_anonymous").cast("int")).alias("was_anonymous"),
    )
    overlap = cur.join(prev, NODE_ID)
    per = overlap.groupBy("prev_person", COMPONENT).agg(
        F.count(F.lit(1)).alias("n"),
        F.min("prev_first_run").alias("oldest"),
        F.min(NODE_ID).alias("min_node"),
    )
    by_person = Window.partitionBy("prev_person").orderBy(F.desc("n"), F.asc("oldest"), F.asc("min_node"))
    heirs = (
        per.withColumn("_r", F.row_number().over(by_person))
        .where(F.col("_r") == 1)
        .select("prev_person", COMPONENT)
    )
    claims = heirs.join(prev_persons, "prev_person")
    by_component = Window.partitionBy(COMPONENT).orderBy(F.asc("born"), F.asc("prev_person"))
    ranked = claims.withColumn("_r", F.row_number().over(by_component)).localCheckpoint()
    kept = ranked.where(F.col("_r") == 1).select(COMPONENT, F.col("prev_person").alias("kept_id"))
    claimants = claims.groupBy(COMPONENT).agg(
        _ids(F.col("prev_person")).alias("claimed_ids"),
        F.count(F.lit(1)).alias("n_claims"),
        F.max("was_anonymous").alias("any_anonymous"),
    )

    seed_order = F.struct(
        F.coalesce(F.col(FIRST_SEEN), F.to_timestamp(F.lit(_FAR_FUTURE))).alias("t"),
        F.col(ID_TYPE).alias("ty"),
        F.col(ID_VALUE).alias("v"),
    )
    comp = cur.groupBy(COMPONENT).agg(
        F.min(seed_order).alias("seed"),
        F.count(F.lit(1)).alias("size"),
        (F.min(F.when(F.col(ID_TYPE).isin(anon), 1).otherwise(0)) == 1).alias(ANONYMOUS),
    )
    type_counts = (
        cur.groupBy(COMPONENT, ID_TYPE)
        .agg(F.count(F.lit(1)).alias("n"))
        .groupBy(COMPONENT)
        .agg(F.map_from_entries(F.array_sort(F.collect_list(F.struct(ID_TYPE, "n")))).alias("type_counts"))
    )
    persons = (
        comp.join(kept, COMPONENT, "left")
        .join(claimants, COMPONENT, "left")
        .join(type_counts, COMPONENT)
        .withColumn(
            PERSON_ID,
            F.coalesce(F.col("kept_id"), new_person_id(run_date, F.col("seed.ty"), F.col("seed.v"))),
        )
        .withColumn("n_claims", F.coalesce(F.col("n_claims"), F.lit(0)))
    ).localCheckpoint()
    rows = cur.join(persons.select(COMPONENT, PERSON_ID, ANONYMOUS), COMPONENT).join(
        prev.select(NODE_ID, "prev_person", "prev_first_run"), NODE_ID, "left"
    )
    run_day = F.lit(run_date)
    map_rows = rows.select(
        ID_TYPE,
        ID_VALUE,
        NODE_ID,
        PERSON_ID,
        ANONYMOUS,
        F.when(F.col("prev_person") == F.col(PERSON_ID), F.col("prev_first_run"))
        .otherwise(run_day)
        .alias(FIRST_RUN),
        run_day.alias(LAST_RUN),
        COMPONENT,
        "prev_person",
    ).localCheckpoint()

    # persons whose membership this run changed (the gate only looks at these)
    from_kept = (
        map_rows.where(F.col("prev_person") == F.col(PERSON_ID))
        .groupBy(COMPONENT)
        .agg(F.count(F.lit(1)).alias("from_kept"))
    )
    size_before = prev_persons.select(F.col("prev_person").alias("kept_id"), "size_before")
    persons = (
        persons.join(from_kept, COMPONENT, "left")
        .join(size_before, "kept_id", "left")
        .withColumn(
            "changed",
            ~(
                (F.col("n_claims") == 1)
                & (F.coalesce(F.col("from_kept"), F.lit(0)) == F.col("size"))
                & (F.col("size") == F.coalesce(F.col("size_before"), F.lit(-1)))
            ),
        )
        .select(
            COMPONENT,
            PERSON_ID,
            "size",
            "changed",
            ANONYMOUS,
            "n_claims",
            "claimed_ids",
            "any_anonymous",
            "type_counts",
            F.col("seed.ty").alias("seed_type"),
        )
    )

    changes = _changes(map_rows, persons, prev, prev_persons, ranked, run_id=run_id, run_date=run_date)
    return Assignment(map_rows=map_rows.drop("prev_person"), changes=changes, persons=persons)


def _changes(
    map_rows: DataFrame,
    persons: DataFrame,
    prev: DataFrame,
    prev_persons: DataFrame,
    ranked: DataFrame,
    *,
    run_id: str,
    run_date: date,
) -> DataFrame:
    ident = F.struct(F.col(ID_TYPE).alias(ID_TYPE), F.col(ID_VALUE).alias(ID_VALUE))
    empty_ids = F.array().cast(ArrayType(_ID_STRUCT, True))
    empty_persons = F.array().cast(ArrayType(StringType(), True))

    # merges: one row per component claimed by several previous persons
    merged_moves = (
        map_rows.where(F.col("prev_person").isNotNull() & (F.col("prev_person") != F.col(PERSON_ID)))
        .join(persons.select(COMPONENT, "claimed_ids"), COMPONENT)
        .where(F.array_contains(F.col("claimed_ids"), F.col("prev_person")))
        .groupBy(COMPONENT)
        .agg(F.array_sort(F.collect_list(ident)).alias("moved"))
    )
    merges = (
        persons.where(F.col("n_claims") >= 2)
        .join(merged_moves, COMPONENT, "left")
        .select(
            F.lit("merge").alias("change"),
            F.col("claimed_ids").alias("person_ids_before"),
            F.array(F.col(PERSON_ID)).alias("person_ids_after"),
            F.coalesce(F.col("moved"), empty_ids).alias("identifiers_moved"),
            F.when(
                (F.col("any_anonymous") == 1) & ~F.col(ANONYMOUS),
                F.format_string(
                    "%d persons linked by new edges; anonymous identifiers joined a known person",
                    F.col("n_claims"),
                ),
            )
            .otherwise(F.format_string("%d persons linked by new edges", F.col("n_claims")))
            .alias("reason"),
        )
    )
    # retire rows for every id merged away
    merged_away = (
        ranked.where(F.col("_r") > 1)
        .select("prev_person", COMPONENT)
        .join(persons.select(COMPONENT, PERSON_ID), COMPONENT)
        .join(
            map_rows.where(F.col("prev_person").isNotNull())
            .groupBy("prev_person", COMPONENT)
            .agg(F.array_sort(F.collect_list(ident)).alias("moved")),
            ["prev_person", COMPONENT],
            "left",
        )
        .select(
            F.lit("retire").alias("change"),
            F.array(F.col("prev_person")).alias("person_ids_before"),
            F.array(F.col(PERSON_ID)).alias("person_ids_after"),
            F.coalesce(F.col("moved"), empty_ids).alias("identifiers_moved"),
            F.concat(F.lit("merged into "), F.col(PERSON_ID)).alias("reason"),
        )
    )
    # per previous person: where did its identifiers go?
    fate = prev.join(map_rows.select(NODE_ID, PERSON_ID), NODE_ID, "left")
    per_prev = fate.groupBy("prev_person").agg(
        _ids(F.col(PERSON_ID)).alias("after"),
        F.count(F.col(PERSON_ID)).alias("remaining"),
        F.sum(F.when(F.col(PERSON_ID).isNull(), 1).otherwise(0)).alias("removed"),
        F.array_sort(
            F.collect_list(
                F.when(
                    F.col(PERSON_ID).isNull() | (F.col(PERSON_ID) != F.col("prev_person")),
                    F.struct(F.col("prev_type").alias(ID_TYPE), F.col("prev_value").alias(ID_VALUE)),
                )
            )
        ).alias("moved"),
    )
    splits = per_prev.where(
        (F.col("remaining") > 0) & ((F.size("after") > 1) | (F.col("removed") > 0))
    ).select(
        F.lit("split").alias("change"),
        F.array(F.col("prev_person")).alias("person_ids_before"),
        F.col("after").alias("person_ids_after"),
        F.col("moved").alias("identifiers_moved"),
        F.when(
            F.col("removed") > 0,
            F.format_string(
                "%d identifier(s) left the graph (guards or exclusions); %d part(s) remain",
                F.col("removed"),
                F.size("after"),
            ),
        )
        .otherwise(
            F.format_string(
                "links removed (unlink/exclusion, guard or per-person limit): %d parts", F.size("after")
            )
        )
        .alias("reason"),
    )
    vanished = per_prev.where(F.col("remaining") == 0).select(
        F.lit("retire").alias("change"),
        F.array(F.col("prev_person")).alias("person_ids_before"),
        empty_persons.alias("person_ids_after"),
        F.col("moved").alias("identifiers_moved"),
        F.lit("all identifiers left the graph (guards or exclusions)").alias("reason"),
    )
    # new persons: components without any previously mapped identifier
    touched_before = map_rows.where(F.col("prev_person").isNotNull()).select(COMPONENT).distinct()
    new = persons.join(touched_before, COMPONENT, "left_anti").select(
        F.lit("new").alias("change"),
        empty_persons.alias("person_ids_before"),
        F.array(F.col(PERSON_ID)).alias("person_ids_after"),
        empty_ids.alias("identifiers_moved"),
        F.when(F.col(ANONYMOUS), F.lit("new anonymous person"))
        .otherwise(F.lit("new person"))
        .alias("reason"),
        F.col("size").alias("_count"),
    )
    moved_rows = merges.unionByName(merged_away).unionByName(splits).unionByName(vanished)
    moved_rows = moved_rows.withColumn("_count", F.size("identifiers_moved").cast("long"))
    out = moved_rows.unionByName(new)
    return out.select(
        F.lit(run_id).alias("run_id"),
        F.lit(run_date).alias("run_date"),
        "change",
        "person_ids_before",
        "person_ids_after",
        "identifiers_moved",
        F.col("_count").cast("long").alias("identifiers_count"),
        "reason",
    )


def check_person_id_collisions(persons: DataFrame, existing: DataFrame | None) -> None:
    """Fail if two components got the same id, or a new id equals an existing person's id.

    64 bits of SHA-256 make this astronomically unlikely; checking costs one small aggregation
    and turns a silent merge of two people into a loud failure.
    """
    problems = persons.groupBy(PERSON_ID).count().where(F.col("count") > 1).select(PERSON_ID)
    if existing is not None:
        fresh = persons.where(F.col("n_claims") == 0).select(PERSON_ID)
        problems = problems.unionByName(fresh.join(existing.select(PERSON_ID), PERSON_ID, "left_semi"))
    clash = problems.limit(1).count()
    if clash:
        raise CdpSparkError(
            "identity: person id collision (two components, or a new and an existing person, got the "
            "same id). Nothing was published. Report this with the run id; rerunning will not help."
        )
