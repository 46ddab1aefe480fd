"""Shared machinery of the source generators: days, activity, time, noise and the final columns.

A source generator turns persons x days into *semantic* rows (one per raw record, with the
true values), then renders them: it applies per-record noise, builds the raw line
(``to_json`` of a struct, or an RFC 4180 CSV line) and lists the identifiers it wrote.
:func:`finalize` then applies line-level damage (truncation, extra columns, bad bytes),
duplicates lines and returns the columns the writer needs (``OUTPUT_COLUMNS``).

Every noise decision hashes the record key, not the line position, so a record rendered
on its own (``generate(days=[k])``) gets exactly the same noise as in a full run. Noise
steps materialise their inputs as columns (``_f_<kind>`` flags, ``_email``, ...) instead of
nesting expressions: each step references its input several times, and nested
expressions grow exponentially.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from pyspark.sql import DataFrame

from cdp_spark.datagen import vocab
from cdp_spark.datagen._sql import Rng, add, arr, by_locale, case, kinds_array, locale_lit, q, select, when
from cdp_spark.datagen.schemas import NOISE_KINDS, SOURCE_SCHEMAS, SourceSchema
from cdp_spark.datagen.settings import DatagenSettings

# Private-use character written where invalid UTF-8 belongs; the writer swaps its three
# bytes for one Latin-1 byte after Spark wrote the file (Spark only writes valid UTF-8).
UTF8_PLACEHOLDER = "\ue000"
INVALID_BYTES = b"\xfc"

OUTPUT_COLUMNS: tuple[str, ...] = (
    "source",
    "day",
    "file_idx",
    "is_data",
    "arrival",
    "record_key",
    "copy",
    "value",
    "person_id",
    "event_date",
    "malformed",
    "noise",
    "ids",
    "story",
    "bad_bytes",
)

ID_STRUCT = "STRUCT<id_type: STRING, id_value: STRING, id_value_true: STRING, is_junk: BOOLEAN>"


@dataclass(frozen=True)
class Gen:
    """Everything a source generator needs besides its input frames."""

    settings: DatagenSettings

    @property
    def seed(self) -> int:
        return self.settings.seed

    @property
    def start_epoch(self) -> int:
        d = self.settings.start_date
        return int(datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp())

    def rate(self, kind: str) -> float:
        return float(getattr(self.settings.noise, kind))

    def day_start(self, day: str = "`day`") -> str:
        """Epoch seconds of 00:00 UTC on day ``day`` (day 0 = start_date)."""
        return f"({self.start_epoch}L + CAST({day} AS BIGINT) * 86400L)"

    def date_of(self, day: str = "`day`") -> str:
        return f"date_add(DATE {q(self.settings.start_date.isoformat())}, CAST({day} AS INT))"

    def file_count(self, source: str, rows_per_person_day: float) -> int:
        """Part files per source and day: fixed by the settings, never by the data or cluster."""
        expected = self.settings.persons * rows_per_person_day * self.settings.activity
        return max(1, int(-(-expected // self.settings.rows_per_file)))


# ------------------------------------------------------------------ behaviour


def online_probability(g: Gen, day: str = "`day`") -> str:
    """Chance that a person is active online on ``day``: segment x weekday x activity.

    new: nothing before their first day; churning: active until turn_day, then rarely;
    returning: dormant until turn_day; loyal: often; weekends are busier.
    """
    base = case(
        [
            ("segment = 'new'", f"CASE WHEN {day} >= first_day THEN 0.35D ELSE 0.0D END"),
            ("segment = 'active'", "0.22D"),
            ("segment = 'loyal'", "0.45D"),
            ("segment = 'churning'", f"CASE WHEN {day} < turn_day THEN 0.3D ELSE 0.03D END"),
        ],
        f"CASE WHEN {day} >= turn_day THEN 0.3D ELSE 0.02D END",
    )
    # dayofweek: 1 = Sunday ... 7 = Saturday
    weekday = f"element_at({arr([1.15, 0.9, 0.95, 0.95, 1.0, 1.05, 1.2])}, dayofweek({g.date_of(day)}))"
    return f"least({base} * {weekday} * {q(float(g.settings.activity))}, 0.95D)"


def store_weekday_factor(g: Gen, day: str = "`day`") -> str:
    """Store visits peak on Saturdays; German shops are closed on Sundays."""
    dow = f"dayofweek({g.date_of(day)})"
    common = f"element_at({arr([1.4, 0.7, 0.8, 0.8, 0.9, 1.1, 1.6])}, {dow})"
    return f"CASE WHEN locale = 'de_DE' AND {dow} = 1 THEN 0.0D ELSE {common} END"


def active_online(g: Gen, day: str = "`day`") -> str:
    """One shared draw per person and day, so web, app and orders are active on the same days."""
    return f"({Rng(g.seed, 'active', 'person_idx', day).u('online')} < {online_probability(g, day)})"


def event_epoch(g: Gen, rng: Rng, hours: Sequence[float], tag: str = "time", day: str = "`day`") -> str:
    """A time on ``day`` (UTC file day) whose local hour follows ``hours`` weights."""
    hour = rng.weighted_index(tag + ":hour", list(hours))
    local_sec = f"({hour} * 3600 + {rng.int_(tag + ':sec', 3600)})"
    return f"({g.day_start(day)} + pmod({local_sec} - utc_offset * 3600, 86400))"


ISO_Z = "yyyy-MM-dd'T'HH:mm:ss'Z'"
ISO_MS_Z = "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"
ISO_LOCAL = "yyyy-MM-dd'T'HH:mm:ss"


def iso_utc(epoch: str, millis: str | None = None) -> str:
    """``2025-01-06T10:15:22.123Z`` (the session time zone is UTC during generation)."""
    if millis is None:
        return f"date_format(timestamp_seconds({epoch}), {q(ISO_Z)})"
    return f"date_format(timestamp_millis(({epoch}) * 1000L + {millis}), {q(ISO_MS_Z)})"


def utc_text(epoch: str) -> str:
    return f"date_format(timestamp_seconds({epoch}), 'yyyy-MM-dd HH:mm:ss')"


def local_ts(epoch: str, tz: str = "tz") -> str:
    return f"from_utc_timestamp(timestamp_seconds({epoch}), {tz})"


def local_iso(epoch: str, tz: str = "tz") -> str:
    """Local wall time with its UTC offset, e.g. ``2025-01-06T18:15:22+08:00`` (DST-aware).

    ``epoch`` must be a column name (it is referenced several times).
    """
    local = local_ts(epoch, tz)
    off = f"(unix_seconds({local}) - {epoch})"
    return (
        f"concat(date_format({local}, {q(ISO_LOCAL)}), CASE WHEN {off} < 0 THEN '-' ELSE '+' END, "
        f"lpad(CAST(floor(abs({off}) / 3600) AS STRING), 2, '0'), ':', "
        f"lpad(CAST(floor(pmod(abs({off}), 3600) / 60) AS STRING), 2, '0'))"
    )


def date_text(epoch: str) -> str:
    return f"date_format(timestamp_seconds({epoch}), 'yyyy-MM-dd')"


def currency() -> str:
    return locale_lit("locale", vocab.CURRENCY)


# ------------------------------------------------------------------ noise


class Noise:
    """Per-record noise decisions, keyed by (source, record key); never applied to the story."""

    def __init__(self, g: Gen, source: str) -> None:
        self.g = g
        self.source = source
        self.rng = Rng(g.seed, source + ":noise", "record_key")

    def flag(self, kind: str, extra: str = "true") -> str:
        rate = self.g.rate(kind)
        if rate <= 0 or self.source not in NOISE_KINDS[kind].sources:
            return "false"
        return f"({self.rng.u(kind)} < {q(rate)} AND NOT story AND {extra})"

    def malformed_kind(self, schema: SourceSchema) -> str:
        """At most one malformed kind per record, chosen by one draw against cumulative rates."""
        first = "broken_json" if schema.format == "jsonl" else "wrong_column_count"
        branches = []
        acc = 0.0
        for kind in (first, "wrong_type", "invalid_utf8"):
            rate = self.g.rate(kind)
            if rate <= 0:
                continue
            acc += rate
            branches.append((f"_mal_u < {q(acc)}", q(kind)))
        if not branches:
            return "CAST(NULL AS STRING)"
        return f"CASE WHEN story THEN NULL ELSE {case(branches)} END"


def with_flags(df: DataFrame, flags: Mapping[str, str]) -> DataFrame:
    """Materialise noise flags as ``_f_<kind>`` boolean columns."""
    return add(df, {"_f_" + kind: flag for kind, flag in flags.items()})


def with_malformed(df: DataFrame, nz: Noise, schema: SourceSchema) -> DataFrame:
    df = add(df, {"_mal_u": nz.rng.u("malformed")})
    return add(df, {"mal": nz.malformed_kind(schema)}).drop("_mal_u")


def apply_typo(df: DataFrame, name: str, rng: Rng, tag: str, cond: str) -> DataFrame:
    """Drop, double or swap one character of column ``name`` where ``cond`` (always a visible change)."""
    df = add(
        df,
        {
            "_typo_p": f"CAST(floor({rng.u(tag + ':pos')} * (length({name}) - 1)) + 1 AS INT)",
            "_typo_k": rng.int_(tag + ":kind", 3),
            "_typo_c": f"({cond} AND {name} IS NOT NULL)",
        },
    )
    v, p = name, "_typo_p"
    drop = f"concat(substring({v}, 1, {p} - 1), substring({v}, {p} + 1))"
    dup = f"concat(substring({v}, 1, {p}), substring({v}, {p}))"
    swap = f"concat(substring({v}, 1, {p} - 1), substring({v}, {p} + 1, 1), substring({v}, {p}, 1), substring({v}, {p} + 2))"
    chosen = case([("_typo_k = 0", drop), ("_typo_k = 1", dup), (f"{swap} = {v}", dup)], swap)
    fixed = when(f"length({v}) >= 2", chosen, f"concat({v}, {v})")
    return add(df, {name: when("_typo_c", fixed, name)}).drop("_typo_p", "_typo_k", "_typo_c")


def apply_email_typo(df: DataFrame, name: str, rng: Rng, tag: str, cond: str) -> DataFrame:
    """A typo in the local part of an e-mail (the domain stays intact)."""
    df = add(
        df,
        {
            "_em_local": f"substring_index({name}, '@', 1)",
            "_em_domain": f"substring_index({name}, '@', -1)",
            "_em_c": f"({cond} AND {name} IS NOT NULL)",
        },
    )
    df = apply_typo(df, "_em_local", rng, tag, "_em_c")
    return add(df, {name: when("_em_c", "concat(_em_local, '@', _em_domain)", name)}).drop(
        "_em_local", "_em_domain", "_em_c"
    )


def apply_email_case(df: DataFrame, name: str, rng: Rng, tag: str, cond: str) -> DataFrame:
    """UPPER-CASE, or Capitalised local part with an upper-case domain."""
    changed = when(
        rng.below(tag, 0.5),
        f"upper({name})",
        f"concat(initcap(substring_index({name}, '@', 1)), '@', upper(substring_index({name}, '@', -1)))",
    )
    return add(df, {name: when(f"{cond} AND {name} IS NOT NULL", changed, name)})


def apply_name_case(df: DataFrame, name: str, rng: Rng, tag: str, cond: str) -> DataFrame:
    """UPPER, lower or padded for Latin names; a space inside CJK names (no case there)."""
    df = add(df, {"_case_k": rng.int_(tag, 3), "_case_c": f"({cond} AND {name} IS NOT NULL)"})
    latin = case(
        [("_case_k = 0", f"upper({name})"), ("_case_k = 1", f"lower({name})")], f"concat(' ', {name}, ' ')"
    )
    cjk = f"concat(substring({name}, 1, 1), ' ', substring({name}, 2))"
    changed = when("locale = 'zh_CN'", cjk, latin)
    return add(df, {name: when("_case_c", changed, name)}).drop("_case_k", "_case_c")


FULLWIDTH = "０１２３４５６７８９"

# Phone notations per locale; index 0 is E.164.
N_NOTATIONS = {"zh_CN": 8, "de_DE": 7, "en_US": 7}


def phone_notation(nsn: str, variant: str) -> str:
    """Write a national significant number (column) in one of the locale's notations."""

    def s(a: int, b: int) -> str:
        return f"substring({nsn}, {a}, {b})"

    zh = [
        f"concat('+86', {nsn})",
        f"concat_ws(' ', '+86', {s(1, 3)}, {s(4, 4)}, {s(8, 4)})",
        f"concat('0086-', {s(1, 3)}, '-', {s(4, 4)}, '-', {s(8, 4)})",
        f"concat_ws(' ', {s(1, 3)}, {s(4, 4)}, {s(8, 4)})",
        f"concat_ws('-', {s(1, 3)}, {s(4, 4)}, {s(8, 4)})",
        nsn,
        f"concat('(+86) ', {nsn})",
        f"concat('86', {nsn})",
    ]
    rest = s(4, 20)
    de = [
        f"concat('+49', {nsn})",
        f"concat('0', {s(1, 3)}, ' ', {rest})",
        f"concat('0', {s(1, 3)}, '/', {rest})",
        f"concat('+49 (0)', {s(1, 3)}, ' ', {rest})",
        f"concat('0049 ', {s(1, 3)}, ' ', {rest})",
        f"concat('+49 ', {s(1, 3)}, ' ', {s(4, 4)}, ' ', {s(8, 20)})",
        f"concat('0', {nsn})",
    ]
    en = [
        f"concat('+1', {nsn})",
        f"concat('(', {s(1, 3)}, ') ', {s(4, 3)}, '-', {s(7, 4)})",
        f"concat_ws('-', {s(1, 3)}, {s(4, 3)}, {s(7, 4)})",
        f"concat_ws('.', {s(1, 3)}, {s(4, 3)}, {s(7, 4)})",
        f"concat_ws(' ', '+1', {s(1, 3)}, {s(4, 3)}, {s(7, 4)})",
        f"concat_ws('-', '1', {s(1, 3)}, {s(4, 3)}, {s(7, 4)})",
        nsn,
    ]

    def chain(options: list[str]) -> str:
        return f"CASE {variant} " + " ".join(f"WHEN {i} THEN {o}" for i, o in enumerate(options)) + " END"

    return by_locale("locale", {"zh_CN": chain(zh), "de_DE": chain(de), "en_US": chain(en)})


