"""Rollups + candidates + identity map → ``gold.profiles`` as of a date (pure DataFrame code).

Why a pure function of three DataFrames: the nightly stage, a full rebuild, a point-in-time
feature table for a data scientist (``as_of`` in the past) and the tests all call the same
code; only the inputs differ. Nothing here reads silver, so a merge or split of persons costs
a re-key of rollups, not a re-read of history.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from pyspark.sql import Column, Window
from pyspark.sql import functions as F

from cdp_spark.profile.config import ATTRIBUTE_GROUPS, ProfileConfig
from cdp_spark.profile.rollups import (
    merge_measures,
    merge_measures_sql,
    merge_rule,
    sql_name,
    subtract_rule,
    union_sorted,
)
from cdp_spark.profile.schema import (
    ANCHOR_TYPE,
    ANCHOR_VALUE,
    MEASURES,
    MONEY,
    WINDOW_STRUCT,
    profile_schema,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

#: The standard RFM segments on the recency × frequency grid (first match wins).
RFM_SEGMENTS: tuple[tuple[str, str], ...] = (
    ("5[45]", "Champions"),
    ("[34][45]", "Loyal Customers"),
    ("[45][23]", "Potential Loyalists"),
    ("51", "New Customers"),
    ("41", "Promising"),
    ("33", "Need Attention"),
    ("3[12]", "About to Sleep"),
    ("[12]5", "Can't Lose Them"),
    ("[12][34]", "At Risk"),
    ("[12][12]", "Hibernating"),
)


def person_anchors(identity_map: DataFrame) -> DataFrame:
    """``(anchor_type, anchor_value, person_id)`` from ``gold.identity_map``."""
    return identity_map.select(
        F.col("id_type").alias(ANCHOR_TYPE), F.col("id_value").alias(ANCHOR_VALUE), "person_id"
    ).distinct()


def identifier_hash() -> Column:
    """64-bit hash of an identity-map row's ``(id_type, id_value)``; XOR over a person's rows is
    their ``identity_fingerprint`` (order-independent, and a difference of two fingerprints is
    the XOR of the identifiers that joined or left)."""
    return F.xxhash64("id_type", "id_value")


def person_identifiers(identity_map: DataFrame, config: ProfileConfig) -> DataFrame:
    """Identifier summary per person, with an order-independent fingerprint of the identifier set.

    The fingerprint (XOR of 64-bit hashes of distinct ``(type, value)`` pairs) changes whenever
    an identifier joins or leaves the person, which is how an incremental build finds persons
    touched by merges, splits and new identifiers without diffing two identity-map versions.
    """
    return identity_map.groupBy("person_id").agg(
        F.array_sort(F.collect_set("id_type")).alias("id_types"),
        F.count(F.lit(1)).alias("identifiers"),
        F.max(F.col("id_type").isin(config.known_id_types)).alias("is_known"),
        F.bit_xor(identifier_hash()).alias("identity_fingerprint"),
    )


def product_catalogue(order_lines: DataFrame | None) -> DataFrame | None:
    """``(sku, category)`` learnt from order lines: each sku's most frequent category, ties to
    the greater name; None without order lines.

    Product views carry only a sku; categories come from what was sold. A DataFrame, not a
    dict on the driver: a retailer's catalogue holds 10^4-10^6 skus, and as a literal map in
    the plan it is slow to build and slow to run (map lookups are linear in the map's size,
    and the plan grows with it). Joined instead (:func:`with_viewed_categories`), its cost
    grows with the views, not with views x skus.
    """
    if order_lines is None:
        return None
    counts = (
        order_lines.where(F.col("sku").isNotNull() & F.col("category").isNotNull())
        .groupBy("sku", "category")
        .count()
    )
    return counts.groupBy("sku").agg(
        F.max_by("category", F.struct("count", F.col("category"))).alias("category")
    )


def with_viewed_categories(profiles: DataFrame, catalogue: DataFrame | None) -> DataFrame:
    """``profiles`` with ``viewed_categories``: their ``viewed_products`` counts summed per
    category of ``catalogue``; views of skus it does not know are left out.

    The catalogue is broadcast (one row per sku: a million skus are tens of MB) to the views
    exploded per person, and the sums go back to their persons by ``person_id``. The entries
    are sorted by category, so equal profiles hold equal maps whatever the partitioning.
    """
    empty = F.create_map().cast("map<string,bigint>")
    if catalogue is None:
        return profiles.withColumn("viewed_categories", empty)
    views = profiles.select("person_id", F.explode("viewed_products").alias("sku", "views"))
    per_category = (
        views.join(F.broadcast(catalogue.select("sku", "category")), "sku")
        .groupBy("person_id", "category")
        .agg(F.sum("views").alias("views"))
    )
    sums = per_category.groupBy("person_id").agg(
        F.map_from_entries(F.array_sort(F.collect_list(F.struct("category", "views")))).alias(
            "viewed_categories"
        )
    )
    joined = profiles.join(sums, "person_id", "left")
    return joined.withColumn("viewed_categories", F.coalesce(F.col("viewed_categories"), empty))


def _median(sorted_values: Column) -> Column:
    n = F.size(sorted_values)
    lo = F.try_element_at(sorted_values, ((n + 1) / 2).cast("int"))
    hi = F.try_element_at(sorted_values, (n / 2 + 1).cast("int"))
    return F.when(n == 0, F.lit(None)).otherwise((lo + hi) / 2.0)


def _top_keys(m: Column, k: int) -> Column:
    """Keys of the ``k`` largest values, ties by key."""
    ordered = F.array_sort(
        F.map_entries(m),
        lambda left, right: (
            F.when(left["value"] > right["value"], -1)
            .when(left["value"] < right["value"], 1)
            .when(left["key"] < right["key"], -1)
            .when(left["key"] > right["key"], 1)
            .otherwise(0)
        ),
    )
    return F.slice(F.transform(ordered, lambda e: e["key"]), 1, k)


def _latest_per_purpose(events: Column) -> Column:
    """The latest consent event per purpose, sorted by purpose, as ``array<struct<purpose,
    status, at>>`` (same instant: ``withdrawn`` beats ``granted``).

    Events are compared by time first: a withdrawal followed by a new grant is a grant. The
    latest of several sets' latest events is the latest of all, which is why a stored profile
    (``consent`` with ``consent_changed_at``) and new events merge exactly.
    """
    purposes = F.array_sort(F.array_distinct(F.transform(events, lambda e: e["purpose"])))
    latest = F.transform(
        purposes,
        lambda p: F.array_max(
            F.transform(
                F.filter(events, lambda e: e["purpose"] == p),
                lambda e: F.struct(e["at"].alias("at"), e["status"].alias("status")),
            )
        ),
    )
    return F.transform(
        F.arrays_zip(purposes.alias("purpose"), latest.alias("latest")),
        lambda z: F.struct(
            z["purpose"].alias("purpose"),
            z["latest"]["status"].alias("status"),
            z["latest"]["at"].alias("at"),
        ),
    )


def _consent_columns(latest: Column) -> dict[str, Column]:
    """``consent`` (purpose → status) and ``consent_changed_at`` (purpose → time) from
    :func:`_latest_per_purpose`."""
    purposes = F.transform(latest, lambda e: e["purpose"])
    return {
        "consent": F.map_from_arrays(purposes, F.transform(latest, lambda e: e["status"])),
        "consent_changed_at": F.map_from_arrays(purposes, F.transform(latest, lambda e: e["at"])),
    }


def _stored_consent(consent: Column, changed_at: Column) -> Column:
    """A stored profile's consent maps as the events they are the latest of."""
    entries = F.coalesce(F.map_entries(consent), F.array())
    return F.transform(
        entries,
        lambda e: F.struct(
            e["key"].alias("purpose"),
            e["value"].alias("status"),
            F.try_element_at(changed_at, e["key"]).alias("at"),
        ),
    )


