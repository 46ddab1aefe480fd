"""Small fixed vocabularies the generator picks from: names, places, products, phrases.

Why literal lists: the build machine has no network and we want no Faker dependency; a few
dozen realistic values per locale are enough to exercise standardisers (CJK names,
umlauts, apostrophes, leading-zero postcodes) and keep the driver-side data tiny. Spark
turns each list into a constant array, so picking from them is a hash and an array lookup.

Every list is indexed by position; changing a list changes the generated data for every
seed, so append rather than reorder when extending.
"""

from __future__ import annotations

from typing import NamedTuple

LOCALES: tuple[str, ...] = ("zh_CN", "de_DE", "en_US")


class Name(NamedTuple):
    """A name as displayed and its lower-case ASCII form used in e-mail addresses."""

    display: str
    latin: str


def _names(pairs: str) -> tuple[Name, ...]:
    out = []
    for item in pairs.split():
        display, _, latin = item.partition(":")
        out.append(Name(display.replace("_", " "), latin or display.lower()))
    return tuple(out)


FAMILY_NAMES: dict[str, tuple[Name, ...]] = {
    "zh_CN": _names(
        "王:wang 李:li 张:zhang 刘:liu 陈:chen 杨:yang 黄:huang 赵:zhao 吴:wu 周:zhou "
        "徐:xu 孙:sun 马:ma 朱:zhu 胡:hu 郭:guo 何:he 林:lin 高:gao 罗:luo 欧阳:ouyang 司马:sima"
    ),
    "de_DE": _names(
        "Müller:mueller Schmidt:schmidt Schneider:schneider Fischer:fischer Weber:weber Meyer:meyer "
        "Wagner:wagner Becker:becker Schulz:schulz Hoffmann:hoffmann Schäfer:schaefer Koch:koch "
        "Bauer:bauer Richter:richter Klein:klein Wolf:wolf Schröder:schroeder Neumann:neumann "
        "Zimmermann:zimmermann Krüger:krueger Köhler:koehler Weiß:weiss"
    ),
    "en_US": _names(
        "Smith:smith Johnson:johnson Williams:williams Brown:brown Jones:jones Garcia:garcia "
        "Miller:miller Davis:davis Rodriguez:rodriguez Martinez:martinez Wilson:wilson "
        "Anderson:anderson Taylor:taylor Thomas:thomas Moore:moore Jackson:jackson Lee:lee "
        "Thompson:thompson White:white O'Brien:obrien Nguyen:nguyen Kim:kim"
    ),
}

GIVEN_NAMES: dict[str, dict[str, tuple[Name, ...]]] = {
    "zh_CN": {
        "M": _names(
            "伟:wei 强:qiang 磊:lei 军:jun 洋:yang 勇:yong 杰:jie 涛:tao 明:ming 超:chao "
            "浩然:haoran 子轩:zixuan 宇航:yuhang 志强:zhiqiang 建华:jianhua 俊杰:junjie"
        ),
        "F": _names(
            "芳:fang 娜:na 敏:min 静:jing 丽:li 艳:yan 婷:ting 雪:xue 慧:hui 秀英:xiuying "
            "欣怡:xinyi 梓涵:zihan 诗涵:shihan 雨桐:yutong 晓燕:xiaoyan 佳怡:jiayi"
        ),
    },
    "de_DE": {
        "M": _names(
            "Lukas:lukas Jürgen:juergen Stefan:stefan Thomas:thomas Michael:michael Andreas:andreas "
            "Klaus:klaus Jörg:joerg Maximilian:maximilian Felix:felix Jonas:jonas Leon:leon Uwe:uwe "
            "Björn:bjoern Hans-Peter:hanspeter Karl-Heinz:karlheinz"
        ),
        "F": _names(
            "Anna:anna Lena:lena Sabine:sabine Ursula:ursula Jutta:jutta Birgit:birgit "
            "Katharina:katharina Julia:julia Sophie:sophie Marie:marie Mia:mia Hannah:hannah "
            "Käthe:kaethe Lea:lea Sandra:sandra Anne-Marie:annemarie"
        ),
    },
    "en_US": {
        "M": _names(
            "James:james John:john Robert:robert Michael:michael William:william David:david "
            "Richard:richard Joseph:joseph Thomas:thomas Christopher:christopher Daniel:daniel "
            "Matthew:matthew Anthony:anthony Kevin:kevin Jose:jose Tyler:tyler"
        ),
        "F": _names(
            "Mary:mary Patricia:patricia Jennifer:jennifer Linda:linda Elizabeth:elizabeth "
            "Barbara:barbara Susan:susan Jessica:jessica Sarah:sarah Karen:karen Emily:emily "
            "Ashley:ashley Mary_Ann:maryann Chloe:chloe Zoey:zoey Megan:megan"
        ),
    },
}


