"""Table-driven tests for the bronze -> silver standardisers (STYLE.md habit 13).

Each standardiser gets one table of ``(input..., expected_value, expected_flag[, extras...])``
rows, junk included, compared column by column with chispa. Inputs are built with explicit
schemas so a null is a null of the right type.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from chispa import assert_column_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    DataType,
    DateType,
    DecimalType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from cdp_spark.cleanse import (
    Standardised,
    apply_standardisers,
    sha256_email,
    std_address,
    std_birth_date,
    std_country,
    std_currency,
    std_date,
    std_email,
    std_email_sha256,
    std_money,
    std_name,
    std_phone,
    std_postcode,
    std_timestamp,
    to_reporting_currency,
)
from cdp_spark.cleanse.std_core import nfkc
from cdp_spark.cleanse.std_geo import country_lookup_table
from cdp_spark.cleanse.std_money import _CURRENCY_TABLE

S = StringType()
AMOUNT = DecimalType(18, 2)
UTC = timezone.utc


def assert_standardised(
    spark: SparkSession,
    inputs: Sequence[tuple[str, DataType]],
    cases: Sequence[tuple[Any, ...]],
    build: Callable[..., Standardised],
    value_type: DataType,
    extras: Sequence[tuple[str, DataType]] = (),
) -> None:
    """Rows are ``(*inputs, expected_value, expected_flag, *expected_extras)``.

    Actual and expected become two struct columns (inputs first, so a diff names the raw value)
    compared row by row with chispa in a single Spark job.
    """
    fields = [StructField(name, dtype) for name, dtype in inputs]
    fields += [StructField("expected_value", value_type), StructField("expected_flag", S)]
    fields += [StructField(f"expected_{name}", dtype) for name, dtype in extras]
    df = spark.createDataFrame(list(cases), StructType(fields)).coalesce(1)  # one task, one Python worker
    result = build(*[F.col(name) for name, _ in inputs])
    keys = [F.col(name) for name, _ in inputs]
    staged = df.select("*", result.as_struct().alias("_result"))
    compared = staged.select(
        F.struct(
            *keys,
            F.col("_result.value").alias("value"),
            F.col("_result.flag").alias("flag"),
            *[F.col(f"_result.{name}").alias(name) for name, _ in extras],
        ).alias("actual"),
        F.struct(
            *keys,
            F.col("expected_value").alias("value"),
            F.col("expected_flag").alias("flag"),
            *[F.col(f"expected_{name}").alias(name) for name, _ in extras],
        ).alias("expected"),
    )
    assert_column_equality(compared, "actual", "expected")


# --------------------------------------------------------------------------- Unicode


def test_nfkc_folds_fullwidth_and_compatibility_forms(spark: SparkSession) -> None:
    cases = [
        ("ＡＢＣ１２３＠", "ABC123@"),
        ("张　三", "张 三"),  # ideographic space
        ("ﾔﾏﾀﾞ", "ヤマダ"),  # half-width katakana widen
        ("ﬁ", "fi"),  # ligature
        ("plain", "plain"),
        ("", ""),
        (None, None),
    ]
    df = spark.createDataFrame(cases, "raw string, expected string").coalesce(1)
    assert_column_equality(df.select(nfkc(F.col("raw")).alias("value"), "expected"), "value", "expected")


def test_nfkc_survives_a_batch_with_only_nulls(spark: SparkSession) -> None:
    # A whole Arrow batch of nulls reaches pandas as float NaN; the UDF must still return strings.
    df = spark.createDataFrame([(None,), (None,)], "raw string").coalesce(1)
    assert [r.value for r in df.select(nfkc(F.col("raw")).alias("value")).collect()] == [None, None]


# --------------------------------------------------------------------------- e-mail


def test_std_email(spark: SparkSession) -> None:
    bad = "email.invalid_format"
    cases = [
        ("  John.Doe@Example.COM ", "john.doe@example.com", None),
        ("ＪＯＨＮ＠ＥＸＡＭＰＬＥ．ＣＯＭ", "john@example.com", None),  # full-width
        ("mailto:Anna@Firma.de", "anna@firma.de", None),
        ("<li.lei@163.com>", "li.lei@163.com", None),
        ("wang_fang+promo@qq.com", "wang_fang+promo@qq.com", None),
        ("o'brien@mail.example.co.uk", "o'brien@mail.example.co.uk", None),
        ("test@test.com", "test@test.com", None),  # junk but well-formed: identity guards decide
        ("john.doe@", None, bad),
        ("john doe@example.com", None, bad),
        ("john..doe@example.com", None, bad),
        (".john@example.com", None, bad),
        ("@example.com", None, bad),
        ("john@example", None, bad),
        ("john@-example.com", None, bad),
        ("john@@example.com", None, bad),
        ("张三@例子.中国", None, bad),
        ("13812345678", None, bad),
        ("N/A", None, None),
        ("-", None, None),
        ("", None, None),
        ("   ", None, None),
        (None, None, None),
    ]
    assert_standardised(spark, [("raw", S)], cases, std_email, S)


def test_std_email_sha256(spark: SparkSession) -> None:
    digest = hashlib.sha256(b"john@example.com").hexdigest()
    bad = "email_sha256.invalid_format"
    cases = [
        (digest, digest, None),
        (f"  {digest.upper()} ", digest, None),
        (digest[:-1], None, bad),
        (digest + "0", None, bad),
        ("z" * 64, None, bad),
        ("john@example.com", None, bad),
        ("", None, None),
        (None, None, None),
    ]
    assert_standardised(spark, [("raw", S)], cases, std_email_sha256, S)


def test_sha256_email_matches_ad_platform_convention(spark: SparkSession) -> None:
    digest = hashlib.sha256(b"john@example.com").hexdigest()
    cases = [("john@example.com", digest), ("  John@Example.COM ", digest), ("", None), (None, None)]
    df = spark.createDataFrame(cases, "raw string, expected string").coalesce(1)
    assert_column_equality(
        df.select(sha256_email(F.col("raw")).alias("value"), "expected"), "value", "expected"
    )


# --------------------------------------------------------------------------- phone


def test_std_phone_cn_de_and_invalid(spark: SparkSession) -> None:
    bad = "phone.invalid"
    cn_mobile = "+8613812345678"
    berlin = "+49301234567"
    cases = [
        # CN notations
        ("+86 138 1234 5678", "CN", cn_mobile, None, "mobile"),
        ("0086-138-1234-5678", "CN", cn_mobile, None, "mobile"),
        ("13812345678", "CN", cn_mobile, None, "mobile"),
        ("138 1234 5678", "CN", cn_mobile, None, "mobile"),
        ("138-1234-5678", "CN", cn_mobile, None, "mobile"),
        ("8613812345678", "CN", cn_mobile, None, "mobile"),
        ("１３８１２３４５６７８", "CN", cn_mobile, None, "mobile"),  # full-width digits
        ("＋８６ １３８－１２３４－５６７８", "DE", cn_mobile, None, "mobile"),  # full-width +, other region
        ("010-6552 9988", "CN", "+861065529988", None, "fixed_line"),
        ("(021) 5012 3456", "cn", "+862150123456", None, "fixed_line"),
        # DE notations
        ("+49 30 1234567", "DE", berlin, None, "fixed_line"),
        ("030 1234567", "DE", berlin, None, "fixed_line"),
        ("030/1234567", "DE", berlin, None, "fixed_line"),
        ("0049 (0)30-1234567", "DE", berlin, None, "fixed_line"),
        ("+49 (0)30 1234567", "DE", berlin, None, "fixed_line"),
        ("0171 1234567", "DE", "+491711234567", None, "mobile"),
        ("+49 171 1234567", "CN", "+491711234567", None, "mobile"),  # explicit code beats region
        ("0049 171 1234567", "US", "+491711234567", None, "mobile"),  # 00 even where IDD is 011
        # other regions through the region column
        ("(212) 555-0199", "US", "+12125550199", None, "fixed_line_or_mobile"),
        # invalid
        ("030 1234567", "CN", None, bad, None),  # a Berlin number read as Chinese
        ("1381234567", "CN", None, bad, None),  # one digit short
        ("12345", "DE", None, bad, None),
        ("00000000000", "CN", None, bad, None),
        ("call me", "DE", None, bad, None),
        ("13812345678", None, None, bad, None),  # national number without any region
        # missing
        ("N/A", "CN", None, None, None),
        ("", "CN", None, None, None),
        ("   ", "DE", None, None, None),
        (None, "CN", None, None, None),
    ]
    assert_standardised(
        spark,
        [("raw", S), ("region", S)],
        cases,
        std_phone,
        S,
        extras=[("type", S)],
    )


def test_std_phone_literal_region(spark: SparkSession) -> None:
    cases = [("030 1234567", "+49301234567", None), ("138 1234 5678", None, "phone.invalid")]
    assert_standardised(spark, [("raw", S)], cases, lambda c: std_phone(c, "DE"), S)


# --------------------------------------------------------------------------- names


def test_std_name(spark: SparkSession) -> None:
    bad = "name.invalid"
    cases = [
        ("  john   smith ", "John Smith", None),
        ("JOHN SMITH", "John Smith", None),
        ("o'brien", "O'Brien", None),
        ("ANNE-MARIE MÜLLER", "Anne-Marie Müller", None),
        ("mcdonald", "McDonald", None),
        ("McDonald", "McDonald", None),  # mixed case is kept as typed
        ("DeShawn", "DeShawn", None),
        ("van der Berg", "van der Berg", None),
        ("VAN DER BERG", "Van der Berg", None),
        ("LUDWIG VAN BEETHOVEN", "Ludwig van Beethoven", None),
        ("maría de la cruz", "María de la Cruz", None),
        ("ÉMILE ZOLA", "Émile Zola", None),
        ('"Smith,"', "Smith", None),
        ("J. R. R. TOLKIEN", "J. R. R. Tolkien", None),
        ("张三", "张三", None),
        ("张　三", "张 三", None),  # ideographic space folds to one ASCII space
        ("欧阳 娜娜", "欧阳 娜娜", None),
        ("ＪＯＨＮ　ＳＭＩＴＨ", "John Smith", None),  # full-width Latin
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダ タロウ", None),  # half-width katakana
        ("\u00a0Li\u00a0Lei\u200b", "Li Lei", None),  # no-break and zero-width spaces
        ("Na", "Na", None),  # a real surname, not "n/a"
        ("ИВАН", "ИВАН", None),  # other scripts are not re-cased
        ("null", None, None),
        ("N/A", None, None),
        ("-", None, None),
        ("未知", None, None),
        ("", None, None),
        (None, None, None),
        ("John123", None, bad),
        ("john@example.com", None, bad),
        ("12345", None, bad),
        ("１３８１２３４５６７８", None, bad),
    ]
    assert_standardised(spark, [("raw", S)], cases, std_name, S)


# --------------------------------------------------------------------------- dates


def test_std_date(spark: SparkSession) -> None:
    d = date(2024, 3, 5)
    invalid, unparseable = "date.invalid", "date.unparseable"
    cases = [
        ("2024-03-05", d, None),
        ("2024-3-5", d, None),
        ("2024/03/05", d, None),
        ("05.03.2024", d, None),  # DE
        ("5.3.2024", d, None),
        ("03/05/2024", d, None),  # US, month first
        ("20240305", d, None),
        ("2024年3月5日", d, None),
        ("2024 年 3 月 5 日", d, None),
        ("２０２４－０３－０５", d, None),  # full-width
        ("２０２４年３月５日", d, None),
        ("2024-03-05T23:30:00+08:00", d, None),  # the date as written, no zone shift
        ("05.03.2024 10:00", d, None),
        ("2024-02-29", date(2024, 2, 29), None),
        ("2024-02-30", None, invalid),
        ("2023-02-29", None, invalid),
        ("2024-13-01", None, invalid),
        ("31.04.2024", None, invalid),
        ("13/45/2024", None, invalid),
        ("yesterday", None, unparseable),
        ("5.3.24", None, unparseable),  # two-digit year: not guessed
        ("2024-03", None, unparseable),
        ("N/A", None, None),
        ("", None, None),
        (None, None, None),
    ]
    assert_standardised(spark, [("raw", S)], cases, std_date, DateType())


def test_std_date_source_formats_first(spark: SparkSession) -> None:
    day_first = ("d/M/yyyy", "yyyy-M-d")
    cases = [("03/05/2024", date(2024, 5, 3), None), ("13/05/2024", date(2024, 5, 13), None)]
    assert_standardised(spark, [("raw", S)], cases, lambda c: std_date(c, day_first), DateType())


def test_std_birth_date(spark: SparkSession) -> None:
    implausible = "birth_date.implausible"
    cases = [
        ("1985-06-15", date(1985, 6, 15), None),
        ("15.06.1985", date(1985, 6, 15), None),
        ("1900-01-01", date(1900, 1, 1), None),
        ("2024-06-01", date(2024, 6, 1), None),  # born on the run date
        ("1899-12-31", None, implausible),
        ("2024-06-02", None, implausible),
        ("9999-12-31", None, implausible),
        ("1985-02-30", None, "date.invalid"),
        ("unknown", None, None),
        ("garbage", None, "date.unparseable"),
        (None, None, None),
    ]
    assert_standardised(
        spark,
        [("raw", S)],
        cases,
        lambda c: std_birth_date(c, as_of=date(2024, 6, 1)),
        DateType(),
    )


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


TIMESTAMP_CASES = [
    # explicit zone in the value wins over the default
    ("2024-03-05T10:00:00Z", "UTC", _utc(2024, 3, 5, 10), None),
    ("2024-03-05T10:00:00+08:00", "UTC", _utc(2024, 3, 5, 2), None),
    ("2024-03-05 10:00:00+0800", "UTC", _utc(2024, 3, 5, 2), None),
    ("2024-03-05T10:00:00.123456-05:00", "UTC", _utc(2024, 3, 5, 15, 0, 0, 123456), None),
    ("2024-03-05T10:00:00.1234567Z", "UTC", _utc(2024, 3, 5, 10, 0, 0, 123456), None),
    ("2024-03-05 10:00:00 UTC+8", "Europe/Berlin", _utc(2024, 3, 5, 2), None),
    ("2024-03-05 10:00:00 Europe/Berlin", "Asia/Shanghai", _utc(2024, 3, 5, 9), None),
    # wall clock in the default zone
    ("2024-03-05 10:00:00", "Asia/Shanghai", _utc(2024, 3, 5, 2), None),
    ("2024-03-05T10:00", "Europe/Berlin", _utc(2024, 3, 5, 9), None),
    ("2024-07-05 10:00", "Europe/Berlin", _utc(2024, 7, 5, 8), None),  # summer time
    ("05.03.2024 10:00:00", "Europe/Berlin", _utc(2024, 3, 5, 9), None),
    ("2024/03/05 10:00", "Asia/Shanghai", _utc(2024, 3, 5, 2), None),
    ("03/05/2024 2:30 PM", "UTC", _utc(2024, 3, 5, 14, 30), None),
    ("2024年3月5日 10:00", "Asia/Shanghai", _utc(2024, 3, 5, 2), None),
    ("２０２４－０３－０５　１０：００", "Asia/Shanghai", _utc(2024, 3, 5, 2), None),  # full-width
    ("20240305103000", "UTC", _utc(2024, 3, 5, 10, 30), None),
    ("Tue, 05 Mar 2024 10:00:00 GMT", "Asia/Shanghai", _utc(2024, 3, 5, 10), None),
    ("2024-03-05", "Asia/Shanghai", _utc(2024, 3, 4, 16), None),  # midnight local
    # epochs are instants: the default zone does not matter
    ("1709632800", "Asia/Shanghai", _utc(2024, 3, 5, 10), None),
    ("1709632800.5", "UTC", _utc(2024, 3, 5, 10, 0, 0, 500000), None),
    ("1709632800123", "Europe/Berlin", _utc(2024, 3, 5, 10) + timedelta(milliseconds=123), None),
    # invalid
    ("2024-02-30 10:00", "UTC", None, "date.invalid"),
    ("2024-03-05 25:00", "UTC", None, "date.invalid"),
    ("not a time", "UTC", None, "date.unparseable"),
    ("2024-03-05 10:00 Mars/Olympus", "UTC", None, "date.unparseable"),
    ("12345", "UTC", None, "date.unparseable"),
    ("", "UTC", None, None),
    (None, "UTC", None, None),
]


def test_std_timestamp(spark: SparkSession) -> None:
    assert_standardised(
        spark,
        [("raw", S), ("tz", S)],
        TIMESTAMP_CASES,
        lambda raw, tz: std_timestamp(raw, default_tz=tz),
        TimestampType(),
    )


def test_std_timestamp_ignores_session_time_zone(spark: SparkSession) -> None:
    previous = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    try:
        cases = [
            ("2024-03-05 10:00:00", _utc(2024, 3, 5, 2), None),
            ("2024-03-05T10:00:00Z", _utc(2024, 3, 5, 10), None),
        ]
        assert_standardised(
            spark,
            [("raw", S)],
            cases,
            lambda raw: std_timestamp(raw, default_tz="Asia/Shanghai"),
            TimestampType(),
        )
    finally:
        spark.conf.set("spark.sql.session.timeZone", previous or "UTC")


def test_std_timestamp_rejects_unknown_default_zone() -> None:
    with pytest.raises(ValueError, match="IANA time zone"):
        std_timestamp(F.col("x"), default_tz="Mars/Olympus")


# --------------------------------------------------------------------------- places


def test_std_country(spark: SparkSession) -> None:
    unknown = "country.unknown"
    cases = [
        ("DE", "DE", None),
        ("deu", "DE", None),
        ("Germany", "DE", None),
        ("Deutschland", "DE", None),
        ("德国", "DE", None),
        ("ＤＥ", "DE", None),  # full-width
        ("  cn ", "CN", None),
        ("CHN", "CN", None),
        ("China", "CN", None),
        ("中国", "CN", None),
        ("中國", "CN", None),
        ("People's Republic of China", "CN", None),
        ("USA", "US", None),
        ("U.S.A.", "US", None),
        ("United States", "US", None),
        ("美国", "US", None),
        ("uk", "GB", None),
        ("Österreich", "AT", None),
        ("Korea, Republic of", "KR", None),
        ("香港", "HK", None),
        ("Narnia", None, unknown),
        ("XX", None, unknown),
        ("N/A", None, None),
        ("", None, None),
        (None, None, None),
    ]
    assert_standardised(spark, [("raw", S)], cases, std_country, S)


def test_std_country_every_table_key_round_trips(spark: SparkSession) -> None:
    """Oracle: the Spark key normalisation and bucketed lookup agree with the Python table."""
    table = country_lookup_table()
    df = spark.createDataFrame(sorted(table.items()), "raw string, expected string")
    result = std_country(F.col("raw"))
    mismatches = df.where(~result.value.eqNullSafe(F.col("expected")) | result.flag.isNotNull())
    assert mismatches.limit(5).collect() == []
    assert len({code for code in table.values()}) == 249


def test_std_postcode(spark: SparkSession) -> None:
    bad = "postcode.invalid"
    cases = [
        ("100020", "CN", "100020", None),
        ("１０００２０", "CN", "100020", None),  # full-width
        ("10002", "CN", None, bad),
        ("10115", "DE", "10115", None),
        ("D-10115", "DE", "10115", None),
        (" 10115 ", "de", "10115", None),
        ("1067", "DE", None, bad),  # leading zero lost by a spreadsheet: flagged, not guessed
        ("101155", "DE", None, bad),
        ("94105", "US", "94105", None),
        ("94105-1234", "US", "94105-1234", None),
        ("941051234", "US", "94105-1234", None),
        ("9410", "US", None, bad),
        ("A-1010", "AT", "1010", None),
        ("sw1a 1aa", "GB", "SW1A 1AA", None),
        ("SW1A1AA", "GB", "SW1A 1AA", None),
        ("1234ab", "NL", "1234 AB", None),
        ("1000001", "JP", "100-0001", None),
        ("75008", None, "75008", None),  # no country: tidied, not validated
        ("ab  12", "BR", "AB 12", None),  # no rule for the country
        ("", "DE", None, None),
        ("N/A", "DE", None, None),
        (None, "DE", None, None),
    ]
    assert_standardised(spark, [("raw", S), ("country", S)], cases, std_postcode, S)


def test_std_address(spark: SparkSession) -> None:
    tokens = ArrayType(S)
    cases = [
        (
            "  Hauptstraße 5 ,  10115 Berlin ",
            "Hauptstraße 5, 10115 Berlin",
            None,
            ["hauptstrasse", "5", "10115", "berlin"],
        ),
        ("Hauptstr. 5", "Hauptstr. 5", None, ["hauptstrasse", "5"]),
        ("HAUPTSTRASSE 5", "HAUPTSTRASSE 5", None, ["hauptstrasse", "5"]),
        ("Mühlenweg 3a", "Mühlenweg 3a", None, ["muehlenweg", "3a"]),
        ("221B Baker St", "221B Baker St", None, ["221b", "baker", "street"]),
        ("北京市朝阳区建国路８８号", "北京市朝阳区建国路88号", None, ["北京市", "朝阳区", "建国路", "88号"]),
        (
            "北京市 朝阳区，建国路 88号",
            "北京市 朝阳区, 建国路 88号",
            None,
            ["北京市", "朝阳区", "建国路", "88号"],
        ),
        ("12345", None, "address.invalid", None),
        ("N/A", None, None, None),
        ("", None, None, None),
        (None, None, None, None),
    ]
    assert_standardised(spark, [("raw", S)], cases, std_address, S, extras=[("tokens", tokens)])


# --------------------------------------------------------------------------- money


def test_std_money(spark: SparkSession) -> None:
    unparseable, unknown = "money.unparseable", "money.unknown_currency"
    conflict, missing = "money.currency_conflict", "money.missing_currency"

    def dec(text: str) -> Decimal:
        return Decimal(text)

    cases = [
        ("1,234.50", "EUR", dec("1234.50"), None, "EUR"),
        ("1.234,50", "eur", dec("1234.50"), None, "EUR"),  # DE
        ("1 234,50", "EUR", dec("1234.50"), None, "EUR"),
        ("1'234.50", "CHF", dec("1234.50"), None, "CHF"),
        ("1,234,567", "USD", dec("1234567.00"), None, "USD"),
        ("1.234.567", "EUR", dec("1234567.00"), None, "EUR"),
        ("1,234", "USD", dec("1234.00"), None, "USD"),
        ("19,99", "EUR", dec("19.99"), None, "EUR"),
        ("19.999", "EUR", dec("20.00"), None, "EUR"),  # half-up to cents
        ("1.5E3", "EUR", dec("1500.00"), None, "EUR"),
        ("€ 19,99", None, dec("19.99"), None, "EUR"),
        ("¥128", None, dec("128.00"), None, "CNY"),
        ("￥128.5", None, dec("128.50"), None, "CNY"),  # full-width yen
        ("128元", None, dec("128.00"), None, "CNY"),
        ("１２８元", None, dec("128.00"), None, "CNY"),  # full-width digits
        ("RMB 99", None, dec("99.00"), None, "CNY"),
        ("EUR 19.99", None, dec("19.99"), None, "EUR"),
        ("19.99 usd", None, dec("19.99"), None, "USD"),
        ("-5", "CNY", dec("-5.00"), None, "CNY"),
        ("5-", "CNY", dec("-5.00"), None, "CNY"),
        ("(12.50)", "USD", dec("-12.50"), None, "USD"),
        ("€-3,50", None, dec("-3.50"), None, "EUR"),
        ("abc", "EUR", None, unparseable, "EUR"),
        ("1,2,3", "EUR", None, unparseable, "EUR"),
        ("12.50.1", "EUR", None, unparseable, "EUR"),
        ("99999999999999999999", "EUR", None, unparseable, "EUR"),  # beyond decimal(18,2)
        ("12.50", "XYZ", dec("12.50"), unknown, None),
        ("12.50 XYZ", None, dec("12.50"), unknown, None),
        ("€12.50", "CNY", dec("12.50"), conflict, "CNY"),
        ("12.50", None, dec("12.50"), missing, None),
        ("12.50", "", dec("12.50"), missing, None),
        ("", "EUR", None, None, None),
        ("N/A", "EUR", None, None, None),
        (None, "EUR", None, None, None),
    ]
    assert_standardised(
        spark,
        [("amount", S), ("currency", S)],
        cases,
        std_money,
        AMOUNT,
        extras=[("currency", S)],
    )


def test_std_money_literal_currency(spark: SparkSession) -> None:
    cases = [
        ("128", Decimal("128.00"), None, "CNY"),
        ("€5", Decimal("5.00"), "money.currency_conflict", "CNY"),
    ]
    assert_standardised(
        spark, [("amount", S)], cases, lambda a: std_money(a, "CNY"), AMOUNT, extras=[("currency", S)]
    )


def test_std_currency(spark: SparkSession) -> None:
    cases = [
        ("eur", "EUR", None),
        ("€", "EUR", None),
        ("元", "CNY", None),
        ("RMB", "CNY", None),
        ("ｕｓｄ", "USD", None),
        ("XTS", None, "money.unknown_currency"),
        ("Taler", None, "money.unknown_currency"),
        ("", None, None),
        (None, None, None),
    ]
    assert_standardised(spark, [("raw", S)], cases, std_currency, S)


def test_std_currency_every_table_key_round_trips(spark: SparkSession) -> None:
    df = spark.createDataFrame(sorted(_CURRENCY_TABLE.items()), "raw string, expected string")
    result = std_currency(F.col("raw"))
    assert df.where(~result.value.eqNullSafe(F.col("expected"))).limit(5).collect() == []


def test_to_reporting_currency(spark: SparkSession) -> None:
    rates = {"CNY": 0.128, "usd": 0.92}
    cases = [
        (Decimal("100.00"), "CNY", Decimal("12.80"), None),
        (Decimal("10.00"), "EUR", Decimal("10.00"), None),  # the target itself
        (Decimal("10.00"), "usd", Decimal("9.20"), None),
        (Decimal("0.05"), "CNY", Decimal("0.01"), None),  # 0.0064 rounds half-up
        (Decimal("10.00"), "JPY", None, "money.missing_rate"),
        (Decimal("10.00"), None, None, "money.missing_rate"),
        (None, "CNY", None, None),
    ]
    assert_standardised(
        spark,
        [("amount", AMOUNT), ("currency", S)],
        cases,
        lambda a, c: to_reporting_currency(a, c, rates, "EUR"),
        AMOUNT,
    )


@pytest.mark.parametrize(
    ("rates", "target", "message"),
    [
        ({"CNY": 0.1}, "EURO", "ISO 4217"),
        ({"CNY": -1.0}, "EUR", "positive"),
        ({"CNY": float("nan")}, "EUR", "positive"),
    ],
)
def test_to_reporting_currency_rejects_bad_arguments(
    rates: dict[str, float], target: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        to_reporting_currency(F.col("a"), F.col("c"), rates, target)


# --------------------------------------------------------------------------- applying many


def test_apply_standardisers_adds_values_extras_and_flags(spark: SparkSession) -> None:
    schema = StructType([StructField(name, S) for name in ("id", "email_raw", "tel", "born")])
    df = spark.createDataFrame(
        [
            ("1", " A@B.CO ", "138 1234 5678", "1990-01-02"),
            ("2", "not-an-email", "12", "1990-02-30"),
            ("3", None, None, None),
        ],
        schema,
    )
    spec = {
        "email": std_email(F.col("email_raw")),
        "phone": std_phone(F.col("tel"), "CN"),
        "birth_date": std_date(F.col("born")),
    }
    out = apply_standardisers(df, spec)
    assert out.columns == [
        "id",
        "email_raw",
        "tel",
        "born",
        "email",
        "phone",
        "phone_type",
        "birth_date",
        "_dq_flags",
    ]
    rows = {r["id"]: r for r in out.collect()}
    assert rows["1"]["email"] == "a@b.co"
    assert rows["1"]["phone"] == "+8613812345678"
    assert rows["1"]["phone_type"] == "mobile"
    assert rows["1"]["birth_date"] == date(1990, 1, 2)
    assert rows["1"]["_dq_flags"] == []
    assert rows["2"]["_dq_flags"] == ["email.invalid_format", "phone.invalid", "date.invalid"]
    assert rows["3"]["_dq_flags"] == []

    # A second pass appends to the existing array; qualified flags name the column.
    again = apply_standardisers(out, {"email2": std_email(F.col("tel"))}, qualify_flags=True)
    flags = {r["id"]: r["_dq_flags"] for r in again.collect()}
    assert flags["2"] == [
        "email.invalid_format",
        "phone.invalid",
        "date.invalid",
        "email2:email.invalid_format",
    ]
    assert flags["3"] == []
    assert dict(again.dtypes)["_dq_flags"] == "array<string>"


def test_phone_udf_runs_once_per_row_for_value_flag_and_type(spark: SparkSession) -> None:
    """Value, flag and type read one struct; Spark must not call the pandas UDF three times."""
    df = spark.createDataFrame([("138 1234 5678",)], "tel string")
    out = apply_standardisers(df, {"phone": std_phone(F.col("tel"), "CN")})
    plan = out._jdf.queryExecution().executedPlan().toString()
    assert plan.count("_phone_udf(") == 1, plan


def test_packed_results_are_evaluated_once(spark: SparkSession) -> None:
    """A let-bound parser feeding value and flag must not be copied into both by the optimizer."""
    df = spark.createDataFrame([("2024-03-05",)], "d string")

    def lets_in_plan(frame: DataFrame) -> int:
        return frame._jdf.queryExecution().optimizedPlan().toString().count("transform(")

    once = lets_in_plan(df.select(std_timestamp(F.col("d")).as_struct().alias("t")))
    applied = apply_standardisers(df, {"t": std_timestamp(F.col("d"))})
    assert once > 0
    assert lets_in_plan(applied) == once