def _order_history(order_dates: Column) -> dict[str, Column]:
    """Order columns from the sorted distinct order days (a stored list and new days merge by union)."""
    gaps = F.array_sort(
        F.transform(
            F.slice(order_dates, 2, F.greatest(F.size(order_dates) - 1, F.lit(0))),
            lambda d, i: F.datediff(d, F.try_element_at(order_dates, i + 1)),
        )
    )
    return {
        "order_dates": order_dates,
        "first_order_date": F.try_element_at(order_dates, F.lit(1)),
        "last_order_date": F.try_element_at(order_dates, F.lit(-1)),
        "order_days": F.size(order_dates).cast("bigint"),
        "repurchase_cycle_days": _median(gaps).cast("double"),
    }


_WINDOW_TYPE = WINDOW_STRUCT.simpleString()


def _start_sql(as_of: date, window: int) -> str:
    """The last day before the ``window`` days ending ``as_of`` (a window holds days after it),
    as a SQL date literal."""
    return f"DATE'{(as_of - timedelta(days=window)).isoformat()}'"


def _struct_sql(fields: list[tuple[str, str]]) -> str:
    """``named_struct`` of ``(name, SQL)`` pairs."""
    return "named_struct(" + ", ".join(f"'{name}', {sql}" for name, sql in fields) + ")"


