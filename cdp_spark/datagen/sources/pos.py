"""Offline store till transactions (CSV, ``;``-separated).

The cashier records a loyalty card, or a phone number typed in whatever notation (in
China asking for the mobile number is common), or nothing. Anonymous transactions still
belong to a person in the truth, but carry no identifier. Saturday is the busiest day and
German stores are closed on Sundays.
"""

from __future__ import annotations

from pyspark.sql import DataFrame

from cdp_spark.datagen import vocab
from cdp_spark.datagen._common import (
    Gen,
    Noise,
    apply_phone,
    csv_line,
    currency,
    event_epoch,
    finalize,
    ident,
    junk,
    local_ts,
    noisy_variant,
    render_output,
    store_weekday_factor,
    with_bad_bytes,
    with_flags,
    with_late,
    with_malformed,
)
from cdp_spark.datagen._sql import Rng, add, by_locale, case, locale_lit, pick, q, select, when
from cdp_spark.datagen.schemas import SOURCE_SCHEMAS

SOURCE = "pos"
ROWS_PER_PERSON_DAY = 0.03
NATIVE_PHONE = {"zh_CN": 3, "de_DE": 1, "en_US": 2}
TS_NOTATIONS = 6  # 0 = yyyy/MM/dd HH:mm:ss

_PERSON_COLS = (
    "person_id",
    "person_idx",
    "locale",
    "utc_offset",
    "tz",
    "country",
    "city_code",
    "pos_customer",
    "loyalty_card",
    "phone",
    "phone_nsn",
)

_IN_STORE = vocab.PRODUCTS[3:]  # no tours at the till


_ISO_LOCAL = "yyyy-MM-dd'T'HH:mm:ss"
_CJK_TS = "yyyy'年'M'月'd'日' HH:mm"


def ts_notation(ts: str, variant: str) -> str:
    return case(
        [
            (f"{variant} = 0", f"date_format({ts}, 'yyyy/MM/dd HH:mm:ss')"),
            (f"{variant} = 1", f"date_format({ts}, 'dd.MM.yyyy HH:mm')"),
            (f"{variant} = 2", f"date_format({ts}, 'MM/dd/yyyy hh:mm a')"),
            (f"{variant} = 3", f"date_format({ts}, 'yyyyMMddHHmmss')"),
            (f"{variant} = 4", f"date_format({ts}, {q(_ISO_LOCAL)})"),
        ],
        f"date_format({ts}, {q(_CJK_TS)})",
    )


def events(g: Gen, persons: DataFrame, days: DataFrame) -> DataFrame:
    seed = g.seed
    r = Rng(seed, "pos", "person_idx", "`day`")
    visit = f"({r.u('visit')} < {q(0.07 * g.settings.activity)} * {store_weekday_factor(g)})"
    df = persons.select(*_PERSON_COLS).where("pos_customer").crossJoin(days.hint("broadcast")).where(visit)
    give_phone = locale_lit("locale", {"zh_CN": 0.7, "de_DE": 0.3, "en_US": 0.4})
    df = add(
        df,
        {
            "_card": f"(loyalty_card IS NOT NULL AND {r.below('show_card', 0.7)})",
            "_ask_phone": f"(phone_nsn IS NOT NULL AND {r.u('give_phone')} < {give_phone})",
            "_n_items": f"1 + {r.geometric('items', 0.8, 5)}",
        },
    )
    ri = r.child("i")
    k = ri.int_("sku", len(_IN_STORE))
    price = by_locale(
        "locale",
        {loc: pick([vocab.price(p, cur) for p in _IN_STORE], k) for loc, cur in vocab.CURRENCY.items()},
    )
    item = (
        f"named_struct('sku', {pick([p.sku for p in _IN_STORE], k)}, "
        f"'qty', {when(ri.below('qty', 0.2), '2', '1')}, 'price', CAST({price} AS DOUBLE))"
    )
    df = add(df, {"_items": f"transform(sequence(1, _n_items), i -> {item})"})
    return select(
        df,
        {
            "person_id": "person_id",
            "person_idx": "person_idx",
            "locale": "locale",
            "tz": "tz",
            "day": "`day`",
            "record_key": f"concat('T', upper({r.hex16('txn')}))",
            "store_id": f"concat_ws('-', country, city_code, lpad(CAST(1 + {r.int_('store', 3)} AS STRING), 3, '0'))",
            "base_epoch": event_epoch(g, r, vocab.STORE_HOURS),
            "card_no": when("_card", "loyalty_card"),
            "phone_nsn": when("NOT _card AND _ask_phone", "phone_nsn"),
            "phone_true": when("NOT _card AND _ask_phone", "phone"),
            "items": "array_join(transform(_items, x -> concat(x.sku, '*', CAST(x.qty AS STRING))), '|')",
            "amount": "round(aggregate(_items, 0.0D, (acc, x) -> acc + x.qty * x.price), 2)",
            "currency": currency(),
            "payment_method": by_locale(
                "locale", {k: r.pick("payment", v) for k, v in vocab.PAYMENT_POS.items()}
            ),
            "story": "false",
        },
    )


def render(g: Gen, df: DataFrame) -> DataFrame:
    schema = SOURCE_SCHEMAS[SOURCE]
    nz = Noise(g, SOURCE)
    rng = nz.rng
    df = with_late(g, df, nz)
    df = with_flags(
        df,
        {
            "junk_identifier": nz.flag("junk_identifier"),
            "missing": nz.flag("missing"),
            "date_format": nz.flag("date_format"),
        },
    )
    df = with_malformed(df, nz, schema)
    has_phone = "(phone_nsn IS NOT NULL AND NOT _f_junk_identifier)"
    df = with_flags(
        df,
        {
            "phone_format": nz.flag("phone_format", has_phone),
            "fullwidth_digits": nz.flag("fullwidth_digits", has_phone),
        },
    )
    df = apply_phone(df, "_phone", native=NATIVE_PHONE, nsn="phone_nsn", rng=rng)
    df = add(
        df,
        {
            "_phone": when("_f_junk_identifier", junk(rng, "junk_phone", vocab.JUNK_PHONES), "_phone"),
            "_local": local_ts("_event"),
            "_tsv": noisy_variant("_f_date_format", TS_NOTATIONS, rng, "ts_variant"),
            "_amount": "format_string('%.2f', amount)",
        },
    )
    df = add(
        df,
        {
            "_amount": when("mal = 'wrong_type'", "replace(_amount, '.', ',')", "_amount"),
            "_items": when("mal = 'invalid_utf8'", with_bad_bytes("items"), "items"),
            "_ts": ts_notation("_local", "_tsv"),
            "_payment": when("NOT _f_missing", "payment_method"),
        },
    )
    value = csv_line(
        ["record_key", "store_id", "_ts", "card_no", "_phone", "_items", "_amount", "currency", "_payment"],
        schema.delimiter,
    )
    out = render_output(
        df,
        value=value,
        noise=[
            "late_arrival",
            "junk_identifier",
            "missing",
            "date_format",
            "phone_format",
            "fullwidth_digits",
        ],
        identifiers=[
            ident("loyalty_card", "card_no", "card_no"),
            ident("phone", "_phone", "phone_true", "_f_junk_identifier"),
        ],
    )
    return finalize(g, out, SOURCE, n_files=g.file_count(SOURCE, ROWS_PER_PERSON_DAY))
