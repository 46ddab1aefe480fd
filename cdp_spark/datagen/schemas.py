"""The documented raw schema of every source, the noise kinds and the truth tables.

``SOURCE_SCHEMAS`` is the contract between the generator and ingestion: every well-formed
raw record parses with ``SOURCE_SCHEMAS[source].spark_schema()`` (JSON lines read with
``spark.read.schema(...).json``; CSV read with ``header=True`` and the schema's
``delimiter``). Records the truth marks as malformed may not parse; that is their point.
JSON sources may carry fields not listed here (schema drift); readers with a fixed schema
ignore them. Note for readers: Spark's parsers skip fields no query reads, so a wrong type
in an unread field is not reported in ``_corrupt_record``; select every field when
checking validity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
)

_S, _L, _D, _B = StringType(), LongType(), DoubleType(), BooleanType()


@dataclass(frozen=True)
class FieldDoc:
    """One raw field: its name, the type it parses as, and what it holds."""

    name: str
    dtype: DataType
    doc: str


@dataclass(frozen=True)
class SourceSchema:
    """Format and fields of one source's landing files ``landing/<name>/<YYYY-MM-DD>/part-NNNNN.<ext>``."""

    name: str
    format: Literal["jsonl", "csv"]
    description: str
    fields: tuple[FieldDoc, ...]
    record_key: str
    delimiter: str = ","
    drift_fields: tuple[str, ...] = ()

    @property
    def extension(self) -> str:
        return self.format

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def spark_schema(self) -> StructType:
        return StructType([StructField(f.name, f.dtype, True) for f in self.fields])

    def ddl(self) -> str:
        """The schema as a Spark DDL string, e.g. for ``from_json`` or documentation."""
        return ", ".join(f"`{f.name}` {f.dtype.simpleString()}" for f in self.fields)


def _f(name: str, dtype: DataType, doc: str) -> FieldDoc:
    return FieldDoc(name, dtype, doc)


_ITEM = StructType(
    [
        StructField("sku", _S),
        StructField("name", _S),
        StructField("category", _S),
        StructField("quantity", _L),
        StructField("unit_price", _D),
        StructField("currency", _S),
        StructField("ticket_type", _S),
        StructField("traveler_age", _L),
    ]
)
_STATUS = StructType([StructField("status", _S), StructField("at", _S)])
_SHIPPING = StructType(
    [
        StructField("name", _S),
        StructField("street", _S),
        StructField("city", _S),
        StructField("postcode", _S),
        StructField("country", _S),
    ]
)
_SUBJECT = StructType([StructField("member_id", _S), StructField("email", _S), StructField("phone", _S)])


