"""WeChat official account and mini-program events (JSON lines).

Each app has its own openid per user; the unionid ties them together when the brand's
open-platform account binds them (85% of users). Events: ``subscribe`` on the day a user
follows the official account (or re-follows when returning), ``unsubscribe`` when
churning, ``mp_login`` on active days, and a one-off ``mp_phone_auth`` that reveals the
mobile number (WeChat returns it without country code) and binds the member id.
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
    json_line,
    junk,
    render_output,
    with_flags,
    with_late,
    with_malformed,
)
from cdp_spark.datagen._sql import Rng, add, q, select, when
from cdp_spark.datagen.schemas import SOURCE_SCHEMAS

SOURCE = "wechat"
ROWS_PER_PERSON_DAY = 0.05
APPID_OA = "wx5c7a3d2e9f1b4a60"  # official account
APPID_MP = "wx9e2f4b7c1a3d5e88"  # mini-program
NATIVE_PHONE = {"zh_CN": 5, "de_DE": 6, "en_US": 6}
CITIES = ("上海", "北京", "广州", "深圳", "杭州", "成都")

_PERSON_COLS = (
    "person_id",
    "person_idx",
    "locale",
    "utc_offset",
    "segment",
    "first_day",
    "turn_day",
    "member_id",
    "member_since_day",
    "phone",
    "phone_nsn",
    "nickname",
    "wechat_openid_oa",
    "wechat_openid_mp",
    "wechat_unionid",
    "wechat_follow_day",
    "wechat_phone_day",
)


def events(g: Gen, persons: DataFrame, days: DataFrame) -> DataFrame:
    seed = g.seed
    r = Rng(seed, "wechat", "person_idx", "`day`")
    df = persons.select(*_PERSON_COLS).where("wechat_openid_oa IS NOT NULL").crossJoin(days.hint("broadcast"))
    follow = "(wechat_follow_day = `day`)"
    refollow = f"(segment = 'returning' AND turn_day = `day` AND `day` > 0 AND {r.below('refollow', 0.3)})"
    unfollow = f"(segment = 'churning' AND turn_day = `day` AND wechat_follow_day < `day` AND {r.below('unfollow', 0.3)})"
    mp = "(wechat_openid_mp IS NOT NULL)"
    mp_login = f"({mp} AND {active_online(g)} AND {r.below('mp_login', 0.35)})"
    phone_auth = f"({mp} AND wechat_phone_day = `day` AND phone_nsn IS NOT NULL)"
    names = (
        f"filter(array(CASE WHEN {follow} OR {refollow} THEN 'subscribe' END, CASE WHEN {unfollow} THEN 'unsubscribe' END, "
        f"CASE WHEN {mp_login} THEN 'mp_login' END, CASE WHEN {phone_auth} THEN 'mp_phone_auth' END), x -> x IS NOT NULL)"
    )
    df = df.selectExpr("*", f"explode({names}) AS event")
    re = r.child("event")
    is_mp = "event IN ('mp_login', 'mp_phone_auth')"
    return select(
        df,
        {
            "person_id": "person_id",
            "person_idx": "person_idx",
            "locale": "locale",
            "day": "`day`",
            "record_key": f"concat('wx-', {re.hex16('event_id')})",
            "base_epoch": event_epoch(g, re, vocab.ONLINE_HOURS),
            "appid": when(is_mp, q(APPID_MP), q(APPID_OA)),
            "openid": when(is_mp, "wechat_openid_mp", "wechat_openid_oa"),
            "unionid_true": "wechat_unionid",
            "event": "event",
            "nickname": when("event != 'unsubscribe'", "nickname"),
            "phone_nsn": when("event = 'mp_phone_auth'", "phone_nsn"),
            "phone_true": when("event = 'mp_phone_auth'", "phone"),
            "member_id": when(
                "event = 'mp_phone_auth' AND member_id IS NOT NULL AND member_since_day <= `day`", "member_id"
            ),
            "scene": when("event = 'subscribe'", re.pick("scene", vocab.WECHAT_SCENES)),
            "story": "false",
        },
    )


def render(g: Gen, df: DataFrame) -> DataFrame:
    schema = SOURCE_SCHEMAS[SOURCE]
    nz = Noise(g, SOURCE)
    rng = nz.rng
    df = with_late(g, df, nz)
    has_phone = "(phone_nsn IS NOT NULL)"
    df = with_flags(
        df,
        {
            "junk_identifier": nz.flag("junk_identifier"),
            "phone_format": nz.flag("phone_format", has_phone),
            "fullwidth_digits": nz.flag("fullwidth_digits", has_phone),
            "schema_drift": nz.flag("schema_drift"),
        },
    )
    df = with_malformed(df, nz, schema)
    df = add(
        df,
        {"_unionid": when("_f_junk_identifier", junk(rng, "junk_unionid", vocab.JUNK_IDS), "unionid_true")},
    )
    df = apply_phone(df, "_phone", native=NATIVE_PHONE, nsn="phone_nsn", rng=rng)
    value = json_line(
        {
            "appid": "appid",
            "openid": "openid",
            "unionid": "_unionid",
            "event": "event",
            "ts": "_event",
            "nickname": "nickname",
            "phone": "_phone",
            "member_id": "member_id",
            "scene": "scene",
            "event_id": "record_key",
            "city": when("_f_schema_drift", rng.pick("city", CITIES)),
        }
    )
    out = render_output(
        df,
        value=value,
        noise=["late_arrival", "junk_identifier", "phone_format", "fullwidth_digits", "schema_drift"],
        identifiers=[
            ident("wechat_openid", "openid", "openid"),
            ident("wechat_unionid", "_unionid", "unionid_true", "_f_junk_identifier"),
            ident("phone", "_phone", "phone_true"),
            ident("member_id", "member_id", "member_id"),
        ],
    )
    return finalize(g, out, SOURCE, n_files=g.file_count(SOURCE, ROWS_PER_PERSON_DAY))