def apply_phone(df: DataFrame, out: str, *, native: Mapping[str, int], nsn: str, rng: Rng) -> DataFrame:
    """Column ``out``: the phone in the source's own notation, another one where the
    ``_f_phone_format`` flag is set, in full-width digits where ``_f_fullwidth_digits`` is."""
    native_c = locale_lit("locale", native)
    k = locale_lit("locale", N_NOTATIONS)
    other = f"pmod({native_c} + 1 + CAST(floor({rng.u('phone:variant')} * ({k} - 1)) AS INT), {k})"
    df = add(df, {"_pv": when("_f_phone_format", other, native_c)})
    df = add(df, {out: when(f"{nsn} IS NOT NULL", phone_notation(nsn, "_pv"))})
    fw = f"translate({out}, '0123456789', {q(FULLWIDTH)})"
    return add(df, {out: when("_f_fullwidth_digits", fw, out)}).drop("_pv")


DATE_NOTATIONS = 7  # 0 = yyyy-MM-dd


def date_notation(d: str, variant: str) -> str:
    """Dates as people type them: ISO, German, US, slashes, CJK, compact, month names."""
    cjk = f"concat(year({d}), '年', month({d}), '月', dayofmonth({d}), '日')"
    return case(
        [
            (f"{variant} = 0", f"date_format({d}, 'yyyy-MM-dd')"),
            (f"{variant} = 1", f"date_format({d}, 'dd.MM.yyyy')"),
            (f"{variant} = 2", f"date_format({d}, 'MM/dd/yyyy')"),
            (f"{variant} = 3", f"date_format({d}, 'yyyy/M/d')"),
            (f"{variant} = 4", cjk),
            (f"{variant} = 5", f"date_format({d}, 'yyyyMMdd')"),
        ],
        f"date_format({d}, 'd-MMM-yyyy')",
    )


