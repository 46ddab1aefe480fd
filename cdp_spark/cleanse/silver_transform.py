"""Pure bronze → silver transforms: apply a mapping, impute, classify against silver.

Everything here is ``DataFrame -> DataFrame`` (plus small aggregations returned as dicts); the
stage in :mod:`cdp_spark.cleanse.silver` does the IO. Tests exercise these functions directly.

Row outcomes. Every bronze row of a run ends in exactly one outcome, which is what makes the
reconciliation an identity rather than a hope:

``rejected``    a rule rejected it (``natural_key.missing``, ``event_time.missing``,
                ``event_time.unparseable``, or a mapping's ``reject_when`` rule); kept in
                ``silver.rejected`` with the rule.
``duplicate``   an exact duplicate: same record id and same bronze record hash as a row earlier
                in the batch (``batch``) or as the row already in silver (``silver``: a
                re-delivered line, or a rerun of the date).
``superseded``  another version of the same record id won: by ``version_by`` (newest wins; a
                late-arriving older order status does not overwrite a newer one) or, without
                ``version_by``, the first version seen wins (first in silver, then by bronze
                file and line).
``insert``      a new record id.
``update``      a newer version of a record id already in silver (only with ``version_by``); it
                stays in the ``event_date`` partition of the version it replaces.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from pyspark.sql import Column, Window
from pyspark.sql import functions as F
from pyspark.sql.types import (
    DataType,
    DateType,
    StringType,
    TimestampType,
)

from cdp_spark.cleanse import silver_schema as S
from cdp_spark.cleanse.mapping import (
    AddressStd,
    BirthDateStd,
    CountryStd,
    CurrencyStd,
    DateStd,
    EmailSha256Std,
    EmailStd,
    FieldSpec,
    MoneyStd,
    NameStd,
    PhoneStd,
    PostcodeStd,
    SourceMapping,
    StdSpec,
    TimestampStd,
)
from cdp_spark.cleanse.standardise import (
    DEFAULT_DATE_FORMATS,
    DEFAULT_TIMESTAMP_FORMATS,
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
)
from cdp_spark.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

log = logging.getLogger(__name__)

# Working columns of a mapped batch (dropped before writing).
REJECT_RULE = "_reject_rule"
NATURAL_KEY = "_natural_key"
RAW = "_raw"
LINES = "_lines"
OUTCOME = "_outcome"
SCOPE = "_scope"
WINNER = "_winner"
_MISSING_PREFIX = "__missing__"
_KEY_SEP = "\x1f"

OUTCOMES: tuple[str, ...] = ("insert", "update", "duplicate", "superseded", "rejected")
BUILTIN_REJECT_RULES: tuple[str, ...] = (
    "natural_key.missing",
    "event_time.missing",
    "event_time.unparseable",
)


@dataclass(frozen=True)
class MappedColumn:
    """What the dq metrics need to know about one mapped column."""

    name: str  # as in dq_metrics: "email", "identifiers.phone", "event_time"
    flag_prefix: str  # flags of this column start with it ("email:")


@dataclass
class CompiledMapping:
    """A mapping turned into column expressions over one bronze DataFrame."""

    source: str
    mapping: SourceMapping
    label: str
    columns: list[MappedColumn] = field(default_factory=list)
    deferred_imputation: dict[str, str] = field(default_factory=dict)  # column -> median|mean


# --------------------------------------------------------------------------- expressions


def _sql(expr: str, label: str, key: str) -> Column:
    """``F.expr`` whose parse errors name the mapping file and key."""
    from pyspark.errors import AnalysisException

    try:
        return F.expr(expr)
    except AnalysisException as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError([f"{label}: {key}: invalid Spark SQL {expr!r}: {first}"]) from None


def _formats(spec: DateStd | BirthDateStd | TimestampStd, defaults: Sequence[str]) -> list[str]:
    return [*(spec.formats if spec.formats is not None else defaults), *spec.extra_formats]


ArgFn = Callable[[str, str], Column]


def _standardise(
    std: StdSpec, raw: Column, run_date: date, key: str, arg: ArgFn
) -> tuple[Column, Column, DataType]:
    """Apply one standardiser: (value, unqualified flag, value type). ``arg(sql, key)`` turns a
    SQL argument of the spec (region, zone, country, currency) into a column."""
    if isinstance(std, (NameStd, AddressStd)):
        # Workaround: the NFKC pandas UDF inside these fails on an Arrow batch that is entirely
        # null (reported); a blank string is "missing" to both standardisers, like null.
        raw = F.coalesce(raw.cast("string"), F.lit(""))
    if isinstance(std, EmailStd):
        r = std_email(raw)
    elif isinstance(std, EmailSha256Std):
        r = std_email_sha256(raw)
    elif isinstance(std, NameStd):
        r = std_name(raw)
    elif isinstance(std, CountryStd):
        r = std_country(raw)
    elif isinstance(std, AddressStd):
        r = std_address(raw)
    elif isinstance(std, CurrencyStd):
        r = std_currency(raw)
    elif isinstance(std, PhoneStd):
        region: Column = F.lit(std.default_region).cast("string")
        if std.region is not None:
            region = F.coalesce(arg(std.region, f"{key}.std.region").cast("string"), region)
        r = std_phone(raw, region)
    elif isinstance(std, DateStd):
        r = std_date(raw, _formats(std, DEFAULT_DATE_FORMATS))
        return r.value, r.flag, DateType()
    elif isinstance(std, BirthDateStd):
        r = std_birth_date(raw, _formats(std, DEFAULT_DATE_FORMATS), earliest=std.earliest, as_of=run_date)
        return r.value, r.flag, DateType()
    elif isinstance(std, TimestampStd):
        tz: str | Column = std.default_tz
        if std.tz is not None:
            tz = F.coalesce(arg(std.tz, f"{key}.std.tz").cast("string"), F.lit(std.default_tz))
        r = std_timestamp(raw, _formats(std, DEFAULT_TIMESTAMP_FORMATS), default_tz=tz)
        return r.value, r.flag, TimestampType()
    elif isinstance(std, PostcodeStd):
        r = std_postcode(raw, arg(std.country, f"{key}.std.country"))
    elif isinstance(std, MoneyStd):
        currency = None if std.currency is None else arg(std.currency, f"{key}.std.currency")
        r = std_money(raw, currency)
        return r.value, r.flag, S.MONEY
    else:  # pragma: no cover - the discriminated union is exhaustive
        raise AssertionError(f"unhandled standardiser {std!r}")
    return r.value, r.flag, StringType()


def _to_type(value: Column, value_type: DataType | None, target: DataType) -> Column:
    """Cast a standardised or raw value to the column type; never throws under ANSI."""
    if value_type == target:
        return value
    if isinstance(value_type, DateType) and isinstance(target, TimestampType):
        # Midnight UTC of that date, independent of the session time zone.
        return F.timestamp_seconds(F.unix_date(value).cast("bigint") * F.lit(86400))
    if isinstance(target, StringType):
        return F.trim(value.cast("string"))
    return value.try_cast(target)


def _is_blank(raw: Column) -> Column:
    return raw.isNull() | (F.trim(raw.cast("string")) == "")


# Levels of the staged projection (see _Levels).
RAW_LEVEL, STD_LEVEL, TYPED_LEVEL, FINAL_LEVEL = range(4)


class _Levels:
    """Intermediate columns computed in successive selects and referenced by name.

    Why: a standardiser is a large expression tree and a mapped value is used several times
    (value, flag, missing test, identifiers, event date, reject rule). Inlined, the plan grows
    multiplicatively (hundreds of kB of plan, seconds of analysis per Spark action); as a
    column of an earlier select it is computed once and referenced by name. Spark does not
    collapse projections where that would duplicate non-trivial expressions.
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self.levels: list[dict[str, Column]] = [{} for _ in range(FINAL_LEVEL + 1)]
        self._n = 0

    def put(self, col: Column, level: int) -> Column:
        name = f"__m{self._n}"
        self._n += 1
        self.levels[level][name] = col
        return F.col(name)

    def sql(self, expr: str, key: str) -> Column:
        """A mapping SQL expression over the input columns, as a raw-level column."""
        return self.put(_sql(expr, self.label, key), RAW_LEVEL)

    def apply(self, df: DataFrame) -> DataFrame:
        for level in self.levels:
            if level:
                df = df.select("*", *[c.alias(n) for n, c in level.items()])
        return df


