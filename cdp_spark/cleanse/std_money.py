"""Money: decimal(18,2) amounts from the notations people and shops write, ISO 4217 currencies."""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal

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
    pack,
)
from cdp_spark.cleanse.std_reference import CURRENCY_CODES

__all__ = ["AMOUNT_TYPE", "std_currency", "std_money", "to_reporting_currency"]

AMOUNT_TYPE = "decimal(18,2)"
MONEY_UNPARSEABLE = "money.unparseable"
MONEY_UNKNOWN_CURRENCY = "money.unknown_currency"
MONEY_CURRENCY_CONFLICT = "money.currency_conflict"
MONEY_MISSING_CURRENCY = "money.missing_currency"
MONEY_MISSING_RATE = "money.missing_rate"

# Symbols and words for currencies, upper-cased. "¥" and "$" are ambiguous world-wide; our
# sources are Chinese and European shops, so they read as CNY and USD. Pass an explicit currency
# column (or literal) where that is wrong, e.g. for a Japanese source.
_CURRENCY_ALIASES: dict[str, str] = {
    "¥": "CNY",
    "元": "CNY",
    "圆": "CNY",
    "块": "CNY",
    "RMB": "CNY",
    "人民币": "CNY",
    "人民幣": "CNY",
    "CN¥": "CNY",
    "€": "EUR",
    "EURO": "EUR",
    "EUROS": "EUR",
    "$": "USD",
    "US$": "USD",
    "USD$": "USD",
    "美元": "USD",
    "£": "GBP",
    "HK$": "HKD",
    "港币": "HKD",
    "NT$": "TWD",
    "円": "JPY",
    "JP¥": "JPY",
    "日元": "JPY",
    "CA$": "CAD",
    "C$": "CAD",
    "A$": "AUD",
    "AU$": "AUD",
    "S$": "SGD",
    "SFR": "CHF",
    "FR": "CHF",
    "₩": "KRW",
    "₹": "INR",
    "₽": "RUB",
    "ZŁ": "PLN",
    "KČ": "CZK",
}
# ISO codes map to themselves; XTS (testing) and XXX (no currency) are not money we report.
_CURRENCY_TABLE: dict[str, str] = {
    **{code: code for code in CURRENCY_CODES if code not in {"XTS", "XXX"}},
    **_CURRENCY_ALIASES,
}

_SYMBOL_CHARS = r"[^\d\s.,()+\-']"


def _currency_code(text: Column) -> Column:
    return literal_lookup(F.upper(F.trim(text)), _CURRENCY_TABLE, buckets=8)


def std_currency(col: Column) -> Standardised:
    """ISO 4217 code (upper-case) from a code, symbol or word (``eur``, ``€``, ``元``, ``RMB``).

    Flags: ``money.unknown_currency``.
    """
    text = blank_to_null(collapse_ws(fold_fullwidth(col.cast("string"))))
    code = _currency_code(text)
    present = text.isNotNull() & ~is_placeholder(text)
    return Standardised(value=code, flag=flag_if(present & code.isNull(), MONEY_UNKNOWN_CURRENCY))


def _canonical_number(number: Column) -> Column:
    """Digits with an optional ``.`` decimal point, or null when the grouping is not recognised.

    ``1,234.50`` (EN) and ``1.234,50`` (DE): the last separator is the decimal one. With one
    kind of separator: ``1,234`` and ``1,234,567`` are grouped thousands, ``19,99`` is a decimal
    comma; ``1.234.567`` is grouped, a single dot (``1.234``) is a decimal point, because
    machine exports write three decimals far more often than people write ``1.234`` for 1234.
    """
    return let(F.regexp_replace(number, r"[\s']", ""), _canonical_number_of)


def _canonical_number_of(n: Column) -> Column:
    return (
        F.when(n.rlike(r"^\d+$"), n)
        .when(n.rlike(r"^\d{1,3}(,\d{3})*\.\d+$"), F.regexp_replace(n, ",", ""))
        .when(n.rlike(r"^\d{1,3}(,\d{3})+$"), F.regexp_replace(n, ",", ""))
        .when(n.rlike(r"^\d{1,3}(\.\d{3})*,\d+$"), F.regexp_replace(F.regexp_replace(n, r"\.", ""), ",", "."))
        .when(n.rlike(r"^\d*,\d+$"), F.regexp_replace(n, ",", "."))
        .when(n.rlike(r"^\d{1,3}(\.\d{3}){2,}$"), F.regexp_replace(n, r"\.", ""))
        .when(n.rlike(r"^\d*\.\d+$"), n)
        .when(
            n.rlike(r"^\d+(\.\d+)?[eE][+-]?\d+$"),
            n.try_cast("double").try_cast("decimal(38,6)").cast("string"),
        )
    )


