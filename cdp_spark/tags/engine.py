"""Tags as DataFrame transforms: validate definitions, evaluate them, compare two snapshots.

Pure functions over DataFrames (no table store), so they are unit-tested on hand-built
profiles; the stage (:mod:`cdp_spark.tags.stage`) only adds reading and writing.

* :func:`validate_tags` analyses every expression against an *empty* DataFrame with the
  profile schema: Spark resolves columns, functions and types without running a job, so a
  typo or a type error is found in milliseconds and named per tag, before anything is written.
* :func:`evaluate_tags` computes every tag in one projection over the profiles (one struct
  per tag, exploded with ``inline``): one pass however many tags there are, no Python UDFs.
* :func:`diff_tags` joins the new values with the previous snapshot once, giving both the
  new ``gold.tags`` (``updated_at`` carried over when the value did not change) and the
  ``gold.tag_changes`` rows. ``updated_at`` is the run date at midnight UTC, never the clock,
  so rerunning a date reproduces identical tables.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING

from pyspark.errors import PySparkException
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BooleanType,
    DataType,
    DateType,
    DecimalType,
    NullType,
    NumericType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from cdp_spark.profile.schema import profile_schema
from cdp_spark.tags.config import (
    TAGS_FILE,
    TagDefinition,
    TagsConfig,
    static_problems_by_tag,
    tag_label,
    windows_in,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

PERSON_ID, TAG, VALUE, CATEGORY, UPDATED_AT = "person_id", "tag", "value", "category", "updated_at"
CHANGE, VALUE_BEFORE, VALUE_AFTER = "change", "value_before", "value_after"
GAINED, LOST, CHANGED = "gained", "lost", "changed"

#: ``gold.tags``: the current tags, one row per person and tag that applies.
TAGS_SCHEMA = StructType(
    [
        StructField(PERSON_ID, StringType(), False),
        StructField(TAG, StringType(), False),
        StructField(VALUE, StringType(), False),
        StructField(CATEGORY, StringType(), False),
        StructField(UPDATED_AT, TimestampType(), False),  # run date (midnight UTC) the value last changed
    ]
)
#: ``gold.tag_changes``, partitioned by ``run_date``: what each run's snapshot changed.
TAG_CHANGES_SCHEMA = StructType(
    [
        StructField("run_date", DateType(), False),
        StructField(PERSON_ID, StringType(), False),
        StructField(TAG, StringType(), False),
        StructField(CHANGE, StringType(), False),  # gained | lost | changed
        StructField(VALUE_BEFORE, StringType(), True),  # null when gained
        StructField(VALUE_AFTER, StringType(), True),  # null when lost
    ]
)
_EVALUATED_SCHEMA = StructType(
    [TAGS_SCHEMA[PERSON_ID], TAGS_SCHEMA[TAG], TAGS_SCHEMA[VALUE], TAGS_SCHEMA[CATEGORY]]
)

# pyspark logs every analysis error it raises, with the JVM stack, at ERROR level; validation
# provokes them on purpose and reports them itself.
_PYSPARK_ERROR_LOGGERS = ("SQLQueryContextLogger", "DataFrameQueryContextLogger")
_POSITION_RE = re.compile(r"\(line (\d+), pos (\d+)\)")


# --------------------------------------------------------------------------- validation


def validate_tags(
    spark: SparkSession,
    tags: TagsConfig,
    windows: Sequence[int],
    *,
    source: str = f"conf/{TAGS_FILE}",
) -> list[str]:
    """Every problem of every tag definition, in file order; an empty list means all are valid.

    Adds to :func:`cdp_spark.tags.config.static_problems` what needs Spark's analyser:
    unknown columns and struct fields (with Spark's suggestions), unknown functions, SQL syntax
    errors, type errors inside the expression, a result type that does not fit the tag's
    ``type``, and aggregate, window or generator functions (a tag is computed from one
    person's profile row). Analysis only: no Spark job runs.
    """
    found = static_problems_by_tag(tags, windows, source=source)
    declared = set(windows)
    # tags with an undeclared window are already reported; Spark would only say "unresolved column"
    candidates = [(i, t) for i, t in enumerate(tags.tags) if all(w in declared for w in windows_in(t.expr))]
    empty = spark.createDataFrame([], profile_schema(windows))
    with _quiet_pyspark_errors():
        for i, problem in _analyse(empty, candidates).items():
            found.append((i, f"{tag_label(source, i, tags.tags[i])}: expr: {problem}"))
    return [message for _, message in sorted(found, key=lambda p: p[0])]


def _analyse(empty: DataFrame, tags: Sequence[tuple[int, TagDefinition]]) -> dict[int, str]:
    """Problems by tag index. All tags are analysed together first (two analyses in all); only
    when that fails is each tag analysed alone, to say which ones are wrong and why."""
    if not tags:
        return {}
    try:
        schema = _select_all(empty, tags).schema
        _ = _row_level_check(empty, tags).schema
    except PySparkException:
        problems = {}
        for i, tag in tags:
            problem = _analyse_one(empty, i, tag)
            if problem is not None:
                problems[i] = problem
        return problems
    problems = {}
    for i, tag in tags:
        problem = _type_problem(tag, schema[f"_t{i}"].dataType)
        if problem is not None:
            problems[i] = problem
    return problems


def _select_all(empty: DataFrame, tags: Sequence[tuple[int, TagDefinition]]) -> DataFrame:
    # person_id keeps the projection row-level: an aggregate among the tags fails to analyse
    return empty.select(F.col(PERSON_ID), *[F.expr(t.expr).alias(f"_t{i}") for i, t in tags])


def _row_level_check(empty: DataFrame, tags: Sequence[tuple[int, TagDefinition]]) -> DataFrame:
    # aggregates, window functions and generators are refused outside SELECT; the newline ends a
    # trailing -- comment
    return empty.where(F.expr(" AND ".join(f"(({t.expr}\n) IS NULL)" for _, t in tags)))


def _analyse_one(empty: DataFrame, index: int, tag: TagDefinition) -> str | None:
    try:
        dtype = _select_all(empty, [(index, tag)]).schema[f"_t{index}"].dataType
    except PySparkException as exc:
        return _describe(exc)
    try:
        _ = _row_level_check(empty, [(index, tag)]).schema
    except PySparkException as exc:
        if _condition(exc) == "PARSE_SYNTAX_ERROR":
            return f"{_describe(exc)}; an expression may not contain an alias (AS name) or a statement"
        return (
            "uses an aggregate, window or generator function; a tag is computed from one person's "
            f"profile row, so use the profile's columns and windows instead ({_spark_message(exc)})"
        )
    return _type_problem(tag, dtype)


def _type_problem(tag: TagDefinition, dtype: DataType) -> str | None:
    shown = dtype.simpleString()
    if isinstance(dtype, NullType):
        return "is always null; it would never tag anyone"
    if tag.type == "boolean" and not isinstance(dtype, BooleanType):
        return (
            f"a boolean tag needs a true/false expression, but this one is {shown}; "
            "compare it (e.g. `... >= 1`) or change type to categorical or score"
        )
    if tag.type == "score" and not isinstance(dtype, NumericType):
        return f"a score tag needs a number, but this expression is {shown}; cast it or change type to categorical"
    if tag.type == "categorical" and not isinstance(dtype, (StringType, NumericType, BooleanType, DateType)):
        return (
            f"a categorical tag needs one text, number, boolean or date value, but this expression is "
            f"{shown}; pick one value (e.g. try_element_at(top_categories, 1)) or format it as text"
        )
    return None


def _describe(exc: PySparkException) -> str:
    """Spark's error as one line saying what is wrong, without stack or SQLSTATE."""
    condition = _condition(exc)
    params = exc.getMessageParameters() or {}
    if condition.startswith("UNRESOLVED_COLUMN"):
        hint = f"; did you mean one of {params['proposal']}?" if params.get("proposal") else ""
        return f"unknown column {params.get('objectName', '?')}{hint}"
    if condition == "FIELD_NOT_FOUND":
        return (
            f"unknown struct field {params.get('fieldName', '?')}; the fields are {params.get('fields', '?')}"
        )
    if condition.startswith("UNRESOLVED_ROUTINE"):
        return f"unknown function {params.get('routineName', '?')}"
    if condition == "PARSE_SYNTAX_ERROR":
        where = _POSITION_RE.search(str(exc))
        at = f" (line {where.group(1)}, position {int(where.group(2)) + 1})" if where else ""
        return f"SQL syntax error at or near {params.get('error', '?')}{params.get('hint', '')}{at}"
    if condition in ("MISSING_GROUP_BY", "MISSING_AGGREGATION") or condition.startswith("MISSING_GROUP_BY"):
        return (
            "uses an aggregate function; a tag is computed from one person's profile row, so use the "
            "profile's columns and windows instead"
        )
    return _spark_message(exc)


def _condition(exc: PySparkException) -> str:
    getter = getattr(exc, "getCondition", None) or exc.getErrorClass
    return str(getter() or "")


def _spark_message(exc: PySparkException) -> str:
    text = (exc.getMessage() if hasattr(exc, "getMessage") else str(exc)).strip().splitlines()[0]
    text = re.sub(r"^\[[A-Z0-9_.]+\]\s*", "", text)
    text = re.sub(r"\s*SQLSTATE: \w+.*$", "", text)
    text = re.sub(r"#\d+L?\b", "", text)  # plan attribute ids differ from run to run
    return text.rstrip(" .;")


@contextlib.contextmanager
def _quiet_pyspark_errors() -> Iterator[None]:
    loggers = []
    try:
        from pyspark.logger import PySparkLogger

        loggers = [PySparkLogger.getLogger(name) for name in _PYSPARK_ERROR_LOGGERS]
    except ImportError:  # pragma: no cover - older pyspark without its own loggers
        pass
    previous = [lg.disabled for lg in loggers]
    for lg in loggers:
        lg.disabled = True
    try:
        yield
    finally:
        for lg, was in zip(loggers, previous, strict=True):
            lg.disabled = was


# --------------------------------------------------------------------------- evaluation


def tag_value(tag: TagDefinition) -> Column:
    """The tag's value as text, null where the tag does not apply.

    Scores are rounded to 4 decimals and written without exponent or trailing zeros, so the
    same number always gives the same text (a change of text is a change of value); NaN and
    infinite scores give null.
    """
    value = F.expr(tag.expr)
    if tag.type == "boolean":
        return F.when(value, F.lit("true"))
    if tag.type == "categorical":
        return value.cast("string")
    fixed = F.round(value, 4).try_cast(DecimalType(38, 4)).cast("string")
    return F.when(fixed.contains("."), F.regexp_replace(fixed, r"\.?0+$", "")).otherwise(fixed)


def evaluate_tags(profiles: DataFrame, tags: Sequence[TagDefinition]) -> DataFrame:
    """``(person_id, tag, value, category)`` for every person and tag that applies.

    One projection over the profiles: an array with one ``(tag, value, category)`` struct per
    tag, exploded with ``inline``; rows whose value is null (tag does not apply) are dropped.
    Expressions must have passed :func:`validate_tags`.
    """
    if not tags:
        return profiles.sparkSession.createDataFrame([], _EVALUATED_SCHEMA)
    entries = [
        F.struct(F.lit(t.name).alias(TAG), tag_value(t).alias(VALUE), F.lit(t.category).alias(CATEGORY))
        for t in tags
    ]
    return (
        profiles.select(F.col(PERSON_ID), F.inline(F.array(*entries)))
        .where(F.col(VALUE).isNotNull())
        .select(PERSON_ID, TAG, VALUE, CATEGORY)
    )


# --------------------------------------------------------------------------- snapshots


def run_timestamp(run_date: date) -> datetime:
    """The ``updated_at`` of values that change on ``run_date``: its midnight, UTC."""
    return datetime(run_date.year, run_date.month, run_date.day, tzinfo=timezone.utc)


@dataclass(frozen=True)
class TagDiff:
    """The new snapshot and what changed, both derived from one checkpointed join."""

    joined: DataFrame
    run_date: date

    @property
    def tags(self) -> DataFrame:
        """The new ``gold.tags``: ``updated_at`` carried over where the value is unchanged."""
        j = self.joined
        stamp = _timestamp_literal(self.run_date)
        unchanged = F.col(VALUE_BEFORE).eqNullSafe(F.col(VALUE_AFTER))
        return j.where(F.col(VALUE_AFTER).isNotNull()).select(
            F.col(PERSON_ID),
            F.col(TAG),
            F.col(VALUE_AFTER).alias(VALUE),
            F.col(CATEGORY),
            F.when(unchanged, F.coalesce(F.col("updated_before"), stamp)).otherwise(stamp).alias(UPDATED_AT),
        )

    @property
    def changes(self) -> DataFrame:
        """``gold.tag_changes`` rows of this run: gained, lost, or changed value."""
        j = self.joined
        return j.where(~F.col(VALUE_BEFORE).eqNullSafe(F.col(VALUE_AFTER))).select(
            F.lit(self.run_date).alias("run_date"),
            F.col(PERSON_ID),
            F.col(TAG),
            _change_kind().alias(CHANGE),
            F.col(VALUE_BEFORE),
            F.col(VALUE_AFTER),
        )

    def counts(self) -> dict[str, dict[str, int]]:
        """Per tag: persons tagged now, and how many gained, lost or changed it in this run."""
        kind = _change_kind()
        rows = (
            self.joined.groupBy(TAG)
            .agg(
                F.count(F.col(VALUE_AFTER)).alias("tagged"),
                F.count(F.when(kind == GAINED, 1)).alias(GAINED),
                F.count(F.when(kind == LOST, 1)).alias(LOST),
                F.count(F.when(kind == CHANGED, 1)).alias(CHANGED),
            )
            .collect()
        )
        return {r[TAG]: {k: int(r[k]) for k in ("tagged", GAINED, LOST, CHANGED)} for r in rows}


def diff_tags(previous: DataFrame | None, current: DataFrame, *, run_date: date) -> TagDiff:
    """Compare the evaluated tags (:func:`evaluate_tags`) with the previous ``gold.tags``.

    ``previous`` is the snapshot this date's run starts from (None before the first run).
    A tag that applied before and no longer does (a boolean turned false, a category turned
    null, a person merged away, a tag removed from ``tags.yaml``) is ``lost``; one that did
    not apply and now does is ``gained``; a different value is ``changed``.

    The join is checkpointed (one job) because both the new snapshot and the changes are
    written from it; without it the profiles would be evaluated twice.
    """
    cur = current.select(F.col(PERSON_ID), F.col(TAG), F.col(VALUE).alias(VALUE_AFTER), F.col(CATEGORY))
    if previous is None:
        prev = current.sparkSession.createDataFrame(
            [], f"{PERSON_ID} string, {TAG} string, {VALUE_BEFORE} string, updated_before timestamp"
        )
    else:
        prev = previous.select(
            F.col(PERSON_ID),
            F.col(TAG),
            F.col(VALUE).alias(VALUE_BEFORE),
            F.col(UPDATED_AT).alias("updated_before"),
        )
    joined = cur.join(prev, [PERSON_ID, TAG], "full_outer").localCheckpoint()
    return TagDiff(joined=joined, run_date=run_date)


def _change_kind() -> Column:
    before, after = F.col(VALUE_BEFORE), F.col(VALUE_AFTER)
    return (
        F.when(before.isNull() & after.isNotNull(), F.lit(GAINED))
        .when(before.isNotNull() & after.isNull(), F.lit(LOST))
        .when(before != after, F.lit(CHANGED))
    )


def _timestamp_literal(run_date: date) -> Column:
    # from epoch seconds, so the instant does not depend on the session time zone
    return F.timestamp_seconds(F.lit(int(run_timestamp(run_date).timestamp())))


def conform(df: DataFrame, schema: StructType) -> DataFrame:
    """``schema``'s columns in order and types (the tables see one exact type every run)."""
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])