@dataclass(frozen=True)
class _Planned:
    value: Column
    flags: list[Column]  # qualified flags, null when not fired
    missing: Column  # the source had no value (and nothing invalid was flagged)


def plan_field(
    levels: _Levels,
    name: str,
    spec: FieldSpec,
    target: DataType,
    *,
    run_date: date,
    key: str,
    flag_name: str | None = None,
) -> _Planned:
    """Value, qualified flags and missing-indicator of one canonical column (see :class:`FieldSpec`)."""
    qualified = f"{flag_name or name}:"
    raw = levels.sql(spec.expr, f"{key}.expr")
    if spec.std is not None:
        std_value, std_flag, value_type = _standardise(spec.std, raw, run_date, key, levels.sql)
        std_value = levels.put(std_value, STD_LEVEL)
        std_flag = levels.put(std_flag, STD_LEVEL)
        value = _to_type(std_value, value_type, target)
        flag = F.coalesce(std_flag, F.when(std_value.isNotNull() & value.isNull(), F.lit("cast.invalid")))
        missing = std_value.isNull() & std_flag.isNull()
    else:
        missing = _is_blank(raw)
        value = F.when(~missing, _to_type(raw, None, target))
        flag = F.when(~missing & value.isNull(), F.lit("cast.invalid"))
    if spec.allowed is not None:
        not_allowed = value.isNotNull() & ~value.cast("string").isin(*spec.allowed)
        flag = F.coalesce(flag, F.when(not_allowed, F.lit("value.not_allowed")))
        value = F.when(~not_allowed, value)
    value = levels.put(value.cast(target), TYPED_LEVEL)
    flag = levels.put(flag, TYPED_LEVEL)
    missing = levels.put(missing, TYPED_LEVEL)
    flags = [F.when(flag.isNotNull(), F.concat(F.lit(qualified), flag))]
    if spec.missing == "default":
        imputed = value.isNull() & missing
        flags.append(F.when(imputed, F.lit(f"{qualified}imputed.default")))
        value = levels.put(
            F.when(imputed, F.lit(spec.default).try_cast(target)).otherwise(value), FINAL_LEVEL
        )
    return _Planned(value=value, flags=flags, missing=missing)