class City(NamedTuple):
    """A delivery area: postcode range, time zone, phone area code, store code."""

    name: str
    region: str  # district (CN), Bundesland-free (DE: ""), state (US)
    postcode: str  # base postcode, as text to keep leading zeros
    postcode_span: int  # postcodes are base + [0, span)
    code: str  # short code used in store ids
    tz: str
    utc_offset: int  # standard-time offset in hours, for placing events in the UTC day
    area_code: str  # US only


CITIES: dict[str, tuple[City, ...]] = {
    "zh_CN": (
        City("上海市", "浦东新区", "200120", 1, "SH", "Asia/Shanghai", 8, ""),
        City("北京市", "朝阳区", "100020", 1, "BJ", "Asia/Shanghai", 8, ""),
        City("广州市", "天河区", "510620", 1, "GZ", "Asia/Shanghai", 8, ""),
        City("深圳市", "南山区", "518052", 1, "SZ", "Asia/Shanghai", 8, ""),
        City("杭州市", "西湖区", "310012", 1, "HZ", "Asia/Shanghai", 8, ""),
        City("成都市", "武侯区", "610041", 1, "CD", "Asia/Shanghai", 8, ""),
        City("南京市", "鼓楼区", "210008", 1, "NJ", "Asia/Shanghai", 8, ""),
        City("武汉市", "江汉区", "430021", 1, "WH", "Asia/Shanghai", 8, ""),
        City("西安市", "雁塔区", "710061", 1, "XA", "Asia/Shanghai", 8, ""),
        City("重庆市", "渝中区", "400010", 1, "CQ", "Asia/Shanghai", 8, ""),
    ),
    "de_DE": (
        City("Berlin", "", "10115", 2000, "BER", "Europe/Berlin", 1, ""),
        City("Hamburg", "", "20095", 1000, "HAM", "Europe/Berlin", 1, ""),
        City("München", "", "80331", 1500, "MUC", "Europe/Berlin", 1, ""),
        City("Köln", "", "50667", 300, "CGN", "Europe/Berlin", 1, ""),
        City("Frankfurt am Main", "", "60311", 300, "FRA", "Europe/Berlin", 1, ""),
        City("Stuttgart", "", "70173", 400, "STR", "Europe/Berlin", 1, ""),
        City("Düsseldorf", "", "40210", 400, "DUS", "Europe/Berlin", 1, ""),
        City("Leipzig", "", "04103", 250, "LEJ", "Europe/Berlin", 1, ""),
        City("Dresden", "", "01067", 250, "DRS", "Europe/Berlin", 1, ""),
        City("Nürnberg", "", "90402", 400, "NUE", "Europe/Berlin", 1, ""),
    ),
    "en_US": (
        City("New York", "NY", "10001", 280, "NYC", "America/New_York", -5, "212"),
        City("San Francisco", "CA", "94102", 50, "SFO", "America/Los_Angeles", -8, "415"),
        City("Chicago", "IL", "60601", 60, "CHI", "America/Chicago", -6, "312"),
        City("Austin", "TX", "78701", 50, "AUS", "America/Chicago", -6, "512"),
        City("Seattle", "WA", "98101", 100, "SEA", "America/Los_Angeles", -8, "206"),
        City("Boston", "MA", "02108", 100, "BOS", "America/New_York", -5, "617"),
        City("Denver", "CO", "80202", 30, "DEN", "America/Denver", -7, "303"),
        City("Atlanta", "GA", "30303", 30, "ATL", "America/New_York", -5, "404"),
        City("Miami", "FL", "33125", 40, "MIA", "America/New_York", -5, "305"),
        City("Portland", "OR", "97201", 30, "PDX", "America/Los_Angeles", -8, "503"),
    ),
}

