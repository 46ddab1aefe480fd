"""Mobile app events (JSON lines): sessions keyed by device id; login links a member id.

Household members of a shared-device household use the head's tablet for about half of
their sessions (flagged ``shared_device``), so one device id carries several people's
logins: the classic over-merge trap. ``register`` events appear on the day a person
becomes a member; ``order_placed`` events carry the order id of app orders.
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
    json_line,
    junk,
    render_output,
    with_flags,
    with_late,
    with_malformed,
)
from cdp_spark.datagen._sql import Rng, add, by_locale, case, pick, q, select, when
from cdp_spark.datagen.schemas import SOURCE_SCHEMAS
from cdp_spark.datagen.sources.orders import placed_orders

SOURCE = "app"
ROWS_PER_PERSON_DAY = 0.8
PERMISSIONS = ("location", "push", "camera")

_PERSON_COLS = (
    "person_id",
    "person_idx",
    "locale",
    "utc_offset",
    "role",
    "member_id",
    "member_since_day",
    "segment",
    "first_day",
    "turn_day",
    "has_app",
    "device_id",
    "platform",
    "shares_device",
    "household_device_id",
    "household_platform",
)

# Columns of the semantic app frame besides the common ones; absent ones are typed nulls.
_FIELDS = {
    "member_id": "STRING",
    "screen": "STRING",
    "product_id": "STRING",
    "search_term": "STRING",
    "push_campaign": "STRING",
    "amount": "DOUBLE",
    "currency": "STRING",
    "order_id": "STRING",
    "transaction_id": "STRING",
    "permission": "STRING",
    "granted": "BOOLEAN",
}


def _with_device(df: DataFrame, rng: Rng) -> DataFrame:
    """Non-heads of device-sharing households use the family tablet half the time."""
    df = add(df, {"_shared": f"(shares_device AND role != 'head' AND {rng.below('shared_tablet', 0.5)})"})
    return add(
        df,
        {
            "_device": when("_shared", "household_device_id", "device_id"),
            "_platform": when("_shared", "household_platform", "platform"),
        },
    )


def _semantic(
    seed: int, df: DataFrame, rng: Rng, event_name: str, epoch: str, fields: dict[str, str]
) -> DataFrame:
    os_rng = Rng(seed, "os", "_device")
    cols = {
        "person_id": "person_id",
        "person_idx": "person_idx",
        "locale": "locale",
        "day": "`day`",
        "record_key": f"concat('a-', {rng.hex16('event_id')})",
        "base_epoch": epoch,
        "millis": rng.int_("ms", 1000),
        "device_id_true": "_device",
        "platform": "_platform",
        "shared": "_shared",
        "os_version": when(
            "_platform = 'ios'",
            os_rng.pick("ios", vocab.OS_VERSIONS["ios"]),
            os_rng.pick("android", vocab.OS_VERSIONS["android"]),
        ),
        "app_version": Rng(seed, "app_version", "_device", "`day`").pick("v", vocab.APP_VERSIONS),
        "event_name": event_name,
    }
    for name, dtype in _FIELDS.items():
        cols[name] = f"CAST({fields.get(name, 'NULL')} AS {dtype})"
    cols["story"] = "false"
    return select(df, cols)


def events(g: Gen, persons: DataFrame, days: DataFrame) -> DataFrame:
    seed = g.seed
    r = Rng(seed, "app", "person_idx", "`day`")
    pd = persons.select(*_PERSON_COLS).where("has_app").crossJoin(days.hint("broadcast"))
    sessions = pd.where(f"{active_online(g)} AND {r.below('open', 0.7)}")
    sessions = sessions.selectExpr(
        "*", f"explode(sequence(1, {when(r.below('second_session', 0.3), '2', '1')})) AS session"
    )
    rs = r.child("session")
    sessions = add(
        sessions,
        {
            "_start": event_epoch(g, rs, vocab.ONLINE_HOURS),
            "_n": f"1 + {rs.geometric('events', 5.0, 40)}",
            "_push": rs.below("push", 0.2),
            "_login": f"(member_id IS NOT NULL AND member_since_day <= `day` AND {rs.below('login', 0.25)})",
            "_push_campaign": rs.pick("push_campaign", vocab.PUSH_CAMPAIGNS),
        },
    )
    sessions = _with_device(sessions, rs)
    ev = sessions.selectExpr("*", "explode(sequence(1, _n)) AS i")
    re = rs.child("i")
    kind = re.weighted(
        "kind",
        [
            ("screen_view", 0.35),
            ("product_view", 0.3),
            ("search", 0.15),
            ("add_to_cart", 0.12),
            ("permission_prompt", 0.04),
            ("in_app_purchase", 0.04),
        ],
    )
    ev = add(
        ev,
        {
            "_name": case(
                [
                    ("i = 1 AND _push", "'push_open'"),
                    ("i = 1", "'app_open'"),
                    ("i = 2 AND _login", "'login'"),
                ],
                kind,
            ),
            "_digital": re.int_("digital", len(vocab.DIGITAL_PRODUCTS)),
        },
    )
    digital_sku = pick([d[0] for d in vocab.DIGITAL_PRODUCTS], "_digital")
    session_events = _semantic(
        seed,
        ev,
        re,
        "_name",
        f"_start + (i - 1) * 30 + {re.int_('gap', 25)}",
        {
            "member_id": when("_name = 'login'", "member_id"),
            "screen": when("_name IN ('screen_view', 'app_open')", re.pick("screen", vocab.APP_SCREENS)),
            "product_id": case(
                [
                    (
                        "_name IN ('product_view', 'add_to_cart')",
                        re.pick("sku", [x.sku for x in vocab.PRODUCTS]),
                    ),
                    ("_name = 'in_app_purchase'", digital_sku),
                ]
            ),
            "search_term": when(
                "_name = 'search'",
                by_locale("locale", {k: re.pick("query", v) for k, v in vocab.SEARCH_TERMS.items()}),
            ),
            "push_campaign": when("_name = 'push_open'", "_push_campaign"),
            "amount": when(
                "_name = 'in_app_purchase'", pick([d[1] for d in vocab.DIGITAL_PRODUCTS], "_digital")
            ),
            "currency": when("_name = 'in_app_purchase'", "'USD'"),
            "transaction_id": when(
                "_name = 'in_app_purchase'", f"concat('1000000', substring({re.hex16('txn')}, 1, 9))"
            ),
            "permission": when("_name = 'permission_prompt'", re.pick("permission", PERMISSIONS)),
            "granted": when("_name = 'permission_prompt'", re.below("granted", 0.6)),
        },
    )
    # registration: the day a person becomes a member, on their own phone
    rr = Rng(seed, "app_register", "person_idx", "`day`")
    reg = add(
        pd.where("member_id IS NOT NULL AND member_since_day = `day`"),
        {"_shared": "false", "_device": "device_id", "_platform": "platform"},
    )
    reg = _semantic(
        seed,
        reg,
        rr,
        "'register'",
        event_epoch(g, rr, vocab.ONLINE_HOURS),
        {"member_id": "member_id", "screen": q("signup")},
    )
    # order_placed for app orders
    ro = Rng(seed, "app_order", "person_idx", "`day`")
    orders = _with_device(placed_orders(g, persons, days).where("channel = 'app'"), ro)
    placed = _semantic(
        seed,
        orders,
        ro,
        "'order_placed'",
        "created_epoch + 5",
        {
            "member_id": "order_member_id",
            "amount": "total_amount",
            "currency": "currency",
            "order_id": "order_id",
            "screen": q("checkout"),
        },
    )
    return session_events.unionByName(reg).unionByName(placed)


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
            "shared_device": "(shared AND NOT story)",
            "schema_drift": nz.flag("schema_drift"),
        },
    )
    df = with_malformed(df, nz, schema)
    df = add(
        df,
        {"_device": when("_f_junk_identifier", junk(rng, "junk_device", vocab.JUNK_IDS), "device_id_true")},
    )
    value = json_line(
        {
            "event_id": "record_key",
            "event_time": "_event * 1000L + millis",
            "device_id": "_device",
            "platform": "platform",
            "os_version": when("NOT _f_missing", "os_version"),
            "app_version": "app_version",
            "event_name": "event_name",
            "member_id": "member_id",
            "screen": "screen",
            "product_id": "product_id",
            "search_term": "search_term",
            "push_campaign": "push_campaign",
            "amount": "amount",
            "currency": "currency",
            "order_id": "order_id",
            "transaction_id": "transaction_id",
            "permission": "permission",
            "granted": "granted",
            "locale": "locale",
            "battery_level": when("_f_schema_drift", f"round({rng.u('battery')}, 2)"),
        }
    )
    out = render_output(
        df,
        value=value,
        noise=["late_arrival", "junk_identifier", "missing", "shared_device", "schema_drift"],
        identifiers=[
            ident("device_id", "_device", "device_id_true", "_f_junk_identifier"),
            ident("member_id", "member_id", "member_id"),
            ident("order_id", "order_id", "order_id"),
        ],
    )
    return finalize(g, out, SOURCE, n_files=g.file_count(SOURCE, ROWS_PER_PERSON_DAY))