def _epoch_date(ts: Column) -> Column:
    """UTC calendar date of an instant, whatever the session time zone."""
    return F.date_from_unix_date(F.floor(F.unix_seconds(ts) / F.lit(86400)).cast("int"))


def _str_map(entries: list[tuple[str, Column]]) -> Column:
    if not entries:
        return F.create_map().cast("map<string,string>")
    args: list[Column] = []
    for k, v in entries:
        args += [F.lit(k), v.cast("string")]
    return F.map_filter(F.create_map(*args), lambda _k, v: v.isNotNull())


# --------------------------------------------------------------------------- mapping a batch


def map_source(
    bronze: DataFrame,
    mapping: SourceMapping,
    *,
    source: str,
    run_id: str,
    run_date: date,
    label: str,
) -> tuple[DataFrame, CompiledMapping]:
    """One row per bronze row: canonical columns, flags, lineage, and the reject rule (if any).

    Nothing is filtered here: rejected rows carry ``_reject_rule`` and the raw line so the
    caller can count and keep them.
    """
    from pyspark.errors import AnalysisException

    compiled = CompiledMapping(source=source, mapping=mapping, label=label)
    levels = _Levels(label)
    table = mapping.target
    columns = S.business_fields(table)
    flags: list[Column] = []
    business: dict[str, Column] = {}
    missing_cols: dict[str, Column] = {}
    for name, spec in mapping.fields.items():
        planned = plan_field(levels, name, spec, columns[name], run_date=run_date, key=f"fields.{name}")
        business[name] = planned.value
        flags += planned.flags
        compiled.columns.append(_measured(name))
        if spec.missing in ("median", "mean"):
            compiled.deferred_imputation[name] = spec.missing
            missing_cols[f"{_MISSING_PREFIX}{name}"] = planned.missing

    # Event time: never imputed; a missing or unparseable one rejects the row.
    et = plan_field(
        levels, S.EVENT_TIME, mapping.event_time, TimestampType(), run_date=run_date, key="event_time"
    )
    event_time = et.value
    compiled.columns.append(_measured(S.EVENT_TIME))

    # Identifiers: reuse a field's value when the spec is the same (one phone parse, one flag).
    id_entries: list[tuple[str, Column]] = []
    for id_type, spec in mapping.identifiers.items():
        reuse_key = (spec.expr, spec.std.model_dump_json() if spec.std else "")
        reused = next(
            (
                n
                for n, s in mapping.fields.items()
                if (s.expr, s.std.model_dump_json() if s.std else "") == reuse_key
            ),
            None,
        )
        if reused is not None and isinstance(columns[reused], StringType):
            id_entries.append((id_type, business[reused]))
            compiled.columns.append(MappedColumn(f"{S.IDENTIFIERS}.{id_type}", f"{reused}:"))
            continue
        planned = plan_field(
            levels,
            id_type,
            spec,
            StringType(),
            run_date=run_date,
            key=f"identifiers.{id_type}",
            flag_name=f"{S.IDENTIFIERS}.{id_type}",
        )
        id_entries.append((id_type, planned.value))
        flags += planned.flags
        compiled.columns.append(MappedColumn(f"{S.IDENTIFIERS}.{id_type}", f"{S.IDENTIFIERS}.{id_type}:"))

    key_parts = [
        levels.put(F.when(~_is_blank(part), F.trim(part.cast("string"))), TYPED_LEVEL)
        for i, k in enumerate(mapping.natural_key)
        for part in [levels.sql(k, f"natural_key.{i}")]
    ]
    key_missing = F.lit(False)
    for part in key_parts:
        key_missing = key_missing | part.isNull()
    record_id = F.when(~key_missing, F.sha2(F.concat_ws(_KEY_SEP, F.lit(source), *key_parts), 256))
    natural_key = F.concat_ws("|", *[F.coalesce(p, F.lit("")) for p in key_parts])

    reject_rules = [
        F.when(key_missing, F.lit(BUILTIN_REJECT_RULES[0])),
        F.when(event_time.isNull() & et.missing, F.lit(BUILTIN_REJECT_RULES[1])),
        F.when(event_time.isNull(), F.lit(BUILTIN_REJECT_RULES[2])),
        *[
            F.when(
                F.coalesce(levels.sql(r.when, f"reject_when.{i}.when").cast("boolean"), F.lit(False)),
                F.lit(r.name),
            )
            for i, r in enumerate(mapping.reject_when)
        ],
    ]

    select: list[Column] = [
        record_id.alias(S.RECORD_ID),
        F.lit(source).alias(S.SOURCE),
        levels.sql(mapping.channel, "channel").cast("string").alias(S.CHANNEL),
        event_time.alias(S.EVENT_TIME),
        _epoch_date(event_time).alias(S.EVENT_DATE),
    ]
    for name, dtype in columns.items():
        if name == S.PROPERTIES:
            props = [(k, levels.sql(v, f"properties.{k}")) for k, v in mapping.properties.items()]
            select.append(_str_map(props).alias(S.PROPERTIES))
        else:
            select.append(business.get(name, F.lit(None).cast(dtype)).alias(name))
    select += [
        _str_map(id_entries).alias(S.IDENTIFIERS),
        F.filter(F.array(*flags), lambda x: x.isNotNull()).cast("array<string>").alias(S.DQ_FLAGS)
        if flags
        else F.array().cast("array<string>").alias(S.DQ_FLAGS),
        F.col("_file").alias(S.BRONZE_FILE),
        F.col("_line").cast("long").alias(S.BRONZE_LINE),
        F.col("_record_hash").alias(S.RECORD_HASH),
        F.lit(run_id).alias(S.RUN_ID),
        F.lit(run_date).cast("date").alias(S.RUN_DATE),
        F.coalesce(*reject_rules).alias(REJECT_RULE),
        natural_key.alias(NATURAL_KEY),
        F.col("_raw").alias(RAW),
        *[c.alias(n) for n, c in missing_cols.items()],
    ]
    if mapping.lines is not None:
        select.append(levels.sql(mapping.lines.explode, "lines.explode").alias(LINES))
    try:
        mapped = levels.apply(bronze).select(*select)
    except AnalysisException as exc:
        raise ConfigError(_locate_sql_errors(bronze, mapping, label) or [f"{label}: {exc}"]) from None
    return mapped, compiled


