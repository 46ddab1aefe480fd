"""E-commerce orders (JSON lines): one snapshot per order and status change.

An order placed on day j is delivered on day j with status ``paid`` (3% ``cancelled``),
again on day j+1 as ``shipped`` and, for 6% of them, on day j+4 as ``returned``. Each
snapshot repeats the whole order with a growing ``status_history``, the way CDC exports
of an order table look. Orders placed before the first day show up as status updates on
the first days, as they would in a real first delivery.

``placed_orders`` is shared with the web and app generators, which emit the matching
``purchase`` / ``order_placed`` events: that is how a cookie or device gets linked to the
phone and e-mail on an order.
"""

from __future__ import annotations

from pyspark.sql import DataFrame

from cdp_spark.datagen import vocab
from cdp_spark.datagen._common import (
    Gen,
    Noise,
    active_online,
    apply_email_case,
    apply_name_case,
    apply_phone,
    apply_typo,
    currency,
    event_epoch,
    finalize,
    ident,
    json_line,
    junk,
    local_iso,
    render_output,
    with_flags,
    with_malformed,
)
from cdp_spark.datagen._sql import Rng, add, bijective, by_locale, case, pick, q, select, when
from cdp_spark.datagen.schemas import SOURCE_SCHEMAS

SOURCE = "orders"
ROWS_PER_PERSON_DAY = 0.03
ORDER_BIJ = (100_000_000, 9_999_991, 4_242)
NATIVE_PHONE = {"zh_CN": 0, "de_DE": 0, "en_US": 0}
PROMO_CODES = ("WINTER10", "NEWYEAR25", "WELCOME5", "TRAVEL100")

ITEM_TYPE = (
    "STRUCT<sku: STRING, name: STRING, category: STRING, quantity: BIGINT, unit_price: DOUBLE, "
    "currency: STRING, ticket_type: STRING, traveler_age: BIGINT>"
)


def catalog_item(index: str, quantity: str) -> str:
    """A line-item struct for catalogue product ``index`` in the row's locale and currency."""
    products = vocab.PRODUCTS
    name = by_locale(
        "locale",
        {
            "zh_CN": pick([p.name_zh for p in products], index),
            "de_DE": pick([p.name_de for p in products], index),
            "en_US": pick([p.name_en for p in products], index),
        },
    )
    price = by_locale(
        "locale",
        {loc: pick([vocab.price(p, cur) for p in products], index) for loc, cur in vocab.CURRENCY.items()},
    )
    return (
        f"named_struct('sku', {pick([p.sku for p in products], index)}, 'name', {name}, "
        f"'category', {pick([p.category for p in products], index)}, 'quantity', CAST({quantity} AS BIGINT), "
        f"'unit_price', CAST({price} AS DOUBLE), 'currency', {currency()}, "
        "'ticket_type', CAST(NULL AS STRING), 'traveler_age', CAST(NULL AS BIGINT))"
    )


def order_id(idx: str, date: str) -> str:
    return f"concat('SO', date_format({date}, 'yyyyMMdd'), lpad(CAST({bijective(idx, *ORDER_BIJ)} AS STRING), 8, '0'))"


_PLACED_COLS = (
    "person_id",
    "person_idx",
    "locale",
    "utc_offset",
    "tz",
    "age",
    "has_web",
    "has_app",
    "wechat_openid_mp",
    "member_id",
    "member_since_day",
    "family_email",
    "email",
    "phone",
    "phone_nsn",
    "full_name",
    "street",
    "city",
    "postcode",
    "country",
    "segment",
    "first_day",
    "turn_day",
    "role",
    "device_id",
    "platform",
    "shares_device",
    "household_device_id",
    "household_platform",
)


