"""Building blocks shared by every standardiser: the result type, Unicode folding, flags.

A standardiser never filters rows. It returns a :class:`Standardised`: the clean value (null when
the input was missing or invalid) and a flag column naming the data-quality rule that fired, so
the silver mapping keeps every record and can count problems per rule in ``silver.dq_metrics``.
"""

from __future__ import annotations

import unicodedata
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import pandas as pd
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.functions import pandas_udf
from pyspark.sql.types import StringType

__all__ = [
    "PLACEHOLDER_TOKENS",
    "Standardised",
    "blank_to_null",
    "collapse_ws",
    "first_flag",
    "flag_if",
    "fold_fullwidth",
    "is_placeholder",
    "let",
    "literal_lookup",
    "nfkc",
    "pack",
]

# Full-width ASCII variants (U+FF01..U+FF5E) and the ideographic space (U+3000) map one-to-one onto
# ASCII, so a plain ``translate`` folds them without leaving the JVM. This is the part of NFKC that
# matters for digits, postcodes, dates, amounts and codes typed on Chinese or Japanese keyboards.
_FULLWIDTH = "".join(chr(c) for c in range(0xFF01, 0xFF5F)) + "\u3000" + "\uffe5\uffe0\uffe1"
_ASCII = "".join(chr(c) for c in range(0x21, 0x7F)) + " " + "\u00a5\u00a2\u00a3"

# Whitespace as people paste it: ASCII whitespace, no-break and other Unicode spaces (Zs, Zl, Zp),
# and zero-width characters that survive copy-paste from web forms.
_WS = r"[\s\p{Z}\u200b\u200c\u200d\u2060\ufeff]+"

# Values that sources use to say "no value". Compared after trimming and lower-casing.
PLACEHOLDER_TOKENS: tuple[str, ...] = (
    "null",
    "none",
    "nil",
    "nan",
    "n/a",
    "n.a.",
    "#n/a",
    "undefined",
    "unknown",
    "unbekannt",
    "keine angabe",
    "k.a.",
    "k. a.",
    "无",
    "空",
    "未知",
    "不详",
    "暂无",
)


@dataclass(frozen=True, eq=False)  # Column == Column builds an expression, not a bool
class Standardised:
    """Result of one standardiser.

    ``value`` is the clean value, null when the input was missing or failed a rule. ``flag`` is a
    string column: null when the input was fine or simply missing (null, blank, a placeholder
    such as ``"N/A"`` is *missing* unless the standardiser documents otherwise), otherwise the
    name of the rule that fired, e.g. ``"phone.invalid"``. ``extras`` holds by-products that are
    cheap to compute together with the value (phone number type, address tokens, currency);
    :func:`cdp_spark.cleanse.standardise.apply_standardisers` writes them as ``<field>_<key>``.

    ``packed`` is set by standardisers whose value, flag and extras are fields of one struct
    expression: selecting that struct once evaluates the parsing once, where selecting
    ``value`` and ``flag`` separately would evaluate it twice. Use :meth:`as_struct`.
    """

    value: Column
    flag: Column
    extras: Mapping[str, Column] = field(default_factory=lambda: MappingProxyType({}))
    packed: Column | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_struct(cls, packed: Column, extras: Sequence[str] = ()) -> Standardised:
        """Wrap a ``struct<value, flag, *extras>`` column (see :func:`pack`)."""
        return cls(
            value=packed["value"],
            flag=packed["flag"],
            extras=MappingProxyType({name: packed[name] for name in extras}),
            packed=packed,
        )

    def as_struct(self) -> Column:
        """``struct<value, flag, *extras>``: everything in one column, evaluated together."""
        if self.packed is not None:
            return self.packed
        return pack(self.value, self.flag, **self.extras)


def pack(value: Column, flag: Column, **extras: Column) -> Column:
    """The ``struct<value, flag, *extras>`` that :meth:`Standardised.from_struct` unwraps."""
    return F.struct(value.alias("value"), flag.alias("flag"), *[c.alias(k) for k, c in extras.items()])


def let(value: Column, body: Callable[[Column], Column]) -> Column:
    """Evaluate ``value`` once and hand it to ``body`` as a variable.

    Column expressions are trees, so an intermediate used ten times (the prepared text tried
    against ten date patterns) is copied ten times, and copies of copies grow the plan until
    Janino gives up ("Code grows beyond 64 KB"). Binding it through a one-element
    ``transform`` keeps the tree linear. The body runs interpreted (higher-order functions
    have no codegen), which costs little next to the regexes inside. Python UDFs cannot run
    inside ``body``: apply them to ``value`` before.
    """
    return F.element_at(F.transform(F.array(value), body), 1)


