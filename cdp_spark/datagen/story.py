"""The Antarctic story: one scripted person whose records cross four sources and four days.

With ``story: true`` (the default) a fixed person, 林悦 (Lin Yue) from Shanghai, true person
id ``STORY_PERSON_ID``, is added to the population and leaves these raw records
(times are Shanghai local; see STORY.md for the identity-resolution reading):

* day 0, app, anonymous device ``STORY_DEVICE_ID``: app_open, searches 南极旅游,
  南极 邮轮 价格 and "Antarctic cruise", views TOUR-ANT-PROMO, declines the location
  permission (``permission_prompt`` with ``granted=false``);
* day 1, app + orders: searches 南极 企鹅 亲子游, views the promotion again and buys it as a
  guest through the payment flow: the order ``STORY_PROMO_ORDER`` carries her name, phone
  ``STORY_PHONE`` and address but no member id or e-mail; the app's ``order_placed`` event
  links the device to that order id;
* day 2, app + consents + orders: registers (member ``STORY_MEMBER_ID``; ``register`` and
  ``login`` events link the device to the member id), grants e-mail, SMS and profiling
  consent for ``STORY_EMAIL``, and buys family tickets ``STORY_FAMILY_ORDER``: two adults
  and one child aged 5;
* day 3, wechat: follows the official account (``STORY_OPENID_OA`` + ``STORY_UNIONID``) and
  authorises her phone in the mini-program (``STORY_OPENID_MP``, same unionid, phone and
  member id).

With fewer than four days, later steps move to the last day. The story's records carry no
noise, so its identifiers are exactly the constants below for every seed; they are built
from reserved indices, so no generated person can ever share one.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from cdp_spark.datagen._common import Gen
from cdp_spark.datagen.settings import DatagenSettings

STORY_PERSON_ID = "P-STORY-ANTARCTICA"
STORY_PERSON_IDX = 99_999_999  # population.STORY_IDX
STORY_NAME = "林悦"
STORY_PHONE = "+8613904691358"  # 139 + PHONE_BIJ(STORY_IDX)
STORY_PHONE_NSN = "13904691358"
STORY_EMAIL = "linyue.travel@163.com"
STORY_DEVICE_ID = "A17A2C71-CA00-4B1E-9E11-5A7D0C0FFEE1"
STORY_MEMBER_ID = "M95679010"  # MEMBER_BIJ(STORY_IDX)
STORY_OPENID_OA = "oK3x9AAntarcticaStoryLinYue1"
STORY_OPENID_MP = "o_mP7cAntarcticaStoryLinYue2"
STORY_UNIONID = "oTmq8vAntarcticaStoryLinYue0"
STORY_PROMO_SUFFIX = "90004251"  # ORDER_BIJ(STORY_IDX)
STORY_FAMILY_SUFFIX = "80004260"  # ORDER_BIJ(STORY_IDX - 1)
STORY_CHILD_AGE = 5
STORY_SEARCHES = ("南极旅游", "南极 邮轮 价格", "Antarctic cruise", "南极 企鹅 亲子游")

_TZ = "Asia/Shanghai"
_OFFSET = timedelta(hours=8)
_ADDRESS = {
    "street": "漕溪北路88号3栋1502室",
    "city": "上海市",
    "region": "徐汇区",
    "postcode": "200030",
    "country": "CN",
}
_PROMO: dict[str, Any] = {
    "sku": "TOUR-ANT-PROMO",
    "name": "南极探险邮轮早鸟特惠",
    "category": "travel",
    "price": 46_792.0,
}
_ADULT: dict[str, Any] = {
    "sku": "TKT-ANT-ADULT",
    "name": "南极亲子游 成人票",
    "category": "travel",
    "price": 58_492.0,
}
_CHILD: dict[str, Any] = {
    "sku": "TKT-ANT-CHILD",
    "name": "南极亲子游 儿童票",
    "category": "travel",
    "price": 31_192.0,
}


def story_day(step: int, days: int) -> int:
    """Day index of story step 0-3 for a run of ``days`` days."""
    return min(step, days - 1)


def order_ids(settings: DatagenSettings) -> tuple[str, str]:
    """(promotion order id, family ticket order id) for these settings' start date."""
    promo = _date(settings, story_day(1, settings.days)).strftime("%Y%m%d")
    family = _date(settings, story_day(2, settings.days)).strftime("%Y%m%d")
    return f"SO{promo}{STORY_PROMO_SUFFIX}", f"SO{family}{STORY_FAMILY_SUFFIX}"


def _date(settings: DatagenSettings, day: int) -> date:
    return settings.start_date + timedelta(days=day)


def _epoch(settings: DatagenSettings, day: int, hh: int, mm: int) -> int:
    d = _date(settings, day)
    local = datetime(d.year, d.month, d.day, hh, mm, tzinfo=timezone.utc)
    return int((local - _OFFSET).timestamp())