def _measured(name: str) -> MappedColumn:
    return MappedColumn(name, f"{name}:")


def _mapping_sql(mapping: SourceMapping) -> list[tuple[str, str]]:
    """Every (key, SQL expression over bronze columns) of a mapping, for error attribution."""
    out: list[tuple[str, str]] = [("channel", mapping.channel)]
    out += [(f"natural_key.{i}", k) for i, k in enumerate(mapping.natural_key)]
    specs = [("event_time", mapping.event_time)]
    specs += [(f"fields.{n}", s) for n, s in mapping.fields.items()]
    specs += [(f"identifiers.{n}", s) for n, s in mapping.identifiers.items()]
    for key, spec in specs:
        out.append((f"{key}.expr", spec.expr))
        for arg in ("region", "tz", "country", "currency"):
            value = getattr(spec.std, arg, None) if spec.std is not None else None
            if isinstance(value, str):
                out.append((f"{key}.std.{arg}", value))
    out += [(f"properties.{k}", v) for k, v in mapping.properties.items()]
    out += [(f"reject_when.{i}.when", r.when) for i, r in enumerate(mapping.reject_when)]
    if mapping.lines is not None:
        out.append(("lines.explode", mapping.lines.explode))
    return out


def _locate_sql_errors(df: DataFrame, mapping: SourceMapping, label: str) -> list[str]:
    from pyspark.errors import AnalysisException

    problems = []
    for key, expr in _mapping_sql(mapping):
        try:
            df.select(F.expr(expr))
        except AnalysisException as exc:
            first = str(exc).strip().splitlines()[0]
            problems.append(
                f"{label}: {key}: {expr!r} does not resolve against bronze.{mapping.source}: {first}"
            )
    return problems


