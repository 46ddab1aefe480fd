"""Silver records → per-anchor daily rollups and golden-record candidates.

Every silver record gets an *anchor*: its most trusted identifier (``anchor_priority`` in
``profile.yaml``) that is not junk by the identity blocklist. The anchor depends on the record
alone, never on the identity graph, so a rollup row is valid for as long as its silver day is
unchanged; which person it belongs to is looked up in ``gold.identity_map`` when profiles are
built. Records without any usable identifier cannot belong to a person and are counted as
unanchored instead of being silently dropped.

One aggregation does all of it: each record becomes a *partial* (the rollup measures for
that one record), partials of all silver tables are unioned, and one ``groupBy(anchor, day)``
merges them with the same merge expressions that later merge days into profiles.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from pyspark.sql import Column
from pyspark.sql import functions as F

from cdp_spark import catalog
from cdp_spark.cleanse.std_money import to_reporting_currency
from cdp_spark.identity.guards import block_reason
from cdp_spark.profile.schema import (
    ANCHOR_TYPE,
    ANCHOR_VALUE,
    CANDIDATE_SCHEMA,
    CONSENT_EVENT,
    EVENT_MONTH,
    MEASURES,
    MONEY,
    ROLLUP_KEY,
    ROLLUP_SCHEMA,
    WECHAT_STATE,
)

if TYPE_CHECKING:
    from datetime import date

    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructField

    from cdp_spark.identity.config import IdentityConfig
    from cdp_spark.profile.config import ProfileConfig

EVENTS, ORDERS, ORDER_LINES, CONTACTS, CONSENTS, TICKETS = (
    catalog.SILVER_EVENTS.name,
    catalog.SILVER_ORDERS.name,
    catalog.SILVER_ORDER_LINES.name,
    catalog.SILVER_CONTACTS.name,
    catalog.SILVER_CONSENTS.name,
    catalog.SILVER_TICKETS.name,
)
#: Silver tables whose records carry identifiers and so can be anchored.
ANCHORED_TABLES: tuple[str, ...] = (EVENTS, ORDERS, CONTACTS, CONSENTS, TICKETS)

_ANCHOR = "_anchor"
_WEB_TIMES, _APP_TIMES = "_web_times", "_app_times"


# --------------------------------------------------------------------------- anchors


def anchor(identifiers: Column, profile: ProfileConfig, identity: IdentityConfig) -> Column:
    """``struct(rank, id_type, id_value)`` of the record's most trusted usable identifier, or null.

    Evaluated inside higher-order functions, so a record's identifiers are never exploded.
    """
    ranks = F.create_map(*[x for i, t in enumerate(profile.anchor_priority) for x in (F.lit(t), F.lit(i))])
    entries = F.transform(
        F.map_entries(identifiers),
        lambda e: F.struct(
            F.try_element_at(ranks, e["key"]).alias("rank"),
            e["key"].alias("id_type"),
            e["value"].alias("id_value"),
        ),
    )
    usable = F.filter(
        entries,
        lambda x: (
            x["rank"].isNotNull()
            & x["id_value"].isNotNull()
            & block_reason(identity, x["id_type"], x["id_value"]).isNull()
        ),
    )
    return F.array_min(usable)


def with_anchor(df: DataFrame, profile: ProfileConfig, identity: IdentityConfig) -> DataFrame:
    """Add ``anchor_type``/``anchor_value`` (null when the record has no usable identifier)."""
    return (
        df.withColumn(_ANCHOR, anchor(F.col("identifiers"), profile, identity))
        .withColumn(ANCHOR_TYPE, F.col(f"{_ANCHOR}.id_type"))
        .withColumn(ANCHOR_VALUE, F.col(f"{_ANCHOR}.id_value"))
        .drop(_ANCHOR)
    )


# --------------------------------------------------------------------------- merge expressions


def sum_count_maps(maps: Column) -> Column:
    """Sum an array of ``map<string, bigint>`` per key (the merge of count maps)."""
    return F.aggregate(
        maps,
        F.create_map().cast("map<string,bigint>"),
        lambda acc, m: F.map_zip_with(
            acc, m, lambda _k, a, b: F.coalesce(a, F.lit(0)) + F.coalesce(b, F.lit(0))
        ),
    )


def union_sorted(arrays: Column) -> Column:
    return F.array_sort(F.array_distinct(F.flatten(arrays)))


def sql_name(name: str) -> str:
    """``name`` quoted as a SQL identifier (``a.b`` → ```a`.`b```)."""
    return ".".join(f"`{part}`" for part in name.split("."))


class MergeRule(NamedTuple):
    """A measure's merge rule in its two forms, as SQL text. One table for both, so they cannot
    drift apart.

    Why SQL text: a profile has four windows of two dozen measures, and building each rule from
    ``pyspark.sql.functions`` costs a dozen Py4J round trips (tens of thousands and seconds of
    driver time for one merge of stored and new profiles); a SQL string is parsed in the JVM
    in one.
    """

    rows: Callable[[str], str]  #: over the rows of a ``groupBy`` (argument: a SQL expression)
    pair: Callable[[str, str], str]  #: over two partials (a stored profile's and new rows')


def merge_rule(field: StructField) -> MergeRule:
    """The associative, commutative rule that merges ``field`` (one of :data:`MEASURES`)."""
    t = field.dataType.simpleString()
    if t in ("bigint", "decimal(18,2)"):
        zero = f"CAST(0 AS {t})"
        return MergeRule(
            lambda c: f"CAST(coalesce(sum({c}), {zero}) AS {t})",
            lambda a, b: f"CAST(coalesce({a}, {zero}) + coalesce({b}, {zero}) AS {t})",
        )
    if t in ("map<string,bigint>", "map<string,decimal(18,2)>"):
        value = t[len("map<string,") : -1]
        empty, zero = f"CAST(map() AS {t})", f"CAST(0 AS {value})"
        add = f"(_k, _x, _y) -> CAST(coalesce(_x, {zero}) + coalesce(_y, {zero}) AS {value})"
        return MergeRule(
            lambda c: f"aggregate(collect_list({c}), {empty}, (_acc, _m) -> map_zip_with(_acc, _m, {add}))",
            lambda a, b: f"map_zip_with(coalesce({a}, {empty}), coalesce({b}, {empty}), {add})",
        )
    if t.startswith("array<"):
        empty = f"CAST(array() AS {t})"
        return MergeRule(
            lambda c: f"array_sort(array_distinct(flatten(collect_list({c}))))",
            lambda a, b: (
                f"array_sort(array_distinct(concat(coalesce({a}, {empty}), coalesce({b}, {empty}))))"
            ),
        )
    raise TypeError(f"no merge rule for measure {field.name} of type {t}")


#: Count maps in which every record adds 1 to one key (channel, event type, product viewed,
#: store): a key's total over any rows is zero exactly when none of them has it, so rows can be
#: taken out of a total by subtracting theirs and dropping the keys that reach zero.
RECORD_COUNT_MAPS: frozenset[str] = frozenset({"channels", "event_counts", "viewed_products", "stores"})


def subtract_rule(field: StructField) -> Callable[[str, str], str] | None:
    """``total - part`` for ``field`` (one of :data:`MEASURES`), as SQL text, when taking rows
    out of a total is exact, else None.

    Why: a day leaving a behaviour window would otherwise send every person active on it to a
    re-aggregation of their whole history; subtracting that day's rollups costs that day only.
    Sums and :data:`RECORD_COUNT_MAPS` subtract. Distinct sets (a search term of the departed
    day may also have been searched on a day still in the window) and the money and ticket
    maps (zero or negative amounts are real values, so a key reaching zero may still be held
    by another row) cannot: rows holding any of those are aggregated again (:func:`removable`).
    """
    t = field.dataType.simpleString()
    if t in ("bigint", "decimal(18,2)"):
        zero = f"CAST(0 AS {t})"
        return lambda a, b: f"CAST(coalesce({a}, {zero}) - coalesce({b}, {zero}) AS {t})"
    if field.name in RECORD_COUNT_MAPS:
        empty = f"CAST(map() AS {t})"
        return lambda a, b: (
            f"map_filter(map_zip_with(coalesce({a}, {empty}), coalesce({b}, {empty}), "
            f"(_k, _x, _y) -> coalesce(_x, 0L) - coalesce(_y, 0L)), (_k, _v) -> _v > 0)"
        )
    return None


def removable() -> Column:
    """True for a rollup row that holds no value of a measure without a :func:`subtract_rule`."""
    empty = [f"coalesce(size({sql_name(f.name)}), 0) <= 0" for f in MEASURES if subtract_rule(f) is None]
    return F.expr(" AND ".join(empty))


def merge_measures(keep: str | None = None, exclude: Sequence[str] = ()) -> list[Column]:
    """Aggregate expressions merging :data:`MEASURES` of many rows into one (for ``groupBy``).

    ``keep`` (SQL): only rows where it is true take part (behaviour windows); the others count
    as empty. Every measure is merged by its :func:`merge_rule`, so the order and grouping of
    partials never changes the result.
    """
    return [F.expr(f"{sql} AS {sql_name(name)}") for name, sql in merge_measures_sql(keep, exclude)]


def merge_measures_sql(keep: str | None = None, exclude: Sequence[str] = ()) -> list[tuple[str, str]]:
    """``(measure, SQL aggregate)`` pairs of :func:`merge_measures`, to nest in a struct."""
    out: list[tuple[str, str]] = []
    for field in MEASURES:
        if field.name not in exclude:
            col = sql_name(field.name)
            rows = col if keep is None else f"CASE WHEN {keep} THEN {col} END"
            out.append((field.name, merge_rule(field).rows(rows)))
    return out


def sessions(times: Column, gap_minutes: int) -> Column:
    """Sessions in a sorted array of timestamps: a new one starts after ``gap_minutes`` idle."""
    start = F.struct(F.lit(None).cast("timestamp").alias("prev"), F.lit(0).cast("bigint").alias("n"))
    gap = F.expr(f"INTERVAL {int(gap_minutes)} MINUTES")
    return F.aggregate(
        times,
        start,
        lambda acc, t: F.struct(
            t.alias("prev"),
            (acc["n"] + F.when(acc["prev"].isNull() | (t > acc["prev"] + gap), 1).otherwise(0))
            .cast("bigint")
            .alias("n"),
        ),
        lambda acc: acc["n"],
    )


# --------------------------------------------------------------------------- partials


#: A column that per-record partials and candidate rows carry through when their input has it:
#: :func:`~cdp_spark.profile.incremental.touched_keys` computes both for the versions written
#: and the versions replaced of a night's records in one pass, marked by it.
WRITTEN = "_written"


def _carried(df: DataFrame) -> list[Column]:
    return [F.col(WRITTEN)] if WRITTEN in df.columns else []


def _partial(df: DataFrame, table: str, **measures: Column) -> DataFrame:
    """One row per record: key, time, channel, and every measure (typed null where not given)."""
    cols = [
        F.col(ANCHOR_TYPE),
        F.col(ANCHOR_VALUE),
        F.col("event_date"),
        F.col("event_time"),
        F.col("channel"),
        F.col("record_id"),
        F.lit(table).alias("_table"),
        *_carried(df),
    ]
    for field in MEASURES:
        value = measures.pop(field.name, None)
        cols.append((value if value is not None else F.lit(None)).cast(field.dataType).alias(field.name))
    extras = {
        _WEB_TIMES: measures.pop(_WEB_TIMES, None),
        _APP_TIMES: measures.pop(_APP_TIMES, None),
        "consent_events": measures.pop("consent_events", None),
        "wechat_state": measures.pop("wechat_state", None),
    }
    if measures:  # pragma: no cover - programming error
        raise TypeError(f"unknown measures {sorted(measures)}")
    types = {
        _WEB_TIMES: "array<timestamp>",
        _APP_TIMES: "array<timestamp>",
        "consent_events": f"array<{CONSENT_EVENT.simpleString()}>",
        "wechat_state": WECHAT_STATE.simpleString(),
    }
    for name, value in extras.items():
        cols.append((value if value is not None else F.lit(None)).cast(types[name]).alias(name))
    return df.select(*cols)


def _one(cond: Column) -> Column:
    return F.when(cond, F.lit(1)).otherwise(F.lit(0))


def _single(key: Column) -> Column:
    """A one-entry count map, or null when the key is null."""
    return F.when(key.isNotNull(), F.create_map(key, F.lit(1).cast("bigint")))


def _as_array(value: Column) -> Column:
    return F.when(value.isNotNull(), F.array(value))


def event_partials(events: DataFrame) -> DataFrame:
    props = F.col("properties")
    etype = F.col("event_type")
    channel = F.col("channel")
    term = F.lower(
        F.trim(
            F.coalesce(
                F.try_element_at(props, F.lit("search_query")), F.try_element_at(props, F.lit("search_term"))
            )
        )
    )
    product = F.try_element_at(props, F.lit("product_id"))
    permission = F.lower(F.trim(F.try_element_at(props, F.lit("permission"))))
    granted = F.lower(F.trim(F.try_element_at(props, F.lit("granted"))))
    is_prompt = (etype == "permission_prompt") & permission.isNotNull()
    wechat_follow = (channel == "wechat") & etype.isin("subscribe", "unsubscribe")
    return _partial(
        events,
        EVENTS,
        events=F.lit(1),
        channels=_single(channel),
        event_counts=_single(etype),
        page_views=_one(etype == "page_view"),
        product_views=_one(etype == "product_view"),
        viewed_products=F.when(etype == "product_view", _single(product)),
        searches=_one(etype == "search"),
        search_terms=F.when((etype == "search") & (term != ""), _as_array(term)),
        permissions_granted=F.when(is_prompt & granted.isin("true", "1", "yes"), F.array(permission)),
        permissions_declined=F.when(is_prompt & granted.isin("false", "0", "no"), F.array(permission)),
        _web_times=F.when(channel == "web", F.array(F.col("event_time"))),
        _app_times=F.when(channel == "app", F.array(F.col("event_time"))),
        wechat_state=F.when(
            wechat_follow,
            F.struct(F.col("event_time").alias("at"), (etype == "subscribe").alias("following")),
        ),
    )


def order_partials(orders: DataFrame, lines: DataFrame | None, profile: ProfileConfig) -> DataFrame:
    """Orders (e-commerce and POS) with their lines' spend by category and travel tickets."""
    counted = F.lower(F.col("status")).isin(profile.revenue_statuses)
    revenue = to_reporting_currency(
        F.col("total_amount"), F.col("currency"), profile.fx_rates, profile.reporting_currency
    )
    if lines is not None:
        line_amount = to_reporting_currency(
            F.col("unit_price") * F.col("quantity"),
            F.col("currency"),
            profile.fx_rates,
            profile.reporting_currency,
        ).value
        per_category = (
            lines.where(F.col("category").isNotNull() & line_amount.isNotNull())
            .groupBy("order_record_id", "category")
            .agg(F.sum(line_amount).cast(MONEY).alias("amount"))
        )
        spend = per_category.groupBy("order_record_id").agg(
            F.map_from_entries(F.collect_list(F.struct("category", "amount"))).alias("_category_spend")
        )
        tickets = (
            lines.where(F.col("ticket_type").isNotNull())
            .groupBy("order_record_id")
            .agg(
                F.map_from_entries(
                    F.collect_list(F.struct(F.lower(F.col("ticket_type")), F.col("quantity")))
                ).alias("_ticket_types_raw"),
                F.array_sort(F.collect_set("traveler_age")).alias("_traveler_ages"),
            )
        )
        # One ticket type may appear on several lines: sum them.
        tickets = tickets.withColumn(
            "_ticket_types", sum_count_maps(F.array(F.col("_ticket_types_raw")))
        ).drop("_ticket_types_raw")
        orders = orders.join(spend, orders["record_id"] == spend["order_record_id"], "left").drop(
            "order_record_id"
        )
        orders = orders.join(tickets, orders["record_id"] == tickets["order_record_id"], "left").drop(
            "order_record_id"
        )
    else:
        orders = orders.select(
            "*",
            F.lit(None).cast("map<string,decimal(18,2)>").alias("_category_spend"),
            F.lit(None).cast("map<string,bigint>").alias("_ticket_types"),
            F.lit(None).cast("array<int>").alias("_traveler_ages"),
        )
    return _partial(
        orders,
        ORDERS,
        orders=_one(counted),
        returned_orders=_one(F.lower(F.col("status")) == "returned"),
        items=F.when(counted, F.col("item_count")),
        revenue=F.when(counted, revenue.value),
        category_spend=F.when(counted, F.col("_category_spend")),
        ticket_types=F.when(counted, F.col("_ticket_types")),
        traveler_ages=F.when(counted, F.col("_traveler_ages")),
        stores=F.when(counted, _single(F.col("store_id"))),
    )


