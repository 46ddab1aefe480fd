"""E-mail marketing events from the ESP (CSV, ``,``-separated).

Campaigns go out on Tuesdays and Thursdays to every newsletter subscriber: one ``send``,
then ``open`` (25%), ``click`` (25% of opens) and rarely ``unsubscribe``. About 30% of
subscribers come from a partner list that only ever delivers SHA-256 of the normalised
address (``email`` empty, ``email_sha256`` filled).
"""

from __future__ import annotations

from pyspark.sql import DataFrame

from cdp_spark.datagen import vocab
from cdp_spark.datagen._common import (
    Gen,
    Noise,
    apply_email_case,
    apply_email_typo,
    csv_line,
    finalize,
    ident,
    junk,
    render_output,
    utc_text,
    with_bad_bytes,
    with_flags,
    with_late,
    with_malformed,
)
from cdp_spark.datagen._sql import Rng, add, case, locale_lit, select, when
from cdp_spark.datagen.schemas import SOURCE_SCHEMAS

SOURCE = "email"
ROWS_PER_PERSON_DAY = 0.7  # on campaign days
CAMPAIGN_WEEKDAYS = (3, 5)  # dayofweek: Tuesday, Thursday
LINKS = (
    "https://shop.example.com/deals",
    "https://shop.example.com/c/travel",
    "https://shop.example.com/p/JKT-DOWN-01",
)

_PERSON_COLS = (
    "person_id",
    "person_idx",
    "locale",
    "utc_offset",
    "email",
    "email_subscriber",
    "email_hashed",
)


def events(g: Gen, persons: DataFrame, days: DataFrame) -> DataFrame:
    seed = g.seed
    campaign_days = days.where(f"dayofweek({g.date_of()}) IN {CAMPAIGN_WEEKDAYS}")
    df = persons.select(*_PERSON_COLS).where("email_subscriber").crossJoin(campaign_days.hint("broadcast"))
    r = Rng(seed, "email", "person_idx", "`day`")
    df = add(
        df,
        {
            "_opened": r.below("open", 0.25),
            "_unsub": r.below("unsubscribe", 0.004),
            "_click": r.below("click", 0.25),
        },
    )
    kinds = (
        "filter(array('send', CASE WHEN _opened THEN 'open' END, CASE WHEN _opened AND _click THEN 'click' END, "
        "CASE WHEN _unsub THEN 'unsubscribe' END), x -> x IS NOT NULL)"
    )
    df = df.selectExpr("*", f"explode({kinds}) AS event")
    # send at 09:00 local; opens within 10 h, clicks a few minutes after the open
    df = add(
        df,
        {
            "_send_at": f"{g.day_start()} + pmod(9 * 3600 - utc_offset * 3600, 86400) + {r.int_('send_sec', 1800)}",
            "_send_id": f"shiftrightunsigned({r.hash('send_id')}, 1)",
        },
    )
    df = add(df, {"_open_at": f"_send_at + 60 + {r.int_('open_after', 36000)}"})
    return select(
        df,
        {
            "person_id": "person_id",
            "person_idx": "person_idx",
            "locale": "locale",
            "day": "`day`",
            "record_key": "concat(CAST(_send_id AS STRING), ':', event)",
            "campaign_id": f"concat('CMP-', date_format({g.date_of()}, 'yyyyMMdd'), '-', {locale_lit('locale', vocab.LANG)})",
            "send_id": "_send_id",
            "email_true": "email",
            "hashed": "email_hashed",
            "event": "event",
            "base_epoch": case(
                [
                    ("event = 'send'", "_send_at"),
                    ("event = 'open'", "_open_at"),
                    ("event = 'click'", f"_open_at + 5 + {r.int_('click_after', 300)}"),
                ],
                f"_open_at + 20 + {r.int_('unsub_after', 600)}",
            ),
            "link_url": when("event = 'click'", r.pick("link", LINKS)),
            "story": "false",
        },
    )


def render(g: Gen, df: DataFrame) -> DataFrame:
    schema = SOURCE_SCHEMAS[SOURCE]
    nz = Noise(g, SOURCE)
    rng = nz.rng
    df = with_late(g, df, nz)
    df = with_flags(df, {"junk_identifier": nz.flag("junk_identifier", "NOT hashed")})
    df = with_malformed(df, nz, schema)
    writable = "(NOT hashed AND NOT _f_junk_identifier)"
    df = with_flags(
        df, {"typo": nz.flag("typo", writable), "case_variant": nz.flag("case_variant", writable)}
    )
    df = add(df, {"_email": "email_true"})
    df = apply_email_typo(df, "_email", rng, "typo", "_f_typo")
    df = apply_email_case(df, "_email", rng, "case", "_f_case_variant")
    df = add(
        df,
        {
            "_email": case(
                [("_f_junk_identifier", junk(rng, "junk_email", vocab.JUNK_EMAILS)), ("hashed", "NULL")],
                "_email",
            ),
            "_sha": when("hashed", "sha2(lower(trim(email_true)), 256)"),
            "_send_id": when(
                "mal = 'wrong_type'", "concat('x', CAST(send_id AS STRING))", "CAST(send_id AS STRING)"
            ),
            "_campaign": when("mal = 'invalid_utf8'", with_bad_bytes("campaign_id"), "campaign_id"),
            "_ts": utc_text("_event"),
        },
    )
    value = csv_line(
        ["_campaign", "_send_id", "_email", "_sha", "event", "_ts", "link_url"], schema.delimiter
    )
    out = render_output(
        df,
        value=value,
        noise=["late_arrival", "junk_identifier", "typo", "case_variant"],
        identifiers=[
            ident("email", "_email", "email_true", "_f_junk_identifier"),
            ident("email_sha256", "_sha", "_sha"),
        ],
    )
    return finalize(g, out, SOURCE, n_files=g.file_count(SOURCE, ROWS_PER_PERSON_DAY))