# --------------------------------------------------------------------------- imputation


def impute(mapped: DataFrame, compiled: CompiledMapping) -> tuple[DataFrame, dict[str, Any]]:
    """Fill missing values of ``median``/``mean`` columns with that statistic of the batch.

    The statistic is taken over the valid (not rejected, not flagged) values of the same source
    in the same run, so a rerun of the date imputes the same value. The median is exact
    (``percentile_disc``: a value that occurs, from exact counts), not ``percentile_approx``,
    whose result on large batches depends on how rows are partitioned. Returns the statistics
    for the run metrics.
    """
    deferred = compiled.deferred_imputation
    if not deferred:
        return mapped, {}
    valid = F.col(REJECT_RULE).isNull()
    values = mapped.select(
        *[F.when(valid, F.col(name)).alias(f"_stat{i}") for i, name in enumerate(deferred)]
    )
    aggs = []
    for i, (name, policy) in enumerate(deferred.items()):
        stat = (
            F.expr(f"percentile_disc(0.5) WITHIN GROUP (ORDER BY _stat{i})")
            if policy == "median"
            else F.avg(f"_stat{i}")
        )
        aggs.append(stat.alias(name))
    row = values.agg(*aggs).collect()[0]
    stats = {name: row[name] for name in deferred}
    out = mapped
    for name, policy in deferred.items():
        imputed = F.col(name).isNull() & F.col(f"{_MISSING_PREFIX}{name}")
        dtype = out.schema[name].dataType
        fill = F.lit(stats[name]).cast(dtype) if stats[name] is not None else F.lit(None).cast(dtype)
        imputable = imputed & fill.isNotNull()
        # One select: both columns must see the value before imputation.
        out = out.withColumns(
            {
                name: F.when(imputable, fill).otherwise(F.col(name)),
                S.DQ_FLAGS: F.when(
                    imputable, F.array_append(F.col(S.DQ_FLAGS), F.lit(f"{name}:imputed.{policy}"))
                ).otherwise(F.col(S.DQ_FLAGS)),
            }
        )
    return out.drop(*[f"{_MISSING_PREFIX}{n}" for n in deferred]), {k: _plain(v) for k, v in stats.items()}