STREETS: dict[str, tuple[str, ...]] = {
    "zh_CN": (
        "中山路",
        "人民路",
        "解放路",
        "建设路",
        "和平路",
        "长江路",
        "新华路",
        "文化路",
        "胜利路",
        "青年路",
    ),
    "de_DE": (
        "Hauptstraße",
        "Bahnhofstraße",
        "Gartenstraße",
        "Schillerstraße",
        "Goethestraße",
        "Lindenstraße",
        "Kirchstraße",
        "Friedrichstraße",
        "Mühlenweg",
        "Schulstraße",
    ),
    "en_US": (
        "Main St",
        "Oak Ave",
        "Maple Dr",
        "Cedar Ln",
        "Park Ave",
        "Elm St",
        "Washington Blvd",
        "Lake View Rd",
        "Pine St",
        "Sunset Blvd",
    ),
}

COUNTRY = {"zh_CN": "CN", "de_DE": "DE", "en_US": "US"}
COUNTRY_CODE = {"zh_CN": "86", "de_DE": "49", "en_US": "1"}
CURRENCY = {"zh_CN": "CNY", "de_DE": "EUR", "en_US": "USD"}
LANG = {"zh_CN": "zh", "de_DE": "de", "en_US": "en"}

# Mobile prefixes: China 1[3-9]x, Germany 015x/016x/017x (without the trunk 0).
MOBILE_PREFIXES: dict[str, tuple[str, ...]] = {
    "zh_CN": (
        "130",
        "131",
        "132",
        "133",
        "134",
        "135",
        "136",
        "137",
        "138",
        "139",
        "150",
        "151",
        "152",
        "155",
        "156",
        "157",
        "158",
        "159",
        "166",
        "176",
        "177",
        "180",
        "181",
        "182",
        "183",
        "185",
        "186",
        "187",
        "188",
        "189",
        "199",
    ),
    "de_DE": (
        "151",
        "152",
        "157",
        "160",
        "162",
        "163",
        "170",
        "171",
        "172",
        "173",
        "175",
        "176",
        "177",
        "178",
        "179",
    ),
}
# Second US numbers use area codes no city uses, so they never collide with first numbers.
US_SECOND_AREA_CODES: tuple[str, ...] = ("646", "628", "773", "737", "425", "857", "720", "678", "786", "971")

EMAIL_DOMAINS: dict[str, tuple[str, ...]] = {
    "zh_CN": ("163.com", "126.com", "sina.com", "foxmail.com", "gmail.com", "139.com"),
    "de_DE": ("gmx.de", "web.de", "t-online.de", "gmail.com", "posteo.de", "outlook.de"),
    "en_US": ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com"),
}

# Identifiers that real systems fill in when the true value is unknown; shared by many people.
JUNK_EMAILS: tuple[str, ...] = ("test@test.com", "noemail@noemail.com", "null", "a@a.com", "none@none.com")
JUNK_PHONES: tuple[str, ...] = ("13800000000", "13800138000", "11111111111", "00000000000", "null", "0")
JUNK_IDS: tuple[str, ...] = ("null", "undefined", "0", "00000000-0000-0000-0000-000000000000", "N/A")


class Product(NamedTuple):
    sku: str
    category: str
    name_en: str
    name_zh: str
    name_de: str
    price_eur: float