SOURCE_SCHEMAS: dict[str, SourceSchema] = {
    s.name: s
    for s in (
        SourceSchema(
            "web",
            "jsonl",
            "Web analytics events: an anonymous first-party cookie per browser, login events carry the member id.",
            (
                _f("event_id", _S, "unique event id"),
                _f("ts", _S, "event time, ISO-8601 UTC with milliseconds"),
                _f("cookie_id", _S, "first-party cookie (UUID); rotates when users clear cookies"),
                _f("event_type", _S, "page_view, product_view, search, add_to_cart, login, purchase"),
                _f("page_url", _S, "page URL"),
                _f("product_id", _S, "SKU for product_view/add_to_cart"),
                _f("search_query", _S, "free-text query for search"),
                _f("utm_source", _S, "campaign source on landing page views"),
                _f("utm_medium", _S, "campaign medium"),
                _f("utm_campaign", _S, "campaign name"),
                _f("member_id", _S, "shop member id on login events"),
                _f("order_id", _S, "order id on purchase events"),
                _f("order_value", _D, "order total on purchase events"),
                _f("currency", _S, "ISO currency of order_value"),
                _f("user_agent", _S, "browser user agent"),
                _f("screen_width", _L, "viewport width in pixels"),
            ),
            record_key="event_id",
            drift_fields=("ab_variant",),
        ),
        SourceSchema(
            "app",
            "jsonl",
            "Mobile app events keyed by device id (IDFV on iOS, ANDROID_ID on Android); login links a member id.",
            (
                _f("event_id", _S, "unique event id"),
                _f("event_time", _L, "event time, epoch milliseconds"),
                _f("device_id", _S, "device identifier; a household tablet may be shared"),
                _f("platform", _S, "ios or android"),
                _f("os_version", _S, "OS version"),
                _f("app_version", _S, "app version"),
                _f(
                    "event_name",
                    _S,
                    "app_open, screen_view, product_view, search, add_to_cart, push_open, "
                    "login, register, in_app_purchase, order_placed, permission_prompt",
                ),
                _f("member_id", _S, "member id on login/register"),
                _f("screen", _S, "screen name"),
                _f("product_id", _S, "SKU"),
                _f("search_term", _S, "search text"),
                _f("push_campaign", _S, "push campaign on push_open"),
                _f("amount", _D, "amount of in_app_purchase / order_placed"),
                _f("currency", _S, "ISO currency"),
                _f("order_id", _S, "e-commerce order id on order_placed"),
                _f("transaction_id", _S, "store transaction id on in_app_purchase"),
                _f("permission", _S, "permission asked on permission_prompt (location, push, camera)"),
                _f("granted", _B, "whether the permission was granted"),
                _f("locale", _S, "device locale, e.g. zh_CN"),
            ),
            record_key="event_id",
            drift_fields=("battery_level",),
        ),
        SourceSchema(
            "orders",
            "jsonl",
            "E-commerce order snapshots: one line per order and status change (paid, shipped, returned, cancelled).",
            (
                _f("order_id", _S, "order id; repeats on later days with a newer status"),
                _f("created_at", _S, "order time, local ISO-8601 with UTC offset"),
                _f("updated_at", _S, "time of the current status, local ISO-8601 with UTC offset"),
                _f("status", _S, "paid, shipped, returned or cancelled"),
                _f("status_history", ArrayType(_STATUS), "every status so far with its time"),
                _f("channel", _S, "web, app or mini_program"),
                _f("member_id", _S, "member id when the buyer was logged in"),
                _f("guest_email", _S, "e-mail of a guest checkout (personal or family address)"),
                _f("phone", _S, "buyer phone, E.164 unless noisy"),
                _f("shipping", _SHIPPING, "shipping name and address"),
                _f("items", ArrayType(_ITEM), "line items; tickets carry ticket_type and traveler_age"),
                _f("total_amount", _D, "order total"),
                _f("currency", _S, "ISO currency"),
                _f("payment_method", _S, "alipay, wechat_pay, paypal, card, ..."),
                _f("promo_code", _S, "promotion code if any"),
            ),
            record_key="order_id",
            drift_fields=("delivery_slot",),
        ),
        SourceSchema(
            "pos",
            "csv",
            "Offline store till transactions; the cashier records a loyalty card or a phone number, or nothing.",
            (
                _f("txn_id", _S, "till transaction id"),
                _f("store_id", _S, "store id, e.g. CN-SH-002"),
                _f("ts", _S, "local time, yyyy/MM/dd HH:mm:ss unless noisy"),
                _f("card_no", _S, "loyalty card number"),
                _f("phone", _S, "customer phone as typed by the cashier (many notations)"),
                _f("items", _S, "SKU*qty separated by |"),
                _f("amount", _D, "total amount, decimal point"),
                _f("currency", _S, "ISO currency"),
                _f("payment_method", _S, "payment method"),
            ),
            record_key="txn_id",
            delimiter=";",
        ),
        SourceSchema(
            "crm",
            "csv",
            "CRM contact export: day 0 is a full export, later days carry new and changed contacts; manual entry.",
            (
                _f("customer_no", _S, "CRM customer number (10 digits, leading zeros)"),
                _f("salutation", _S, "Herr/Frau, Mr/Ms, 先生/女士"),
                _f("first_name", _S, "given name"),
                _f("last_name", _S, "family name"),
                _f("email", _S, "e-mail"),
                _f("phone", _S, "phone in the CRM's local notation unless noisy"),
                _f("birth_date", _S, "birth date, yyyy-MM-dd unless noisy (several formats)"),
                _f("gender", _S, "locale code: 男/女, m/w, M/F"),
                _f("street", _S, "street and house number"),
                _f("postcode", _S, "postcode as text"),
                _f("city", _S, "city"),
                _f("country", _S, "ISO country"),
                _f("loyalty_points", _L, "points balance"),
                _f("created_at", _S, "contact creation date, yyyy-MM-dd"),
                _f("updated_at", _S, "last change, yyyy-MM-dd HH:mm:ss UTC"),
            ),
            record_key="customer_no",
        ),
        SourceSchema(
            "wechat",
            "jsonl",
            "WeChat official account and mini-program events: openid per app, unionid across apps when bound.",
            (
                _f("appid", _S, "WeChat app id (official account or mini-program)"),
                _f("openid", _S, "user id within that app"),
                _f("unionid", _S, "user id across the brand's apps, when bound"),
                _f("event", _S, "subscribe, unsubscribe, mp_login, mp_phone_auth"),
                _f("ts", _L, "epoch seconds"),
                _f("nickname", _S, "WeChat nickname (often emoji)"),
                _f("phone", _S, "phone number from mini-program phone authorisation"),
                _f("member_id", _S, "member id bound in the mini-program"),
                _f("scene", _S, "entry scene"),
                _f("event_id", _S, "unique event id"),
            ),
            record_key="event_id",
            drift_fields=("city",),
        ),
        SourceSchema(
            "email",
            "csv",
            "E-mail marketing events from the ESP; partner lists deliver SHA-256 of the normalised address only.",
            (
                _f("campaign_id", _S, "campaign id"),
                _f("send_id", _L, "numeric send id"),
                _f("email", _S, "recipient e-mail (empty when hashed)"),
                _f("email_sha256", _S, "SHA-256 hex of lower(trim(email)) (empty when plain)"),
                _f("event", _S, "send, open, click, unsubscribe"),
                _f("event_ts", _S, "yyyy-MM-dd HH:mm:ss UTC"),
                _f("link_url", _S, "clicked URL"),
            ),
            record_key="send_id",
        ),
        SourceSchema(
            "consents",
            "jsonl",
            "Consent changes: purpose, granted/withdrawn, when and where, for a member id, e-mail or phone.",
            (
                _f("consent_id", _S, "unique id"),
                _f("subject", _SUBJECT, "whom the consent is about (any of member_id, email, phone)"),
                _f("purpose", _S, "email, sms, ads, profiling"),
                _f("status", _S, "granted or withdrawn"),
                _f("ts", _S, "ISO-8601 UTC"),
                _f("source", _S, "web_form, app, pos, crm, wechat"),
                _f("policy_version", _S, "privacy policy version"),
                _f("double_opt_in", _B, "confirmed by a second step"),
            ),
            record_key="consent_id",
            drift_fields=("legal_basis",),
        ),
        SourceSchema(
            "support",
            "jsonl",
            "Customer-service tickets: contact e-mail or phone, category, free text, satisfaction.",
            (
                _f("ticket_id", _S, "ticket id"),
                _f("created_at", _S, "local time yyyy-MM-dd HH:mm:ss"),
                _f("channel", _S, "email, phone, chat"),
                _f("email", _S, "contact e-mail"),
                _f("phone", _S, "contact phone"),
                _f("name", _S, "name given by the customer"),
                _f("category", _S, "delivery, refund, product, account, other"),
                _f("subject", _S, "subject line"),
                _f("text", _S, "free text in the customer's language"),
                _f("satisfaction", _L, "1-5 after closing, often absent"),
                _f("priority", _L, "1 (urgent) to 4"),
                _f("language", _S, "zh, de, en"),
            ),
            record_key="ticket_id",
            drift_fields=("sentiment",),
        ),
    )
}