def _plain(value: Any) -> Any:
    from decimal import Decimal

    return float(value) if isinstance(value, Decimal) else value


# --------------------------------------------------------------------------- classification


def classify(mapped: DataFrame, existing: DataFrame | None, *, version_col: str | None) -> DataFrame:
    """Add ``_outcome`` (see module docstring), ``_scope`` (``batch``/``silver``) and ``_winner``.

    ``existing`` is the silver table's current rows of this source (at least ``record_id``,
    ``event_date``, ``_record_hash`` and the version column), or None when it does not exist.
    Updated rows take the ``event_date`` of the row they replace, so a record never changes
    partition and merges can use ``event_date`` as a key.
    """
    valid = F.col(REJECT_RULE).isNull()
    by_hash = Window.partitionBy(S.RECORD_ID, S.RECORD_HASH).orderBy(S.BRONZE_FILE, S.BRONZE_LINE)
    df = mapped.withColumn("_rn_hash", F.row_number().over(by_hash))
    order = [(F.col("_rn_hash") > 1).asc()]
    if version_col is not None:
        order.append(F.col(version_col).desc_nulls_last())
    order += [F.col(S.BRONZE_FILE).asc(), F.col(S.BRONZE_LINE).asc()]
    df = df.withColumn("_rn_key", F.row_number().over(Window.partitionBy(S.RECORD_ID).orderBy(*order)))

    if existing is None:
        df = (
            df.withColumn("_t_exists", F.lit(None).cast("boolean"))
            .withColumn("_t_hash", F.lit(None).cast("string"))
            .withColumn("_t_event_date", F.lit(None).cast("date"))
            .withColumn("_t_version", F.lit(None))
        )
    else:
        version = F.col(version_col) if version_col is not None else F.lit(None)
        target = existing.select(
            F.col(S.RECORD_ID).alias("_t_id"),
            F.lit(True).alias("_t_exists"),
            F.col(S.RECORD_HASH).alias("_t_hash"),
            F.col(S.EVENT_DATE).alias("_t_event_date"),
            version.alias("_t_version"),
        )
        df = df.join(target, F.col(S.RECORD_ID) == F.col("_t_id"), "left").drop("_t_id")

    if version_col is not None:
        newer = F.coalesce(
            F.col(version_col) > F.col("_t_version"),
            F.col(version_col).isNotNull() & F.col("_t_version").isNull(),
        )
    else:
        newer = F.lit(False)
    outcome = (
        F.when(~valid, F.lit("rejected"))
        .when(F.col("_rn_hash") > 1, F.lit("duplicate"))
        .when(F.col("_rn_key") > 1, F.lit("superseded"))
        .when(F.col("_t_exists").isNull(), F.lit("insert"))
        .when(F.col("_t_hash") == F.col(S.RECORD_HASH), F.lit("duplicate"))
        .when(newer, F.lit("update"))
        .otherwise(F.lit("superseded"))
    )
    scope = (
        F.when(~valid, F.lit(None).cast("string"))
        .when((F.col("_rn_hash") > 1) | (F.col("_rn_key") > 1), F.lit("batch"))
        .when(F.col("_t_exists").isNotNull(), F.lit("silver"))
    )
    df = df.withColumn(OUTCOME, outcome).withColumn(SCOPE, scope)
    df = df.withColumn(WINNER, valid & (F.col("_rn_key") == 1))
    df = df.withColumn(
        S.EVENT_DATE,
        F.when(F.col(OUTCOME) == "update", F.col("_t_event_date")).otherwise(F.col(S.EVENT_DATE)),
    )
    return df.drop("_rn_hash", "_rn_key", "_t_exists", "_t_hash", "_t_event_date", "_t_version")