def placed_orders(g: Gen, persons: DataFrame, days: DataFrame) -> DataFrame:
    """One row per order placed on ``day`` (at most one per person and day).

    ``days`` needs a ``day`` column (the order day); other columns pass through.
    """
    p = persons.select(*_PLACED_COLS).where(
        "age >= 18 AND (has_web OR has_app OR wechat_openid_mp IS NOT NULL)"
    )
    r = Rng(g.seed, "order", "person_idx", "`day`")
    df = p.crossJoin(days.hint("broadcast")).where(f"{active_online(g)} AND {r.below('order', 0.06)}")
    w_app = "CASE WHEN has_app THEN 0.45D ELSE 0.0D END"
    w_web = "CASE WHEN has_web THEN 0.4D ELSE 0.0D END"
    w_mp = "CASE WHEN wechat_openid_mp IS NOT NULL THEN 0.15D ELSE 0.0D END"
    member_now = "(member_id IS NOT NULL AND member_since_day <= `day`)"
    df = add(
        df,
        {
            "_u_channel": f"{r.u('channel')} * ({w_app} + {w_web} + {w_mp})",
            "_w_app": w_app,
            "_w_web": w_web,
            "_n_items": f"1 + {r.geometric('items', 0.6, 3)}",
            "_member_now": member_now,
            "_use_family": f"(family_email IS NOT NULL AND {r.below('family_email', 0.5)})",
        },
    )
    item = catalog_item(
        r.child("i").int_("sku", len(vocab.PRODUCTS)), when(r.child("i").below("qty", 0.15), "2", "1")
    )
    df = add(
        df,
        {
            "order_id": order_id("person_idx", g.date_of()),
            "channel": case(
                [("_u_channel < _w_app", "'app'"), ("_u_channel < _w_app + _w_web", "'web'")],
                "'mini_program'",
            ),
            "items": f"transform(sequence(1, _n_items), i -> {item})",
            "created_epoch": event_epoch(g, r, vocab.ONLINE_HOURS),
            "currency": currency(),
            "payment_method": by_locale(
                "locale", {k: r.pick("payment", v) for k, v in vocab.PAYMENT_ONLINE.items()}
            ),
            "promo_code": when(r.below("promo", 0.1), r.pick("promo_code", PROMO_CODES)),
            "order_member_id": when("_member_now", "member_id"),
            "guest_email_true": when("NOT _member_now", when("_use_family", "family_email", "email")),
            "used_family_email": "(NOT _member_now AND _use_family)",
        },
    )
    return add(
        df, {"total_amount": "round(aggregate(items, 0.0D, (acc, x) -> acc + x.quantity * x.unit_price), 2)"}
    ).drop("_u_channel", "_w_app", "_w_web", "_n_items", "_member_now", "_use_family")


def events(g: Gen, persons: DataFrame, days: DataFrame) -> DataFrame:
    """Semantic order snapshots delivered on each file day."""
    spark = days.sparkSession
    offsets = spark.createDataFrame([(0,), (1,), (4,)], "offset INT")
    order_days = (
        days.withColumnRenamed("day", "file_day")
        .crossJoin(offsets)
        .selectExpr("*", "file_day - offset AS day")
    )
    placed = placed_orders(g, persons, order_days)
    r = Rng(g.seed, "order", "person_idx", "`day`")
    placed = add(
        placed, {"_cancelled": r.below("cancelled", 0.03), "_returned": r.below("returned", 0.06)}
    ).where("offset = 0 OR (offset = 1 AND NOT _cancelled) OR (offset = 4 AND NOT _cancelled AND _returned)")
    fr = Rng(g.seed, "order_status", "person_idx", "`day`")
    placed = add(
        placed,
        {
            "_paid_at": f"least(created_epoch + 60 + {fr.int_('paid', 600)}, {g.day_start()} + 86399L)",
            "_shipped_at": event_epoch(g, fr, [0] * 8 + [1] * 10 + [0] * 6, "shipped", "`day` + 1"),
            "_returned_at": event_epoch(g, fr, [0] * 9 + [1] * 9 + [0] * 6, "returned", "`day` + 4"),
        },
    )
    placed = add(
        placed,
        {
            "_created_iso": local_iso("created_epoch"),
            "_paid_iso": local_iso("_paid_at"),
            "_shipped_iso": local_iso("_shipped_at"),
            "_returned_iso": local_iso("_returned_at"),
        },
    )

    def hist(*steps: tuple[str, str]) -> str:
        return "array(" + ", ".join(f"named_struct('status', {q(s)}, 'at', {at})" for s, at in steps) + ")"

    created, paid = ("created", "_created_iso"), ("paid", "_paid_iso")
    history = case(
        [
            ("offset = 0 AND _cancelled", hist(created, ("cancelled", "_paid_iso"))),
            ("offset = 0", hist(created, paid)),
            ("offset = 1", hist(created, paid, ("shipped", "_shipped_iso"))),
        ],
        hist(created, paid, ("shipped", "_shipped_iso"), ("returned", "_returned_iso")),
    )
    status = case(
        [("offset = 0 AND _cancelled", "'cancelled'"), ("offset = 0", "'paid'"), ("offset = 1", "'shipped'")],
        "'returned'",
    )
    placed = add(placed, {"status": status})
    return select(
        placed,
        {
            "person_id": "person_id",
            "person_idx": "person_idx",
            "locale": "locale",
            "tz": "tz",
            "day": "file_day",
            "record_key": "concat(order_id, ':', status)",
            "order_id": "order_id",
            "created_at": "_created_iso",
            "updated_at": case(
                [("offset = 0", "_paid_iso"), ("offset = 1", "_shipped_iso")], "_returned_iso"
            ),
            "base_epoch": case([("offset = 0", "_paid_at"), ("offset = 1", "_shipped_at")], "_returned_at"),
            "status": "status",
            "status_history": history,
            "channel": "channel",
            "member_id": "order_member_id",
            "guest_email_true": "guest_email_true",
            "used_family_email": "used_family_email",
            "phone_true": "phone",
            "phone_nsn": "phone_nsn",
            "ship_name": "full_name",
            "ship_street": "street",
            "ship_city": "city",
            "ship_postcode": "postcode",
            "ship_country": "country",
            "items": f"CAST(items AS ARRAY<{ITEM_TYPE}>)",
            "total_amount": "total_amount",
            "currency": "currency",
            "payment_method": "payment_method",
            "promo_code": "promo_code",
            "story": "false",
        },
    )