def _days_after(days: Column, as_of: date, window: int) -> Column:
    """How many of ``days`` fall in the ``window`` days ending ``as_of``."""
    start = F.expr(_start_sql(as_of, window))
    return F.size(F.filter(days, lambda d: d > start)).cast("bigint")


def behaviour(rollups: DataFrame, anchors: DataFrame, as_of: date, config: ProfileConfig) -> DataFrame:
    """Per-person behaviour, order history and windows from rollups up to ``as_of``."""
    day = F.col("event_date")
    keyed = rollups.where(day <= F.lit(as_of)).join(anchors, [ANCHOR_TYPE, ANCHOR_VALUE], "inner")
    windows = []
    for days in config.windows:
        keep = f"event_date > {_start_sql(as_of, days)}"
        fields = [("active_days", "CAST(NULL AS bigint)"), *merge_measures_sql(keep)]
        windows.append(
            F.expr(f"CAST({_struct_sql(fields)} AS {_WINDOW_TYPE}) AS {config.window_column(days)}")
        )
    # Active days as one set per person, counted per window afterwards: a distinct count per
    # window would make Spark expand every rollup row once per distinct expression (an
    # Expand of every row per window: several times slower).
    agg = keyed.groupBy("person_id").agg(
        F.min("first_seen").alias("first_seen"),
        F.max("last_seen").alias("last_seen"),
        F.collect_set(day).alias("_days"),
        F.max_by("last_channel", F.struct("last_seen", "last_channel")).alias("last_channel"),
        *merge_measures(),
        F.array_sort(F.collect_set(F.when(F.col("orders") > 0, day))).alias("_order_days"),
        F.array_sort(F.flatten(F.collect_list("consent_events"))).alias("_consents"),
        F.max_by("wechat_state", F.struct(F.col("wechat_state.at"), F.col("wechat_state.following"))).alias(
            "_wechat"
        ),
        *windows,
    )
    for days in config.windows:
        col = config.window_column(days)
        agg = agg.withColumn(
            col, F.col(col).withField("active_days", _days_after(F.col("_days"), as_of, days))
        )
    derived = {
        "active_days": F.size("_days").cast("bigint"),
        "avg_order_value": F.when(F.col("orders") > 0, (F.col("revenue") / F.col("orders")).cast(MONEY)),
        **_order_history(F.col("_order_days")),
        "top_categories": _top_keys(F.col("category_spend"), 3),
        "preferred_store": F.try_element_at(_top_keys(F.col("stores"), 1), F.lit(1)),
        "wechat_following": F.col("_wechat.following"),
        "wechat_changed_at": F.col("_wechat.at"),
        "avg_satisfaction": F.when(
            F.col("satisfaction_n") > 0, F.col("satisfaction_sum") / F.col("satisfaction_n")
        ),
        **_consent_columns(_latest_per_purpose(F.col("_consents"))),
    }
    return agg.withColumns(derived).drop("_days", "_order_days", "_consents", "_wechat")