PRODUCTS: tuple[Product, ...] = (
    Product(
        "TOUR-ANT-PROMO",
        "travel",
        "Antarctic Expedition Cruise - Early Bird",
        "南极探险邮轮早鸟特惠",
        "Antarktis-Expeditionskreuzfahrt Frühbucher",
        5999.0,
    ),
    Product(
        "TOUR-ICE-7D",
        "travel",
        "Iceland Northern Lights 7 Days",
        "冰岛极光7日游",
        "Island Nordlichter 7 Tage",
        2199.0,
    ),
    Product(
        "TOUR-YUN-5D",
        "travel",
        "Yunnan Highlights 5 Days",
        "云南精华5日游",
        "Yunnan Höhepunkte 5 Tage",
        899.0,
    ),
    Product("JKT-DOWN-01", "apparel", "Down Parka", "羽绒服", "Daunenparka", 249.0),
    Product("JKT-RAIN-02", "apparel", "Rain Jacket", "冲锋衣", "Regenjacke", 139.0),
    Product("SHO-HIKE-01", "apparel", "Hiking Boots", "登山鞋", "Wanderschuhe", 159.0),
    Product("ACC-GLOVE-01", "accessories", "Thermal Gloves", "保暖手套", "Thermohandschuhe", 29.9),
    Product(
        "ACC-SUNG-01", "accessories", "Polarized Sunglasses", "偏光太阳镜", "Polarisierte Sonnenbrille", 89.0
    ),
    Product("ELE-EARB-01", "electronics", "Wireless Earbuds", "蓝牙耳机", "Kabellose Ohrhörer", 99.0),
    Product("ELE-CAM-01", "electronics", "Action Camera", "运动相机", "Actionkamera", 329.0),
    Product("ELE-PBANK-01", "electronics", "Power Bank 20000mAh", "充电宝", "Powerbank 20000 mAh", 39.9),
    Product("BEA-CREAM-01", "beauty", "Hydrating Face Cream", "保湿面霜", "Feuchtigkeitscreme", 45.0),
    Product("BEA-SUN-01", "beauty", "Sunscreen SPF50", "防晒霜", "Sonnencreme LSF 50", 19.9),
    Product(
        "BOK-PHOTO-01",
        "books",
        "Wildlife Photography Guide",
        "野生动物摄影指南",
        "Tierfotografie-Ratgeber",
        34.9,
    ),
    Product("TOY-PENG-01", "toys", "Plush Penguin", "企鹅毛绒玩具", "Plüschpinguin", 24.9),
    Product("TOY-PUZ-01", "toys", "World Map Puzzle", "世界地图拼图", "Weltkarten-Puzzle", 19.9),
    Product("HOM-MUG-01", "home", "Insulated Travel Mug", "保温杯", "Thermobecher", 22.0),
    Product("HOM-BLKT-01", "home", "Wool Blanket", "羊毛毯", "Wolldecke", 79.0),
    Product("BAG-BPK-01", "bags", "Travel Backpack 40L", "旅行背包40升", "Reiserucksack 40 l", 119.0),
    Product("BAG-LUG-01", "bags", "Carry-on Suitcase", "登机箱", "Handgepäckkoffer", 189.0),
)
# Tickets only the scripted story buys (kept out of the random catalogue above).
STORY_PRODUCTS: tuple[Product, ...] = (
    Product(
        "TKT-ANT-ADULT",
        "travel",
        "Antarctic Family Voyage - Adult",
        "南极亲子游 成人票",
        "Antarktis-Familienreise - Erwachsener",
        7499.0,
    ),
    Product(
        "TKT-ANT-CHILD",
        "travel",
        "Antarctic Family Voyage - Child",
        "南极亲子游 儿童票",
        "Antarktis-Familienreise - Kind",
        3999.0,
    ),
)
# In-app purchases are digital goods sold inside the app, not e-commerce orders.
DIGITAL_PRODUCTS: tuple[tuple[str, float], ...] = (
    ("VIP-MONTH", 4.99),
    ("VIP-YEAR", 39.99),
    ("COUPON-PACK", 1.99),
    ("TRAVEL-GUIDE-PDF", 2.99),
)

FX_FROM_EUR = {"CNY": 7.8, "EUR": 1.0, "USD": 1.08}


def price(product: Product, currency: str) -> float:
    """Catalogue price in a currency: CNY prices are whole yuan, others end in .xx."""
    value = product.price_eur * FX_FROM_EUR[currency]
    return float(round(value)) if currency == "CNY" else round(value, 2)


SEARCH_TERMS: dict[str, tuple[str, ...]] = {
    "zh_CN": (
        "羽绒服",
        "冲锋衣",
        "登山鞋",
        "蓝牙耳机",
        "面霜",
        "防晒",
        "冰岛 极光",
        "云南旅游",
        "充电宝",
        "背包",
        "企鹅 玩具",
        "保温杯",
    ),
    "de_DE": (
        "Winterjacke",
        "Regenjacke",
        "Wanderschuhe",
        "Kopfhörer",
        "Sonnencreme",
        "Island Reise",
        "Rucksack",
        "Powerbank",
        "Thermobecher",
        "Puzzle Kinder",
    ),
    "en_US": (
        "rain jacket",
        "hiking boots",
        "wireless earbuds",
        "face cream",
        "iceland tour",
        "backpack",
        "power bank",
        "travel mug",
        "kids puzzle",
        "down parka",
    ),
}

UTM_SOURCES: tuple[str, ...] = (
    "google",
    "baidu",
    "bing",
    "wechat",
    "weibo",
    "xiaohongshu",
    "newsletter",
    "facebook",
    "instagram",
    "douyin",
)
UTM_MEDIUMS: tuple[str, ...] = ("cpc", "organic", "social", "email", "referral")
UTM_CAMPAIGNS: tuple[str, ...] = ("winter_sale", "new_year", "travel_week", "brand", "retargeting")

USER_AGENTS: tuple[str, ...] = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.54",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Mobile Safari/537.36",
)
SCREEN_WIDTHS: tuple[int, ...] = (375, 390, 414, 1280, 1440, 1920)