def std_money(amount: Column, currency: str | Column | None = None) -> Standardised:
    """Parse an amount to ``decimal(18,2)`` (half-up rounding) with its ISO 4217 currency.

    Accepts ``1234.5``, ``1,234.50``, ``1.234,50``, ``1 234,50``, ``1'234.50``, ``¥128``,
    ``€ 19,99``, ``128元``, ``EUR 19.99``, ``19.99 USD``, negatives as ``-5``, ``5-`` or ``(5)``.
    The currency comes from ``currency`` (a column or a literal for single-currency sources)
    and otherwise from a symbol or code written with the amount.

    Flags, first that applies: ``money.unparseable``, ``money.unknown_currency``,
    ``money.currency_conflict`` (the amount's symbol disagrees with the currency column; the
    column wins), ``money.missing_currency`` (an amount with no currency anywhere).
    Extras: ``currency`` (ISO 4217 code or null).
    """
    text = blank_to_null(collapse_ws(fold_fullwidth(amount.cast("string"))))
    if currency is None:
        column_text = F.lit(None).cast("string")
    else:
        column_raw = F.lit(currency) if isinstance(currency, str) else currency.cast("string")
        column_text = blank_to_null(collapse_ws(fold_fullwidth(column_raw)))
    inputs = F.struct(text.alias("text"), column_text.alias("currency"))
    return Standardised.from_struct(let(inputs, _parse_money), extras=("currency",))


def _parse_money(inputs: Column) -> Column:
    text = inputs["text"]
    column_text = F.when(~is_placeholder(inputs["currency"]), inputs["currency"])
    prefix = F.regexp_extract(text, rf"^({_SYMBOL_CHARS}+)", 1)
    suffix = F.regexp_extract(text, rf"({_SYMBOL_CHARS}+)$", 1)
    number = F.trim(F.regexp_replace(text, rf"^{_SYMBOL_CHARS}+|{_SYMBOL_CHARS}+$", ""))
    negative = number.rlike(r"^-|-$|^\(.*\)$")
    unsigned = F.trim(F.regexp_replace(number, r"^[-+(]\s*|\s*[-)]$", ""))
    magnitude = _canonical_number(unsigned).try_cast(AMOUNT_TYPE)
    symbol_text = blank_to_null(F.when(prefix != "", prefix).otherwise(suffix))
    parsed = F.struct(
        (text.isNotNull() & ~is_placeholder(text)).alias("present"),
        let(magnitude, lambda m: F.when(negative, -m).otherwise(m)).alias("amount"),
        symbol_text.alias("symbol_text"),
        _currency_code(symbol_text).alias("symbol_code"),
        column_text.alias("column_text"),
        _currency_code(column_text).alias("column_code"),
    )
    return let(parsed, _money_result)


def _money_result(p: Column) -> Column:
    present, value = p["present"], p["amount"]
    symbol_text, symbol_code = p["symbol_text"], p["symbol_code"]
    column_text, column_code = p["column_text"], p["column_code"]
    unknown = (column_text.isNotNull() & column_code.isNull()) | (
        column_text.isNull() & symbol_text.isNotNull() & symbol_code.isNull()
    )
    conflict = column_code.isNotNull() & symbol_code.isNotNull() & (column_code != symbol_code)
    code = F.coalesce(column_code, F.when(column_text.isNull(), symbol_code))
    flag = first_flag(
        flag_if(present & value.isNull(), MONEY_UNPARSEABLE),
        flag_if(present & unknown, MONEY_UNKNOWN_CURRENCY),
        flag_if(present & conflict, MONEY_CURRENCY_CONFLICT),
        flag_if(present & code.isNull(), MONEY_MISSING_CURRENCY),
    )
    return pack(F.when(present, value), flag, currency=F.when(present, code))


def to_reporting_currency(
    amount: Column, currency: Column, rates: Mapping[str, float], target: str
) -> Standardised:
    """Convert ``amount`` in ``currency`` to ``target`` currency, ``decimal(18,2)``, half-up.

    ``rates[c]`` is the number of ``target`` units for one unit of ``c`` (for target EUR:
    ``{"CNY": 0.128, "USD": 0.92}``); ``target`` itself converts at 1 without an entry. Rates
    travel as a literal map in the plan, so pass the day's rates for the run date, not a history.

    Flags: ``money.missing_rate`` (an amount whose currency has no rate).
    """
    target_code = target.strip().upper()
    if target_code not in CURRENCY_CODES:
        raise ValueError(f"target={target!r} is not an ISO 4217 currency code (e.g. 'EUR', 'CNY')")
    table: dict[str, str] = {target_code: "1"}
    for code, per_unit in rates.items():
        if not (
            isinstance(per_unit, (int, float, Decimal))
            and math.isfinite(float(per_unit))
            and float(per_unit) > 0
        ):
            raise ValueError(f"rates[{code!r}]={per_unit!r}: expected a positive finite number")
        table[code.strip().upper()] = str(Decimal(str(per_unit)))
    rate = literal_lookup(F.upper(F.trim(currency)), table).try_cast("decimal(24,12)")
    converted = F.round(F.try_multiply(amount.try_cast("decimal(38,12)"), rate), 2).try_cast(AMOUNT_TYPE)
    return Standardised(
        value=converted,
        flag=flag_if(amount.isNotNull() & rate.isNull(), MONEY_MISSING_RATE),
    )