def merge_behaviour(
    stored: DataFrame, new: DataFrame, config: ProfileConfig, identity_map: DataFrame | None = None
) -> DataFrame:
    """Aggregated profile columns of ``stored`` (a previous snapshot's rows) plus ``new``
    (:func:`behaviour` of rollup rows the snapshot did not hold), without reading history.

    Exact when every new row falls on a day after the snapshot's as-of date (so day sets are
    disjoint and active days add up). Rows of the stored aggregate that left a window stay in
    it: the caller takes them out with :func:`subtract_windows` (or aggregates the person
    again when they cannot be subtracted). Everything in a rollup merges: sums, per-key sums,
    distinct unions, minima and maxima, and the three "latest" states through the columns that
    keep their input: ``order_dates`` (the repurchase cycle is recomputed from the union),
    ``consent_changed_at`` and ``wechat_changed_at``. A stored row without
    new rows keeps its behaviour. Golden record columns are kept: the caller merges only
    persons whose candidates did not change. Identity columns are kept too, or recomputed from
    ``identity_map`` (all rows of the stored persons) for persons who gained identifiers that
    bring no history. Why bother: on a night most touched persons only got new events (e-mail
    campaigns, visits) and perhaps a new cookie, and merging them costs their new rows instead
    of their whole history.
    """
    o, n = stored.alias("o"), new.alias("n")
    old, cur = (lambda c: F.col(f"o.{c}")), (lambda c: F.col(f"n.{c}"))
    cols: dict[str, Column] = {
        "first_seen": F.least(old("first_seen"), cur("first_seen")),
        "last_seen": F.greatest(old("last_seen"), cur("last_seen")),
        "active_days": (F.coalesce(old("active_days"), F.lit(0)) + F.coalesce(cur("active_days"), F.lit(0))),
        "last_channel": F.greatest(
            F.struct(old("last_seen").alias("at"), old("last_channel").alias("channel")),
            F.struct(cur("last_seen").alias("at"), cur("last_channel").alias("channel")),
        )["channel"],
    }
    sql: dict[str, str] = {}  # most columns, as SQL text (see MergeRule for why)
    for f in MEASURES:
        sql[f.name] = merge_rule(f).pair(f"o.{sql_name(f.name)}", f"n.{sql_name(f.name)}")
    for days in config.windows:
        w = sql_name(config.window_column(days))
        pairs = [(f.name, merge_rule(f).pair(f"o.{w}.{sql_name(f.name)}", f"n.{w}.{sql_name(f.name)}"))
                 for f in WINDOW_STRUCT.fields]  # fmt: skip
        sql[config.window_column(days)] = _struct_sql(pairs)
    derived_from = ("orders", "revenue", "category_spend", "stores", "satisfaction_n", "satisfaction_sum")
    m = {name: F.expr(sql[name]) for name in derived_from}  # merged measures the derived columns use
    orders, revenue = m["orders"], m["revenue"]
    cols["avg_order_value"] = F.when(orders > 0, (revenue / orders).cast(MONEY))
    no_dates = F.array().cast("array<date>")
    cols.update(
        _order_history(union_sorted(F.array(F.coalesce(old("order_dates"), no_dates), cur("order_dates"))))
    )
    cols.update(
        _consent_columns(
            _latest_per_purpose(
                F.concat(
                    _stored_consent(old("consent"), old("consent_changed_at")),
                    _stored_consent(cur("consent"), cur("consent_changed_at")),
                )
            )
        )
    )
    wechat_old = F.struct(old("wechat_changed_at").alias("at"), old("wechat_following").alias("following"))
    wechat_new = F.struct(cur("wechat_changed_at").alias("at"), cur("wechat_following").alias("following"))
    wechat = (
        F.when(cur("wechat_changed_at").isNull(), wechat_old)
        .when(old("wechat_changed_at").isNull(), wechat_new)
        .otherwise(F.greatest(wechat_old, wechat_new))
    )
    cols["wechat_following"], cols["wechat_changed_at"] = wechat["following"], wechat["at"]
    cols["top_categories"] = _top_keys(m["category_spend"], 3)
    cols["preferred_store"] = F.try_element_at(_top_keys(m["stores"], 1), F.lit(1))
    n_sat = m["satisfaction_n"]
    cols["avg_satisfaction"] = F.when(n_sat > 0, m["satisfaction_sum"] / n_sat)
    types = {f.name: f.dataType for f in profile_schema(config.windows).fields}
    has_new = F.col("n.person_id").isNotNull()
    out = o.join(n, F.col("o.person_id") == F.col("n.person_id"), "left")
    select: list[Column] = []
    for c in aggregated_columns(config):
        if c in sql:
            when = f"CASE WHEN n.person_id IS NOT NULL THEN {sql[c]} ELSE o.{sql_name(c)} END"
            select.append(F.expr(f"CAST({when} AS {types[c].simpleString()}) AS {sql_name(c)}"))
        else:
            value = F.when(has_new, cols[c]).otherwise(old(c)) if c in cols else old(c)
            select.append(value.cast(types[c]).alias(c))
    merged = out.select(*select)
    return merged if identity_map is None else with_identifiers(merged, identity_map, config)