def noisy_variant(noisy: str, count: int, rng: Rng, tag: str) -> str:
    """0 (the native format) unless ``noisy``, then uniformly one of 1..count-1."""
    return when(noisy, f"1 + {rng.int_(tag, count - 1)}", "0")


def junk(rng: Rng, tag: str, values: Sequence[str]) -> str:
    return rng.pick(tag, list(values))


def ident(id_type: str, raw: str, true: str, is_junk: str = "false") -> str:
    """One written identifier: raw text, the clean value it came from (null for junk)."""
    return (
        f"named_struct('id_type', {q(id_type)}, 'id_value', CAST({raw} AS STRING), "
        f"'id_value_true', CASE WHEN {is_junk} THEN NULL ELSE CAST({true} AS STRING) END, 'is_junk', {is_junk})"
    )


def ids(*structs: str) -> str:
    """The identifiers actually written (non-empty), for truth/identifiers."""
    return f"filter(array({', '.join(structs)}), x -> x.id_value IS NOT NULL AND trim(x.id_value) != '')"


def with_late(g: Gen, df: DataFrame, noise: Noise) -> DataFrame:
    """``_event`` and ``_arrival`` epochs: late records happened 1-3 days before the file day.

    Expects ``base_epoch`` and ``day``; adds the ``_f_late_arrival`` flag column. Times that
    would spill past midnight (the end of a session, an open hours after a send) are held
    at the last second of the file day: a file never contains events of a later day.
    """
    df = add(df, {"base_epoch": f"least(base_epoch, {g.day_start()} + 86399L)"})
    df = with_flags(df, {"late_arrival": noise.flag("late_arrival")})
    lag = f"CAST(1 + {noise.rng.int_('late_lag', 3)} AS BIGINT) * 86400L"
    return add(
        df,
        {
            "_event": when("_f_late_arrival", f"base_epoch - {lag}", "base_epoch"),
            "_arrival": when(
                "_f_late_arrival",
                f"{g.day_start()} + {noise.rng.int_('late_arrival_sec', 86400)}",
                "base_epoch",
            ),
        },
    )


