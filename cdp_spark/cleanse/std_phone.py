"""Phone numbers to E.164 with Google's libphonenumber (the ``phonenumbers`` port).

Parsing runs in a pandas UDF: one Python call per Arrow batch, and each distinct
``(raw, region)`` pair is parsed once per batch, because the same numbers repeat across events.
"""

from __future__ import annotations

import re
import unicodedata

import pandas as pd
import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.functions import pandas_udf
from pyspark.sql.types import StringType, StructField, StructType

from cdp_spark.cleanse.std_core import PLACEHOLDER_TOKENS, Standardised

__all__ = ["PHONE_INVALID", "std_phone"]

PHONE_INVALID = "phone.invalid"

_PHONE_TYPES: dict[int, str] = {
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
}

# "+49 (0)30 1234567" / "0049 (0)30-1234567": the national trunk prefix in brackets after the
# country code is a common (if wrong) European notation; libphonenumber keeps the 0, so drop it.
_TRUNK_IN_BRACKETS = re.compile(r"^(\+|00)(\d{1,3})[\s./-]*\(\s*0\s*\)")
_PLACEHOLDERS = frozenset(PLACEHOLDER_TOKENS)

_Parsed = tuple[str | None, str | None, str | None]  # (e164, flag, type)
_MISSING: _Parsed = (None, None, None)
_INVALID: _Parsed = (None, PHONE_INVALID, None)


def _parse_phone(raw: str, region: str | None) -> _Parsed:
    """Parse one number; valid numbers (not merely possible ones) become E.164."""
    text = unicodedata.normalize("NFKC", raw).strip()
    if not text or text.lower() in _PLACEHOLDERS:
        return _MISSING
    text = _TRUNK_IN_BRACKETS.sub(r"\1\2 ", text)
    candidates = [text]
    # "0086 ..." with a default region whose international prefix is not 00 (US: 011) still means
    # an international number in the data we see; try it as "+86 ..." after the region's reading.
    if text.startswith("00"):
        candidates.append("+" + text[2:].lstrip())
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
            return e164, None, _PHONE_TYPES.get(phonenumbers.number_type(number), "unknown")
    return _INVALID


def normalise_phone(raw: str, region: str | None = "CN") -> str | None:
    """One number as silver stores it (E.164), or None; for lookups outside Spark (CLI, notebooks)."""
    return _parse_phone(raw, region)[0]


_PHONE_SCHEMA = StructType([StructField(name, StringType()) for name in ("value", "flag", "type")])


@pandas_udf(_PHONE_SCHEMA)  # type: ignore[call-overload]
def _phone_udf(raw: pd.Series, region: pd.Series) -> pd.DataFrame:
    cache: dict[tuple[str, str | None], _Parsed] = {}
    rows: list[_Parsed] = []
    for value, reg in zip(raw.tolist(), region.tolist(), strict=True):
        if value is None or (isinstance(value, float) and pd.isna(value)):
            rows.append(_MISSING)
            continue
        region_code = reg.strip().upper() if isinstance(reg, str) and reg.strip() else None
        key = (value, region_code)
        parsed = cache.get(key)
        if parsed is None:
            parsed = _parse_phone(value, region_code)
            cache[key] = parsed
        rows.append(parsed)
    return pd.DataFrame(rows, columns=["value", "flag", "type"], dtype=object)


def std_phone(col: Column, default_region: str | Column | None) -> Standardised:
    """Normalise a phone number to E.164 (``+8613812345678``, ``+49301234567``).

    ``default_region`` (ISO alpha-2, a literal or a column such as the record's country or the
    source's configured region) is how numbers without a country code are read: ``030 1234567``
    is Berlin with ``DE`` and invalid with ``CN``. Full-width digits and ``＋`` are NFKC-folded,
    ``00`` international prefixes and ``(0)`` trunk prefixes after the country code are accepted.
    Only numbers that libphonenumber considers *valid* for their region pass; merely "possible"
    lengths are flagged, because identity resolution must not link on malformed numbers.

    Flags: ``phone.invalid``. Extras: ``type`` (``mobile``, ``fixed_line``,
    ``fixed_line_or_mobile``, ``toll_free``, ``voip``, ... from libphonenumber's metadata).
    """
    region = (
        F.lit(default_region) if default_region is None or isinstance(default_region, str) else default_region
    )
    parsed = _phone_udf(col.cast("string"), region.cast("string"))
    return Standardised(
        value=parsed["value"],
        flag=parsed["flag"],
        extras={"type": parsed["type"]},
    )
