"""Customer-service tickets (JSON lines): contact e-mail or phone, category, free text.

The contact details are whatever the customer typed into the form or said on the phone:
a personal or family e-mail, a phone in the local habit, sometimes only a given name.
"""

from __future__ import annotations

from pyspark.sql import DataFrame

from cdp_spark.datagen import vocab
from cdp_spark.datagen._common import (
    Gen,
    Noise,
    apply_email_case,
    apply_email_typo,
    apply_phone,
    event_epoch,
    finalize,
    ident,
    json_line,
    junk,
    local_ts,
    render_output,
    with_flags,
    with_late,
    with_malformed,
)
from cdp_spark.datagen._sql import Rng, add, by_locale, locale_lit, pick, q, select, when
from cdp_spark.datagen.schemas import SOURCE_SCHEMAS

SOURCE = "support"
ROWS_PER_PERSON_DAY = 0.003
NATIVE_PHONE = {"zh_CN": 5, "de_DE": 6, "en_US": 2}
TICKET_RATE = 0.003

_PERSON_COLS = (
    "person_id",
    "person_idx",
    "locale",
    "utc_offset",
    "tz",
    "age",
    "email",
    "family_email",
    "phone",
    "phone_nsn",
    "full_name",
    "given_name",
)


def events(g: Gen, persons: DataFrame, days: DataFrame) -> DataFrame:
    seed = g.seed
    r = Rng(seed, "support", "person_idx", "`day`")
    df = (
        persons.select(*_PERSON_COLS)
        .where("age >= 18 AND (email IS NOT NULL OR phone_nsn IS NOT NULL)")
        .crossJoin(days.hint("broadcast"))
        .where(r.below("ticket", q(TICKET_RATE * g.settings.activity)))
    )
    df = add(df, {"_channel": r.weighted("channel", [("email", 0.5), ("phone", 0.3), ("chat", 0.2)])})
    df = add(df, {"_channel": when("_channel = 'phone' AND phone_nsn IS NULL", "'email'", "_channel")})
    df = add(
        df,
        {
            "_channel": when("_channel != 'phone' AND email IS NULL", "'phone'", "_channel"),
            "_use_family": f"(family_email IS NOT NULL AND {r.below('family_email', 0.5)})",
            "_category": r.int_("category", len(vocab.TICKET_CATEGORIES)),
        },
    )
    return select(
        df,
        {
            "person_id": "person_id",
            "person_idx": "person_idx",
            "locale": "locale",
            "tz": "tz",
            "day": "`day`",
            "record_key": f"concat('TCK-', upper(substring({r.hex16('ticket')}, 1, 12)))",
            "base_epoch": event_epoch(g, r, [0] * 8 + [1] * 12 + [0] * 4),
            "channel": "_channel",
            "email_true": when("_channel != 'phone'", when("_use_family", "family_email", "email")),
            "used_family_email": "(_use_family AND _channel != 'phone')",
            "phone_nsn": when("_channel = 'phone'", "phone_nsn"),
            "phone_true": when("_channel = 'phone'", "phone"),
            "name": when(r.below("given_only", 0.3), "given_name", "full_name"),
            "category": pick(vocab.TICKET_CATEGORIES, "_category"),
            "subject": by_locale(
                "locale", {k: pick(v, "_category") for k, v in vocab.TICKET_SUBJECTS.items()}
            ),
            "text": by_locale("locale", {k: pick(v, "_category") for k, v in vocab.TICKET_TEXTS.items()}),
            "satisfaction": f"CAST({when(r.below('rated', 0.4), r.between('satisfaction', 1, 5))} AS BIGINT)",
            "priority": f"CAST({r.between('priority', 1, 4)} AS BIGINT)",
            "language": locale_lit("locale", vocab.LANG),
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
            "family_email": "(used_family_email AND NOT story)",
            "schema_drift": nz.flag("schema_drift"),
        },
    )
    df = with_malformed(df, nz, schema)
    df = add(
        df,
        {
            "_junk_email": "(_f_junk_identifier AND email_true IS NOT NULL)",
            "_junk_phone": "(_f_junk_identifier AND email_true IS NULL)",
            "_email": "email_true",
        },
    )
    email_ok = "(email_true IS NOT NULL AND NOT _junk_email)"
    has_phone = "(phone_nsn IS NOT NULL AND NOT _junk_phone)"
    df = with_flags(
        df,
        {
            "typo": nz.flag("typo", email_ok),
            "case_variant": nz.flag("case_variant", email_ok),
            "phone_format": nz.flag("phone_format", has_phone),
            "fullwidth_digits": nz.flag("fullwidth_digits", has_phone),
        },
    )
    df = apply_email_typo(df, "_email", rng, "typo", "_f_typo")
    df = apply_email_case(df, "_email", rng, "case", "_f_case_variant")
    df = apply_phone(df, "_phone", native=NATIVE_PHONE, nsn="phone_nsn", rng=rng)
    df = add(
        df,
        {
            "_email": when("_junk_email", junk(rng, "junk_email", vocab.JUNK_EMAILS), "_email"),
            "_phone": when("_junk_phone", junk(rng, "junk_phone", vocab.JUNK_PHONES), "_phone"),
        },
    )
    value = json_line(
        {
            "ticket_id": "record_key",
            "created_at": f"date_format({local_ts('_event')}, 'yyyy-MM-dd HH:mm:ss')",
            "channel": "channel",
            "email": "_email",
            "phone": "_phone",
            "name": when("NOT _f_missing", "name"),
            "category": "category",
            "subject": "subject",
            "text": "text",
            "satisfaction": "satisfaction",
            "priority": "priority",
            "language": "language",
            "sentiment": when("_f_schema_drift", rng.pick("sentiment", ["positive", "neutral", "negative"])),
        }
    )
    out = render_output(
        df,
        value=value,
        noise=[
            "late_arrival",
            "junk_identifier",
            "missing",
            "family_email",
            "schema_drift",
            "typo",
            "case_variant",
            "phone_format",
            "fullwidth_digits",
        ],
        identifiers=[
            ident("email", "_email", "email_true", "_junk_email"),
            ident("phone", "_phone", "phone_true", "_junk_phone"),
        ],
    )
    return finalize(g, out, SOURCE, n_files=g.file_count(SOURCE, ROWS_PER_PERSON_DAY))
