"""CRM contact export (CSV, ``,``-separated, RFC 4180 quoting).

Day 0 is the initial full export of every contact created before the window; later days
carry contacts created that day and changes to existing ones (a new phone or e-mail).
Contacts are typed in by hand: names with typos and odd casing, birth dates in many
formats, missing fields, and about 3% of people entered twice under two customer numbers
(``duplicate_contact``), which only fuzzy matching can join.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import DataFrame

from cdp_spark.datagen import vocab
from cdp_spark.datagen._common import (
    DATE_NOTATIONS,
    Gen,
    Noise,
    apply_email_case,
    apply_name_case,
    apply_phone,
    apply_typo,
    csv_line,
    date_notation,
    event_epoch,
    finalize,
    ident,
    junk,
    noisy_variant,
    render_output,
    utc_text,
    with_bad_bytes,
    with_flags,
    with_malformed,
)
from cdp_spark.datagen._sql import Rng, add, by_locale, case, q, select, when
from cdp_spark.datagen.schemas import SOURCE_SCHEMAS

SOURCE = "crm"
ROWS_PER_PERSON_DAY = 0.5  # the day-0 full export dominates
NATIVE_PHONE = {"zh_CN": 4, "de_DE": 1, "en_US": 1}
UPDATE_RATE = 0.01
OFFICE_HOURS = [0] * 8 + [1] * 10 + [0] * 6

_PERSON_COLS = (
    "person_id",
    "person_idx",
    "locale",
    "utc_offset",
    "gender",
    "given_name",
    "family_name",
    "email",
    "email2",
    "phone",
    "phone_nsn",
    "phone2",
    "phone2_nsn",
    "birth_date",
    "street",
    "postcode",
    "city",
    "country",
    "customer_no",
    "customer_no2",
    "crm_since_day",
)


def _pair(table: Mapping[str, tuple[str, ...]]) -> str:
    return by_locale("locale", {k: when("gender = 'M'", q(v[0]), q(v[1])) for k, v in table.items()})


def events(g: Gen, persons: DataFrame, days: DataFrame) -> DataFrame:
    seed = g.seed
    r = Rng(seed, "crm", "person_idx", "`day`")
    df = persons.select(*_PERSON_COLS).where("customer_no IS NOT NULL").crossJoin(days.hint("broadcast"))
    snapshot = "(`day` = 0 AND crm_since_day <= 0)"
    created = "(`day` > 0 AND crm_since_day = `day`)"
    update = f"(`day` > 0 AND crm_since_day < `day` AND {r.below('update', UPDATE_RATE)})"
    df = add(df.where(f"{snapshot} OR {created} OR {update}"), {"_update": update})
    # a changed contact: the second phone or e-mail when the person has one
    df = add(
        df,
        {
            "_new_phone": f"(_update AND phone2 IS NOT NULL AND {r.below('new_phone', 0.5)})",
            "_created_day": "greatest(crm_since_day, -3650)",
        },
    )
    df = add(df, {"_new_email": "(_update AND email2 IS NOT NULL AND NOT _new_phone)"})
    created_rng = Rng(seed, "crm_created", "person_idx")
    common = {
        "person_id": "person_id",
        "person_idx": "person_idx",
        "locale": "locale",
        "day": "`day`",
        "gender": "gender",
        "given_name": "given_name",
        "family_name": "family_name",
        "birth_date": "birth_date",
        "street": "street",
        "postcode": "postcode",
        "city": "city",
        "country": "country",
        "created_day": "_created_day",
        "story": "false",
    }
    first = select(
        df,
        {
            **common,
            "record_key": "customer_no",
            "second_contact": "false",
            "email_true": when("_new_email", "email2", "email"),
            "phone_true": when("_new_phone", "phone2", "phone"),
            "phone_nsn": when("_new_phone", "phone2_nsn", "phone_nsn"),
            "base_epoch": when(
                "_update",
                event_epoch(g, r, OFFICE_HOURS, "update"),
                event_epoch(g, created_rng, OFFICE_HOURS, day="_created_day"),
            ),
        },
    )
    # the same person typed in a second time, delivered with the first record
    dup = select(
        df.where("customer_no2 IS NOT NULL AND NOT _update"),
        {
            **common,
            "record_key": "customer_no2",
            "second_contact": "true",
            "email_true": "email",
            "phone_true": "phone",
            "phone_nsn": "phone_nsn",
            "base_epoch": event_epoch(
                g, Rng(seed, "crm_created2", "person_idx"), OFFICE_HOURS, day="_created_day"
            ),
        },
    )
    return first.unionByName(dup)


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
            "duplicate_contact": "second_contact",
        },
    )
    df = with_malformed(df, nz, schema)
    df = add(
        df,
        {
            "_missing_field": rng.int_("missing_field", 3),  # 0 e-mail, 1 phone, 2 birth date
            "_junk_on_email": rng.below("junk_on_email", 0.5),
            "_typo_last": rng.below("typo_last", 0.5),
            "_case_on_email": rng.below("case_on_email", 0.5),
            "_first": "given_name",
            "_last": "family_name",
            "_email": "email_true",
        },
    )
    df = add(
        df,
        {
            "_miss_email": "(_f_missing AND _missing_field = 0)",
            "_miss_phone": "(_f_missing AND _missing_field = 1)",
            "_miss_birth": "(_f_missing AND _missing_field = 2)",
            "_junk_email": "(_f_junk_identifier AND _junk_on_email)",
            "_junk_phone": "(_f_junk_identifier AND NOT _junk_on_email)",
        },
    )
    has_phone = "(phone_nsn IS NOT NULL AND NOT _miss_phone AND NOT _junk_phone)"
    df = with_flags(
        df,
        {
            "phone_format": nz.flag("phone_format", has_phone),
            "fullwidth_digits": nz.flag("fullwidth_digits", has_phone),
            "date_format": nz.flag("date_format", "NOT _miss_birth"),
        },
    )
    df = add(
        df,
        {
            "_case_email": "(_f_case_variant AND _case_on_email AND email_true IS NOT NULL AND NOT _miss_email AND NOT _junk_email)",
        },
    )
    df = add(df, {"_case_name": "(_f_case_variant AND NOT _case_email)"})
    df = apply_typo(df, "_first", rng, "typo_first", "(_f_typo AND NOT _typo_last)")
    df = apply_typo(df, "_last", rng, "typo_last", "(_f_typo AND _typo_last)")
    df = apply_name_case(df, "_last", rng, "case_last", "_case_name")
    df = apply_email_case(df, "_email", rng, "case_email", "_case_email")
    df = apply_phone(df, "_phone", native=NATIVE_PHONE, nsn="phone_nsn", rng=rng)
    df = add(
        df,
        {
            "_email": case(
                [("_junk_email", junk(rng, "junk_email", vocab.JUNK_EMAILS)), ("_miss_email", "NULL")],
                "_email",
            ),
            "_phone": case(
                [("_junk_phone", junk(rng, "junk_phone", vocab.JUNK_PHONES)), ("_miss_phone", "NULL")],
                "_phone",
            ),
            "_dv": noisy_variant("_f_date_format", DATE_NOTATIONS, rng, "date_variant"),
            "_points": when("mal = 'wrong_type'", "'n/a'", f"CAST({rng.int_('points', 20_000)} AS STRING)"),
            "_last": when("mal = 'invalid_utf8'", with_bad_bytes("_last"), "_last"),
            "_salutation": _pair(vocab.SALUTATION),
            "_gender": _pair(vocab.GENDER_CODE),
            "_created": f"date_format({g.date_of('created_day')}, 'yyyy-MM-dd')",
            "_updated": utc_text("base_epoch"),
        },
    )
    df = add(df, {"_birth": when("_miss_birth", "NULL", date_notation("birth_date", "_dv"))})
    value = csv_line(
        [
            "record_key",
            "_salutation",
            "_first",
            "_last",
            "_email",
            "_phone",
            "_birth",
            "_gender",
            "street",
            "postcode",
            "city",
            "country",
            "_points",
            "_created",
            "_updated",
        ],
        schema.delimiter,
    )
    out = render_output(
        add(df, {"_arr": f"{g.day_start()} + {Rng(g.seed, 'crm_arrival', 'record_key').int_('s', 86400)}"}),
        value=value,
        noise=[
            "typo",
            "case_variant",
            "missing",
            "junk_identifier",
            "duplicate_contact",
            "phone_format",
            "fullwidth_digits",
            "date_format",
        ],
        identifiers=[
            ident("customer_no", "record_key", "record_key"),
            ident("email", "_email", "email_true", "_junk_email"),
            ident("phone", "_phone", "phone_true", "_junk_phone"),
        ],
        event="base_epoch",
        arrival="_arr",
    )
    return finalize(g, out, SOURCE, n_files=g.file_count(SOURCE, ROWS_PER_PERSON_DAY))