def contact_partials(contacts: DataFrame) -> DataFrame:
    return _partial(contacts, CONTACTS)


def consent_partials(consents: DataFrame) -> DataFrame:
    event = F.struct(
        F.lower(F.col("purpose")).alias("purpose"),
        F.lower(F.col("status")).alias("status"),
        F.col("event_time").alias("at"),
    )
    return _partial(
        consents,
        CONSENTS,
        consent_events=F.when(F.col("purpose").isNotNull() & F.col("status").isNotNull(), F.array(event)),
    )


def ticket_partials(tickets: DataFrame) -> DataFrame:
    return _partial(
        tickets,
        TICKETS,
        tickets=F.lit(1),
        satisfaction_sum=F.col("satisfaction"),
        satisfaction_n=_one(F.col("satisfaction").isNotNull()),
    )


def union_all(frames: Sequence[DataFrame]) -> DataFrame:
    """``frames`` (at least one) unioned by column name."""
    out = frames[0]
    for frame in frames[1:]:
        out = out.unionByName(frame)
    return out


def _anchored(
    df: DataFrame, profile: ProfileConfig, identity: IdentityConfig, keys: DataFrame | None
) -> DataFrame:
    """``df`` with its anchor; with ``keys``, only the records of those ``(anchor, day)`` keys.

    The keys are applied before any measure is computed (and before orders meet their lines),
    so an incremental night pays for the anchors of the days it reads, not for their rollups.
    """
    anchored = with_anchor(df, profile, identity)
    if keys is None:
        return anchored
    return anchored.join(keys, list(ROLLUP_KEY), "left_semi")


