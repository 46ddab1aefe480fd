"""Reference data for the standardisers: ISO 3166-1 countries and ISO 4217 currencies.

Generated once (not at run time) from the Debian ``iso-codes`` tables (codes, English short,
common and official names) and the locale names shipped with ``phonenumbers`` (CLDR-derived
English, German and Chinese names); hand-kept aliases live in ``std_geo`` and ``std_money``.
Kept as plain text so a reviewer can read a diff when a country or currency changes.
"""

from __future__ import annotations

# alpha-2 alpha-3|name|name|... (one country per line)
COUNTRY_TABLE = """\
AD AND|Andorra|Principality of Andorra|安道尔
AE ARE|United Arab Emirates|Vereinigte Arabische Emirate|阿拉伯联合酋长国
AF AFG|Afghanistan|Islamic Republic of Afghanistan|阿富汗
AG ATG|Antigua and Barbuda|Antigua und Barbuda|安提瓜和巴布达
AI AIA|Anguilla|安圭拉
AL ALB|Albania|Republic of Albania|Albanien|阿尔巴尼亚
AM ARM|Armenia|Republic of Armenia|Armenien|亚美尼亚
AO AGO|Angola|Republic of Angola|安哥拉
AQ ATA|Antarctica|Antarktis|南极洲
AR ARG|Argentina|Argentine Republic|Argentinien|阿根廷
AS ASM|American Samoa|Amerikanisch-Samoa|东萨摩亚
AT AUT|Austria|Republic of Austria|Österreich|奥地利
AU AUS|Australia|Australien|澳大利亚
AW ABW|Aruba|阿鲁巴
AX ALA|Åland Islands|Aaland-Inseln|奥兰群岛
AZ AZE|Azerbaijan|Republic of Azerbaijan|Aserbaidschan|阿塞拜疆
BA BIH|Bosnia and Herzegovina|Republic of Bosnia and Herzegovina|Bosnien und Herzegowina|波斯尼亚和黑山共和国
BB BRB|Barbados|巴巴多斯
BD BGD|Bangladesh|People's Republic of Bangladesh|Bangladesch|孟加拉
BE BEL|Belgium|Kingdom of Belgium|Belgien|比利时
BF BFA|Burkina Faso|布基纳法索
BG BGR|Bulgaria|Republic of Bulgaria|Bulgarien|保加利亚
BH BHR|Bahrain|Kingdom of Bahrain|巴林
BI BDI|Burundi|Republic of Burundi|布隆迪
BJ BEN|Benin|Republic of Benin|贝宁
BL BLM|Saint Barthélemy|圣巴泰勒米岛
BM BMU|Bermuda|百慕大
BN BRN|Brunei Darussalam|Brunei|文莱
BO BOL|Bolivia, Plurinational State of|Bolivia|Plurinational State of Bolivia|Bolivien|玻利维亚
BQ BES|Bonaire, Sint Eustatius and Saba|Bonaire, Sint Eustatius und Saba|博奈尔岛, 圣尤斯特歇斯岛和萨巴岛
BR BRA|Brazil|Federative Republic of Brazil|Brasilien|巴西
BS BHS|Bahamas|Commonwealth of the Bahamas|巴哈马
BT BTN|Bhutan|Kingdom of Bhutan|不丹
BV BVT|Bouvet Island|Bouvet-Insel|布韦岛
BW BWA|Botswana|Republic of Botswana|Botsuana|博茨瓦纳
BY BLR|Belarus|Republic of Belarus|白俄罗斯
BZ BLZ|Belize|伯里兹
CA CAN|Canada|Kanada|加拿大
CC CCK|Cocos (Keeling) Islands|Cocos Islands|Kokos-Inseln|科库斯群岛
CD COD|Congo, The Democratic Republic of the|The Democratic Republic Of Congo|Demokratische Republik Kongo|刚果民主共和国
CF CAF|Central African Republic|Zentralafrikanische Republik|中非共和国
CG COG|Congo|Republic of the Congo|Kongo|刚果
CH CHE|Switzerland|Swiss Confederation|Schweiz|瑞士
CI CIV|Côte d'Ivoire|Republic of Côte d'Ivoire|Elfenbeinküste|象牙海岸
CK COK|Cook Islands|Cook-Inseln|库克群岛
CL CHL|Chile|Republic of Chile|智利
CM CMR|Cameroon|Republic of Cameroon|Kamerun|喀麦隆
CN CHN|China|People's Republic of China|中国
CO COL|Colombia|Republic of Colombia|Kolumbien|哥伦比亚
CR CRI|Costa Rica|Republic of Costa Rica|哥斯达黎加
CU CUB|Cuba|Republic of Cuba|Kuba|古巴
CV CPV|Cabo Verde|Republic of Cabo Verde|Cape Verde|Kap Verde|佛得角
CW CUW|Curaçao|库拉索岛
CX CXR|Christmas Island|Weihnachtsinsel|圣诞岛
CY CYP|Cyprus|Republic of Cyprus|Zypern|塞浦路斯
CZ CZE|Czechia|Czech Republic|Tschechische Republik|捷克共和国
DE DEU|Germany|Federal Republic of Germany|Deutschland|德国
DJ DJI|Djibouti|Republic of Djibouti|Dschibuti|吉布提
DK DNK|Denmark|Kingdom of Denmark|Dänemark|丹麦
DM DMA|Dominica|Commonwealth of Dominica|多米尼加联邦
DO DOM|Dominican Republic|Dominikanische Republik|多米尼加共和国
DZ DZA|Algeria|People's Democratic Republic of Algeria|Algerien|阿尔及利亚
EC ECU|Ecuador|Republic of Ecuador|厄瓜多尔
EE EST|Estonia|Republic of Estonia|Estland|爱沙尼亚
EG EGY|Egypt|Arab Republic of Egypt|Ägypten|埃及
EH ESH|Western Sahara|Westsahara|西撒哈拉
ER ERI|Eritrea|the State of Eritrea|厄里特尼亚
ES ESP|Spain|Kingdom of Spain|Spanien|西班牙
ET ETH|Ethiopia|Federal Democratic Republic of Ethiopia|Äthiopien|埃塞俄比亚
FI FIN|Finland|Republic of Finland|Finnland|芬兰
FJ FJI|Fiji|Republic of Fiji|Fidschi|斐济
FK FLK|Falkland Islands (Malvinas)|Falkland Islands|Falkland-Inseln|富克兰群岛
FM FSM|Micronesia, Federated States of|Federated States of Micronesia|Micronesia|Mikronesien|密克罗尼西亚
FO FRO|Faroe Islands|Färöer-Inseln|法罗群岛
FR FRA|France|French Republic|Frankreich|法国
GA GAB|Gabon|Gabonese Republic|Gabun|加蓬
GB GBR|United Kingdom|United Kingdom of Great Britain and Northern Ireland|Vereinigtes Königreich|英国
GD GRD|Grenada|格林纳达
GE GEO|Georgia|Georgien|格鲁吉亚
GF GUF|French Guiana|Französisch-Guayana|法属圭亚那
GG GGY|Guernsey|格恩西岛
GH GHA|Ghana|Republic of Ghana|加纳
GI GIB|Gibraltar|直布罗陀
GL GRL|Greenland|Grönland|格陵兰
GM GMB|Gambia|Republic of the Gambia|冈比亚
GN GIN|Guinea|Republic of Guinea|几内亚
GP GLP|Guadeloupe|瓜德罗普岛
GQ GNQ|Equatorial Guinea|Republic of Equatorial Guinea|Äquatorial-Guinea|赤道几内亚
GR GRC|Greece|Hellenic Republic|Griechenland|希腊
GS SGS|South Georgia and the South Sandwich Islands|South Georgia And The South Sandwich Islands|Süd-Georgia und die südlichen Sandwich-Inseln|南乔治亚岛和南桑德韦奇岛
GT GTM|Guatemala|Republic of Guatemala|危地马拉
GU GUM|Guam|关岛
GW GNB|Guinea-Bissau|Republic of Guinea-Bissau|几内亚比绍共和国
GY GUY|Guyana|Republic of Guyana|圭亚那
HK HKG|Hong Kong|Hong Kong Special Administrative Region of China|Hongkong|香港
HM HMD|Heard Island and McDonald Islands|Heard Island And McDonald Islands|Heard- und McDonald-Inseln|赫德和麦克唐纳群岛
HN HND|Honduras|Republic of Honduras|洪都拉斯
HR HRV|Croatia|Republic of Croatia|Kroatien|克罗地亚
HT HTI|Haiti|Republic of Haiti|海地
HU HUN|Hungary|Ungarn|匈牙利
ID IDN|Indonesia|Republic of Indonesia|Indonesien|印度尼西亚
IE IRL|Ireland|Irland|爱尔兰
IL ISR|Israel|State of Israel|以色列
IM IMN|Isle of Man|Isle Of Man|曼岛
IN IND|India|Republic of India|Indien|印度
IO IOT|British Indian Ocean Territory|Britische Territorien im Indischen Ozean|英属印度洋领地
IQ IRQ|Iraq|Republic of Iraq|Irak|伊拉克
IR IRN|Iran, Islamic Republic of|Iran|Islamic Republic of Iran|伊朗
IS ISL|Iceland|Republic of Iceland|Island|冰岛
IT ITA|Italy|Italian Republic|Italien|意大利
JE JEY|Jersey|泽西岛
JM JAM|Jamaica|Jamaika|牙买加
JO JOR|Jordan|Hashemite Kingdom of Jordan|Jordanien|约旦
JP JPN|Japan|日本
KE KEN|Kenya|Republic of Kenya|Kenia|肯尼亚
KG KGZ|Kyrgyzstan|Kyrgyz Republic|Kirgistan|吉尔吉克斯坦
KH KHM|Cambodia|Kingdom of Cambodia|Kambodscha|柬埔寨
KI KIR|Kiribati|Republic of Kiribati|基里巴斯
KM COM|Comoros|Union of the Comoros|Komoren|科摩罗
KN KNA|Saint Kitts and Nevis|Saint Kitts And Nevis|Saint Kitts und Nevis|圣基茨和尼维斯
KP PRK|Korea, Democratic People's Republic of|North Korea|Democratic People's Republic of Korea|Nordkorea|朝鲜
KR KOR|Korea, Republic of|South Korea|Südkorea|韩国
KW KWT|Kuwait|State of Kuwait|科威特
KY CYM|Cayman Islands|Kaiman-Inseln|开曼群岛
KZ KAZ|Kazakhstan|Republic of Kazakhstan|Kasachstan|哈萨克斯坦
LA LAO|Lao People's Democratic Republic|Laos|老挝
LB LBN|Lebanon|Lebanese Republic|Libanon|黎巴嫩
LC LCA|Saint Lucia|St. Lucia|圣卢西亚
LI LIE|Liechtenstein|Principality of Liechtenstein|列支敦士登
LK LKA|Sri Lanka|Democratic Socialist Republic of Sri Lanka|斯里兰卡
LR LBR|Liberia|Republic of Liberia|利比里亚
LS LSO|Lesotho|Kingdom of Lesotho|莱索托
LT LTU|Lithuania|Republic of Lithuania|Litauen|立陶宛
LU LUX|Luxembourg|Grand Duchy of Luxembourg|Luxemburg|卢森堡
LV LVA|Latvia|Republic of Latvia|Lettland|拉脱维亚
LY LBY|Libya|Libyen|利比亚
MA MAR|Morocco|Kingdom of Morocco|Marokko|摩洛哥
MC MCO|Monaco|Principality of Monaco|摩纳哥
MD MDA|Moldova, Republic of|Moldova|Republic of Moldova|Moldau|摩尔多瓦
ME MNE|Montenegro|黑山
MF MAF|Saint Martin (French part)|Saint Martin|St. Martin|圣马丁
MG MDG|Madagascar|Republic of Madagascar|Madagaskar|马达加斯加
MH MHL|Marshall Islands|Republic of the Marshall Islands|Marshall-Inseln|马绍尔群岛
MK MKD|North Macedonia|Republic of North Macedonia|Macedonia|Mazedonien|马其顿王国
ML MLI|Mali|Republic of Mali|马里
MM MMR|Myanmar|Republic of Myanmar|缅甸
MN MNG|Mongolia|Mongolei|蒙古
MO MAC|Macao|Macao Special Administrative Region of China|澳门特区
MP MNP|Northern Mariana Islands|Commonwealth of the Northern Mariana Islands|Nördliche Mariannen-Inseln|美属北马里亚纳群岛
MQ MTQ|Martinique|马提尼克岛
MR MRT|Mauritania|Islamic Republic of Mauritania|Mauretanien|毛里塔尼亚
MS MSR|Montserrat|蒙特塞拉群岛
MT MLT|Malta|Republic of Malta|马耳他
MU MUS|Mauritius|Republic of Mauritius|毛里求斯
MV MDV|Maldives|Republic of Maldives|Maldiven|马尔代夫
MW MWI|Malawi|Republic of Malawi|马拉维
MX MEX|Mexico|United Mexican States|Mexiko|墨西哥
MY MYS|Malaysia|马来西亚
MZ MOZ|Mozambique|Republic of Mozambique|Mosambik|莫桑比克
NA NAM|Namibia|Republic of Namibia|纳米比亚
NC NCL|New Caledonia|Neukaledonien|新克里多尼亚群岛
NE NER|Niger|Republic of the Niger|尼日尔
NF NFK|Norfolk Island|Norfolk-Insel|诺福克岛
NG NGA|Nigeria|Federal Republic of Nigeria|尼日利亚
NI NIC|Nicaragua|Republic of Nicaragua|尼加拉瓜
NL NLD|Netherlands|Kingdom of the Netherlands|Niederlande|荷兰
NO NOR|Norway|Kingdom of Norway|Norwegen|挪威
NP NPL|Nepal|Federal Democratic Republic of Nepal|尼泊尔
NR NRU|Nauru|Republic of Nauru|瑙鲁
NU NIU|Niue|纽埃岛
NZ NZL|New Zealand|Neuseeland|新西兰
OM OMN|Oman|Sultanate of Oman|阿曼
PA PAN|Panama|Republic of Panama|巴拿马
PE PER|Peru|Republic of Peru|秘鲁
PF PYF|French Polynesia|Französisch-Polynesien|法属玻利尼西亚
PG PNG|Papua New Guinea|Independent State of Papua New Guinea|Papua-Neuguinea|巴布亚新几内亚
PH PHL|Philippines|Republic of the Philippines|Philippinen|菲律宾
PK PAK|Pakistan|Islamic Republic of Pakistan|巴基斯坦
PL POL|Poland|Republic of Poland|Polen|波兰
PM SPM|Saint Pierre and Miquelon|Saint Pierre And Miquelon|St. Pierre und Miquelon|圣皮埃尔和密克隆群岛
PN PCN|Pitcairn|皮特克恩岛
PR PRI|Puerto Rico|波多黎哥
PS PSE|Palestine, State of|the State of Palestine|Palestine|Palästina|巴勒斯坦
PT PRT|Portugal|Portuguese Republic|葡萄牙
PW PLW|Palau|Republic of Palau|帕劳
PY PRY|Paraguay|Republic of Paraguay|巴拉圭
QA QAT|Qatar|State of Qatar|Katar|卡塔尔
RE REU|Réunion|Reunion|留尼汪岛
RO ROU|Romania|Rumänien|罗马尼亚
RS SRB|Serbia|Republic of Serbia|Serbien|塞尔维亚
RU RUS|Russian Federation|Russia|Russland|俄罗斯
RW RWA|Rwanda|Rwandese Republic|Ruanda|卢旺达
SA SAU|Saudi Arabia|Kingdom of Saudi Arabia|Saudi-Arabien|沙特阿拉伯
SB SLB|Solomon Islands|Solomon-Inseln|所罗门群岛
SC SYC|Seychelles|Republic of Seychelles|Seychellen|塞舌尔群岛
SD SDN|Sudan|Republic of the Sudan|苏丹
SE SWE|Sweden|Kingdom of Sweden|Schweden|瑞典
SG SGP|Singapore|Republic of Singapore|Singapur|新加坡
SH SHN|Saint Helena, Ascension and Tristan da Cunha|Saint Helena|St. Helena|圣赫勒拿岛
SI SVN|Slovenia|Republic of Slovenia|Slowenien|斯洛文尼亚
SJ SJM|Svalbard and Jan Mayen|Svalbard And Jan Mayen|Svalbard und Jan Mayen|斯瓦尔巴特和扬马延岛
SK SVK|Slovakia|Slovak Republic|Slowakei|斯洛伐克
SL SLE|Sierra Leone|Republic of Sierra Leone|塞拉里昂
SM SMR|San Marino|Republic of San Marino|圣马力诺
SN SEN|Senegal|Republic of Senegal|塞内加尔
SO SOM|Somalia|Federal Republic of Somalia|索马里
SR SUR|Suriname|Republic of Suriname|苏里南
SS SSD|South Sudan|Republic of South Sudan|Südsudan|南苏丹
ST STP|Sao Tome and Principe|Democratic Republic of Sao Tome and Principe|Sao Tome And Principe|Sao Tome und Principe|圣多美和普林西比
SV SLV|El Salvador|Republic of El Salvador|萨尔瓦多
SX SXM|Sint Maarten (Dutch part)|Sint Maarten (Niederländischer Teil)|荷属圣马丁岛
SY SYR|Syrian Arab Republic|Syria|Syrien|叙利亚
SZ SWZ|Eswatini|Kingdom of Eswatini|Swaziland|Swasiland|斯威士兰
TC TCA|Turks and Caicos Islands|Turks And Caicos Islands|Turks- und Caicos-Inseln|特克斯群岛和凯科斯群岛
TD TCD|Chad|Republic of Chad|Tschad|乍得
TF ATF|French Southern Territories|Französische Südgebiete|法属南特立尼达
TG TGO|Togo|Togolese Republic|多哥
TH THA|Thailand|Kingdom of Thailand|泰国
TJ TJK|Tajikistan|Republic of Tajikistan|Tadschikistan|塔吉克斯坦
TK TKL|Tokelau|联合群岛
TL TLS|Timor-Leste|Democratic Republic of Timor-Leste|东帝汶
TM TKM|Turkmenistan|土库曼斯坦
TN TUN|Tunisia|Republic of Tunisia|Tunesien|突尼斯
TO TON|Tonga|Kingdom of Tonga|汤加
TR TUR|Türkiye|Republic of Türkiye|Turkey|Türkei|土耳其
TT TTO|Trinidad and Tobago|Republic of Trinidad and Tobago|Trinidad und Tobago|特立尼达和多巴哥
TV TUV|Tuvalu|图瓦卢
TW TWN|Taiwan, Province of China|Taiwan|台湾地区
TZ TZA|Tanzania, United Republic of|Tanzania|United Republic of Tanzania|Tansania|坦桑尼亚
UA UKR|Ukraine|乌克兰
UG UGA|Uganda|Republic of Uganda|乌干达
UM UMI|United States Minor Outlying Islands|Übrige Inseln im Pazifik der USA|美属小奥特兰群岛
US USA|United States|United States of America|Vereinigte Staaten von Amerika|美国
UY URY|Uruguay|Eastern Republic of Uruguay|乌拉圭
UZ UZB|Uzbekistan|Republic of Uzbekistan|Usbekistan|乌兹别克斯坦
VA VAT|Holy See (Vatican City State)|Vatican|Vatikanstadt|梵蒂冈
VC VCT|Saint Vincent and the Grenadines|Saint Vincent And The Grenadines|St. Vincent und die Grenadinen|圣文森特和格林纳丁斯
VE VEN|Venezuela, Bolivarian Republic of|Venezuela|Bolivarian Republic of Venezuela|委内瑞拉
VG VGB|Virgin Islands, British|British Virgin Islands|Britische Jungferninseln|英属维京群岛
VI VIR|Virgin Islands, U.S.|Virgin Islands of the United States|U.S. Virgin Islands|Amerikanische Jungferninseln|美属维京群岛
VN VNM|Viet Nam|Vietnam|Socialist Republic of Viet Nam|越南
VU VUT|Vanuatu|Republic of Vanuatu|瓦努阿图
WF WLF|Wallis and Futuna|Wallis And Futuna|Wallis und Futuna|瓦利斯群岛和富图纳群岛
WS WSM|Samoa|Independent State of Samoa|*zh
YE YEM|Yemen|Republic of Yemen|Jemen|也门
YT MYT|Mayotte|马约特岛
ZA ZAF|South Africa|Republic of South Africa|Südafrika|南非
ZM ZMB|Zambia|Republic of Zambia|Sambia|赞比亚
ZW ZWE|Zimbabwe|Republic of Zimbabwe|Simbabwe|津巴布韦
"""

# Active ISO 4217 alphabetic codes (including X-codes for funds and metals).
CURRENCY_CODES: frozenset[str] = frozenset(
    (
        "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD",
        "BDT", "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP",
        "BYN", "BZD", "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU",
        "CRC", "CUC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB",
        "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD",
        "HNL", "HRK", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD",
        "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP",
        "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU",
        "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR",
        "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD",
        "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL", "SOS",
        "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY",
        "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED",
        "VES", "VND", "VUV", "WST", "XAF", "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD",
        "XDR", "XOF", "XPD", "XPF", "XPT", "XSU", "XTS", "XUA", "XXX", "YER", "ZAR", "ZMW",
        "ZWL",
    )
)  # fmt: skip