def _nfkc_one(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


@pandas_udf(StringType())  # type: ignore[call-overload]
def _nfkc_udf(values: pd.Series) -> pd.Series:
    """NFKC for one Arrow batch; each distinct value is normalised once (values repeat a lot)."""
    uniques = values.dropna().unique()
    cache = {v: _nfkc_one(v) for v in uniques}
    out = values.map(cache, na_action="ignore")
    # An all-null batch arrives as float NaN; Arrow needs an object column of str/None back.
    return out.astype(object).where(out.notna(), None)


def nfkc(col: Column) -> Column:
    """Unicode NFKC normalisation (full-width letters and digits, ligatures, compatibility forms).

    Spark 4.1 has no built-in for it (no ``unicode_normalize``), so this is a vectorised pandas
    UDF over ``unicodedata.normalize``. Use :func:`fold_fullwidth` instead where folding the
    full-width ASCII block is enough: it stays inside the JVM and costs nothing.
    """
    return _nfkc_udf(col)


def fold_fullwidth(col: Column) -> Column:
    """Fold full-width ASCII (``１３８``, ``Ａ``, ``＠``, ``￥``) and the ideographic space to ASCII.

    A JVM-only subset of NFKC (one ``translate``), enough for digits, codes and separators.
    """
    return F.translate(col, _FULLWIDTH, _ASCII)


def collapse_ws(col: Column) -> Column:
    """Collapse every run of (Unicode) whitespace to one ASCII space and trim the ends."""
    return F.trim(F.regexp_replace(col, _WS, " "))


def blank_to_null(col: Column) -> Column:
    """Null for null and empty strings (trim first to treat whitespace-only as empty)."""
    return F.when(F.length(col) > 0, col)


def is_placeholder(col: Column) -> Column:
    """True for values that mean "no value" (``null``, ``N/A``, ``-``, ``未知``, punctuation only)."""
    lowered = F.lower(col)
    return lowered.isin(*PLACEHOLDER_TOKENS) | col.rlike(r"^[\p{P}\p{S}]+$")


def flag_if(condition: Column, rule: str) -> Column:
    """The rule name where ``condition`` is true, null elsewhere (also where it is null)."""
    return F.when(condition, F.lit(rule)).otherwise(F.lit(None).cast("string"))


def first_flag(*flags: Column) -> Column:
    """The first non-null flag, as a string column (null when none fired)."""
    return F.coalesce(*flags, F.lit(None).cast("string"))


_PAIR_SEP = "\x1e"  # ASCII record separator: never part of a normalised lookup key or value
_KV_SEP = "\x1f"  # ASCII unit separator


def _literal_map(mapping: Mapping[str, str]) -> Column:
    """One literal ``map<string,string>`` built from a single string (one JVM call, folded)."""
    if not mapping:
        return F.create_map().cast("map<string,string>")
    text = _PAIR_SEP.join(f"{k}{_KV_SEP}{v}" for k, v in mapping.items())
    return F.str_to_map(F.lit(text), F.lit(_PAIR_SEP), F.lit(_KV_SEP))


def literal_lookup(key: Column, mapping: Mapping[str, str], *, buckets: int = 1) -> Column:
    """Look ``key`` up in a constant mapping; null when absent.

    A literal map is searched linearly per row, so large tables (countries: ~1,400 keys) are
    split into ``buckets`` literal maps by CRC-32 of the key (computed identically by Python's
    ``zlib`` and Spark's ``crc32``); a lookup then scans about ``len(mapping) / buckets`` keys.
    This keeps the standardiser a plain column expression (no join, works inside lambdas) at
    close to hash-lookup cost: about five times faster than one flat map for the country table.
    """
    for k, v in mapping.items():
        if _PAIR_SEP in k + v or _KV_SEP in k + v:
            raise ValueError(f"lookup key or value contains a reserved separator: {k!r} -> {v!r}")
    if buckets <= 1:
        return F.try_element_at(_literal_map(mapping), key)
    parts: list[dict[str, str]] = [{} for _ in range(buckets)]
    for k, v in mapping.items():
        parts[zlib.crc32(k.encode("utf-8")) % buckets][k] = v
    maps = F.array(*[_literal_map(part) for part in parts])
    index = (F.crc32(F.encode(key, "UTF-8")) % F.lit(buckets) + F.lit(1)).cast("int")
    return F.try_element_at(F.element_at(maps, index), key)