def partials(
    tables: dict[str, DataFrame],
    profile: ProfileConfig,
    identity: IdentityConfig,
    keys: DataFrame | None = None,
) -> DataFrame:
    """Anchored per-record partials of every silver table present in ``tables``.

    ``keys`` (``anchor_type, anchor_value, event_date``): only records of those rollup keys.
    """
    parts: list[DataFrame] = []
    lines = tables.get(ORDER_LINES)
    for name, df in tables.items():
        if name in ANCHORED_TABLES:
            parts.append(table_partials(name, _anchored(df, profile, identity, keys), lines, profile))
    if not parts:
        raise ValueError("no silver tables to roll up")
    return union_all(parts)


def table_partials(
    name: str, anchored: DataFrame, lines: DataFrame | None, profile: ProfileConfig
) -> DataFrame:
    """Per-record partials of one anchored silver table (``lines``: order lines, for orders)."""
    if name == EVENTS:
        return event_partials(anchored)
    if name == ORDERS:
        return order_partials(anchored, lines, profile)
    if name == CONTACTS:
        return contact_partials(anchored)
    if name == CONSENTS:
        return consent_partials(anchored)
    if name == TICKETS:
        return ticket_partials(anchored)
    raise ValueError(f"{name} is not an anchored silver table")


def daily_rollups(parts: DataFrame, gap_minutes: int) -> DataFrame:
    """Merge anchored partials per (anchor, day) into :data:`ROLLUP_SCHEMA` rows."""
    web_times = F.array_sort(F.flatten(F.collect_list(_WEB_TIMES)))
    app_times = F.array_sort(F.flatten(F.collect_list(_APP_TIMES)))
    merged = (
        parts.where(F.col(ANCHOR_TYPE).isNotNull())
        .groupBy(ANCHOR_TYPE, ANCHOR_VALUE, "event_date")
        .agg(
            F.count(F.lit(1)).alias("records"),
            F.min("event_time").alias("first_seen"),
            F.max("event_time").alias("last_seen"),
            F.max_by("channel", F.struct("event_time", "channel", "record_id")).alias("last_channel"),
            *merge_measures(exclude=("web_sessions", "app_sessions")),
            web_times.alias(_WEB_TIMES),
            app_times.alias(_APP_TIMES),
            F.array_sort(F.flatten(F.collect_list("consent_events"))).alias("consent_events"),
            F.max_by(
                "wechat_state", F.struct(F.col("wechat_state.at"), F.col("wechat_state.following"))
            ).alias("wechat_state"),
        )
        .withColumn("web_sessions", sessions(F.col(_WEB_TIMES), gap_minutes))
        .withColumn("app_sessions", sessions(F.col(_APP_TIMES), gap_minutes))
    )
    merged = merged.withColumn(EVENT_MONTH, F.trunc("event_date", "month"))
    return merged.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in ROLLUP_SCHEMA.fields])


