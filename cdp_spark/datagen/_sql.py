"""Deterministic randomness and other building blocks, as Spark SQL expression text.

Why SQL text rather than ``pyspark.sql.Column`` objects: the generators combine thousands
of small expressions, and every Column operation is one or more Py4J round trips (plus an
analysis of the growing plan per ``withColumn``). Composing plain strings in Python and
handing Spark one ``selectExpr`` per stage cut plan construction from tens of seconds to
well under one. The expressions are the same built-ins either way.

Randomness: every random value is ``xxhash64(stream, row key...)`` where ``stream`` is a
constant derived from (seed, table, column tag), mapped to what we need (a uniform in
[0, 1), an index, hex digits). Nothing depends on partitioning, task order or time, so the
same seed gives the same rows on one core or a thousand (the dbldatagen habit).
``rand()``, ``uuid()`` and ``monotonically_increasing_id()`` are never used.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from pyspark.sql import DataFrame

TABLE = 1024  # resolution of weighted choices
_BASE_CHAR = 48  # weighted-choice tables encode choice i as chr(48 + i): "0", "1", ... "z"
_MAX_CHOICES = 75
_INV_2_53 = repr(2.0**-53) + "D"


# ------------------------------------------------------------------ literals and helpers


def q(value: Any) -> str:
    """A SQL literal for a Python value (strings escaped for Spark's default parser)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if -(2**31) <= value < 2**31 else f"{value}L"
    if isinstance(value, float):
        return repr(value) + "D"
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
        return f"'{escaped}'"
    raise TypeError(f"no SQL literal for {type(value).__name__}")


def arr(values: Sequence[Any]) -> str:
    """A constant array (folded to a literal by the optimizer)."""
    return "array(" + ", ".join(q(v) for v in values) + ")"


def pick(values: Sequence[Any], index: str) -> str:
    """``values[index]`` for a 0-based integer expression."""
    if len(values) == 1:
        return q(values[0])
    return f"element_at({arr(values)}, ({index}) + 1)"


def by_locale(locale: str, values: Mapping[str, str]) -> str:
    """One of three locale-specific expressions."""
    return f"CASE {locale} WHEN 'zh_CN' THEN {values['zh_CN']} WHEN 'de_DE' THEN {values['de_DE']} ELSE {values['en_US']} END"


def locale_lit(locale: str, values: Mapping[str, Any]) -> str:
    return by_locale(locale, {k: q(v) for k, v in values.items()})


def case(branches: Sequence[tuple[str, str]], default: str = "NULL") -> str:
    """``CASE WHEN c1 THEN v1 ... ELSE default END``."""
    body = " ".join(f"WHEN {cond} THEN {value}" for cond, value in branches)
    return f"CASE {body} ELSE {default} END"


def when(cond: str, value: str, default: str = "NULL") -> str:
    return f"CASE WHEN {cond} THEN {value} ELSE {default} END"


def kinds_array(names: Sequence[str]) -> str:
    """``array<string>`` of the kinds whose ``_f_<kind>`` flag column is true."""
    if not names:
        return "CAST(array() AS ARRAY<STRING>)"
    items = ", ".join(f"CASE WHEN _f_{k} THEN {q(k)} END" for k in names)
    return f"filter(array({items}), x -> x IS NOT NULL)"


def add(df: DataFrame, cols: Mapping[str, str]) -> DataFrame:
    """Add or replace columns given as SQL expressions, in one projection.

    Expressions may reference existing columns only (not each other), like ``withColumns``.
    """
    existing = df.columns
    items = [f"{cols[c]} AS `{c}`" if c in cols else f"`{c}`" for c in existing]
    items += [f"{expr} AS `{name}`" for name, expr in cols.items() if name not in existing]
    return df.selectExpr(*items)


def select(df: DataFrame, cols: Mapping[str, str]) -> DataFrame:
    """Exactly these columns, given as SQL expressions (a column name is an expression too)."""
    return df.selectExpr(*[f"{expr} AS `{name}`" for name, expr in cols.items()])


# ------------------------------------------------------------------ randomness


@lru_cache(maxsize=65536)
def stream_key(seed: int, table: str, tag: str) -> int:
    """A signed 64-bit constant naming one random stream (seed, table, column tag).

    Hashing one long instead of string literals per row keeps draws cheap; blake2b keeps
    the constant identical across Python versions and platforms.
    """
    digest = hashlib.blake2b(f"{seed}\x1f{table}\x1f{tag}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Rng:
    """Random SQL expressions for one table and row key: ``Rng(seed, "web", "person_idx", "day").u("slot")``."""

    __slots__ = ("_keys", "_seed", "_table")

    def __init__(self, seed: int, table: str, *keys: str) -> None:
        self._seed = seed
        self._table = table
        self._keys = tuple(keys)

    def child(self, *keys: str) -> Rng:
        """The same stream extended by more key expressions (e.g. the n-th item of an order)."""
        return Rng(self._seed, self._table, *self._keys, *keys)

    def hash(self, tag: str) -> str:
        return f"xxhash64({stream_key(self._seed, self._table, tag)}L, {', '.join(self._keys)})"

    def u(self, tag: str) -> str:
        """Uniform double in [0, 1): the top 53 bits of the hash."""
        return f"(shiftrightunsigned({self.hash(tag)}, 11) * {_INV_2_53})"

    def below(self, tag: str, p: float | str) -> str:
        return f"({self.u(tag)} < {q(p) if isinstance(p, float) else p})"

    def int_(self, tag: str, n: int | str) -> str:
        """Integer in [0, n)."""
        return f"CAST(floor({self.u(tag)} * ({n})) AS INT)"

    def between(self, tag: str, lo: int | str, hi: int | str) -> str:
        """Integer in [lo, hi] (inclusive)."""
        return f"CAST(({lo}) + floor({self.u(tag)} * (({hi}) - ({lo}) + 1)) AS INT)"

    def pick(self, tag: str, values: Sequence[Any]) -> str:
        return pick(values, self.int_(tag, len(values)))

    def weighted(self, tag: str, choices: Sequence[tuple[Any, float]]) -> str:
        """One of ``choices`` with probability proportional to its weight.

        An inverse-CDF table of ``TABLE`` buckets, stored as one string literal whose
        characters encode the choice index: one hash, one character lookup and one small
        array lookup per row. (A CASE chain would repeat the draw in every branch, and a
        1024-element array literal bloats every plan it appears in.) Weights are honoured
        to within 1/TABLE.
        """
        if len(choices) > _MAX_CHOICES:
            raise ValueError(f"weighted() supports at most {_MAX_CHOICES} choices, got {len(choices)}")
        total = float(sum(w for _, w in choices))
        cumulative = []
        acc = 0.0
        for _, w in choices:
            acc += w / total
            cumulative.append(acc)
        table = []
        pos = 0
        for b in range(TABLE):
            centre = (b + 0.5) / TABLE
            while pos < len(choices) - 1 and centre >= cumulative[pos]:
                pos += 1
            table.append(chr(_BASE_CHAR + pos))
        index = f"(ascii(substring({q(''.join(table))}, {self.int_(tag, TABLE)} + 1, 1)) - {_BASE_CHAR})"
        return pick([value for value, _ in choices], index)

    def weighted_index(self, tag: str, weights: Sequence[float]) -> str:
        return self.weighted(tag, [(i, w) for i, w in enumerate(weights)])

    def geometric(self, tag: str, mean: float, cap: int) -> str:
        """0, 1, 2, ... with the given mean (number of *extra* events), capped."""
        log_q = math.log(1.0 - 1.0 / (mean + 1.0))
        return f"CAST(least(floor(ln(1.0D - {self.u(tag)}) / {q(log_q)}), {cap}) AS INT)"

    def hex16(self, tag: str) -> str:
        """16 lower-case hex digits."""
        return f"lpad(lower(hex({self.hash(tag)})), 16, '0')"

    def uuid(self, tag: str, *, upper: bool = False) -> str:
        """A version-4-shaped UUID from two hashes (128 bits, so collisions are negligible)."""
        hex32 = f"concat({self.hex16(tag + ':a')}, {self.hex16(tag + ':b')})"
        out = f"regexp_replace({hex32}, '^(.{{8}})(.{{4}})(.{{3}})(.{{4}})(.{{12}}).*$', '$1-$2-4$3-$4-$5')"
        return f"upper({out})" if upper else out

    def base64url(self, tag: str, length: int = 22) -> str:
        """``length`` (<= 22) URL-safe base64 characters from 128 hash bits (WeChat-style ids)."""
        raw = f"unhex(concat({self.hex16(tag + ':a')}, {self.hex16(tag + ':b')}))"
        return f"translate(substring(base64({raw}), 1, {length}), '+/', '-_')"


def bijective(idx: str, modulus: int, mult: int, offset: int) -> str:
    """``(idx * mult + offset) mod modulus``: distinct for distinct idx < modulus.

    Used for identifiers that must never collide between two persons (phones, e-mail
    numbers, member ids): a hash could collide, a bijection cannot. ``mult`` must be
    coprime to ``modulus``.
    """
    return f"pmod(({idx}) * {mult}L + {offset}L, {modulus}L)"


def bijective_py(idx: int, modulus: int, mult: int, offset: int) -> int:
    """The same bijection on the driver (used for the story's reserved identifiers)."""
    return (idx * mult + offset) % modulus