def file_index(g: Gen, source: str, n_files: int) -> str:
    if n_files <= 1:
        return "0"
    return f"CAST(pmod(xxhash64({g.seed}L, {q(source)}, person_id), {n_files}) AS INT)"


# ------------------------------------------------------------------ rendering


def json_line(fields: Mapping[str, str]) -> str:
    """One JSON object per line; null fields are omitted (as many exporters do)."""
    body = ", ".join(f"{q(k)}, {v}" for k, v in fields.items())
    return f"to_json(named_struct({body}), map('ignoreNullFields', 'true'))"


def csv_line(values: Sequence[str], sep: str) -> str:
    """RFC 4180 quoting: fields with the separator, quotes or line breaks are quoted.

    ``values`` should be column names or cheap expressions (each is referenced 4 times).
    """
    fields = []
    for v in values:
        text = f"coalesce(CAST({v} AS STRING), '')"
        needs = f"(instr({text}, {q(sep)}) > 0 OR instr({text}, '\"') > 0 OR instr({text}, '\\n') > 0)"
        fields.append(when(needs, f"concat('\"', replace({text}, '\"', '\"\"'), '\"')", text))
    return f"concat_ws({q(sep)}, {', '.join(fields)})"


def with_bad_bytes(value: str) -> str:
    """Insert the invalid-UTF-8 placeholder after the first character of a text value."""
    return f"concat(substring({value}, 1, 1), {q(UTF8_PLACEHOLDER)}, substring({value}, 2))"


