"""Dates and timestamps from the formats sources really send, to DateType / UTC TimestampType.

Everything is a Spark built-in: the input is folded (full-width digits), tried against a list of
patterns with ``try_to_date`` / ``try_to_timestamp`` (ANSI-safe: no exceptions on bad input) and
the first pattern that parses wins. Patterns are tried in order, so put a source's own format
first when it is ambiguous with a default one (``03/05/2024`` is US month-first by default).
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Sequence

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
    pack,
)

__all__ = [
    "DATE_INVALID",
    "DATE_UNPARSEABLE",
    "DEFAULT_DATE_FORMATS",
    "DEFAULT_TIMESTAMP_FORMATS",
    "std_birth_date",
    "std_date",
    "std_timestamp",
]

DATE_UNPARSEABLE = "date.unparseable"
DATE_INVALID = "date.invalid"
BIRTH_DATE_IMPLAUSIBLE = "birth_date.implausible"

# Spark datetime patterns. Single letters accept one or two digits ("2024-3-5" and "2024-03-05");
# ``yyyy`` insists on four digits so "5.3.24" is not read as the year 24.
DEFAULT_DATE_FORMATS: tuple[str, ...] = (
    "yyyy-M-d",  # ISO 8601
    "yyyy/M/d",  # CN exports
    "yyyy.M.d",
    "d.M.yyyy",  # DE
    "M/d/yyyy",  # US (month first): list "d/M/yyyy" first for day-first sources
    "yyyyMMdd",  # basic ISO / compact
    "yyyy'年'M'月'd'日'",  # CN / JP
)

# Wall-clock patterns; the zone (explicit in the value, else ``default_tz``) is handled separately.
DEFAULT_TIMESTAMP_FORMATS: tuple[str, ...] = (
    "yyyy-M-d['T'][ ]H:mm[:ss][.SSSSSS]",
    "yyyy/M/d[ ]H:mm[:ss][.SSSSSS]",
    "d.M.yyyy[ ]H:mm[:ss]",
    "M/d/yyyy[ ]h:mm[:ss] a",
    "M/d/yyyy[ ]H:mm[:ss]",
    "yyyyMMddHHmmss",
    "yyyy'年'M'月'd'日'[ ]H:mm[:ss]",
    "d MMM yyyy HH:mm:ss",  # RFC 1123 (HTTP, e-mail headers) once the weekday is dropped
    *DEFAULT_DATE_FORMATS,  # a bare date is midnight in the zone
)

_TIME = r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:\s*[AaPp][Mm])?"
_ZONE = (
    r"Z|[+-]\d{1,2}(?::?\d{2})?|(?:UTC|GMT)(?:[+-]\d{1,2}(?::?\d{2})?)?"
    r"|(?:Africa|America|Antarctica|Asia|Atlantic|Australia|Europe|Indian|Pacific|Etc)/[A-Za-z0-9_+-]+(?:/[A-Za-z_]+)?"
)
_TIME_WITH_ZONE = rf"^(.*?{_TIME})\s*({_ZONE})$"
_EPOCH_SECONDS = r"^\d{9,10}(?:\.\d{1,6})?$"  # 1973-03-03 .. 2286-11-20
_EPOCH_MILLIS = r"^\d{12,13}$"


def _shape_regex(pattern: str) -> str | None:
    """A regex for the *shape* of a Spark datetime pattern, or None for letters it does not know.

    Used to tell "looks like a date in an accepted format but is no calendar date" (2024-02-30,
    month 13: ``date.invalid``) from plain garbage (``date.unparseable``).
    """
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "'":
            end = pattern.index("'", i + 1)
            out.append(re.escape(pattern[i + 1 : end]) if end > i + 1 else "'")
            i = end + 1
            continue
        if char == "[":
            out.append("(?:")
        elif char == "]":
            out.append(")?")
        elif char.isalpha():
            run = len(pattern[i:]) - len(pattern[i:].lstrip(char))
            if char == "y":
                out.append(r"\d{4}" if run == 4 else r"\d{2,4}")
            elif char == "M" and run >= 3:
                out.append("[A-Za-z]{3,9}")
            elif char in "MdHhms":
                out.append(r"\d{1,2}" if run == 1 else r"\d{2}")
            elif char == "S":
                out.append(rf"\d{{1,{run}}}")
            elif char == "a":
                out.append("[AaPp][Mm]")
            else:
                return None
            i += run
            continue
        else:
            out.append(re.escape(char))
        i += 1
    return "^" + "".join(out) + "$"


def _shape_of_any(patterns: Sequence[str]) -> str | None:
    shapes = [s for s in (_shape_regex(p) for p in patterns) if s]
    return "|".join(f"(?:{s})" for s in shapes) if shapes else None


def _prepare(col: Column) -> Column:
    """Fold full-width digits and separators, collapse whitespace, tidy CJK date markers."""
    text = collapse_ws(fold_fullwidth(col.cast("string")))
    text = F.regexp_replace(text, r"\s*([年月日])\s*", "$1")
    text = F.regexp_replace(text, r"日(?=\d)", "日 ")  # "2024年3月5日10:00" -> "... 日 10:00"
    # Spark cannot parse weekday names ("E"); they add nothing to the date, so drop them.
    text = F.regexp_replace(text, r"^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*\.?,?\s+", "")
    return blank_to_null(text)


def _failure_flag(text: Column, parsed: Column, patterns: Sequence[str]) -> Column:
    failed = text.isNotNull() & ~is_placeholder(text) & parsed.isNull()
    shape = _shape_of_any(patterns)
    if shape is None:
        return flag_if(failed, DATE_UNPARSEABLE)
    return first_flag(flag_if(failed & text.rlike(shape), DATE_INVALID), flag_if(failed, DATE_UNPARSEABLE))


def _strip_time(text: Column) -> Column:
    """Keep the date part of "2024-03-05T10:00:00Z" or "05.03.2024 10:00": the date as written."""
    return F.regexp_replace(text, rf"^(.+?)[T ]{_TIME}\s*(?:{_ZONE})?$", "$1")


def std_date(col: Column, formats: Sequence[str] = DEFAULT_DATE_FORMATS) -> Standardised:
    """Parse a date (DateType) from any of ``formats`` after folding full-width digits.

    A trailing time of day (with or without zone) is dropped, keeping the calendar date as the
    source wrote it, which is what birth dates and order dates mean. No zone conversion happens.

    Flags: ``date.invalid`` (matches an accepted format but is no calendar date, e.g.
    2024-02-30), ``date.unparseable`` (anything else that is not empty or a placeholder).
    """
    date_text = _strip_time(_prepare(col))
    return Standardised.from_struct(
        let(
            date_text,
            lambda text: let(
                F.coalesce(*[F.try_to_date(text, fmt) for fmt in formats]),
                lambda parsed: pack(parsed, _failure_flag(text, parsed, formats)),
            ),
        )
    )


def std_birth_date(
    col: Column,
    formats: Sequence[str] = DEFAULT_DATE_FORMATS,
    *,
    earliest: dt.date = dt.date(1900, 1, 1),
    as_of: dt.date | Column | None = None,
) -> Standardised:
    """A :func:`std_date` whose value must lie in ``[earliest, as_of]``.

    ``as_of`` defaults to ``current_date()``; pipelines should pass the run date so that a rerun
    of an old date gives the same answer. Implausible dates become null: birth dates in the
    future or before 1900 are typos or sentinels (1900-01-01, 9999-12-31) and would otherwise
    poison age features and probabilistic matching.

    Flags: ``date.invalid``, ``date.unparseable`` (as :func:`std_date`), ``birth_date.implausible``.
    """
    upper = F.current_date() if as_of is None else as_of if isinstance(as_of, Column) else F.lit(as_of)

    def check(base: Column) -> Column:
        value = base["value"]
        plausible = (value >= F.lit(earliest)) & (value <= upper)
        implausible = flag_if(value.isNotNull() & ~plausible, BIRTH_DATE_IMPLAUSIBLE)
        return pack(F.when(plausible, value), first_flag(base["flag"], implausible))

    return Standardised.from_struct(let(std_date(col, formats).as_struct(), check))


def _zone_id(zone: Column) -> Column:
    """Offsets as ``+08:00`` (the only offset form Spark's ``VV`` parses); named zones unchanged."""
    offset = r"^(?:UTC|GMT)?([+-])(\d{1,2}):?(\d{2})?$"
    sign = F.regexp_extract(zone, offset, 1)
    hours = F.lpad(F.regexp_extract(zone, offset, 2), 2, "0")
    minutes = F.regexp_extract(zone, offset, 3)
    as_offset = F.concat(sign, hours, F.lit(":"), F.when(minutes == "", F.lit("00")).otherwise(minutes))
    return F.when(zone.rlike(offset), as_offset).otherwise(zone)


def std_timestamp(
    col: Column,
    formats: Sequence[str] = DEFAULT_TIMESTAMP_FORMATS,
    default_tz: str | Column = "UTC",
) -> Standardised:
    """Parse an instant (TimestampType, i.e. UTC-based) from strings or epoch numbers.

    Accepted: epoch seconds (9-10 digits, optional fraction) and milliseconds (12-13 digits);
    values with an explicit zone at the end (``Z``, ``+08:00``, ``+0800``, ``UTC+8``,
    ``Europe/Berlin``) in any of ``formats``, ISO 8601 included; values without a zone are wall
    clock in ``default_tz`` (an IANA zone name, literal or per-row column, e.g. the source's
    configured zone). The zone is appended and parsed with the pattern (``VV``), so the result
    does not depend on ``spark.sql.session.timeZone``. Fractions beyond microseconds are cut.

    Flags: ``date.invalid`` (right shape, impossible date or time), ``date.unparseable``.
    """
    if isinstance(default_tz, str):
        try:
            zoneinfo.ZoneInfo(default_tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"default_tz={default_tz!r} is not an IANA time zone; use e.g. 'UTC', 'Asia/Shanghai', "
                "'Europe/Berlin'"
            ) from exc
        tz = F.lit(default_tz)
    else:
        tz = default_tz
    text = F.regexp_replace(_prepare(col), r"(\.\d{6})\d+", "$1")
    return Standardised.from_struct(let(text, lambda t: _parse_timestamp(t, tz, formats)))


def _parse_timestamp(text: Column, default_tz: Column, formats: Sequence[str]) -> Column:
    has_zone = text.rlike(_TIME_WITH_ZONE)
    split = F.struct(
        F.when(has_zone, F.regexp_extract(text, _TIME_WITH_ZONE, 1)).otherwise(text).alias("local"),
        F.when(has_zone, _zone_id(F.regexp_extract(text, _TIME_WITH_ZONE, 2)))
        .otherwise(default_tz)
        .alias("zone"),
    )

    def parse(parts: Column) -> Column:
        zoned = F.concat(parts["local"], F.lit(" "), parts["zone"])
        parsed = F.coalesce(
            F.when(text.rlike(_EPOCH_SECONDS), F.timestamp_seconds(text.try_cast("decimal(16,6)"))),
            F.when(text.rlike(_EPOCH_MILLIS), F.timestamp_millis(text.try_cast("bigint"))),
            *[F.try_to_timestamp(zoned, F.lit(f"{fmt} VV")) for fmt in formats],
        )
        return let(parsed, lambda value: pack(value, _failure_flag(parts["local"], value, formats)))

    return let(split, parse)