SOURCES: tuple[str, ...] = tuple(SOURCE_SCHEMAS)

# Identifier types written to truth/identifiers.
ID_TYPES: tuple[str, ...] = (
    "cookie",
    "device_id",
    "member_id",
    "customer_no",
    "loyalty_card",
    "email",
    "email_sha256",
    "phone",
    "wechat_openid",
    "wechat_unionid",
    "order_id",
)

_JSON = tuple(s for s, v in SOURCE_SCHEMAS.items() if v.format == "jsonl")
_CSV = tuple(s for s, v in SOURCE_SCHEMAS.items() if v.format == "csv")


@dataclass(frozen=True)
class NoiseKind:
    """What a noise kind does, where, and which records are eligible (for rate checks)."""

    description: str
    sources: tuple[str, ...]
    eligible: str
    malformed: bool = False


NOISE_KINDS: dict[str, NoiseKind] = {
    "typo": NoiseKind(
        "one character dropped, doubled or swapped in a name or the local part of an e-mail",
        ("orders", "crm", "email", "support"),
        "orders: every record (shipping name); crm: every record (first or last name); "
        "email, support: records with a plain, non-junk e-mail",
    ),
    "case_variant": NoiseKind(
        "upper/lower case or extra spaces in e-mails and names (CJK names get a space)",
        ("orders", "crm", "email", "support"),
        "orders, crm: every record (name or e-mail); email, support: as for typo",
    ),
    "phone_format": NoiseKind(
        "phone in another notation than the source's own: +86 138 1234 5678, 0086-138-1234-5678, "
        "138 1234 5678, (+86) ..., 0151/..., +49 (0)151 ..., (415) 555-0123 ...",
        ("orders", "pos", "crm", "support", "wechat", "consents"),
        "records carrying a real (non-junk) phone (truth/records.id_types contains 'phone')",
    ),
    "fullwidth_digits": NoiseKind(
        "digits of a phone written as full-width characters (１３８...)",
        ("orders", "pos", "crm", "support", "wechat", "consents"),
        "records carrying a real (non-junk) phone",
    ),
    "date_format": NoiseKind(
        "dates in another format: dd.MM.yyyy, MM/dd/yyyy, yyyy/M/d, yyyy年M月d日, yyyyMMdd, d-MMM-yyyy",
        ("crm", "pos"),
        "crm: birth_date when present; pos: ts",
    ),
    "missing": NoiseKind(
        "a normally filled field is empty: crm e-mail/phone/birth date, order phone, ticket name, "
        "web user agent, app os version, pos payment method",
        ("web", "app", "orders", "pos", "crm", "support"),
        "every record of these sources",
    ),
    "duplicate": NoiseKind(
        "the same line delivered twice (the second copy carries the flag)",
        SOURCES,
        "every first copy",
    ),
    "late_arrival": NoiseKind(
        "event time 1-3 days before the file date",
        ("web", "app", "pos", "wechat", "email", "consents", "support"),
        "every record of these sources",
    ),
    "junk_identifier": NoiseKind(
        "an identifier replaced by a placeholder shared by many people (test@test.com, 13800000000, null, ...)",
        ("web", "app", "orders", "pos", "crm", "email", "consents", "support", "wechat"),
        "every record of these sources except e-mail events with a hashed address; web: cookie, "
        "app: device, pos: phone, wechat: unionid, crm: e-mail or phone, orders: guest e-mail or "
        "phone, consents/support: e-mail if present else phone",
    ),
    "shared_device": NoiseKind(
        "a household member uses the head's device (rate per multi-person household; about half "
        "of that member's app events are flagged)",
        ("app",),
        "multi-person households (see truth/persons.shares_device)",
    ),
    "family_email": NoiseKind(
        "a household's shared e-mail used instead of the personal one (rate per multi-person household)",
        ("orders", "support"),
        "multi-person households (see truth/persons.family_email)",
    ),
    "duplicate_contact": NoiseKind(
        "the same person entered twice in the CRM under two customer numbers (rate per contact)",
        ("crm",),
        "CRM contacts",
    ),
    "schema_drift": NoiseKind(
        "a field not in the documented schema appears in the record",
        _JSON,
        "every record of JSON sources",
    ),
    "broken_json": NoiseKind(
        "line truncated mid-record", _JSON, "every record of JSON sources", malformed=True
    ),
    "wrong_column_count": NoiseKind(
        "a CSV line with one field too many or too few", _CSV, "every record of CSV sources", malformed=True
    ),
    "wrong_type": NoiseKind(
        'a numeric or boolean field holds text ("12,50", "n/a", "yes")',
        SOURCES,
        "every record",
        malformed=True,
    ),
    "invalid_utf8": NoiseKind(
        "a Latin-1 byte (0xFC) inside a text field, i.e. bytes that are not valid UTF-8",
        SOURCES,
        "every record",
        malformed=True,
    ),
}

