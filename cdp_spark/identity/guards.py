"""Guards that keep junk and over-shared identifiers from merging unrelated people.

Each guard is a pure ``DataFrame -> (kept, report)`` function: what survives, and one report
row per cut with its evidence, so a reviewer sees *why* an identifier or edge left the graph.
Report rows share :data:`REPORT_SCHEMA` (``gold.identity_report`` adds run id and date).

* :func:`blocklist_guard`: junk values (built-in placeholders plus the configured lists and
  regexes) never become nodes.
* :func:`frequency_guard`: an identifier seen with too many distinct people-level attributes
  (an e-mail with 21 given names, a device with 6 member ids) is a shared or fake identifier
  and is cut from the graph.
* :func:`enforce_person_limits`: per-person caps by type. Inside a component over a cap, edges
  are admitted strongest first with a union-find that refuses any edge that would push its
  component over a cap (:func:`greedy_limits`). That drops exactly the lowest-priority,
  least-seen edges needed, never depends on row order (the edge order is total), and needs no
  iteration: each over-cap component is handled once, in one grouped pandas call. Components
  within their caps are never touched.

Values are personal data: they go into the report table for review, never into logs.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, LongType, StringType, StructField, StructType

from cdp_spark.identity.graph import (
    ATTRIBUTES,
    DST,
    DST_TYPE,
    ID_TYPE,
    ID_VALUE,
    IDENTIFIERS,
    LAST_SEEN,
    NODE_ID,
    RECORD_COUNT,
    RECORD_ID,
    SRC,
    SRC_TYPE,
    TRUST,
)

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import Column, DataFrame

    from cdp_spark.identity.config import IdentityConfig

log = logging.getLogger(__name__)

KIND = "kind"
REASON = "reason"
PERSON_ID = "person_id"
METRIC = "metric"
EVIDENCE = "evidence"

#: One row per guard decision or reported component (``gold.identity_report`` without run columns).
REPORT_SCHEMA = StructType(
    [
        StructField(KIND, StringType(), False),
        StructField(REASON, StringType(), False),
        StructField(ID_TYPE, StringType(), True),
        StructField(ID_VALUE, StringType(), True),
        StructField(NODE_ID, LongType(), True),
        StructField(PERSON_ID, StringType(), True),
        StructField(METRIC, LongType(), True),
        StructField(EVIDENCE, StringType(), True),
    ]
)

#: Placeholder values that are never an identifier, whatever the type (compared lower-cased).
BUILTIN_VALUES: tuple[str, ...] = (
    "",
    "null",
    "none",
    "nil",
    "nan",
    "undefined",
    "anonymous",
    "anon",
    "unknown",
    "n/a",
    "na",
    "-",
    "--",
    "-1",
    "0",
    "test",
    "xxx",
    "[object object]",
    "(null)",
    "<null>",
    "not available",
    "not provided",
    "default",
)
#: ``test@test.com``-style addresses: a placeholder local part, or a reserved/test domain.
EMAIL_PLACEHOLDER = (
    r"^(test|tester|testing|example|sample|demo|dummy|fake|none|null|nobody|anonymous|unknown|"
    r"no[-_.]?e?mail|no[-_.]?reply|do[-_.]?not[-_.]?reply|n/?a|x+|asdf|abc|foo|bar|foobar)@"
    r"|@(example\.(com|org|net)|test\.[a-z]+|domain\.com|email\.test|localhost)$"
    r"|\.(invalid|test|example|localhost)$"
)
#: SHA-256 of the empty string, and of the most common placeholder addresses, as hex.
EMPTY_SHA256: tuple[str, ...] = tuple(
    hashlib.sha256(v.encode()).hexdigest() for v in ("", "test@test.com", "null", "none")
)
_ALL_ZERO = r"^[\s0+\-.:_()]*$"
_DIGIT_NOISE = r"[\s+\-.()/]"


@dataclass(frozen=True)
class GuardResult:
    """What a guard kept, and its report rows (:data:`REPORT_SCHEMA`)."""

    kept: DataFrame
    report: DataFrame


def _report(df: DataFrame) -> DataFrame:
    """Conform a frame to :data:`REPORT_SCHEMA` (missing columns become typed nulls)."""
    cols = []
    for f in REPORT_SCHEMA.fields:
        cols.append((F.col(f.name) if f.name in df.columns else F.lit(None)).cast(f.dataType).alias(f.name))
    return df.select(*cols)


def empty_report(spark: Any) -> DataFrame:
    return spark.createDataFrame([], REPORT_SCHEMA)


# --------------------------------------------------------------------------- blocklist


def block_reason(
    config: IdentityConfig, id_type: Column | None = None, id_value: Column | None = None
) -> Column:
    """A column with the first blocklist rule a node ``(id_type, id_value)`` matches, else null.

    The columns default to ``id_type``/``id_value``; pass others to evaluate the blocklist
    inside a higher-order function (the profile stage picks a record's anchor that way
    without exploding its identifiers).
    """
    bl = config.blocklist
    value = F.col(ID_VALUE) if id_value is None else id_value
    norm = F.lower(F.trim(value))
    id_type = F.col(ID_TYPE) if id_type is None else id_type
    rules: list[tuple[Column, str]] = []
    if bl.builtin:
        digits = F.regexp_replace(norm, _DIGIT_NOISE, "")
        rules += [
            (norm.isin(list(BUILTIN_VALUES)), "builtin: placeholder value"),
            (norm.rlike(_ALL_ZERO), "builtin: empty or all zeros"),
            (digits.rlike(rf"^(\d)\1{{{bl.min_repeated_digits - 1},}}$"), "builtin: one digit repeated"),
            ((id_type == "email") & norm.rlike(EMAIL_PLACEHOLDER), "builtin: placeholder e-mail"),
            (
                (id_type == "email_sha256") & norm.isin(list(EMPTY_SHA256)),
                "builtin: hash of an empty/placeholder e-mail",
            ),
        ]
    for t, values in sorted(bl.values.items()):
        lowered = sorted({v.strip().lower() for v in values})
        if lowered:
            rules.append((_type_matches(t, id_type) & norm.isin(lowered), f"blocklist.values[{t}]"))
    for t, patterns in sorted(bl.patterns.items()):
        for i, pattern in enumerate(patterns):
            rules.append((_type_matches(t, id_type) & value.rlike(pattern), f"blocklist.patterns[{t}][{i}]"))
    if not rules:
        return F.lit(None).cast("string")
    return F.coalesce(*[F.when(cond, F.lit(reason)) for cond, reason in rules])


def _type_matches(pattern: str, id_type: Column) -> Column:
    return F.lit(True) if pattern == "*" else (id_type == pattern)


def blocklist_guard(nodes: DataFrame, config: IdentityConfig) -> GuardResult:
    """Drop nodes whose value is junk; report each with the rule and how often it was seen."""
    marked = nodes.withColumn("_block", block_reason(config))
    kept = marked.where(F.col("_block").isNull()).drop("_block")
    blocked = marked.where(F.col("_block").isNotNull()).select(
        F.lit("blocklist").alias(KIND),
        F.col("_block").alias(REASON),
        ID_TYPE,
        ID_VALUE,
        NODE_ID,
        F.col(RECORD_COUNT).alias(METRIC),
        F.to_json(F.struct(F.col(RECORD_COUNT).alias("records"))).alias(EVIDENCE),
    )
    return GuardResult(kept, _report(blocked))


# --------------------------------------------------------------------------- frequency


def frequency_guard(
    nodes: DataFrame, identifiers: DataFrame, records: DataFrame, config: IdentityConfig, *, sample: int = 5
) -> GuardResult:
    """Cut nodes seen with more distinct attribute values than their rule allows.

    The attribute of a record is ``attributes[attr]``, else ``identifiers[attr]`` (so "a device
    with more than N member ids" needs no extra column), or the record id for
    ``attribute: record_id``; values are compared trimmed and lower-cased. Evidence: the
    distinct count, the limit, the records involved and the first ``sample`` values in sorted
    order (sorted so the report is identical on every run).
    """
    spark = nodes.sparkSession
    rules = config.frequency.rules
    if not rules:
        return GuardResult(nodes, empty_report(spark))
    attrs = sorted({r.attribute for r in rules})

    def attr_value(attr: str) -> Column:
        if attr == RECORD_ID:
            return F.col(RECORD_ID)
        return F.coalesce(F.col(ATTRIBUTES).getItem(attr), F.col(IDENTIFIERS).getItem(attr))

    rec_attr = (
        records.select(
            F.col(RECORD_ID),
            F.explode(
                F.array(*[F.struct(F.lit(a).alias("attribute"), attr_value(a).alias("value")) for a in attrs])
            ).alias("a"),
        )
        .select(
            RECORD_ID,
            F.col("a.attribute").alias("attribute"),
            F.lower(F.trim(F.col("a.value"))).alias("value"),
        )
        .where(F.col("value").isNotNull() & (F.col("value") != ""))
    )
    rules_df = spark.createDataFrame(
        [(r.id_type, r.attribute, r.max_distinct) for r in rules],
        "r_type string, attribute string, max_distinct int",
    )
    live = identifiers.select(RECORD_ID, NODE_ID, ID_TYPE, ID_VALUE).join(
        nodes.select(NODE_ID), NODE_ID, "left_semi"
    )
    with_rules = live.join(F.broadcast(rules_df), F.col(ID_TYPE) == F.col("r_type")).drop("r_type")
    stats = (
        with_rules.join(rec_attr, [RECORD_ID, "attribute"])
        .groupBy(NODE_ID, ID_TYPE, ID_VALUE, "attribute", "max_distinct")
        .agg(
            F.countDistinct("value").alias("distinct"),
            F.countDistinct(RECORD_ID).alias("records"),
            F.slice(F.array_sort(F.collect_set("value")), 1, sample).alias("sample"),
        )
        .where(F.col("distinct") > F.col("max_distinct"))
    ).localCheckpoint()  # small; read twice (kept and report), so computed once, eagerly
    report = stats.select(
        F.lit("frequency").alias(KIND),
        F.format_string(
            "%s seen with %d distinct %s values (max %d)",
            F.col(ID_TYPE),
            F.col("distinct"),
            F.col("attribute"),
            F.col("max_distinct"),
        ).alias(REASON),
        ID_TYPE,
        ID_VALUE,
        NODE_ID,
        F.col("distinct").cast("long").alias(METRIC),
        F.to_json(F.struct("attribute", "distinct", "max_distinct", "records", "sample")).alias(EVIDENCE),
    )
    kept = nodes.join(stats.select(NODE_ID).distinct(), NODE_ID, "left_anti")
    return GuardResult(kept, _report(report))


# --------------------------------------------------------------------------- per-person limits


LIMIT_DECISION_SCHEMA = StructType(
    [
        StructField(SRC, LongType(), False),
        StructField(DST, LongType(), False),
        StructField("kept", BooleanType(), False),
        StructField("drop_reason", StringType(), True),
    ]
)


def greedy_limits(
    edges: pd.DataFrame, limits: Mapping[str, int], priority: Mapping[str, int]
) -> pd.DataFrame:
    """Admit the edges of one component strongest first, refusing those that break a limit.

    ``edges`` columns: src, dst, src_type, dst_type, trust, record_count, last_seen_us. The
    order is total (node ids break every tie), so the result does not depend on row order.
    An edge inside an already-joined set is always kept: it cannot change anyone's membership.
    Returns src, dst, kept, drop_reason.
    """
    import pandas as pd

    worst = len(priority)
    frame = edges.copy()
    frame["_rank"] = [
        max(priority.get(a, worst), priority.get(b, worst))
        for a, b in zip(frame[SRC_TYPE], frame[DST_TYPE], strict=True)
    ]
    frame["_neg_trust"] = -frame[TRUST].astype(float)
    frame["_neg_records"] = -frame[RECORD_COUNT].astype("int64")
    frame["_neg_last"] = -frame["last_seen_us"].astype("int64")
    frame = frame.sort_values(
        ["_rank", "_neg_trust", "_neg_records", "_neg_last", SRC, DST], kind="mergesort"
    )

    parent: dict[int, int] = {}
    counts: dict[int, dict[str, int]] = {}

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def add(node: int, id_type: str) -> None:
        if node not in parent:
            parent[node] = node
            counts[node] = {id_type: 1} if id_type in limits else {}

    kept: list[bool] = []
    reasons: list[str | None] = []
    for src, dst, ts, td in zip(frame[SRC], frame[DST], frame[SRC_TYPE], frame[DST_TYPE], strict=True):
        s, d = int(src), int(dst)
        add(s, ts)
        add(d, td)
        rs, rd = find(s), find(d)
        if rs == rd:
            kept.append(True)
            reasons.append(None)
            continue
        merged = dict(counts[rs])
        for t, n in counts[rd].items():
            merged[t] = merged.get(t, 0) + n
        over = sorted(t for t, n in merged.items() if n > limits[t])
        if over:
            kept.append(False)
            reasons.append("; ".join(f"would exceed {t} limit {limits[t]}" for t in over))
            continue
        small, big = (rs, rd) if rs > rd else (rd, rs)
        parent[small] = big
        counts[big] = merged
        counts.pop(small, None)
        kept.append(True)
        reasons.append(None)
    return pd.DataFrame(
        {
            SRC: frame[SRC].astype("int64").to_numpy(),
            DST: frame[DST].astype("int64").to_numpy(),
            "kept": kept,
            "drop_reason": reasons,
        }
    )


def over_limit_components(nodes: DataFrame, labels: DataFrame, config: IdentityConfig) -> DataFrame:
    """Components (``labels(id, component)``) holding more identifiers of a type than allowed."""
    spark = nodes.sparkSession
    limits = config.limits.max_per_person
    if not limits:
        return spark.createDataFrame([], "component long")
    limits_df = spark.createDataFrame(list(limits.items()), "l_type string, max_n int")
    counts = (
        nodes.select(NODE_ID, ID_TYPE)
        .join(labels, F.col(NODE_ID) == F.col("id"))
        .groupBy("component", ID_TYPE)
        .agg(F.count(F.lit(1)).alias("n"))
    )
    return (
        counts.join(F.broadcast(limits_df), F.col(ID_TYPE) == F.col("l_type"))
        .where(F.col("n") > F.col("max_n"))
        .select("component")
        .distinct()
    )


def enforce_person_limits(
    nodes: DataFrame, edges: DataFrame, labels: DataFrame, config: IdentityConfig
) -> tuple[DataFrame, DataFrame, int]:
    """Decide which edges survive the per-person limits.

    ``labels`` is the first connected-components pass over ``edges`` (``id, component``).
    Returns ``(decisions, report, over_count)``: decisions are every edge of ``edges`` with
    ``kept`` and ``drop_reason``; the report has one row per dropped edge; ``over_count`` is
    the number of components that were over a limit (0 means nothing needs recomputing).
    """
    spark = edges.sparkSession
    over = over_limit_components(nodes, labels, config)
    over_count = over.count()
    keep_all = edges.select(
        SRC, DST, F.lit(True).alias("kept"), F.lit(None).cast("string").alias("drop_reason")
    )
    if over_count == 0:
        return keep_all, empty_report(spark), 0
    limits = dict(config.limits.max_per_person)
    priority = config.priority_rank()

    def apply(pdf: pd.DataFrame) -> pd.DataFrame:
        return greedy_limits(pdf, limits, priority)

    in_over = edges.join(labels, F.col(SRC) == F.col("id")).join(F.broadcast(over), "component")
    decided = (
        in_over.select(
            "component",
            SRC,
            DST,
            SRC_TYPE,
            DST_TYPE,
            TRUST,
            RECORD_COUNT,
            F.coalesce(F.unix_micros(F.col(LAST_SEEN)), F.lit(0)).alias("last_seen_us"),
        )
        .groupBy("component")
        .applyInPandas(apply, schema=LIMIT_DECISION_SCHEMA)
    ).localCheckpoint()
    decisions = keep_all.join(decided.select(SRC, DST), [SRC, DST], "left_anti").unionByName(decided)
    dropped = decided.where(~F.col("kept")).join(edges, [SRC, DST])
    report = dropped.select(
        F.lit("person_limit").alias(KIND),
        F.col("drop_reason").alias(REASON),
        F.col(SRC_TYPE).alias(ID_TYPE),
        F.col(SRC).alias(NODE_ID),
        F.col(RECORD_COUNT).alias(METRIC),
        F.to_json(
            F.struct(
                F.col(SRC).alias("src"),
                F.col(DST).alias("dst"),
                F.col(SRC_TYPE).alias("src_type"),
                F.col(DST_TYPE).alias("dst_type"),
                F.col(TRUST).alias("trust"),
                F.col(RECORD_COUNT).alias("records"),
                F.col(LAST_SEEN).alias("last_seen"),
            )
        ).alias(EVIDENCE),
    )
    log.info("identity limits: %d component(s) over a per-person limit", over_count)
    return decisions, _report(report), over_count