APP_SCREENS: tuple[str, ...] = ("home", "category", "product", "cart", "profile", "deals", "travel")
APP_VERSIONS: tuple[str, ...] = ("5.12.0", "5.12.1", "5.13.0", "6.0.2")
OS_VERSIONS = {"ios": ("17.6", "18.1", "18.2"), "android": ("12", "13", "14")}
PUSH_CAMPAIGNS: tuple[str, ...] = (
    "push_winter_sale",
    "push_cart_reminder",
    "push_new_arrivals",
    "push_travel_deals",
)

NICKNAMES: tuple[str, ...] = (
    "小鱼儿",
    "阳光",
    "Lucky",
    "🌸静静",
    "老王",
    "木子",
    "Momo",
    "Coco",
    "向日葵",
    "😊",
    "A.旅行家",
    "风一样的男子",
    "奶茶控",
    "追光者",
    "Sunny",
    "Leo",
    "大白",
    "小熊猫",
    "Dream",
    "🐧企鹅",
)
WECHAT_SCENES: tuple[str, ...] = ("qr_code", "search", "article", "mini_program", "card_share")

PAYMENT_ONLINE = {
    "zh_CN": ("alipay", "wechat_pay", "unionpay"),
    "de_DE": ("paypal", "klarna", "card"),
    "en_US": ("card", "paypal", "apple_pay"),
}
PAYMENT_POS = {
    "zh_CN": ("alipay", "wechat_pay", "cash", "unionpay"),
    "de_DE": ("ec_karte", "bar", "card"),
    "en_US": ("card", "cash", "apple_pay"),
}

SALUTATION = {"zh_CN": ("先生", "女士"), "de_DE": ("Herr", "Frau"), "en_US": ("Mr", "Ms")}
GENDER_CODE = {"zh_CN": ("男", "女"), "de_DE": ("m", "w"), "en_US": ("M", "F")}

TICKET_CATEGORIES: tuple[str, ...] = ("delivery", "refund", "product", "account", "other")
TICKET_SUBJECTS: dict[str, tuple[str, ...]] = {
    "zh_CN": ("物流太慢", "申请退款", "商品质量问题", "账号无法登录", "咨询"),
    "de_DE": ("Lieferung verspätet", "Rückerstattung", "Produktfrage", "Login-Problem", "Sonstiges"),
    "en_US": ("Late delivery", "Refund request", "Product question", "Cannot log in", "Other"),
}
TICKET_TEXTS: dict[str, tuple[str, ...]] = {
    "zh_CN": (
        "我的订单已经一周了还没有收到，请尽快处理。",
        "收到的商品有破损，希望退款。谢谢！",
        "请问这款羽绒服适合零下二十度吗？",
        "手机号换了，登录不了账号，怎么办？",
        "发票什么时候能开？",
    ),
    "de_DE": (
        "Meine Bestellung ist seit einer Woche unterwegs. Wo bleibt sie?",
        "Die Jacke passt leider nicht, bitte um Erstattung.",
        "Ist der Rucksack wasserdicht? Danke im Voraus.",
        "Ich komme nicht mehr in mein Konto, Passwort vergessen.",
        "Können Sie mir eine Rechnung mit USt. schicken?",
    ),
    "en_US": (
        "My order still hasn't arrived after 7 days, please help.",
        "The earbuds stopped working, I'd like a refund.",
        "Does the parka come in XL? Thanks!",
        "I can't log in since I changed my phone number.",
        "Please send me an invoice for my last order.",
    ),
}

CONSENT_PURPOSES: tuple[str, ...] = ("email", "sms", "ads", "profiling")
CONSENT_SOURCES: tuple[str, ...] = ("web_form", "app", "pos", "crm", "wechat")

# Local hour-of-day weights for online events (evening peak) and store visits (afternoon).
ONLINE_HOURS: tuple[float, ...] = (
    1,
    0.6,
    0.3,
    0.2,
    0.2,
    0.3,
    0.8,
    1.5,
    2.5,
    3,
    3,
    3.2,
    3.5,
    3,
    2.8,
    2.8,
    3,
    3.5,
    4.5,
    5.5,
    6,
    5.5,
    4,
    2,
)
STORE_HOURS: tuple[float, ...] = (
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    1,
    2,
    3,
    3.5,
    3,
    3,
    3.5,
    4,
    4.5,
    4.5,
    3.5,
    2,
    1,
    0,
    0,
)