# --------------------------------------------------------------------------- lines


def map_lines(orders: DataFrame, mapping: SourceMapping, *, run_date: date, label: str) -> DataFrame:
    """Order lines of the given (written) orders: one row per element of ``_lines``.

    ``record_id`` is the SHA-256 of the order's record id and the 1-based line number, so a
    re-delivered order rewrites its own lines in place.
    """
    from pyspark.errors import AnalysisException

    assert mapping.lines is not None
    columns = S.business_fields(S.ORDER_LINES)
    exploded = orders.select(
        F.col(S.RECORD_ID).alias(S.ORDER_RECORD_ID),
        S.SOURCE,
        S.CHANNEL,
        S.EVENT_TIME,
        S.EVENT_DATE,
        "order_id",
        S.BRONZE_FILE,
        S.BRONZE_LINE,
        S.RECORD_HASH,
        S.RUN_ID,
        S.RUN_DATE,
        F.posexplode(F.col(LINES)).alias("_pos", "item"),
    )
    levels = _Levels(label)
    business: dict[str, Column] = {"order_id": F.col("order_id")}
    flags: list[Column] = []
    for name, spec in mapping.lines.fields.items():
        planned = plan_field(levels, name, spec, columns[name], run_date=run_date, key=f"lines.fields.{name}")
        business[name] = planned.value
        flags += planned.flags
    line_no = (F.col("_pos") + 1).cast("int")
    select: list[Column | str] = [
        F.sha2(F.concat_ws(_KEY_SEP, F.col(S.ORDER_RECORD_ID), line_no.cast("string")), 256).alias(
            S.RECORD_ID
        ),
        S.SOURCE,
        S.CHANNEL,
        S.EVENT_TIME,
        S.EVENT_DATE,
        S.ORDER_RECORD_ID,
        line_no.alias(S.LINE_NO),
        *[business.get(n, F.lit(None).cast(t)).alias(n) for n, t in columns.items()],
        (F.filter(F.array(*flags), lambda x: x.isNotNull()) if flags else F.array())
        .cast("array<string>")
        .alias(S.DQ_FLAGS),
        S.BRONZE_FILE,
        S.BRONZE_LINE,
        S.RECORD_HASH,
        S.RUN_ID,
        S.RUN_DATE,
    ]
    try:
        return levels.apply(exploded).select(*select)
    except AnalysisException as exc:
        problems = []
        for name, spec in mapping.lines.fields.items():
            try:
                exploded.select(F.expr(spec.expr))
            except AnalysisException as inner:
                problems.append(
                    f"{label}: lines.fields.{name}.expr: {spec.expr!r} does not resolve "
                    f"(the element is 'item'): {str(inner).strip().splitlines()[0]}"
                )
        raise ConfigError(problems or [f"{label}: lines: {exc}"]) from None