def departed_windows(
    rows: DataFrame, anchors: DataFrame, previous_as_of: date, as_of: date, config: ProfileConfig
) -> DataFrame:
    """Per person, each behaviour window's part of ``rows`` that was in the window ending
    ``previous_as_of`` and is not in the one ending ``as_of``: the days that left it.

    One row per person with rows on such days: ``person_id`` and a struct per window column
    holding ``active_days`` (departed days with rows) and the measures that have a
    :func:`~cdp_spark.profile.rollups.subtract_rule`; for :func:`subtract_windows`.
    """
    day = F.col("event_date")
    keyed = rows.where(day <= F.lit(previous_as_of)).join(anchors, [ANCHOR_TYPE, ANCHOR_VALUE], "inner")
    kept_as_they_are = [f.name for f in MEASURES if subtract_rule(f) is None]
    windows = []
    for days in config.windows:
        keep = f"event_date > {_start_sql(previous_as_of, days)} AND event_date <= {_start_sql(as_of, days)}"
        fields = [("active_days", f"CAST(size(collect_set(CASE WHEN {keep} THEN event_date END)) AS bigint)")]
        fields += merge_measures_sql(keep, exclude=kept_as_they_are)
        windows.append(F.expr(f"{_struct_sql(fields)} AS {sql_name(config.window_column(days))}"))
    return keyed.groupBy("person_id").agg(*windows)


