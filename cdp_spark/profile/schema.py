"""Gold profile tables: names, columns and types in one place.

Why rollups: a profile is an aggregate over a person's whole history, but a nightly run only
touches a few days and a few identities. ``gold.daily_rollups`` holds mergeable partial
aggregates per *anchor identifier* and day (the anchor of a record is its most trusted
identifier, see ``profile.yaml: anchor_priority``). A late event recomputes only its day's
rollups; a merge or split only changes which person an anchor maps to in
``gold.identity_map``, so profiles re-key rollups instead of re-reading silver. Keying by
anchor rather than by person is what makes splits exact: an anchor never spans two persons.

``gold.attribute_candidates`` does the same for the golden record: one row per anchor, day,
attribute group, source and value, with counts and first/last seen, so every survivorship
rule (source priority, most recent, most frequent, first non-null) can be evaluated from it.

Tags are Spark SQL over ``gold.profiles``; the behaviour windows (``last_30d`` ...) are struct
columns of the profile so a tag can say ``size(filter(last_30d.search_terms, t -> t rlike
'(?i)antarctic|南极')) >= 2``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from cdp_spark import catalog

if TYPE_CHECKING:
    from cdp_spark.config import Config

ROLLUPS = catalog.GOLD_DAILY_ROLLUPS.name
CANDIDATES = catalog.GOLD_ATTRIBUTE_CANDIDATES.name
PROFILES = catalog.GOLD_PROFILES.name
LIFECYCLE_CHANGES = catalog.GOLD_LIFECYCLE_CHANGES.name

MONEY = DecimalType(18, 2)
_S, _L, _I, _T, _D, _B, _F = (
    StringType(),
    LongType(),
    IntegerType(),
    TimestampType(),
    DateType(),
    BooleanType(),
    DoubleType(),
)
_COUNTS = MapType(StringType(), LongType(), True)
_AMOUNTS = MapType(StringType(), MONEY, True)
_STRS = ArrayType(StringType(), True)


def _f(name: str, dtype: DataType, nullable: bool = True) -> StructField:
    return StructField(name, dtype, nullable)


CONSENT_EVENT = StructType([_f("purpose", _S), _f("status", _S), _f("at", _T)])
WECHAT_STATE = StructType([_f("at", _T), _f("following", _B)])

#: Measures shared by the daily rollup, the profile and every behaviour window. Counts are
#: summed, maps are summed per key, arrays are unioned (distinct, sorted) when rollups merge.
MEASURES: tuple[StructField, ...] = (
    _f("events", _L),
    _f("channels", _COUNTS),  # channel -> events
    _f("event_counts", _COUNTS),  # event_type -> events
    _f("web_sessions", _L),
    _f("app_sessions", _L),
    _f("page_views", _L),
    _f("product_views", _L),
    _f("viewed_products", _COUNTS),  # sku -> views
    _f("searches", _L),
    _f("search_terms", _STRS),  # distinct normalised terms (trimmed, lower-case)
    _f("permissions_granted", _STRS),
    _f("permissions_declined", _STRS),
    _f("orders", _L),  # orders in a revenue status, counted on the order's date
    _f("returned_orders", _L),
    _f("items", _L),
    _f("revenue", MONEY),  # reporting currency
    _f("category_spend", _AMOUNTS),  # category -> revenue (reporting currency)
    _f("ticket_types", _COUNTS),  # ticket_type -> quantity (travel tickets)
    _f("traveler_ages", ArrayType(IntegerType(), True)),  # distinct ages of travellers on tickets
    _f("stores", _COUNTS),  # store_id -> store orders
    _f("tickets", _L),  # support tickets
    _f("satisfaction_sum", _L),
    _f("satisfaction_n", _L),
)
MEASURE_NAMES: tuple[str, ...] = tuple(f.name for f in MEASURES)

ANCHOR_TYPE, ANCHOR_VALUE = "anchor_type", "anchor_value"
#: A rollup or candidate row's key: rows of one key come from the same silver records.
ROLLUP_KEY: tuple[str, ...] = (ANCHOR_TYPE, ANCHOR_VALUE, "event_date")

#: Partition column of the rollup and candidate tables: the first day of ``event_date``'s month.
#: Not the day itself: records carry dates reaching back years (a CRM contact's creation date),
#: and one partition per day made thousands of one-row files whose opening dominated every
#: profile build. A nightly run replaces the touched months, keeping the untouched days' rows
#: of those months as they were.
EVENT_MONTH = "event_month"

#: ``gold.daily_rollups``, partitioned by :data:`EVENT_MONTH`.
ROLLUP_SCHEMA = StructType(
    [
        _f(ANCHOR_TYPE, _S, False),
        _f(ANCHOR_VALUE, _S, False),
        _f("event_date", _D, False),
        _f("records", _L, False),
        _f("first_seen", _T),
        _f("last_seen", _T),
        _f("last_channel", _S),
        *MEASURES,
        _f("consent_events", ArrayType(CONSENT_EVENT, True)),  # the day's last status per purpose
        _f("wechat_state", WECHAT_STATE),  # the day's last follow/unfollow
        _f(EVENT_MONTH, _D, False),
    ]
)

#: ``gold.attribute_candidates``, partitioned by :data:`EVENT_MONTH`.
CANDIDATE_SCHEMA = StructType(
    [
        _f(ANCHOR_TYPE, _S, False),
        _f(ANCHOR_VALUE, _S, False),
        _f("event_date", _D, False),
        _f("attribute", _S, False),  # one of profile.config.ATTRIBUTE_GROUPS
        _f("value", _S, False),  # address: JSON of street/postcode/city/country
        _f("source", _S, False),
        _f("records", _L, False),
        _f("first_seen", _T, False),
        _f("last_seen", _T, False),
        _f("last_record_id", _S, False),  # provenance: the latest record carrying the value
        _f(EVENT_MONTH, _D, False),
    ]
)

#: Behaviour windows: the measures plus activity over the last N days up to the as-of date.
WINDOW_STRUCT = StructType([_f("active_days", _L), *MEASURES])

#: Golden-record columns: value plus provenance (source and record id of the winner).
GOLDEN: tuple[StructField, ...] = (
    _f("full_name", _S),
    _f("name_source", _S),
    _f("name_record_id", _S),
    _f("gender", _S),
    _f("gender_source", _S),
    _f("gender_record_id", _S),
    _f("birth_date", _D),
    _f("age", _I),
    _f("birth_date_source", _S),
    _f("birth_date_record_id", _S),
    _f("street", _S),
    _f("postcode", _S),
    _f("city", _S),
    _f("country", _S),
    _f("address_source", _S),
    _f("address_record_id", _S),
    _f("email", _S),
    _f("email_source", _S),
    _f("email_record_id", _S),
    _f("phone", _S),
    _f("phone_source", _S),
    _f("phone_record_id", _S),
)

BEHAVIOUR: tuple[StructField, ...] = (
    _f("first_seen", _T),
    _f("last_seen", _T),
    _f("active_days", _L),
    _f("last_channel", _S),
    *MEASURES,
    _f("viewed_categories", _COUNTS),  # category -> product views (catalogue from order lines)
    _f("avg_order_value", MONEY),
    _f("first_order_date", _D),
    _f("last_order_date", _D),
    _f("order_days", _L),
    _f("repurchase_cycle_days", _F),  # median days between distinct order days; null below 2
    # the distinct order days, sorted: what the cycle is the median of, and what lets a night
    # merge a new order into a stored profile (also a feature in its own right)
    _f("order_dates", ArrayType(_D, True)),
    _f("top_categories", _STRS),  # up to 3, by spend
    _f("preferred_store", _S),
    _f("wechat_following", _B),  # null: never followed or unfollowed
    _f("wechat_changed_at", _T),  # time of that latest follow or unfollow
    _f("avg_satisfaction", _F),
    _f("consent", MapType(StringType(), StringType(), True)),  # purpose -> granted | withdrawn
    _f("consent_changed_at", MapType(StringType(), _T, True)),  # purpose -> time of that latest event
)

RFM: tuple[StructField, ...] = (
    _f("recency_days", _I),
    _f("r_score", _I),
    _f("f_score", _I),
    _f("m_score", _I),
    _f("rfm_score", _S),  # e.g. "545"
    _f("rfm_segment", _S),
)


def profile_schema(windows: Sequence[int]) -> StructType:
    """``gold.profiles``: one row per person as of ``as_of_date``; one struct per window."""
    return StructType(
        [
            _f("person_id", _S, False),
            _f("as_of_date", _D, False),
            _f("is_known", _B, False),
            _f("id_types", _STRS),
            _f("identifiers", _L),
            # XOR of 64-bit hashes of the person's (id_type, id_value) pairs: changes whenever an
            # identifier joins or leaves the person (exports can use it too).
            _f("identity_fingerprint", _L),
            *GOLDEN,
            *BEHAVIOUR,
            *RFM,
            _f("lifecycle_stage", _S, False),
            *(_f(f"last_{days}d", WINDOW_STRUCT) for days in sorted(set(windows))),
        ]
    )


LIFECYCLE_CHANGES_SCHEMA = StructType(
    [
        _f("run_date", _D, False),
        _f("person_id", _S, False),
        _f("stage_before", _S),  # null: the person is new to profiles
        _f("stage_after", _S),  # null: the person left profiles (merged away)
    ]
)


def catalog_schema(config: Config, table: str) -> StructType:
    """``gold.profiles`` has one struct column per configured behaviour window."""
    from cdp_spark.profile.config import profile_config

    if table != PROFILES:
        raise KeyError(table)
    return profile_schema(profile_config(config).windows)