def _local_iso(epoch: int) -> str:
    return (datetime.fromtimestamp(epoch, tz=timezone.utc) + _OFFSET).strftime("%Y-%m-%dT%H:%M:%S") + "+08:00"


def story_person(spark: SparkSession, settings: DatagenSettings, like: DataFrame) -> DataFrame:
    """The story person's row in truth/persons, with ``like``'s schema."""
    row: dict[str, Any] = {
        "person_id": STORY_PERSON_ID,
        "person_idx": STORY_PERSON_IDX,
        "household_id": "H-STORY-ANTARCTICA",
        "household_idx": STORY_PERSON_IDX,
        "household_size": 3,
        "role": "head",
        "locale": "zh_CN",
        "gender": "F",
        "age": 35,
        "birth_date": date(1989, 4, 17),
        "given_name": "悦",
        "family_name": "林",
        "full_name": STORY_NAME,
        "given_latin": "yue",
        "family_latin": "lin",
        "street": _ADDRESS["street"],
        "postcode": _ADDRESS["postcode"],
        "city": _ADDRESS["city"],
        "region": _ADDRESS["region"],
        "country": "CN",
        "address_line": _ADDRESS["city"] + _ADDRESS["region"] + _ADDRESS["street"],
        "tz": _TZ,
        "utc_offset": 8,
        "city_code": "SH",
        "phone_cc": "86",
        "phone_nsn": STORY_PHONE_NSN,
        "phone": STORY_PHONE,
        "email": STORY_EMAIL,
        "has_web": False,
        "has_app": True,
        "device_id": STORY_DEVICE_ID,
        "platform": "ios",
        "shares_device": False,
        "member_id": STORY_MEMBER_ID,
        "member_since_day": story_day(2, settings.days),
        "crm_since_day": 0,
        "pos_customer": False,
        "wechat_openid_oa": STORY_OPENID_OA,
        "wechat_openid_mp": STORY_OPENID_MP,
        "wechat_unionid": STORY_UNIONID,
        "wechat_follow_day": story_day(3, settings.days),
        "wechat_phone_day": story_day(3, settings.days),
        "nickname": "🐧悦悦",
        "email_subscriber": False,
        "email_hashed": False,
        "segment": "new",
        "first_day": 0,
        "turn_day": 0,
        "is_story": True,
    }
    return _frame(spark, like.schema, [row])


def _frame(spark: SparkSession, schema: StructType, rows: list[dict[str, Any]]) -> DataFrame:
    names = schema.fieldNames()
    return spark.createDataFrame([tuple(r.get(n) for n in names) for r in rows], schema)


def _common(settings: DatagenSettings, day: int, key: str, hh: int, mm: int) -> dict[str, Any]:
    return {
        "person_id": STORY_PERSON_ID,
        "person_idx": STORY_PERSON_IDX,
        "locale": "zh_CN",
        "tz": _TZ,
        "day": day,
        "record_key": key,
        "base_epoch": _epoch(settings, day, hh, mm),
        "story": True,
    }


def _app(settings: DatagenSettings) -> list[dict[str, Any]]:
    d0, d1, d2 = (story_day(i, settings.days) for i in range(3))
    promo_id, family_id = order_ids(settings)
    device = {
        "device_id_true": STORY_DEVICE_ID,
        "platform": "ios",
        "shared": False,
        "os_version": "18.2",
        "app_version": "6.0.2",
        "millis": 0,
    }

    def ev(day: int, n: int, hh: int, mm: int, name: str, **fields: Any) -> dict[str, Any]:
        return {**_common(settings, day, f"a-story-{n:02d}", hh, mm), **device, "event_name": name, **fields}

    return [
        ev(d0, 1, 10, 2, "app_open", screen="home"),
        ev(d0, 2, 10, 3, "search", search_term=STORY_SEARCHES[0]),
        ev(d0, 3, 10, 5, "search", search_term=STORY_SEARCHES[1]),
        ev(d0, 4, 10, 6, "product_view", product_id=_PROMO["sku"]),
        ev(d0, 5, 10, 8, "search", search_term=STORY_SEARCHES[2]),
        ev(d0, 6, 10, 9, "permission_prompt", permission="location", granted=False),
        ev(d1, 7, 20, 10, "app_open", screen="travel"),
        ev(d1, 8, 20, 11, "search", search_term=STORY_SEARCHES[3]),
        ev(d1, 9, 20, 12, "product_view", product_id=_PROMO["sku"]),
        ev(
            d1,
            10,
            20,
            16,
            "order_placed",
            order_id=promo_id,
            amount=_PROMO["price"],
            currency="CNY",
            screen="checkout",
        ),
        ev(d2, 11, 9, 30, "register", member_id=STORY_MEMBER_ID, screen="signup"),
        ev(d2, 12, 9, 31, "login", member_id=STORY_MEMBER_ID),
        ev(
            d2,
            13,
            9,
            46,
            "order_placed",
            member_id=STORY_MEMBER_ID,
            order_id=family_id,
            amount=2 * _ADULT["price"] + _CHILD["price"],
            currency="CNY",
            screen="checkout",
        ),
    ]


