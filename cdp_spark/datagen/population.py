"""The hidden population: persons, households, identifiers and behaviour, one row per person.

Everything is a pure function of ``(seed, person_idx)`` (and of the household index for
household attributes), computed with Spark built-ins from ``spark.range``. The table is
written to ``truth/persons`` and read back by the source generators, so each source reads
only the columns it needs instead of re-deriving the population.

Households are blocks of four consecutive indices split by a hashed pattern (four singles,
couple + two singles, family of three + single, family of four, ...). The first index of
a group is the head; members share locale, address and usually the family name. Some
multi-person households share the head's app device (a family tablet) or a family e-mail.

Identifiers that must never collide between two people (phones, e-mail numbers, member
ids, customer numbers, loyalty cards) come from bijections of the index rather than from
hashes; ``MAX_PERSONS`` keeps the bijections collision-free. Index ``STORY_IDX`` is
reserved for the scripted story person, so its identifiers are free by construction.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from cdp_spark.datagen import vocab
from cdp_spark.datagen._sql import (
    Rng,
    add,
    arr,
    bijective,
    by_locale,
    case,
    locale_lit,
    pick,
    q,
    select,
    when,
)
from cdp_spark.datagen.settings import DatagenSettings

# (group start per position in a block of four, weight)
HOUSEHOLD_PATTERNS: tuple[tuple[tuple[int, int, int, int], float], ...] = (
    ((0, 1, 2, 3), 0.30),
    ((0, 0, 2, 3), 0.15),
    ((0, 1, 2, 2), 0.10),
    ((0, 0, 2, 2), 0.15),
    ((0, 0, 0, 3), 0.15),
    ((0, 0, 0, 0), 0.10),
    ((0, 1, 1, 1), 0.05),
)
SEGMENTS: tuple[tuple[str, float], ...] = (
    ("new", 0.12),
    ("active", 0.45),
    ("loyal", 0.13),
    ("churning", 0.15),
    ("returning", 0.15),
)

STORY_IDX = 99_999_999  # reserved index; regular persons are < MAX_PERSONS

# Bijections (modulus, multiplier coprime to it, offset); see _sql.bijective.
PHONE_BIJ = (100_000_000, 7_654_321, 12_345_679)
US_PHONE_BIJ = (8_000_000, 7_654_321, 3_141_592)
EMAIL_BIJ = (10_000_000, 3_571_429, 271_828)
EMAIL2_BIJ = (100_000_000, 2_718_281, 31_415)
QQ_BIJ = (1_000_000_000, 987_654_323, 100_000)
MEMBER_BIJ = (100_000_000, 5_555_557, 1_234_567)
CUSTOMER_BIJ = (10_000_000_000, 7_777_777_781, 123_456_789)
CARD_BIJ = (100_000_000, 3_333_337, 7_777_777)
FAMILY_BIJ = (10_000_000, 1_234_567, 89)
SECOND_OFFSET = 50_000_000  # idx + SECOND_OFFSET numbers second phones, e-mails, customer numbers

PERSON_ID_WIDTH = 9

PERSON_COLUMNS: tuple[str, ...] = (
    "person_id",
    "person_idx",
    "household_id",
    "household_idx",
    "household_size",
    "role",
    "locale",
    "gender",
    "age",
    "birth_date",
    "given_name",
    "family_name",
    "full_name",
    "given_latin",
    "family_latin",
    "street",
    "postcode",
    "city",
    "region",
    "country",
    "address_line",
    "tz",
    "utc_offset",
    "city_code",
    "phone_cc",
    "phone_nsn",
    "phone",
    "phone2_nsn",
    "phone2",
    "email",
    "email2",
    "family_email",
    "has_web",
    "has_app",
    "device_id",
    "platform",
    "shares_device",
    "household_device_id",
    "household_platform",
    "member_id",
    "member_since_day",
    "customer_no",
    "customer_no2",
    "crm_since_day",
    "pos_customer",
    "loyalty_card",
    "wechat_openid_oa",
    "wechat_openid_mp",
    "wechat_unionid",
    "wechat_follow_day",
    "wechat_phone_day",
    "nickname",
    "email_subscriber",
    "email_hashed",
    "segment",
    "first_day",
    "turn_day",
    "is_story",
)


def _digits(value: str, width: int) -> str:
    return f"lpad(CAST({value} AS STRING), {width}, '0')"


def _names(index: str, table: dict[str, tuple[vocab.Name, ...]], attr: str) -> str:
    return by_locale(
        "locale", {loc: pick([getattr(n, attr) for n in names], index) for loc, names in table.items()}
    )


def _given(index: str, attr: str) -> str:
    per_locale = {
        loc: when(
            "gender = 'F'",
            pick([getattr(n, attr) for n in g["F"]], index),
            pick([getattr(n, attr) for n in g["M"]], index),
        )
        for loc, g in vocab.GIVEN_NAMES.items()
    }
    return by_locale("locale", per_locale)


def _city(attr: str) -> str:
    return by_locale(
        "locale",
        {loc: pick([getattr(c, attr) for c in cities], "_city_i") for loc, cities in vocab.CITIES.items()},
    )


def _device(seed: int, owner: str) -> tuple[str, str]:
    """(device id, platform) of the device owned by ``owner``: IDFV on iOS, ANDROID_ID on Android."""
    dr = Rng(seed, "device", owner)
    ios = f"({dr.u('ios')} < {locale_lit('locale', {'zh_CN': 0.3, 'de_DE': 0.4, 'en_US': 0.55})})"
    return when(ios, dr.uuid("id", upper=True), dr.hex16("id")), when(ios, "'ios'", "'android'")


def build_persons(spark: SparkSession, settings: DatagenSettings) -> DataFrame:
    """The hidden population as a DataFrame (no story person; see ``story.story_person``)."""
    seed, n, days = settings.seed, settings.persons, settings.days
    noise = settings.noise
    partitions = max(1, min(64, n // 100_000 + 1))

    flat_starts = [s for pattern, _ in HOUSEHOLD_PATTERNS for s in pattern]
    flat_sizes = [pattern.count(s) for pattern, _ in HOUSEHOLD_PATTERNS for s in pattern]
    block = Rng(seed, "household_block", "floor(person_idx / 4)")
    df = spark.range(0, n, 1, numPartitions=partitions).selectExpr("id AS person_idx")
    df = add(
        df,
        {
            "_pos": "CAST(pmod(person_idx, 4) AS INT)",
            "_pattern": block.weighted_index("pattern", [w for _, w in HOUSEHOLD_PATTERNS]),
        },
    )
    slot = "_pattern * 4 + _pos + 1"
    df = add(
        df,
        {
            "_start": f"element_at({arr(flat_starts)}, {slot})",
            "_size": f"element_at({arr(flat_sizes)}, {slot})",
        },
    )
    df = add(
        df,
        {
            "household_idx": "person_idx - _pos + _start",
            "member_pos": "CAST(_pos - _start AS INT)",
            "household_size": f"CAST(least(_size, {n}L - (person_idx - _pos + _start)) AS INT)",
        },
    )

    hh = Rng(seed, "household", "household_idx")
    pr = Rng(seed, "person", "person_idx")
    mix = [(loc, w) for loc, w in settings.locales.normalised().items() if w > 0]
    df = add(
        df,
        {
            "locale": hh.weighted("locale", mix),
            "role": case([("member_pos = 0", "'head'"), ("member_pos = 1", "'partner'")], "'child'"),
            "_city_i": hh.int_("city", 10),
            "_street_i": hh.int_("street", 10),
            "_head_age": hh.between("head_age", 24, 78),
            "_head_gender": hh.pick("head_gender", ["M", "F"]),
            "_hh_family_i": hh.int_("family", 22),
            "shares_device": f"(household_size > 1 AND {hh.below('shared_device', noise.shared_device)})",
            "_family_email": f"(household_size > 1 AND {hh.below('family_email', noise.family_email)})",
            "_house_no": f"CAST({hh.between('house_no', 1, 199)} AS STRING)",
            "_hh_rng_building": hh.between("building", 1, 30),
            "_hh_rng_room": f"({hh.between('floor', 1, 28)} * 100 + {hh.between('room', 1, 4)})",
            "_hh_apt": when(
                hh.below("apt", 0.3),
                f"concat(', Apt ', {hh.between('apt_no', 1, 30)}, {hh.pick('apt_letter', list('ABCD'))})",
                "''",
            ),
            "_hh_pc_u": hh.u("postcode"),
        },
    )
    df = add(
        df,
        {
            "age": case(
                [
                    ("role = 'head'", "_head_age"),
                    ("role = 'partner'", f"greatest(18, _head_age + {pr.between('age_diff', -6, 6)})"),
                ],
                pr.between("child_age", 3, "least(17, _head_age - 20)"),
            ),
            "gender": case(
                [
                    ("role = 'head'", "_head_gender"),
                    (
                        f"role = 'partner' AND {pr.below('opposite', 0.9)}",
                        "CASE _head_gender WHEN 'M' THEN 'F' ELSE 'M' END",
                    ),
                    ("role = 'partner'", "_head_gender"),
                ],
                pr.pick("gender", ["M", "F"]),
            ),
            "_family_i": when(
                f"role = 'partner' AND (locale = 'zh_CN' OR NOT {pr.below('married_name', 0.7)})",
                pr.int_("family", 22),
                "_hh_family_i",
            ),
            "_given_i": pr.int_("given", 16),
        },
    )
    df = add(
        df,
        {
            "family_name": _names("_family_i", vocab.FAMILY_NAMES, "display"),
            "family_latin": _names("_family_i", vocab.FAMILY_NAMES, "latin"),
            "given_name": _given("_given_i", "display"),
            "given_latin": _given("_given_i", "latin"),
            "_hh_family_latin": _names("_hh_family_i", vocab.FAMILY_NAMES, "latin"),
            "birth_date": f"date_sub(DATE {q(settings.start_date.isoformat())}, age * 365 + {pr.int_('birthday', 365)})",
            "city": _city("name"),
            "region": _city("region"),
            "tz": _city("tz"),
            "utc_offset": _city("utc_offset"),
            "city_code": _city("code"),
            "_area_code": _city("area_code"),
            "_pc_base": _city("postcode"),
            "_pc_span": _city("postcode_span"),
            "street_name": by_locale(
                "locale", {loc: pick(v, "_street_i") for loc, v in vocab.STREETS.items()}
            ),
            "country": locale_lit("locale", vocab.COUNTRY),
        },
    )
    df = add(
        df,
        {
            "full_name": when(
                "locale = 'zh_CN'",
                "concat(family_name, given_name)",
                "concat_ws(' ', given_name, family_name)",
            ),
            "postcode": when(
                "locale = 'zh_CN'",
                "_pc_base",
                "lpad(CAST(CAST(_pc_base AS INT) + CAST(floor(_hh_pc_u * _pc_span) AS INT) AS STRING), 5, '0')",
            ),
            "street": by_locale(
                "locale",
                {
                    "zh_CN": "concat(street_name, _house_no, '号', _hh_rng_building, '栋', _hh_rng_room, '室')",
                    "de_DE": "concat_ws(' ', street_name, _house_no)",
                    "en_US": "concat(_house_no, ' ', street_name, _hh_apt)",
                },
            ),
        },
    )

    # ---- phones: national significant number + country code; E.164 is "+" + cc + nsn
    def nsn(index: str, prefix_tag: str, second: bool) -> str:
        suffix = _digits(bijective(index, *PHONE_BIJ), 8)
        us_local = f"CAST(2000000 + {bijective('person_idx', *US_PHONE_BIJ)} AS STRING)"
        us_area = pr.pick(prefix_tag + ":us", vocab.US_SECOND_AREA_CODES) if second else "_area_code"
        return by_locale(
            "locale",
            {
                "zh_CN": f"concat({pr.pick(prefix_tag + ':zh', vocab.MOBILE_PREFIXES['zh_CN'])}, {suffix})",
                "de_DE": f"concat({pr.pick(prefix_tag + ':de', vocab.MOBILE_PREFIXES['de_DE'])}, {suffix})",
                "en_US": f"concat({us_area}, {us_local})",
            },
        )

    has_phone = f"(age >= 18 OR (age >= 12 AND {pr.below('kid_phone', 0.5)}))"
    has_phone2 = f"(age >= 18 AND {pr.below('phone2', 0.15)})"
    g, f = "given_latin", "family_latin"
    num = f"CAST({bijective('person_idx', *EMAIL_BIJ)} AS STRING)"
    local = by_locale(
        "locale",
        {
            "zh_CN": when("_ev = 0", f"concat({g}, '.', {f}, {num})", f"concat({f}, {g}, {num})"),
            "de_DE": case(
                [
                    ("_ev = 0", f"concat({g}, '.', {f}, {num})"),
                    ("_ev = 1", f"concat(substring({g}, 1, 1), '.', {f}, {num})"),
                ],
                f"concat({f}, '.', {g}, {num})",
            ),
            "en_US": case(
                [("_ev = 0", f"concat({g}, '.', {f}, {num})"), ("_ev = 1", f"concat({g}, {f}, {num})")],
                f"concat(substring({g}, 1, 1), {f}, {num})",
            ),
        },
    )
    domain = by_locale("locale", {loc: pr.pick("email_domain", v) for loc, v in vocab.EMAIL_DOMAINS.items()})
    domain2 = by_locale(
        "locale", {loc: pr.pick("email2_domain", v) for loc, v in vocab.EMAIL_DOMAINS.items()}
    )
    qq = f"concat(CAST(10000 + {bijective('person_idx', *QQ_BIJ)} AS STRING), '@qq.com')"
    hh_num = f"CAST({bijective('household_idx', *FAMILY_BIJ)} AS STRING)"
    df = add(
        df,
        {
            "phone_cc": locale_lit("locale", vocab.COUNTRY_CODE),
            "phone_nsn": when(has_phone, nsn("person_idx", "prefix", False)),
            "phone2_nsn": when(has_phone2, nsn(f"person_idx + {SECOND_OFFSET}", "prefix2", True)),
            "_ev": pr.int_("email_variant", 3),
            "_has_email": f"((age >= 18 AND {pr.below('email', 0.95)}) OR (age >= 13 AND {pr.below('kid_email', 0.4)}))",
            "_has_email2": f"(age >= 18 AND {pr.below('email2', 0.25)})",
            "_domain": domain,
            "_domain2": domain2,
            "address_line": by_locale(
                "locale",
                {
                    "zh_CN": "concat(city, region, street)",
                    "de_DE": "concat(street, ', ', postcode, ' ', city)",
                    "en_US": "concat(street, ', ', city, ', ', region, ' ', postcode)",
                },
            ),
        },
    )
    family_email = by_locale(
        "locale",
        {
            "zh_CN": f"concat(_hh_family_latin, 'jia', {hh_num}, '@163.com')",
            "de_DE": f"concat('familie.', _hh_family_latin, {hh_num}, '@web.de')",
            "en_US": f"concat('the', _hh_family_latin, 's', {hh_num}, '@gmail.com')",
        },
    )
    email2 = f"concat({g}, '_', CAST({bijective(f'person_idx + {SECOND_OFFSET}', *EMAIL2_BIJ)} AS STRING), '@', _domain2)"
    email_expr = when("locale = 'zh_CN' AND _ev = 2", qq, f"concat({local}, '@', _domain)")
    own_device, own_platform = _device(seed, "person_idx")
    hh_device, hh_platform = _device(seed, "household_idx")
    adult = "(age >= 18)"
    in_crm = f"({adult} AND {pr.below('crm', 0.5)})"
    mp_user = pr.below("mp", 0.6)
    wechat_p = by_locale(
        "locale",
        {
            "zh_CN": case([(adult, "0.8D"), ("age >= 12", "0.5D")], "0.0D"),
            "de_DE": when(adult, "0.05D", "0.0D"),
            "en_US": when(adult, "0.05D", "0.0D"),
        },
    )
    has_wechat = f"({pr.u('wechat')} < {wechat_p})"
    pos_customer = (
        f"({adult} AND {pr.u('pos')} < {locale_lit('locale', {'zh_CN': 0.45, 'de_DE': 0.45, 'en_US': 0.2})})"
    )

    def window_day(tag: str, p_new: float, horizon: int) -> str:
        """Day an account was created: mostly before the window (negative), sometimes inside it."""
        return when(
            pr.below(tag + ":new", p_new),
            pr.int_(tag + ":day", days),
            f"-1 - {pr.int_(tag + ':age', horizon)}",
        )

    df = add(
        df,
        {
            "phone": "CASE WHEN phone_nsn IS NOT NULL THEN concat('+', phone_cc, phone_nsn) END",
            "phone2": "CASE WHEN phone2_nsn IS NOT NULL THEN concat('+', phone_cc, phone2_nsn) END",
            "email": when("_has_email", f"lower({email_expr})"),
            "email2": when("_has_email AND _has_email2", f"lower({email2})"),
            "family_email": when("_family_email", family_email),
            "has_web": f"({pr.u('web')} < {when(adult, '0.8D', '0.5D')})",
            "has_app": f"({pr.below('app', 0.55)} OR shares_device)",
            "device_id": own_device,
            "platform": own_platform,
            "household_device_id": when("shares_device", hh_device),
            "household_platform": when("shares_device", hh_platform),
            "member_id": when(
                f"{adult} AND {pr.below('member', 0.5)}",
                f"concat('M', {_digits(bijective('person_idx', *MEMBER_BIJ), 8)})",
            ),
            "member_since_day": window_day("member", 0.12, 1500),
            "customer_no": when(in_crm, _digits(bijective("person_idx", *CUSTOMER_BIJ), 10)),
            "customer_no2": when(
                f"{in_crm} AND {pr.below('crm_dup', noise.duplicate_contact)}",
                _digits(bijective(f"person_idx + {SECOND_OFFSET}", *CUSTOMER_BIJ), 10),
            ),
            "crm_since_day": window_day("crm", 0.05, 3000),
            "pos_customer": pos_customer,
            "loyalty_card": when(
                f"{pos_customer} AND {pr.below('card', 0.6)}",
                f"concat('8860', {_digits(bijective('person_idx', *CARD_BIJ), 8)})",
            ),
            "_has_wechat": has_wechat,
            "_mp_user": mp_user,
            "nickname": pr.pick("nickname", vocab.NICKNAMES),
            "email_hashed": pr.below("esp_hashed", 0.3),
            "segment": pr.weighted("segment", SEGMENTS),
            "_first_day": pr.int_("first_day", days),
            "turn_day": pr.int_("turn_day", days),
            "_newsletter": pr.below("newsletter", 0.55),
        },
    )
    df = add(
        df,
        {
            "wechat_openid_oa": when("_has_wechat", f"concat('oK3x9A', {pr.base64url('openid_oa')})"),
            "wechat_openid_mp": when(
                "_has_wechat AND _mp_user", f"concat('o_mP7c', {pr.base64url('openid_mp')})"
            ),
            "wechat_unionid": when(
                f"_has_wechat AND {pr.below('unionid', 0.85)}", f"concat('oTmq8v', {pr.base64url('unionid')})"
            ),
            "wechat_follow_day": when("_has_wechat", window_day("follow", 0.2, 2000)),
            "wechat_phone_day": when(
                f"_has_wechat AND _mp_user AND {pr.below('mp_phone', 0.25)}", pr.int_("mp_phone_day", days)
            ),
            "email_subscriber": f"(email IS NOT NULL AND {adult} AND _newsletter)",
            "first_day": "CASE WHEN segment = 'new' THEN _first_day ELSE -100000 END",
            "person_id": f"concat('P', lpad(CAST(person_idx AS STRING), {PERSON_ID_WIDTH}, '0'))",
            "household_id": f"concat('H', lpad(CAST(household_idx AS STRING), {PERSON_ID_WIDTH}, '0'))",
            "is_story": "false",
        },
    )
    return select(df, {c: c for c in PERSON_COLUMNS})
