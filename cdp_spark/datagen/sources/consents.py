"""Consent changes (JSON lines): purpose, granted/withdrawn, when, where, about whom.

New members grant e-mail and profiling (and often SMS) on the day they register; anyone
else occasionally changes one purpose from a web form, the app, a store, the CRM or
WeChat. The subject is whatever the collecting system knew: a member id, an e-mail or a
phone number (E.164).
"""

from __future__ import annotations

from pyspark.sql import DataFrame

from cdp_spark.datagen import vocab
from cdp_spark.datagen._common import (
    Gen,
    Noise,
    active_online,
    apply_phone,
    event_epoch,
    finalize,
    ident,
    iso_utc,
    json_line,
    junk,
    render_output,
    with_flags,
    with_late,
    with_malformed,
)
from cdp_spark.datagen._sql import Rng, add, case, select, when
from cdp_spark.datagen.schemas import SOURCE_SCHEMAS

SOURCE = "consents"
ROWS_PER_PERSON_DAY = 0.02
NATIVE_PHONE = {"zh_CN": 0, "de_DE": 0, "en_US": 0}
POLICY_VERSIONS = ("2024-06", "2024-11", "2025-01")

_PERSON_COLS = (
    "person_id",
    "person_idx",
    "locale",
    "utc_offset",
    "age",
    "segment",
    "first_day",
    "turn_day",
    "member_id",
    "member_since_day",
    "email",
    "phone",
    "phone_nsn",
)


def events(g: Gen, persons: DataFrame, days: DataFrame) -> DataFrame:
    seed = g.seed
    r = Rng(seed, "consent", "person_idx", "`day`")
    df = persons.select(*_PERSON_COLS).where("age >= 16").crossJoin(days.hint("broadcast"))
    registers = "(member_id IS NOT NULL AND member_since_day = `day`)"
    changes = f"({active_online(g)} AND {r.below('change', 0.03)})"
    purposes = case(
        [
            (
                registers,
                f"filter(array('email', 'profiling', CASE WHEN {r.below('sms', 0.5)} THEN 'sms' END), x -> x IS NOT NULL)",
            ),
            (changes, f"array({r.pick('purpose', vocab.CONSENT_PURPOSES)})"),
        ]
    )
    df = df.selectExpr("*", f"explode({purposes}) AS purpose", f"{registers} AS _register")
    rc = r.child("purpose")
    member_now = "(member_id IS NOT NULL AND member_since_day <= `day`)"
    # which identifier the collecting system had
    df = add(
        df,
        {
            "_subject": when(
                "_register",
                "'member'",
                rc.weighted("subject", [("member", 0.3), ("email", 0.4), ("phone", 0.3)]),
            )
        },
    )
    df = add(df, {"_subject": when(f"_subject = 'member' AND NOT {member_now}", "'email'", "_subject")})
    df = add(df, {"_subject": when("_subject = 'email' AND email IS NULL", "'phone'", "_subject")})
    df = add(df, {"_subject": when("_subject = 'phone' AND phone_nsn IS NULL", "'email'", "_subject")})
    df = df.where("_subject != 'email' OR email IS NOT NULL")
    register_at = event_epoch(g, Rng(seed, "member_register", "person_idx", "`day`"), vocab.ONLINE_HOURS)
    return select(
        df,
        {
            "person_id": "person_id",
            "person_idx": "person_idx",
            "locale": "locale",
            "day": "`day`",
            "record_key": f"concat('cs-', {rc.hex16('consent_id')})",
            "base_epoch": when("_register", f"{register_at} + 30", event_epoch(g, rc, vocab.ONLINE_HOURS)),
            "member_id": when("_subject = 'member'", "member_id"),
            "email_true": when("_subject = 'email' OR _register", "email"),
            "phone_nsn": when("_subject = 'phone'", "phone_nsn"),
            "phone_true": when("_subject = 'phone'", "phone"),
            "purpose": "purpose",
            "status": when(f"_register OR {rc.below('granted', 0.6)}", "'granted'", "'withdrawn'"),
            "source": when(
                "_register",
                rc.pick("reg_source", ["web_form", "app"]),
                rc.pick("source", vocab.CONSENT_SOURCES),
            ),
            "policy_version": rc.pick("policy", POLICY_VERSIONS),
            "double_opt_in": rc.below("double_opt_in", 0.7),
            "story": "false",
        },
    )


def render(g: Gen, df: DataFrame) -> DataFrame:
    schema = SOURCE_SCHEMAS[SOURCE]
    nz = Noise(g, SOURCE)
    rng = nz.rng
    df = with_late(g, df, nz)
    df = with_flags(
        df, {"junk_identifier": nz.flag("junk_identifier"), "schema_drift": nz.flag("schema_drift")}
    )
    df = with_malformed(df, nz, schema)
    df = add(
        df,
        {
            "_junk_email": "(_f_junk_identifier AND email_true IS NOT NULL)",
            "_junk_phone": "(_f_junk_identifier AND email_true IS NULL)",
        },
    )
    has_phone = "(phone_nsn IS NOT NULL AND NOT _junk_phone)"
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
            "_email": when("_junk_email", junk(rng, "junk_email", vocab.JUNK_EMAILS), "email_true"),
            "_phone": when("_junk_phone", junk(rng, "junk_phone", vocab.JUNK_PHONES), "_phone"),
        },
    )
    value = json_line(
        {
            "consent_id": "record_key",
            "subject": "named_struct('member_id', member_id, 'email', _email, 'phone', _phone)",
            "purpose": "purpose",
            "status": "status",
            "ts": iso_utc("_event"),
            "source": "source",
            "policy_version": "policy_version",
            "double_opt_in": "double_opt_in",
            "legal_basis": when(
                "_f_schema_drift", rng.pick("basis", ["consent", "contract", "legitimate_interest"])
            ),
        }
    )
    out = render_output(
        df,
        value=value,
        noise=["late_arrival", "junk_identifier", "phone_format", "fullwidth_digits", "schema_drift"],
        identifiers=[
            ident("member_id", "member_id", "member_id"),
            ident("email", "_email", "email_true", "_junk_email"),
            ident("phone", "_phone", "phone_true", "_junk_phone"),
        ],
    )
    return finalize(g, out, SOURCE, n_files=g.file_count(SOURCE, ROWS_PER_PERSON_DAY))