def subtract_windows(profiles: DataFrame, departed: DataFrame, config: ProfileConfig) -> DataFrame:
    """``profiles`` with :func:`departed_windows` taken out of their behaviour windows.

    Exact only for persons whose departed rows hold nothing but subtractable measures
    (:func:`~cdp_spark.profile.rollups.removable`): the other measures are kept as they are,
    which is right only when the departed rows added nothing to them. Persons without a
    departed row keep their windows.
    """
    p, d = profiles.alias("p"), departed.alias("d")
    windows = {config.window_column(days) for days in config.windows}
    cols: list[Column] = []
    for name in profiles.columns:
        if name not in windows:
            cols.append(F.col(f"p.{sql_name(name)}").alias(name))
            continue
        w = sql_name(name)
        fields = []
        for f in WINDOW_STRUCT.fields:
            old, out = f"p.{w}.{sql_name(f.name)}", f"d.{w}.{sql_name(f.name)}"
            rule = subtract_rule(f) if f.name != "active_days" else (lambda a, b: f"{a} - {b}")
            fields.append((f.name, old if rule is None else rule(old, out)))
        value = f"CASE WHEN d.person_id IS NOT NULL THEN {_struct_sql(fields)} ELSE p.{w} END"
        cols.append(F.expr(f"CAST({value} AS {_WINDOW_TYPE}) AS {w}"))
    return p.join(d, F.col("p.person_id") == F.col("d.person_id"), "left").select(*cols)


#: Profile columns of :func:`person_identifiers` (functions of the identity map alone).
IDENTITY_COLUMNS: tuple[str, ...] = ("is_known", "id_types", "identifiers", "identity_fingerprint")


def with_identifiers(aggregated: DataFrame, identity_map: DataFrame, config: ProfileConfig) -> DataFrame:
    """``aggregated`` with :data:`IDENTITY_COLUMNS` from ``identity_map`` (a person without rows
    there is not known and has no identifiers)."""
    ids = person_identifiers(identity_map, config)
    joined = aggregated.drop(*IDENTITY_COLUMNS).join(ids, "person_id", "left")
    joined = joined.withColumn("is_known", F.coalesce(F.col("is_known"), F.lit(False)))
    types = {f.name: f.dataType for f in profile_schema(config.windows).fields}
    return joined.select(*[F.col(c).cast(types[c]).alias(c) for c in aggregated_columns(config)])


def golden_record(candidates: DataFrame, anchors: DataFrame, as_of: date, config: ProfileConfig) -> DataFrame:
    """One row per person: each attribute group's winner with its source and record id."""
    merged = (
        candidates.where(F.col("event_date") <= F.lit(as_of))
        .join(anchors, [ANCHOR_TYPE, ANCHOR_VALUE], "inner")
        .groupBy("person_id", "attribute", "value", "source")
        .agg(
            F.sum("records").alias("records"),
            F.min("first_seen").alias("first_seen"),
            F.max("last_seen").alias("last_seen"),
            F.max_by("last_record_id", F.struct("last_seen", "last_record_id")).alias("record_id"),
        )
    )
    k1: Column = F.lit(0)
    k2: Column = -F.unix_micros(F.col("last_seen"))
    for group in ATTRIBUTE_GROUPS:
        rule = config.rule_for(group)
        is_group = F.col("attribute") == group
        if rule.rule == "source_priority":
            ranks = F.create_map(*[x for i, s in enumerate(rule.sources) for x in (F.lit(s), F.lit(i))])
            k1 = F.when(
                is_group, F.coalesce(F.try_element_at(ranks, F.col("source")), F.lit(len(rule.sources)))
            ).otherwise(k1)
        elif rule.rule == "most_frequent":
            k1 = F.when(is_group, -F.col("records")).otherwise(k1)
        elif rule.rule == "first_non_null":
            k2 = F.when(is_group, F.unix_micros(F.col("first_seen"))).otherwise(k2)
    ranked = merged.withColumn(
        "_rank",
        F.row_number().over(
            Window.partitionBy("person_id", "attribute").orderBy(
                k1.cast("bigint"), k2.cast("bigint"), F.col("source"), F.col("value")
            )
        ),
    ).where(F.col("_rank") == 1)
    winners = ranked.groupBy("person_id").agg(
        *[
            F.max(F.when(F.col("attribute") == g, F.struct("value", "source", "record_id"))).alias(f"_{g}")
            for g in ATTRIBUTE_GROUPS
        ]
    )
    address = F.from_json(
        F.col("_address.value"), "street string, postcode string, city string, country string"
    )
    birth = F.try_to_date(F.col("_birth_date.value"), "yyyy-MM-dd")
    values: dict[str, list[Column]] = {
        "name": [F.col("_name.value").alias("full_name")],
        "gender": [F.col("_gender.value").alias("gender")],
        "birth_date": [birth.alias("birth_date")],
        "address": [address[part].alias(part) for part in ("street", "postcode", "city", "country")],
        "email": [F.col("_email.value").alias("email")],
        "phone": [F.col("_phone.value").alias("phone")],
    }
    cols: list[Column] = [F.col("person_id")]
    for group in ATTRIBUTE_GROUPS:  # value columns, then provenance: the GOLDEN column order
        cols += values[group]
        cols += [
            F.col(f"_{group}.source").alias(f"{group}_source"),
            F.col(f"_{group}.record_id").alias(f"{group}_record_id"),
        ]
    return winners.select(*cols)


