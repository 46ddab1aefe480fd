"""Bronze -> silver standardisers: one import point, and a helper that applies many at once.

Every ``std_*`` function maps input Column(s) to a :class:`Standardised` (clean ``value``, dq
``flag``, optional ``extras``). They are plain column expressions (Spark built-ins, plus pandas
UDFs where the JVM has nothing: NFKC and libphonenumber), so they compose inside one ``select``
and work on classic Spark and Spark Connect alike. Invalid input never drops a record: the value
becomes null and the flag names the rule.

Selecting ``value`` and ``flag`` of one result in the same ``select`` evaluates the parsing
twice for the heavier standardisers (dates, timestamps, money, postcodes bind intermediates with
a higher-order function, which Spark does not de-duplicate). Select ``result.as_struct()`` once
and read its fields in a later projection, which is what :func:`apply_standardisers` does.

Flag names (``<family>.<rule>``)::

    email.invalid_format  email_sha256.invalid_format  phone.invalid  name.invalid
    date.unparseable  date.invalid  birth_date.implausible  country.unknown  postcode.invalid
    address.invalid  money.unparseable  money.unknown_currency  money.currency_conflict
    money.missing_currency  money.missing_rate
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from cdp_spark.cleanse.std_core import Standardised, fold_fullwidth, nfkc
from cdp_spark.cleanse.std_datetime import (
    DEFAULT_DATE_FORMATS,
    DEFAULT_TIMESTAMP_FORMATS,
    std_birth_date,
    std_date,
    std_timestamp,
)
from cdp_spark.cleanse.std_email import sha256_email, std_email, std_email_sha256
from cdp_spark.cleanse.std_geo import std_address, std_country, std_postcode
from cdp_spark.cleanse.std_money import std_currency, std_money, to_reporting_currency
from cdp_spark.cleanse.std_name import std_name
from cdp_spark.cleanse.std_phone import std_phone

__all__ = [
    "DEFAULT_DATE_FORMATS",
    "DEFAULT_TIMESTAMP_FORMATS",
    "DQ_FLAGS",
    "DQ_RULES",
    "Standardised",
    "apply_standardisers",
    "fold_fullwidth",
    "nfkc",
    "sha256_email",
    "std_address",
    "std_birth_date",
    "std_country",
    "std_currency",
    "std_date",
    "std_email",
    "std_email_sha256",
    "std_money",
    "std_name",
    "std_phone",
    "std_postcode",
    "std_timestamp",
    "to_reporting_currency",
]

DQ_FLAGS = "_dq_flags"

# Every rule name a standardiser here can emit, so dq metrics can report zero counts too.
DQ_RULES: tuple[str, ...] = (
    "email.invalid_format",
    "email_sha256.invalid_format",
    "phone.invalid",
    "name.invalid",
    "date.unparseable",
    "date.invalid",
    "birth_date.implausible",
    "country.unknown",
    "postcode.invalid",
    "address.invalid",
    "money.unparseable",
    "money.unknown_currency",
    "money.currency_conflict",
    "money.missing_currency",
    "money.missing_rate",
)


def apply_standardisers(
    df: DataFrame,
    spec: Mapping[str, Standardised],
    *,
    flags_col: str = DQ_FLAGS,
    qualify_flags: bool = False,
) -> DataFrame:
    """Add one column per entry of ``spec`` and append the fired flags to ``flags_col``.

    ``spec`` maps the output column name to a standardiser result built on ``df``'s columns,
    e.g. ``{"email": std_email(F.col("email_raw")), "phone": std_phone(F.col("tel"), "CN")}``.
    Extras are written as ``<name>_<key>`` (``phone_type``, ``address_tokens``). An existing
    output column is replaced. ``flags_col`` (``array<string>``) is created, or extended when it
    exists, so several passes accumulate. With ``qualify_flags`` a flag is written as
    ``"<name>:<rule>"``, which tells apart two date columns failing in one record.

    Each result is first selected as one struct (:meth:`Standardised.as_struct`) and then
    unpacked in a second projection, so the parsing behind a value, its flag and its extras runs
    once per row (Spark does not merge the two projections when that would duplicate work).
    """
    staged = {name: f"__std_{i}_{name}" for i, name in enumerate(spec)}
    outputs: dict[str, Column] = {}
    flags: list[Column] = []
    for name, result in spec.items():
        packed = F.col(f"`{staged[name]}`")
        outputs[name] = packed["value"]
        for key in result.extras:
            outputs[f"{name}_{key}"] = packed[key]
        flag = packed["flag"]
        if qualify_flags:
            flag = F.when(flag.isNotNull(), F.concat(F.lit(f"{name}:"), flag))
        flags.append(flag)
    new_flags = F.filter(F.array(*flags), lambda x: x.isNotNull()) if flags else F.array()
    if flags_col in df.columns:
        new_flags = F.concat(F.coalesce(F.col(f"`{flags_col}`"), F.array().cast("array<string>")), new_flags)
    outputs[flags_col] = new_flags.cast("array<string>")

    first = df.select("*", *[result.as_struct().alias(staged[name]) for name, result in spec.items()])
    keep = [F.col(f"`{c}`") for c in df.columns if c not in outputs]
    return first.select(*keep, *[column.alias(name) for name, column in outputs.items()])
