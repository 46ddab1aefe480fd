"""Identifiers and edges of the identity graph: the input contract and two pure transforms.

Why a generic *records* shape: silver tables differ in their business columns, but identity
resolution only needs, per silver record, the identifiers it carries and a few people-level
attributes (for junk detection). :data:`RECORDS_SCHEMA` is that contract;
:func:`cdp_spark.identity.stage.identity_records` builds it from silver.

A node is ``(id_type, id_value)``, never a bare value: ``"12345"`` as a member id and as a
customer number are different nodes. Connected components need long ids, so a node's id is
``xxhash64(id_type, id_value)`` (Spark's seeded 64-bit hash: the same on every run, engine
and partitioning). 64 bits collide rarely but not never (about 3e-4 for 10^8 identifiers), and a
silent collision would merge two unrelated people, so :func:`identifier_nodes` checks that
every node id maps to exactly one ``(type, value)`` and fails loudly otherwise.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    DoubleType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from cdp_spark.errors import CdpSparkError, SchemaContractError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pyspark.sql import Column, DataFrame

    from cdp_spark.identity.config import IdentityConfig

log = logging.getLogger(__name__)

# ---- column names
RECORD_ID = "record_id"
SOURCE = "source"
SEEN_AT = "seen_at"
IDENTIFIERS = "identifiers"
ATTRIBUTES = "attributes"
ID_TYPE = "id_type"
ID_VALUE = "id_value"
NODE_ID = "node_id"
FIRST_SEEN = "first_seen"
LAST_SEEN = "last_seen"
RECORD_COUNT = "record_count"
SRC = "src"
DST = "dst"
SRC_TYPE = "src_type"
DST_TYPE = "dst_type"
TRUST = "trust"
SOURCES = "sources"

_STR_MAP = MapType(StringType(), StringType(), True)

#: One row per silver record: what identity resolution reads (the input contract).
RECORDS_SCHEMA = StructType(
    [
        StructField(RECORD_ID, StringType(), False),
        StructField(SOURCE, StringType(), False),
        StructField(SEEN_AT, TimestampType(), True),
        StructField(IDENTIFIERS, _STR_MAP, True),
        StructField(ATTRIBUTES, _STR_MAP, True),
    ]
)

#: ``silver.identifiers``: one row per identifier, source and record it was seen in.
IDENTIFIERS_SCHEMA = StructType(
    [
        StructField(ID_TYPE, StringType(), False),
        StructField(ID_VALUE, StringType(), False),
        StructField(NODE_ID, LongType(), False),
        StructField(SOURCE, StringType(), False),
        StructField(RECORD_ID, StringType(), False),
        StructField(FIRST_SEEN, TimestampType(), True),
        StructField(LAST_SEEN, TimestampType(), True),
    ]
)

#: Graph nodes: one row per distinct identifier.
NODES_SCHEMA = StructType(
    [
        StructField(NODE_ID, LongType(), False),
        StructField(ID_TYPE, StringType(), False),
        StructField(ID_VALUE, StringType(), False),
        StructField(FIRST_SEEN, TimestampType(), True),
        StructField(LAST_SEEN, TimestampType(), True),
        StructField(RECORD_COUNT, LongType(), False),
    ]
)

#: Candidate edges, ``src < dst`` (node ids), one row per linked pair.
EDGES_SCHEMA = StructType(
    [
        StructField(SRC, LongType(), False),
        StructField(DST, LongType(), False),
        StructField(SRC_TYPE, StringType(), False),
        StructField(DST_TYPE, StringType(), False),
        StructField(TRUST, DoubleType(), False),
        StructField(RECORD_COUNT, LongType(), False),
        StructField(SOURCES, ArrayType(StringType(), True), False),
        StructField(FIRST_SEEN, TimestampType(), True),
        StructField(LAST_SEEN, TimestampType(), True),
    ]
)


def node_id(id_type: Column | str, id_value: Column | str) -> Column:
    """The long id of node ``(id_type, id_value)``; both parts are hashed, never the value alone."""
    return F.xxhash64(
        F.col(id_type) if isinstance(id_type, str) else id_type,
        F.col(id_value) if isinstance(id_value, str) else id_value,
    )


def require_columns(df: DataFrame, schema: StructType, what: str) -> None:
    """Fail with the missing/mistyped columns listed, instead of an analysis error deep in a plan."""
    have = {f.name: f.dataType for f in df.schema.fields}
    problems = []
    for f in schema.fields:
        if f.name not in have:
            problems.append(f"missing column {f.name!r} ({f.dataType.simpleString()})")
        elif have[f.name].simpleString() != f.dataType.simpleString():
            problems.append(
                f"column {f.name!r} is {have[f.name].simpleString()}, expected {f.dataType.simpleString()}"
            )
    if problems:
        raise SchemaContractError(
            f"{what}: {'; '.join(problems)}. Columns found: "
            + ", ".join(f"{n}:{t.simpleString()}" for n, t in have.items())
        )


def extract_identifiers(records: DataFrame, *, id_types: Iterable[str] | None = None) -> DataFrame:
    """``records`` (:data:`RECORDS_SCHEMA`) → ``silver.identifiers`` (:data:`IDENTIFIERS_SCHEMA`).

    Values are trimmed and empty or null ones dropped; the value is otherwise taken as silver
    normalised it (junk values are the guards' business, so they stay visible here). Types not
    in ``id_types`` are ignored (logged by count, never by value). A record delivered twice
    collapses into one row whose first/last seen span both deliveries.
    """
    require_columns(records, RECORDS_SCHEMA, "identity records")
    exploded = (
        records.select(
            F.col(RECORD_ID),
            F.col(SOURCE),
            F.col(SEEN_AT),
            F.explode(F.col(IDENTIFIERS)).alias(ID_TYPE, ID_VALUE),
        )
        .select(
            RECORD_ID,
            SOURCE,
            SEEN_AT,
            F.lower(F.trim(F.col(ID_TYPE))).alias(ID_TYPE),
            F.trim(F.col(ID_VALUE)).alias(ID_VALUE),
        )
        .where(F.col(ID_VALUE).isNotNull() & (F.col(ID_VALUE) != "") & F.col(RECORD_ID).isNotNull())
    )
    if id_types is not None:
        exploded = exploded.where(F.col(ID_TYPE).isin(sorted(set(id_types))))
    out = exploded.groupBy(ID_TYPE, ID_VALUE, SOURCE, RECORD_ID).agg(
        F.min(SEEN_AT).alias(FIRST_SEEN), F.max(SEEN_AT).alias(LAST_SEEN)
    )
    return out.select(
        ID_TYPE, ID_VALUE, node_id(ID_TYPE, ID_VALUE).alias(NODE_ID), SOURCE, RECORD_ID, FIRST_SEEN, LAST_SEEN
    )


def identifier_nodes(identifiers: DataFrame, *, check_collisions: bool = True) -> DataFrame:
    """Distinct nodes (:data:`NODES_SCHEMA`) of ``silver.identifiers``; fails on a hash collision.

    The check costs one aggregation over the (already small) node table and is the only thing
    standing between a 64-bit collision and a wrong merge, so it is on by default. The nodes are
    materialised (``localCheckpoint``) because the check and every guard read them.
    """
    nodes = (
        identifiers.groupBy(NODE_ID, ID_TYPE, ID_VALUE)
        .agg(
            F.min(FIRST_SEEN).alias(FIRST_SEEN),
            F.max(LAST_SEEN).alias(LAST_SEEN),
            F.countDistinct(SOURCE, RECORD_ID).alias(RECORD_COUNT),
        )
        .localCheckpoint()
    )
    if check_collisions:
        check_node_collisions(nodes)
    return nodes


def check_node_collisions(nodes: DataFrame) -> None:
    """Raise if two different ``(type, value)`` share a node id. The message names node ids and
    types only (values are personal data)."""
    clashes = (
        nodes.groupBy(NODE_ID)
        .agg(F.count(F.lit(1)).alias("n"), F.array_sort(F.collect_set(ID_TYPE)).alias("types"))
        .where(F.col("n") > 1)
        .orderBy(NODE_ID)
        .limit(5)
        .collect()
    )
    if clashes:
        detail = ", ".join(
            f"node {r[NODE_ID]} ({r['n']} identifiers of types {list(r['types'])})" for r in clashes
        )
        raise CdpSparkError(
            f"identity: xxhash64 node id collision: {detail}. Two different identifiers would be "
            "treated as one node and merge unrelated people, so the run stops. Report this; the "
            "fix is to widen the node id (e.g. hash with a second seed and disambiguate)."
        )


def build_edges(identifiers: DataFrame, config: IdentityConfig) -> DataFrame:
    """Pairs of identifiers seen in one record whose type pair links (:data:`EDGES_SCHEMA`).

    The rule table is a handful of rows and is broadcast; pairs are oriented ``src < dst`` so an
    edge has one row whatever the order of the identifiers in the record.
    """
    spark = identifiers.sparkSession
    pairs = config.pair_trust()
    rules_rows = [(a, b, t) for (a, b), t in pairs.items()] + [(b, a, t) for (a, b), t in pairs.items()]
    rules = spark.createDataFrame(rules_rows, "ta string, tb string, rule_trust double")
    slim = identifiers.select(RECORD_ID, SOURCE, NODE_ID, ID_TYPE, FIRST_SEEN, LAST_SEEN)
    a = slim.alias("a")
    b = slim.alias("b")
    joined = a.join(
        b,
        (F.col("a.record_id") == F.col("b.record_id"))
        & (F.col("a.source") == F.col("b.source"))
        & (F.col("a.node_id") < F.col("b.node_id")),
    ).join(
        F.broadcast(rules),
        (F.col("a.id_type") == F.col("ta")) & (F.col("b.id_type") == F.col("tb")),
    )
    edges = joined.groupBy(
        F.col("a.node_id").alias(SRC),
        F.col("b.node_id").alias(DST),
        F.col("a.id_type").alias(SRC_TYPE),
        F.col("b.id_type").alias(DST_TYPE),
    ).agg(
        F.max("rule_trust").alias(TRUST),
        F.countDistinct(F.col("a.source"), F.col("a.record_id")).alias(RECORD_COUNT),
        F.array_sort(F.collect_set(F.col("a.source"))).alias(SOURCES),
        F.min(F.least(F.col("a.first_seen"), F.col("b.first_seen"))).alias(FIRST_SEEN),
        F.max(F.greatest(F.col("a.last_seen"), F.col("b.last_seen"))).alias(LAST_SEEN),
    )
    return edges.select(*[f.name for f in EDGES_SCHEMA.fields])


def drop_edges_touching(edges: DataFrame, nodes: DataFrame) -> DataFrame:
    """Edges with neither endpoint in ``nodes(node_id)`` (exclusions: unlink keeps the node,
    removes its links)."""
    ids = nodes.select(F.col(NODE_ID).alias("_x")).distinct()
    kept = edges.join(F.broadcast(ids), F.col(SRC) == F.col("_x"), "left_anti")
    return kept.join(F.broadcast(ids), F.col(DST) == F.col("_x"), "left_anti")
