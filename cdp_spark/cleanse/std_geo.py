"""Countries (ISO 3166-1 alpha-2), postcodes and address text with match tokens."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

from pyspark.sql import Column
from pyspark.sql import functions as F

from cdp_spark.cleanse.std_core import (
    Standardised,
    blank_to_null,
    collapse_ws,
    first_flag,
    flag_if,
    fold_fullwidth,
    is_placeholder,
    let,
    literal_lookup,
    nfkc,
    pack,
)
from cdp_spark.cleanse.std_reference import COUNTRY_TABLE

__all__ = ["country_lookup_table", "std_address", "std_country", "std_postcode"]

COUNTRY_UNKNOWN = "country.unknown"
POSTCODE_INVALID = "postcode.invalid"
ADDRESS_INVALID = "address.invalid"

# Names people and systems use that the ISO / CLDR tables do not carry. Keep this short and
# unambiguous; anything regional ("Korea" means the South in our sources) is a decision.
_COUNTRY_ALIASES: dict[str, tuple[str, ...]] = {
    "CN": ("PRC", "P.R.C.", "PR China", "P.R. China", "Mainland China", "China Mainland",
           "VR China", "Volksrepublik China", "中华人民共和国", "中國", "中国大陆", "中國大陸", "大陆", "内地"),
    "DE": ("BRD", "Bundesrepublik Deutschland", "Bundesrepublik", "德國"),
    "US": ("USA", "U.S.A.", "U.S.", "America", "Amerika", "Vereinigte Staaten", "United States Of America",
           "美國", "美利坚合众国"),
    "GB": ("UK", "U.K.", "Great Britain", "Britain", "England", "Scotland", "Wales", "Northern Ireland",
           "Großbritannien", "Grossbritannien", "England UK", "英國"),
    "HK": ("Hong Kong SAR", "HKSAR", "Hong Kong China", "中国香港", "香港特别行政区", "香港特別行政區"),
    "MO": ("Macau", "Macau SAR", "中国澳门", "澳门", "澳門"),
    "TW": ("中国台湾", "台湾", "台灣", "臺灣"),
    "KR": ("Korea", "Republic of Korea", "S. Korea", "韓國", "大韩民国"),
    "JP": ("日本国",),
    "NL": ("Holland", "The Netherlands", "荷蘭"),
    "CH": ("Suisse", "Svizzera", "Swiss Confederation"),
    "AT": ("Oesterreich", "奧地利"),
    "RU": ("Russia", "Russian Federation", "俄國"),
    "AE": ("UAE", "U.A.E."),
    "CZ": ("Czech Republic", "Tschechien"),
    "VN": ("Vietnam",),
    "FR": ("法國",),
    "IT": ("義大利", "意大利"),
}  # fmt: skip


def _country_key_py(text: str) -> str:
    """Python twin of :func:`_country_key` (used to build the lookup table)."""
    text = re.sub(r"[.'’]", "", text.upper())
    return re.sub(r"[\W_]+", " ", text).strip()


def _country_key(col: Column) -> Column:
    """Upper-case, dots and apostrophes dropped, other punctuation and spaces collapsed to one space."""
    text = F.upper(fold_fullwidth(col.cast("string")))
    text = F.regexp_replace(text, r"[.'’]", "")
    return F.trim(F.regexp_replace(text, r"[^\p{L}\p{N}]+", " "))


@functools.cache
def country_lookup_table() -> Mapping[str, str]:
    """Normalised key (alpha-2, alpha-3, English/German/Chinese names, aliases) -> alpha-2."""
    table: dict[str, str] = {}
    for line in COUNTRY_TABLE.strip().splitlines():
        head, *names = line.split("|")
        alpha2, alpha3 = head.split()
        for name in (alpha2, alpha3, *names):
            table[_country_key_py(name)] = alpha2
    for alpha2, aliases in _COUNTRY_ALIASES.items():
        for alias in aliases:
            table[_country_key_py(alias)] = alpha2
    return table


def std_country(col: Column) -> Standardised:
    """ISO 3166-1 alpha-2 from alpha-2, alpha-3 or a country name in English, German or Chinese.

    ``DE``, ``deu``, ``Germany``, ``Deutschland``, ``德国``, ``ＤＥ`` all become ``DE``. Names come
    from ISO 3166-1 and CLDR (via ``phonenumbers``) plus a short alias list (``USA``, ``UK``,
    ``PRC``, ``中國``). Matching ignores case, dots, apostrophes and other punctuation, not
    spelling. ``UK`` maps to ``GB``.

    Flags: ``country.unknown``.
    """
    key = blank_to_null(_country_key(col))
    code = literal_lookup(key, country_lookup_table(), buckets=128)
    present = key.isNotNull() & ~is_placeholder(F.trim(col.cast("string")))
    return Standardised(value=code, flag=flag_if(present & code.isNull(), COUNTRY_UNKNOWN))


# Postcode rules per country: prefixes people add (``D-10115``), then (pattern, replacement)
# alternatives applied to the compact form (upper-case, spaces and hyphens removed).
_POSTCODE_RULES: dict[str, tuple[tuple[str, ...], tuple[tuple[str, str], ...]]] = {
    "CN": ((), ((r"^(\d{6})$", "$1"),)),
    "DE": (("DE", "D"), ((r"^(\d{5})$", "$1"),)),
    "US": (("US",), ((r"^(\d{5})$", "$1"), (r"^(\d{5})(\d{4})$", "$1-$2"))),
    "AT": (("AT", "A"), ((r"^(\d{4})$", "$1"),)),
    "CH": (("CH",), ((r"^(\d{4})$", "$1"),)),
    "FR": (("FR", "F"), ((r"^(\d{5})$", "$1"),)),
    "IT": (("IT", "I"), ((r"^(\d{5})$", "$1"),)),
    "ES": (("ES", "E"), ((r"^(\d{5})$", "$1"),)),
    "NL": (("NL",), ((r"^(\d{4})([A-Z]{2})$", "$1 $2"),)),
    "GB": ((), ((r"^([A-Z]{1,2}\d[A-Z\d]?)(\d[A-Z]{2})$", "$1 $2"),)),
    "JP": (("〒",), ((r"^(\d{3})(\d{4})$", "$1-$2"),)),
}


def _postcode_for(compact: Column, prefixes: tuple[str, ...], rules: tuple[tuple[str, str], ...]) -> Column:
    if prefixes:
        alternatives = "|".join(re.escape(p) for p in sorted(prefixes, key=len, reverse=True))
        compact = F.regexp_replace(compact, rf"^(?:{alternatives})(?=\d)", "")
    result: Column = F.lit(None).cast("string")
    for pattern, replacement in reversed(rules):
        result = F.when(compact.rlike(pattern), F.regexp_replace(compact, pattern, replacement)).otherwise(
            result
        )
    return result


def std_postcode(col: Column, country: str | Column) -> Standardised:
    """Validate and format a postcode for the record's country (alpha-2, e.g. ``std_country``'s value).

    CN: 6 digits; DE, FR, IT, ES: 5 digits; US: ``12345`` or ``12345-6789`` (also from
    ``123456789``); AT, CH: 4 digits; NL: ``1234 AB``; GB: outward and inward code with one
    space; JP: ``123-4567``. Full-width digits fold, country prefixes such as ``D-`` are dropped.
    Leading zeros lost by spreadsheets (DE ``1067`` for ``01067``) are flagged, not guessed.
    Other or missing countries: upper-cased and whitespace-collapsed, never flagged.

    Flags: ``postcode.invalid``.
    """
    country_code = F.upper(F.trim(F.lit(country) if isinstance(country, str) else country.cast("string")))
    text = blank_to_null(F.upper(collapse_ws(fold_fullwidth(col.cast("string")))))
    inputs = F.struct(text.alias("text"), country_code.alias("country"))
    return Standardised.from_struct(let(inputs, _check_postcode))


def _check_postcode(inputs: Column) -> Column:
    text, country_code = inputs["text"], inputs["country"]

    def checked_for(compact: Column) -> Column:
        checked: Column = F.lit(None).cast("string")
        for code, (prefixes, rules) in _POSTCODE_RULES.items():
            checked = F.when(country_code == code, _postcode_for(compact, prefixes, rules)).otherwise(checked)
        return checked

    checked = let(F.regexp_replace(text, r"[\s-]", ""), checked_for)
    has_rule = F.coalesce(country_code.isin(*_POSTCODE_RULES), F.lit(False))
    present = text.isNotNull() & ~is_placeholder(text)

    def result(valid: Column) -> Column:
        value = F.when(present, F.when(has_rule, valid).otherwise(text))
        return pack(value, flag_if(present & has_rule & valid.isNull(), POSTCODE_INVALID))

    return let(checked, result)


# Chinese addresses have no spaces; break after administrative and street suffixes so that
# "北京市朝阳区建国路88号" and "北京市 朝阳区 建国路 88号" give the same tokens.
_CJK_ADDRESS_SUFFIX = r"([省市区县镇乡村路街巷弄号栋幢楼室])"
_ADDRESS_ABBREVIATIONS: dict[str, str] = {
    "str": "strasse",
    "st": "street",
    "rd": "road",
    "ave": "avenue",
    "av": "avenue",
    "blvd": "boulevard",
    "ln": "lane",
    "apt": "apartment",
    "ste": "suite",
    "fl": "floor",
}


def _address_tokens(text: Column) -> Column:
    s = F.lower(text)
    for umlaut, spelled in (("ß", "ss"), ("ä", "ae"), ("ö", "oe"), ("ü", "ue")):
        s = F.regexp_replace(s, umlaut, spelled)
    s = F.regexp_replace(s, _CJK_ADDRESS_SUFFIX, "$1 ")
    tokens = F.filter(F.split(s, r"[^\p{L}\p{N}]+"), lambda t: F.length(t) > 0)
    tokens = F.transform(tokens, lambda t: F.coalesce(literal_lookup(t, _ADDRESS_ABBREVIATIONS), t))
    # German street names: "Hauptstr." / "Hauptstraße" / "Hauptstrasse" -> "hauptstrasse".
    return F.transform(tokens, lambda t: F.regexp_replace(t, r"(?<=\p{L})str$", "strasse"))


def std_address(col: Column) -> Standardised:
    """Tidy an address line and derive lower-case match tokens.

    The value keeps the source's case (``c/o``, ``NW``, ``3rd Floor`` break under title-casing)
    but is NFKC-folded (full-width digits, ``，``), whitespace-collapsed, with one space after
    commas and no stray punctuation at the ends. ``tokens`` is for matching only: lower-case,
    split on non-alphanumerics and after Chinese address suffixes, German umlauts and ``ß``
    spelled out, common abbreviations expanded (``Str.`` -> ``strasse``, ``Rd`` -> ``road``).

    Flags: ``address.invalid`` (no letter at all, e.g. only a number).
    Extras: ``tokens`` (``array<string>``).
    """
    text = collapse_ws(nfkc(col.cast("string")))
    text = F.regexp_replace(text, r"\s*,\s*", ", ")
    text = blank_to_null(F.trim(F.regexp_replace(text, r"^[\s,;]+|[\s,;]+$", "")))
    present = text.isNotNull() & ~is_placeholder(text)
    invalid = ~text.rlike(r"\p{L}")
    value = F.when(present & ~invalid, text)
    return Standardised(
        value=value,
        flag=first_flag(flag_if(present & invalid, ADDRESS_INVALID)),
        extras={"tokens": F.when(value.isNotNull(), _address_tokens(value))},
    )