MALFORMED_KINDS: tuple[str, ...] = tuple(k for k, v in NOISE_KINDS.items() if v.malformed)

# Truth tables under <workspace>/truth/ (Parquet, hive-style partitions so that
# ``spark.read.parquet(<workspace>/truth/records)`` adds ``source`` and ``file_date``):
#   records/source=<s>/file_date=<d>/part-NNNNN.parquet  one file per landing file
#   identifiers/source=<s>/file_date=<d>/part-00000.parquet
#   persons/part-NNNNN.parquet  the hidden population (see population.PERSON_COLUMNS)
TRUTH_RECORDS_SCHEMA = StructType(
    [
        StructField("file", _S, False),  # landing-relative path, e.g. web/2025-01-06/part-00000.jsonl
        StructField("line_number", _L, False),  # 1-based physical line (CSV header is line 1)
        StructField(
            "record_key", _S, True
        ),  # record key before noise (orders: order_id:status, email: send_id:event)
        StructField("person_id", _S, False),
        StructField("event_date", StringType(), True),  # yyyy-MM-dd of the event (late arrivals < file date)
        StructField("malformed", _B, False),
        StructField("noise", ArrayType(_S, False), False),  # noise kinds applied (see NOISE_KINDS)
        StructField("id_types", ArrayType(_S, False), False),  # types of the real identifiers written
        StructField("story", _B, False),
    ]
)
TRUTH_IDENTIFIERS_SCHEMA = StructType(
    [
        StructField("id_type", _S, False),
        StructField("id_value", _S, False),  # exactly as written in the raw record
        StructField("id_value_true", _S, True),  # the clean value the noise started from
        StructField("person_id", _S, False),
        StructField("is_junk", _B, False),
        StructField("records", _L, False),  # raw records of that source and day carrying it
    ]
)