# --------------------------------------------------------------------------- golden-record candidates


def _has_cjk(col: Column) -> Column:
    return col.rlike(r"[\u3400-\u9fff\uf900-\ufaff]")


def display_name(first: Column, last: Column) -> Column:
    """Family name first and no space for CJK names (林悦), "first last" otherwise."""
    cjk = _has_cjk(F.coalesce(first, F.lit(""))) | _has_cjk(F.coalesce(last, F.lit("")))
    both = first.isNotNull() & last.isNotNull()
    joined = F.when(cjk & both, F.concat(last, first)).otherwise(F.concat_ws(" ", first, last))
    return F.when(joined != "", joined)


def _address(street: Column, postcode: Column, city: Column, country: Column) -> Column:
    payload = F.to_json(
        F.struct(
            street.alias("street"), postcode.alias("postcode"), city.alias("city"), country.alias("country")
        )
    )
    return F.when(street.isNotNull() | city.isNotNull(), payload)


def _candidate_rows(df: DataFrame, seen: Column, attributes: dict[str, Column]) -> DataFrame:
    pairs = F.array(
        *[
            F.struct(F.lit(k).alias("attribute"), v.cast("string").alias("value"))
            for k, v in attributes.items()
        ]
    )
    return df.select(
        ANCHOR_TYPE,
        ANCHOR_VALUE,
        "event_date",
        "source",
        "record_id",
        *_carried(df),
        seen.alias("_seen"),
        F.inline(F.filter(pairs, lambda p: p["value"].isNotNull() & (F.trim(p["value"]) != ""))),
    )


