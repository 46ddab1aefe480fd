"""Canonical silver tables: names, columns and types in one place.

Why one module: mappings (``conf/mappings/*.yaml``) are validated against these schemas without
starting Spark, the cleanse stage conforms every write to them, identity resolution and gold
read them, and tests build inputs from them. A column added here is added everywhere.

Every silver table has the same frame around its business columns:

* head: ``record_id`` (SHA-256 hex of source and natural key: stable across runs and
  re-deliveries, never a uuid), ``source`` (bronze source), ``channel``, ``event_time`` (the
  event or record time as a UTC instant) and ``event_date`` (its UTC calendar date, the partition
  column; a record never moves partition once written, so merges can prune by it);
* tail: ``identifiers`` (``map<id_type, normalised value>``, only non-null valid values; the
  one place identity resolution reads identifiers from, typed as in
  :data:`ID_TYPES`), ``_dq_flags`` (``array<string>`` of ``"<column>:<rule>"``, e.g.
  ``"phone:phone.invalid"``), and lineage: ``_bronze_file``, ``_bronze_line``,
  ``_record_hash`` (bronze hash of the raw line of the version kept), ``_run_id`` and
  ``_run_date`` of the run that wrote the row.

Identifiers live in the map rather than in explicit columns so that a new source or id type
needs a mapping change, not a schema change, and identity resolution reads one column.
Business columns that happen to hold an identifier (``contacts.email``) keep the cleaned value
too, because profiles show it.
"""

from __future__ import annotations

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

EVENTS = catalog.SILVER_EVENTS.name
ORDERS = catalog.SILVER_ORDERS.name
ORDER_LINES = catalog.SILVER_ORDER_LINES.name
CONTACTS = catalog.SILVER_CONTACTS.name
CONSENTS = catalog.SILVER_CONSENTS.name
TICKETS = catalog.SILVER_TICKETS.name
REJECTED = catalog.SILVER_REJECTED.name
DQ_METRICS = catalog.SILVER_DQ_METRICS.name

# Column names shared by every silver table.
RECORD_ID = "record_id"
SOURCE = "source"
CHANNEL = "channel"
EVENT_TIME = "event_time"
EVENT_DATE = "event_date"
IDENTIFIERS = "identifiers"
PROPERTIES = "properties"
DQ_FLAGS = "_dq_flags"
BRONZE_FILE = "_bronze_file"
BRONZE_LINE = "_bronze_line"
RECORD_HASH = "_record_hash"
RUN_ID = "_run_id"
RUN_DATE = "_run_date"
PARTITION_BY: tuple[str, ...] = (EVENT_DATE,)

ID_TYPES: tuple[str, ...] = (
    "email",
    "email_sha256",
    "phone",
    "cookie",
    "device_id",
    "member_id",
    "customer_no",
    "loyalty_card",
    "wechat_openid",
    "wechat_unionid",
)

MONEY = DecimalType(18, 2)
_S, _L, _I, _T, _D, _B = StringType(), LongType(), IntegerType(), TimestampType(), DateType(), BooleanType()
_STR_MAP = MapType(StringType(), StringType(), True)


def _f(name: str, dtype: DataType, nullable: bool = True) -> StructField:
    return StructField(name, dtype, nullable)


HEAD: tuple[StructField, ...] = (
    _f(RECORD_ID, _S, False),
    _f(SOURCE, _S, False),
    _f(CHANNEL, _S),
    _f(EVENT_TIME, _T, False),
    _f(EVENT_DATE, _D, False),
)
TAIL: tuple[StructField, ...] = (
    _f(IDENTIFIERS, _STR_MAP),
    _f(DQ_FLAGS, ArrayType(StringType(), True)),
    _f(BRONZE_FILE, _S),
    _f(BRONZE_LINE, _L),
    _f(RECORD_HASH, _S),
    _f(RUN_ID, _S),
    _f(RUN_DATE, _D),
)
FRAME_COLUMNS: frozenset[str] = frozenset(f.name for f in (*HEAD, *TAIL))