def _item(product: dict[str, Any], qty: int, ticket_type: str | None, age: int | None) -> dict[str, Any]:
    return {
        "sku": product["sku"],
        "name": product["name"],
        "category": product["category"],
        "quantity": qty,
        "unit_price": product["price"],
        "currency": "CNY",
        "ticket_type": ticket_type,
        "traveler_age": age,
    }


def _orders(settings: DatagenSettings) -> list[dict[str, Any]]:
    d1, d2 = story_day(1, settings.days), story_day(2, settings.days)
    promo_id, family_id = order_ids(settings)
    shipping = {
        "ship_name": STORY_NAME,
        "ship_street": _ADDRESS["street"],
        "ship_city": _ADDRESS["city"],
        "ship_postcode": _ADDRESS["postcode"],
        "ship_country": "CN",
    }

    def order(
        day: int, oid: str, hh: int, mm: int, items: list[dict[str, Any]], **fields: Any
    ) -> dict[str, Any]:
        created = _epoch(settings, day, hh, mm)
        paid = created + 120
        row = _common(settings, day, f"{oid}:paid", hh, mm)
        row.update(
            {
                "base_epoch": paid,
                "order_id": oid,
                "created_at": _local_iso(created),
                "updated_at": _local_iso(paid),
                "status": "paid",
                "status_history": [
                    {"status": "created", "at": _local_iso(created)},
                    {"status": "paid", "at": _local_iso(paid)},
                ],
                "channel": "app",
                "phone_true": STORY_PHONE,
                "phone_nsn": STORY_PHONE_NSN,
                "used_family_email": False,
                "items": items,
                "total_amount": round(sum(i["quantity"] * i["unit_price"] for i in items), 2),
                "currency": "CNY",
                "payment_method": "alipay",
                **shipping,
                **fields,
            }
        )
        return row

    return [
        order(d1, promo_id, 20, 14, [_item(_PROMO, 1, None, None)], promo_code="ANTARCTIC2025"),
        order(
            d2,
            family_id,
            9,
            44,
            [_item(_ADULT, 2, "adult", None), _item(_CHILD, 1, "child", STORY_CHILD_AGE)],
            member_id=STORY_MEMBER_ID,
        ),
    ]


def _consents(settings: DatagenSettings) -> list[dict[str, Any]]:
    d2 = story_day(2, settings.days)
    rows = []
    for n, purpose in enumerate(("email", "sms", "profiling"), start=1):
        row = _common(settings, d2, f"cs-story-{n:02d}", 9, 32)
        row.update(
            {
                "member_id": STORY_MEMBER_ID,
                "email_true": STORY_EMAIL,
                "purpose": purpose,
                "status": "granted",
                "source": "app",
                "policy_version": "2025-01",
                "double_opt_in": True,
            }
        )
        rows.append(row)
    return rows


def _wechat(settings: DatagenSettings) -> list[dict[str, Any]]:
    d3 = story_day(3, settings.days)
    follow = _common(settings, d3, "wx-story-01", 12, 0)
    follow.update(
        {
            "appid": "wx5c7a3d2e9f1b4a60",
            "openid": STORY_OPENID_OA,
            "unionid_true": STORY_UNIONID,
            "event": "subscribe",
            "nickname": "🐧悦悦",
            "scene": "article",
        }
    )
    auth = _common(settings, d3, "wx-story-02", 12, 5)
    auth.update(
        {
            "appid": "wx9e2f4b7c1a3d5e88",
            "openid": STORY_OPENID_MP,
            "unionid_true": STORY_UNIONID,
            "event": "mp_phone_auth",
            "nickname": "🐧悦悦",
            "phone_nsn": STORY_PHONE_NSN,
            "phone_true": STORY_PHONE,
            "member_id": STORY_MEMBER_ID,
        }
    )
    return [follow, auth]


_BUILDERS = {"app": _app, "orders": _orders, "consents": _consents, "wechat": _wechat}


def story_rows(settings: DatagenSettings, source: str) -> list[dict[str, Any]]:
    """Semantic rows of the story for one source (all days)."""
    builder = _BUILDERS.get(source)
    return builder(settings) if builder else []


def story_events(
    spark: SparkSession, g: Gen, source: str, days: list[int], schema: StructType
) -> DataFrame | None:
    """The story's semantic rows of ``source`` on ``days``, in the generator's schema, or None."""
    rows = [r for r in story_rows(g.settings, source) if r["day"] in days]
    if not rows:
        return None
    return _frame(spark, schema, rows)