def _score(value: Column, cuts: Column, higher_is_better: bool = True) -> Column:
    """Quintile score 1..5: how many of the four cut points lie below ``value``."""
    below = F.size(F.filter(cuts, lambda c: c < value))
    return (F.lit(1) + below if higher_is_better else F.lit(5) - below).cast("int")


def with_rfm(profiles: DataFrame, as_of: date) -> DataFrame:
    """Recency/frequency/monetary quintile scores among buyers and the RFM segment.

    Cut points are exact discrete percentiles (``percentile_disc``: a value that occurs, found
    from exact counts of distinct values), so the scores do not depend on row order or
    partitioning and an incremental build scores like a full one. ``percentile_approx`` did
    not: at 169k buyers its sketches, merged in another order, moved two persons' monetary
    score between the two builds. Ties get the same score.
    """
    buyers = F.col("orders") > 0
    recency = F.when(buyers, F.datediff(F.lit(as_of), F.col("last_order_date")))
    with_recency = profiles.withColumn("recency_days", recency.cast("int"))

    def cut_points(column: str) -> Column:
        return F.array(
            *[F.expr(f"percentile_disc({p}) WITHIN GROUP (ORDER BY {column})") for p in (0.2, 0.4, 0.6, 0.8)]
        )

    cuts = with_recency.where(buyers).agg(
        cut_points("recency_days").alias("_r"),
        cut_points("orders").alias("_f"),
        cut_points("revenue").alias("_m"),
    )
    scored = (
        with_recency.crossJoin(F.broadcast(cuts))
        .withColumn(
            "r_score", F.when(buyers, _score(F.col("recency_days"), F.col("_r"), higher_is_better=False))
        )
        .withColumn("f_score", F.when(buyers, _score(F.col("orders"), F.col("_f"))))
        .withColumn("m_score", F.when(buyers, _score(F.col("revenue"), F.col("_m"))))
        .drop("_r", "_f", "_m")
    )
    rf = F.concat(F.col("r_score").cast("string"), F.col("f_score").cast("string"))
    segment: Column = F.lit(None).cast("string")
    for pattern, name in reversed(RFM_SEGMENTS):
        segment = F.when(rf.rlike(f"^{pattern}$"), F.lit(name)).otherwise(segment)
    return scored.withColumn(
        "rfm_score",
        F.concat(
            F.col("r_score").cast("string"), F.col("f_score").cast("string"), F.col("m_score").cast("string")
        ),
    ).withColumn("rfm_segment", F.when(buyers, segment))


def lifecycle_stage(config: ProfileConfig) -> Column:
    """Stage from orders, recency and the person's own repurchase cycle (see :class:`Lifecycle`)."""
    lc = config.lifecycle
    cycle = F.coalesce(F.col("repurchase_cycle_days"), F.lit(float(lc.default_cycle_days)))
    recency = F.col("recency_days")
    return (
        F.when(F.coalesce(F.col("orders"), F.lit(0)) == 0, F.lit("prospect"))
        .when(recency > lc.lapsed_days, F.lit("lapsed"))
        .when(recency > cycle * lc.at_risk_factor, F.lit("at_risk"))
        .when(F.col("orders") == 1, F.lit("new"))
        .when(F.col("orders") >= lc.loyal_min_orders, F.lit("loyal"))
        .otherwise(F.lit("active"))
    )


