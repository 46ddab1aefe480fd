"""Web analytics events (JSON lines): sessions of page/product views, searches, add-to-cart.

Identity signals: an anonymous first-party cookie per browser (desktop and mobile) that
rotates every 10-70 days as people clear cookies; login events add the member id;
purchase events carry the order id of web orders (see ``orders.placed_orders``).
"""

from __future__ import annotations

from pyspark.sql import DataFrame

from cdp_spark.datagen import vocab
from cdp_spark.datagen._common import (
    Gen,
    Noise,
    active_online,
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
from cdp_spark.datagen._sql import Rng, add, by_locale, case, locale_lit, pick, select, when
from cdp_spark.datagen.schemas import SOURCE_SCHEMAS
from cdp_spark.datagen.sources.orders import placed_orders

SOURCE = "web"
ROWS_PER_PERSON_DAY = 1.4
SHOP = "https://shop.example.com/"
PAGES = ("", "c/travel", "c/apparel", "c/electronics", "deals", "account", "help/shipping")

_PERSON_COLS = (
    "person_id",
    "person_idx",
    "locale",
    "utc_offset",
    "member_id",
    "member_since_day",
    "segment",
    "first_day",
    "turn_day",
    "has_web",
)


def cookie_id(seed: int, slot: str) -> str:
    """The cookie a person's browser ``slot`` (0 desktop, 1 mobile) carries on ``day``."""
    life_rng = Rng(seed, "cookie_life", "person_idx", slot)
    life = f"(10 + {life_rng.int_('life', 60)})"
    generation = f"floor((`day` + {life_rng.int_('phase', 70)}) / {life})"
    return Rng(seed, "cookie", "person_idx", slot, generation).uuid("id")


def _user_agent(seed: int, slot: str, screen_rng: Rng) -> tuple[str, str]:
    ua = pick(vocab.USER_AGENTS, f"{slot} * 3 + {Rng(seed, 'ua', 'person_idx', slot).int_('ua', 3)}")
    screen = pick(vocab.SCREEN_WIDTHS, f"{slot} * 3 + {screen_rng.int_('screen', 3)}")
    return ua, screen


def events(g: Gen, persons: DataFrame, days: DataFrame) -> DataFrame:
    seed = g.seed
    r = Rng(seed, "web", "person_idx", "`day`")
    pd = persons.select(*_PERSON_COLS).where("has_web").crossJoin(days.hint("broadcast"))
    pd = pd.where(f"{active_online(g)} AND {r.below('visit', 0.75)}")
    pd = pd.selectExpr(
        "*", f"explode(sequence(1, {when(r.below('second_session', 0.3), '2', '1')})) AS session"
    )
    rs = r.child("session")
    pd = add(
        pd,
        {
            "_start": event_epoch(g, rs, vocab.ONLINE_HOURS),
            "_slot": when(rs.below("mobile", 0.45), "1", "0"),
            "_utm": rs.below("utm", 0.4),
            "_n": f"1 + {rs.geometric('events', 7.0, 40)}",
            "_login": f"(member_id IS NOT NULL AND member_since_day <= `day` AND {rs.below('login', 0.35)})",
            "_utm_source": rs.pick("utm_source", vocab.UTM_SOURCES),
            "_utm_medium": rs.pick("utm_medium", vocab.UTM_MEDIUMS),
            "_utm_campaign": rs.pick("utm_campaign", vocab.UTM_CAMPAIGNS),
        },
    )
    ua, screen = _user_agent(seed, "_slot", rs)
    # per session, not per event: the browser (cookie, user agent, screen) is the session's
    pd = add(pd, {"_cookie": cookie_id(seed, "_slot"), "_ua": ua, "_screen": f"CAST({screen} AS BIGINT)"})
    ev = pd.selectExpr("*", "explode(sequence(1, _n)) AS i")
    re = rs.child("i")
    kind = re.weighted(
        "kind", [("product_view", 0.4), ("page_view", 0.25), ("search", 0.2), ("add_to_cart", 0.15)]
    )
    ev = add(
        ev,
        {
            "event_type": case([("i = 1", "'page_view'"), ("i = 2 AND _login", "'login'")], kind),
            "_sku": re.pick("sku", [p.sku for p in vocab.PRODUCTS]),
            "_query": by_locale("locale", {k: re.pick("query", v) for k, v in vocab.SEARCH_TERMS.items()}),
            "_base": f"concat('{SHOP}', {locale_lit('locale', vocab.LANG)}, '/')",
            "_landing_utm": "(i = 1 AND _utm)",
        },
    )
    out = select(
        ev,
        {
            "person_id": "person_id",
            "person_idx": "person_idx",
            "locale": "locale",
            "day": "`day`",
            "record_key": f"concat('w-', {re.hex16('event_id')})",
            "base_epoch": f"_start + (i - 1) * 45 + {re.int_('gap', 40)}",
            "millis": re.int_("ms", 1000),
            "cookie_id": "_cookie",
            "event_type": "event_type",
            "page_url": case(
                [
                    ("event_type IN ('product_view', 'add_to_cart')", "concat(_base, 'p/', _sku)"),
                    ("event_type = 'search'", "concat(_base, 'search?q=', url_encode(_query))"),
                    ("event_type = 'login'", "concat(_base, 'account/login')"),
                ],
                f"concat(_base, {re.pick('page', PAGES)})",
            ),
            "product_id": when("event_type IN ('product_view', 'add_to_cart')", "_sku"),
            "search_query": when("event_type = 'search'", "_query"),
            "utm_source": when("_landing_utm", "_utm_source"),
            "utm_medium": when("_landing_utm", "_utm_medium"),
            "utm_campaign": when("_landing_utm", "_utm_campaign"),
            "member_id": when("event_type = 'login'", "member_id"),
            "order_id": "CAST(NULL AS STRING)",
            "order_value": "CAST(NULL AS DOUBLE)",
            "currency": "CAST(NULL AS STRING)",
            "user_agent": "_ua",
            "screen_width": "_screen",
            "story": "false",
        },
    )
    # purchase events for web orders, from the same desktop/mobile browser
    ro = Rng(seed, "web_purchase", "person_idx", "`day`")
    orders = add(
        placed_orders(g, persons, days).where("channel = 'web'"),
        {"_slot": when(ro.below("mobile", 0.45), "1", "0")},
    )
    ua, screen = _user_agent(seed, "_slot", ro)
    purchases = select(
        orders,
        {
            "person_id": "person_id",
            "person_idx": "person_idx",
            "locale": "locale",
            "day": "`day`",
            "record_key": f"concat('w-', {ro.hex16('event_id')})",
            "base_epoch": "created_epoch",
            "millis": ro.int_("ms", 1000),
            "cookie_id": cookie_id(seed, "_slot"),
            "event_type": "'purchase'",
            "page_url": f"concat('{SHOP}', {locale_lit('locale', vocab.LANG)}, '/checkout/done')",
            "product_id": "CAST(NULL AS STRING)",
            "search_query": "CAST(NULL AS STRING)",
            "utm_source": "CAST(NULL AS STRING)",
            "utm_medium": "CAST(NULL AS STRING)",
            "utm_campaign": "CAST(NULL AS STRING)",
            "member_id": "order_member_id",
            "order_id": "order_id",
            "order_value": "total_amount",
            "currency": "currency",
            "user_agent": ua,
            "screen_width": f"CAST({screen} AS BIGINT)",
            "story": "false",
        },
    )
    return out.unionByName(purchases)


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
            "schema_drift": nz.flag("schema_drift"),
        },
    )
    df = with_malformed(df, nz, schema)
    df = add(
        df, {"_cookie": when("_f_junk_identifier", junk(rng, "junk_cookie", vocab.JUNK_IDS), "cookie_id")}
    )
    value = json_line(
        {
            "event_id": "record_key",
            "ts": iso_utc("_event", "millis"),
            "cookie_id": "_cookie",
            "event_type": "event_type",
            "page_url": "page_url",
            "product_id": "product_id",
            "search_query": "search_query",
            "utm_source": "utm_source",
            "utm_medium": "utm_medium",
            "utm_campaign": "utm_campaign",
            "member_id": "member_id",
            "order_id": "order_id",
            "order_value": "order_value",
            "currency": "currency",
            "user_agent": when("NOT _f_missing", "user_agent"),
            "screen_width": "screen_width",
            "ab_variant": when("_f_schema_drift", rng.pick("ab", ["A", "B", "control"])),
        }
    )
    out = render_output(
        df,
        value=value,
        noise=["late_arrival", "junk_identifier", "missing", "schema_drift"],
        identifiers=[
            ident("cookie", "_cookie", "cookie_id", "_f_junk_identifier"),
            ident("member_id", "member_id", "member_id"),
            ident("order_id", "order_id", "order_id"),
        ],
    )
    return finalize(g, out, SOURCE, n_files=g.file_count(SOURCE, ROWS_PER_PERSON_DAY))