def render(g: Gen, df: DataFrame) -> DataFrame:
    schema = SOURCE_SCHEMAS[SOURCE]
    nz = Noise(g, SOURCE)
    rng = nz.rng
    df = with_flags(
        df,
        {
            "typo": nz.flag("typo"),
            "case_variant": nz.flag("case_variant"),
            "missing": nz.flag("missing"),
            "junk_identifier": nz.flag("junk_identifier"),
            "family_email": "(used_family_email AND NOT story)",
            "schema_drift": nz.flag("schema_drift"),
        },
    )
    df = with_malformed(df, nz, schema)
    df = add(
        df,
        {
            "_is_guest": "guest_email_true IS NOT NULL",
            "_case_email_coin": rng.below("case_on_email", 0.5),
            "_name": "ship_name",
            "_email": "guest_email_true",
        },
    )
    df = add(
        df,
        {
            "_junk_email": "(_f_junk_identifier AND _is_guest)",
            "_junk_phone": "(_f_junk_identifier AND NOT _is_guest)",
        },
    )
    has_phone = "(phone_nsn IS NOT NULL AND NOT _f_missing AND NOT _junk_phone)"
    df = with_flags(
        df,
        {
            "phone_format": nz.flag("phone_format", has_phone),
            "fullwidth_digits": nz.flag("fullwidth_digits", has_phone),
        },
    )
    df = add(
        df,
        {
            "_case_email": "(_f_case_variant AND _is_guest AND _case_email_coin AND NOT _junk_email)",
            "_case_name": "(_f_case_variant AND NOT (_is_guest AND _case_email_coin))",
        },
    )
    df = apply_typo(df, "_name", rng, "typo", "_f_typo")
    df = apply_name_case(df, "_name", rng, "case_name", "_case_name")
    df = apply_email_case(df, "_email", rng, "case_email", "_case_email")
    df = apply_phone(df, "_phone", native=NATIVE_PHONE, nsn="phone_nsn", rng=rng)
    df = add(
        df,
        {
            "_email": when("_junk_email", junk(rng, "junk_email", vocab.JUNK_EMAILS), "_email"),
            "_phone": case(
                [("_junk_phone", junk(rng, "junk_phone", vocab.JUNK_PHONES)), ("_f_missing", "NULL")],
                "_phone",
            ),
        },
    )
    shipping = (
        "named_struct('name', _name, 'street', ship_street, 'city', ship_city, "
        "'postcode', ship_postcode, 'country', ship_country)"
    )
    value = json_line(
        {
            "order_id": "order_id",
            "created_at": "created_at",
            "updated_at": "updated_at",
            "status": "status",
            "status_history": "status_history",
            "channel": "channel",
            "member_id": "member_id",
            "guest_email": "_email",
            "phone": "_phone",
            "shipping": shipping,
            "items": "items",
            "total_amount": "total_amount",
            "currency": "currency",
            "payment_method": "payment_method",
            "promo_code": "promo_code",
            "delivery_slot": when(
                "_f_schema_drift", rng.pick("slot", ["08:00-12:00", "12:00-18:00", "18:00-22:00"])
            ),
        }
    )
    out = render_output(
        df,
        value=value,
        noise=[
            "typo",
            "case_variant",
            "missing",
            "junk_identifier",
            "family_email",
            "schema_drift",
            "phone_format",
            "fullwidth_digits",
        ],
        identifiers=[
            ident("order_id", "order_id", "order_id"),
            ident("member_id", "member_id", "member_id"),
            ident("email", "_email", "guest_email_true", "_junk_email"),
            ident("phone", "_phone", "phone_true", "_junk_phone"),
        ],
        event="base_epoch",
        arrival="base_epoch",
    )
    return finalize(g, out, SOURCE, n_files=g.file_count(SOURCE, ROWS_PER_PERSON_DAY))