#: Columns that depend on the as-of date or on all persons at once (RFM cut points, the product
#: catalogue) rather than on one person's rollups: :func:`finalise_profiles` recomputes them for
#: every person on every build, which is what lets an incremental build keep the other columns.
FINALISED: tuple[str, ...] = (
    "as_of_date",
    "age",
    "viewed_categories",
    "recency_days",
    "r_score",
    "f_score",
    "m_score",
    "rfm_score",
    "rfm_segment",
    "lifecycle_stage",
)


def aggregated_columns(config: ProfileConfig) -> list[str]:
    """Profile columns owned by :func:`aggregate_profiles` (all but :data:`FINALISED`)."""
    return [f.name for f in profile_schema(config.windows).fields if f.name not in FINALISED]


def aggregate_profiles(
    rollups: DataFrame,
    candidates: DataFrame,
    identity_map: DataFrame,
    as_of: date,
    config: ProfileConfig,
    *,
    few_persons: bool = False,
) -> DataFrame:
    """Per-person aggregates up to ``as_of`` for the persons of ``identity_map``.

    Pass a subset of the identity map (all rows of some persons) to aggregate only those
    persons: rollups and candidates are joined through it, so nobody else is touched. Say
    ``few_persons`` when the subset is small enough to broadcast: the rollups are then
    filtered as they are scanned instead of shuffled whole to meet the subset's anchors.
    """
    anchors = person_anchors(identity_map)
    if few_persons:
        anchors = F.broadcast(anchors)
    beh = behaviour(rollups, anchors, as_of, config)
    golden = golden_record(candidates, anchors, as_of, config)
    return with_identifiers(beh.join(golden, "person_id", "left"), identity_map, config)


def finalise_profiles(
    aggregated: DataFrame, as_of: date, config: ProfileConfig, *, catalogue: DataFrame | None = None
) -> DataFrame:
    """Add the :data:`FINALISED` columns to aggregated profiles: the ``gold.profiles`` schema."""
    birth = F.col("birth_date")
    profiles = with_viewed_categories(aggregated, catalogue).withColumn(
        "age", F.floor(F.months_between(F.lit(as_of), birth) / 12).cast("int")
    )
    profiles = with_rfm(profiles, as_of).withColumn("lifecycle_stage", lifecycle_stage(config))
    profiles = profiles.withColumn("as_of_date", F.lit(as_of))
    schema = profile_schema(config.windows)
    return profiles.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


def build_profiles(
    rollups: DataFrame,
    candidates: DataFrame,
    identity_map: DataFrame,
    as_of: date,
    config: ProfileConfig,
    *,
    catalogue: DataFrame | None = None,
) -> DataFrame:
    """``gold.profiles`` as of ``as_of``: one row per person with any activity up to that day."""
    aggregated = aggregate_profiles(rollups, candidates, identity_map, as_of, config)
    return finalise_profiles(aggregated, as_of, config, catalogue=catalogue)


def lifecycle_changes(before: DataFrame | None, after: DataFrame, run_date: date) -> DataFrame:
    """Persons whose stage changed between two profile snapshots (new and vanished included)."""
    new = after.select("person_id", F.col("lifecycle_stage").alias("stage_after"))
    if before is None:
        joined = new.withColumn("stage_before", F.lit(None).cast("string"))
    else:
        old = before.select("person_id", F.col("lifecycle_stage").alias("stage_before"))
        joined = old.join(new, "person_id", "full_outer")
    return joined.where(~F.col("stage_before").eqNullSafe(F.col("stage_after"))).select(
        F.lit(run_date).alias("run_date"), "person_id", "stage_before", "stage_after"
    )