# Business columns per table: what a mapping's ``fields`` may fill (unmapped ones stay null).
BUSINESS: dict[str, tuple[StructField, ...]] = {
    EVENTS: (
        _f("event_id", _S),
        _f("event_type", _S),
        _f(PROPERTIES, _STR_MAP),
    ),
    ORDERS: (
        _f("order_id", _S),
        _f("updated_at", _T),
        _f("status", _S),
        _f("store_id", _S),
        _f("total_amount", MONEY),
        _f("currency", _S),
        _f("payment_method", _S),
        _f("promo_code", _S),
        _f("item_count", _I),
        _f("shipping_name", _S),
        _f("shipping_street", _S),
        _f("shipping_city", _S),
        _f("shipping_postcode", _S),
        _f("shipping_country", _S),
        _f("phone", _S),
        _f("email", _S),
    ),
    CONTACTS: (
        _f("customer_no", _S),
        _f("updated_at", _T),
        _f("salutation", _S),
        _f("first_name", _S),
        _f("last_name", _S),
        _f("email", _S),
        _f("phone", _S),
        _f("birth_date", _D),
        _f("gender", _S),
        _f("street", _S),
        _f("postcode", _S),
        _f("city", _S),
        _f("country", _S),
        _f("loyalty_points", _L),
    ),
    CONSENTS: (
        _f("consent_id", _S),
        _f("purpose", _S),
        _f("status", _S),
        _f("collected_via", _S),
        _f("policy_version", _S),
        _f("double_opt_in", _B),
    ),
    TICKETS: (
        _f("ticket_id", _S),
        _f("category", _S),
        _f("subject", _S),
        _f("text", _S),
        _f("name", _S),
        _f("email", _S),
        _f("phone", _S),
        _f("language", _S),
        _f("priority", _I),
        _f("satisfaction", _I),
    ),
}

# Order lines hang off an order: no identifiers, keyed by the order's record id and position.
ORDER_RECORD_ID = "order_record_id"
LINE_NO = "line_no"
LINE_BUSINESS: tuple[StructField, ...] = (
    _f("order_id", _S),
    _f("sku", _S),
    _f("product_name", _S),
    _f("category", _S),
    _f("quantity", _L),
    _f("unit_price", MONEY),
    _f("currency", _S),
    _f("ticket_type", _S),
    _f("traveler_age", _I),
)

# Tables a source mapping may target (``order_lines`` only through an orders mapping's ``lines``).
MAPPABLE_TABLES: tuple[str, ...] = tuple(BUSINESS)


def table_schema(table: str) -> StructType:
    """The full schema of a mappable silver table: head, business columns, tail."""
    return StructType([*HEAD, *BUSINESS[table], *TAIL])


def order_lines_schema() -> StructType:
    tail = [f for f in TAIL if f.name != IDENTIFIERS]
    return StructType([*HEAD, _f(ORDER_RECORD_ID, _S, False), _f(LINE_NO, _I, False), *LINE_BUSINESS, *tail])


def business_fields(table: str) -> dict[str, DataType]:
    """Columns a mapping may fill for ``table`` (``silver.order_lines`` included)."""
    fields = LINE_BUSINESS if table == ORDER_LINES else BUSINESS[table]
    return {f.name: f.dataType for f in fields}


def rejected_schema() -> StructType:
    """Bronze rows a rule rejected: enough to count, explain and replay them."""
    return StructType(
        [
            _f("reject_id", _S, False),
            _f(SOURCE, _S, False),
            _f("target_table", _S),
            _f("rule", _S, False),
            _f("natural_key", _S),
            _f(BRONZE_FILE, _S),
            _f(BRONZE_LINE, _L),
            _f("_raw", _S),
            _f(RECORD_HASH, _S),
            _f(RUN_ID, _S),
            _f(RUN_DATE, _D, False),
        ]
    )


def dq_metrics_schema() -> StructType:
    """One row per (run, source, table, column); ``column = '*'`` carries the table-level counts.

    Table-level counts (``bronze_rows`` .. ``quarantined``) are repeated on every column row of
    the same source and table so one filter answers "how did column X of source S do".
    """
    return StructType(
        [
            _f("run_id", _S, False),
            _f("run_date", _D, False),
            _f(SOURCE, _S, False),
            _f("table", _S, False),
            _f("column", _S, False),
            _f("rows", _L),
            _f("null_rate", DoubleType()),
            _f("validity_rate", DoubleType()),
            _f("distinct_count", _L),
            _f("bronze_rows", _L),
            _f("inserted", _L),
            _f("updated", _L),
            _f("duplicates_removed", _L),
            _f("superseded", _L),
            _f("rejected", _L),
            _f("quarantined", _L),
        ]
    )


def catalog_schema(_config: Config, table: str) -> StructType:
    """The schema of any silver table this module defines (the catalogue's lookup)."""
    if table in BUSINESS:
        return table_schema(table)
    builders = {ORDER_LINES: order_lines_schema, REJECTED: rejected_schema, DQ_METRICS: dq_metrics_schema}
    return builders[table]()