def candidate_rows(
    tables: dict[str, DataFrame],
    profile: ProfileConfig,
    identity: IdentityConfig,
    keys: DataFrame | None = None,
) -> DataFrame | None:
    """One row per anchored record and attribute value it states (``keys``: as in :func:`partials`)."""
    parts: list[DataFrame] = []
    for name in (CONTACTS, ORDERS, TICKETS, CONSENTS):
        if name in tables:
            part = table_candidate_rows(name, _anchored(tables[name], profile, identity, keys))
            if part is not None:
                parts.append(part)
    if not parts:
        return None
    return union_all(parts)


def table_candidate_rows(name: str, anchored: DataFrame) -> DataFrame | None:
    """Candidate rows of one anchored silver table; None for a table that states no attribute."""
    if name == CONTACTS:
        return _candidate_rows(
            anchored,
            F.coalesce(F.col("updated_at"), F.col("event_time")),
            {
                "name": display_name(F.col("first_name"), F.col("last_name")),
                "gender": F.col("gender"),
                "birth_date": F.col("birth_date"),
                "address": _address(F.col("street"), F.col("postcode"), F.col("city"), F.col("country")),
                "email": F.col("email"),
                "phone": F.col("phone"),
            },
        )
    if name == ORDERS:
        return _candidate_rows(
            anchored,
            F.coalesce(F.col("updated_at"), F.col("event_time")),
            {
                "name": F.col("shipping_name"),
                "address": _address(
                    F.col("shipping_street"),
                    F.col("shipping_postcode"),
                    F.col("shipping_city"),
                    F.col("shipping_country"),
                ),
                "email": F.col("email"),
                "phone": F.col("phone"),
            },
        )
    if name == TICKETS:
        return _candidate_rows(
            anchored,
            F.col("event_time"),
            {"name": F.col("name"), "email": F.col("email"), "phone": F.col("phone")},
        )
    if name == CONSENTS:  # a consent names the address or number it was given for
        ids = F.col("identifiers")
        return _candidate_rows(
            anchored,
            F.col("event_time"),
            {"email": F.try_element_at(ids, F.lit("email")), "phone": F.try_element_at(ids, F.lit("phone"))},
        )
    return None


def attribute_candidates(rows: DataFrame) -> DataFrame:
    """Merge candidate rows per (anchor, day, attribute, value, source): :data:`CANDIDATE_SCHEMA`."""
    merged = (
        rows.where(F.col(ANCHOR_TYPE).isNotNull())
        .groupBy(ANCHOR_TYPE, ANCHOR_VALUE, "event_date", "attribute", "value", "source")
        .agg(
            F.count(F.lit(1)).alias("records"),
            F.min("_seen").alias("first_seen"),
            F.max("_seen").alias("last_seen"),
            F.max_by("record_id", F.struct("_seen", "record_id")).alias("last_record_id"),
        )
        .where(F.col("first_seen").isNotNull())
    )
    merged = merged.withColumn(EVENT_MONTH, F.trunc("event_date", "month"))
    return merged.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in CANDIDATE_SCHEMA.fields])


def touched_dates(silver: DataFrame, run_date_col: Column) -> set[date]:
    """Event dates of a silver table's rows written by a run (``run_date_col`` selects them), by
    scanning it: the fallback where the store cannot answer from the Delta log."""
    return {r[0] for r in silver.where(run_date_col).select("event_date").distinct().collect()}