# --------------------------------------------------------------------------- dq aggregation


def batch_stats(classified: DataFrame, compiled: CompiledMapping) -> dict[str, Any]:
    """Outcome counts and per-column dq measures of one source's batch, in one pass.

    Column measures are taken over the batch winners (rows kept after rules and in-batch
    de-duplication), i.e. the distinct records this run delivered.
    """
    win = F.col(WINNER)
    aggs: list[Column] = [
        F.count(F.lit(1)).alias("total"),
        F.sum(F.when(win, 1).otherwise(0)).alias("winners"),
    ]
    for outcome in OUTCOMES:
        aggs.append(F.sum(F.when(F.col(OUTCOME) == outcome, 1).otherwise(0)).alias(f"n_{outcome}"))
    for outcome in ("duplicate", "superseded"):
        for scope in ("batch", "silver"):
            cond = (F.col(OUTCOME) == outcome) & (F.col(SCOPE) == scope)
            aggs.append(F.sum(F.when(cond, 1).otherwise(0)).alias(f"n_{outcome}_{scope}"))
    for i, col in enumerate(compiled.columns):
        value = _dq_value(col.name)
        prefix = col.flag_prefix
        flagged = _has_invalid_flag(prefix)
        aggs += [
            F.sum(F.when(win & value.isNull(), 1).otherwise(0)).alias(f"c{i}_null"),
            F.sum(F.when(win & flagged, 1).otherwise(0)).alias(f"c{i}_flagged"),
            F.approx_count_distinct(F.when(win, value)).alias(f"c{i}_distinct"),
        ]
    rule_names = reject_rule_names(compiled.mapping)
    for i, rule in enumerate(rule_names):
        aggs.append(F.sum(F.when(F.col(REJECT_RULE) == rule, 1).otherwise(0)).alias(f"r{i}"))
    row = classified.agg(*aggs).collect()[0]
    rules = {rule: int(row[f"r{i}"] or 0) for i, rule in enumerate(rule_names) if row[f"r{i}"]}
    winners = int(row["winners"] or 0)
    col_stats = {}
    for i, col in enumerate(compiled.columns):
        col_stats[col.name] = {
            "rows": winners,
            "null_rate": (int(row[f"c{i}_null"] or 0) / winners) if winners else None,
            "validity_rate": (1 - int(row[f"c{i}_flagged"] or 0) / winners) if winners else None,
            "distinct_count": int(row[f"c{i}_distinct"] or 0),
        }
    return {
        "total": int(row["total"] or 0),
        "winners": winners,
        "outcomes": {o: int(row[f"n_{o}"] or 0) for o in OUTCOMES},
        "duplicates": {s: int(row[f"n_duplicate_{s}"] or 0) for s in ("batch", "silver")},
        "superseded": {s: int(row[f"n_superseded_{s}"] or 0) for s in ("batch", "silver")},
        "rejected_rules": rules,
        "columns": col_stats,
    }


def reject_rule_names(mapping: SourceMapping) -> list[str]:
    """Every rule that can reject a row of this mapping, in the order they are tried."""
    return [*BUILTIN_REJECT_RULES, *[r.name for r in mapping.reject_when]]


def _has_invalid_flag(prefix: str) -> Column:
    """A flag of this column other than an imputation fired (the row's value is invalid)."""
    return F.exists(F.col(S.DQ_FLAGS), lambda x: x.startswith(prefix) & ~x.startswith(f"{prefix}imputed."))


def _dq_value(name: str) -> Column:
    if name.startswith(f"{S.IDENTIFIERS}."):
        return F.try_element_at(F.col(S.IDENTIFIERS), F.lit(name.split(".", 1)[1]))
    return F.col(name)