# Per-JSON-source (field, replacement) for wrong-type damage: regex on the rendered line.
JSON_WRONG_TYPE: dict[str, tuple[str, str]] = {
    "web": ("screen_width", '"screen_width":"$1px"'),
    "app": ("event_time", '"event_time":"$1 ms"'),
    "orders": ("total_amount", '"total_amount":"$1 €"'),
    "wechat": ("ts", '"ts":"$1s"'),
    "consents": ("double_opt_in", '"double_opt_in":"yes"'),
    "support": ("priority", '"priority":"high"'),
}


_FIRST_STRING = r'^(\{"[a-z_]+":")'  # the opening of the first (string) field of a JSON line


def finalize(g: Gen, df: DataFrame, source: str, *, n_files: int) -> DataFrame:
    """Line-level damage, duplicates and the common output columns.

    Expects columns: person_id, day, record_key, event_epoch, arrival, value, noise, ids,
    story, mal (malformed kind or null; CSV renderers already applied wrong_type and
    invalid_utf8 to their columns).
    """
    schema = SOURCE_SCHEMAS[source]
    rng = Rng(g.seed, source + ":damage", "record_key")
    if schema.format == "jsonl":
        field, replacement = JSON_WRONG_TYPE[source]
        pattern = f'"{field}":(-?[0-9][0-9.eE+-]*|true|false)'
        cut = f"CAST(greatest(1, floor(length(value) * (0.3D + 0.5D * {rng.u('cut')}))) AS INT)"
        damaged = case(
            [
                ("mal = 'broken_json'", f"substring(value, 1, {cut})"),
                ("mal = 'wrong_type'", f"regexp_replace(value, {q(pattern)}, {q(replacement)})"),
                (
                    "mal = 'invalid_utf8'",
                    f"regexp_replace(value, {q(_FIRST_STRING)}, {q('$1' + UTF8_PLACEHOLDER)})",
                ),
            ],
            "value",
        )
    else:
        sep = schema.delimiter
        extra = f"concat(value, {q(sep + 'EXTRA')})"
        fewer = f"regexp_replace(value, {q(sep + '[^' + sep + ']*$')}, '')"
        damaged = when("mal = 'wrong_column_count'", when(rng.below("more", 0.5), extra, fewer), "value")
    nz = Noise(g, source)
    df = add(
        df,
        {
            "value": damaged,
            "malformed": "mal IS NOT NULL",
            "noise": "CASE WHEN mal IS NOT NULL THEN concat(noise, array(mal)) ELSE noise END",
            "_copies": when(nz.flag("duplicate"), "2", "1"),
        },
    )
    df = df.selectExpr("*", "explode(sequence(1, _copies)) AS copy")
    return select(
        df,
        {
            "source": q(source),
            "day": "CAST(`day` AS INT)",
            "file_idx": file_index(g, source, n_files),
            "is_data": "1",
            "arrival": "CAST(arrival AS BIGINT)",
            "record_key": "CAST(record_key AS STRING)",
            "copy": "CAST(copy AS INT)",
            "value": "value",
            "person_id": "person_id",
            "event_date": date_text("event_epoch"),
            "malformed": "malformed",
            "noise": "CASE WHEN copy > 1 THEN concat(noise, array('duplicate')) ELSE noise END",
            "ids": f"CAST(ids AS ARRAY<{ID_STRUCT}>)",
            "story": "story",
            "bad_bytes": "coalesce(mal = 'invalid_utf8', false)",
        },
    )


def render_output(
    df: DataFrame,
    *,
    value: str,
    noise: Sequence[str],
    identifiers: Sequence[str],
    event: str = "_event",
    arrival: str = "_arrival",
) -> DataFrame:
    """The columns :func:`finalize` expects, from a rendered frame."""
    return select(
        df,
        {
            "person_id": "person_id",
            "day": "`day`",
            "record_key": "record_key",
            "event_epoch": event,
            "arrival": arrival,
            "value": value,
            "noise": kinds_array(noise),
            "ids": ids(*identifiers),
            "story": "story",
            "mal": "mal",
        },
    )
