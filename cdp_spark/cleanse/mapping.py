"""``conf/mappings/<source>.yaml``: declarative bronze → silver mappings, validated without Spark.

A mapping says, for one bronze source, which canonical table it feeds
(:data:`~cdp_spark.cleanse.silver_schema.MAPPABLE_TABLES`), what its natural key and event
time are, and for every canonical column a Spark SQL expression over bronze columns, an
optional standardiser, an optional list of allowed values and a missing-value policy.
Identifiers are declared with their type so identity resolution never sees an untyped string.

Why strict and separate files: a mapping is the contract of one source with the canonical
model; its owner edits it without touching code, and ``cdp-spark validate`` must name the file
and key of a typo'd key, an unknown standardiser, an unknown target table or column
(``conf/mappings/web.yaml: fields.evnt_type: not a column of silver.events; did you mean
'event_type'?``). SQL expressions themselves are checked by Spark when the stage starts; their
errors name file and key the same way.

Mappings live in a folder next to the main config, which the domain-file registry of
:mod:`cdp_spark.config` does not cover; :func:`check_mappings` is hooked into the registry as
the cross-file check of ``quality.yaml`` so ``validate`` reports mapping problems too.
"""

from __future__ import annotations

import difflib
import logging
import re
import zoneinfo
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pyspark.sql.types import DateType, DecimalType, DoubleType, IntegerType, LongType, TimestampType

from cdp_spark.cleanse import silver_schema as S
from cdp_spark.config import StrictModel
from cdp_spark.errors import ConfigError

log = logging.getLogger(__name__)

MAPPINGS_DIR = "mappings"
_SQL_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

IdType = Literal[
    "email",
    "email_sha256",
    "phone",
    "cookie",
    "device_id",
    "member_id",
    "customer_no",
    "loyalty_card",
    "wechat_openid",
    "wechat_unionid",
]


# --------------------------------------------------------------------------- standardisers


class _Std(StrictModel):
    """Base of the standardiser specs; ``kind`` selects one (YAML shorthand: ``std: email``)."""


class EmailStd(_Std):
    kind: Literal["email"]


class EmailSha256Std(_Std):
    kind: Literal["email_sha256"]


class NameStd(_Std):
    kind: Literal["name"]


class CountryStd(_Std):
    kind: Literal["country"]


class AddressStd(_Std):
    kind: Literal["address"]


class CurrencyStd(_Std):
    kind: Literal["currency"]


class PhoneStd(_Std):
    """``region``: SQL giving an ISO alpha-2 per row (e.g. the record's country or locale);
    rows where it is null fall back to ``default_region``."""

    kind: Literal["phone"]
    default_region: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    region: str | None = None


class _Formats(_Std):
    """``extra_formats`` are tried after the defaults; ``formats`` replaces the defaults."""

    formats: list[str] | None = None
    extra_formats: list[str] = Field(default_factory=list)


class DateStd(_Formats):
    kind: Literal["date"]


class BirthDateStd(_Formats):
    """Plausible between ``earliest`` and the run date (so a rerun gives the same answer)."""

    kind: Literal["birth_date"]
    earliest: date = date(1900, 1, 1)


class TimestampStd(_Formats):
    """Values without a zone are wall clock in ``tz`` (SQL giving an IANA zone per row), else
    in ``default_tz``."""

    kind: Literal["timestamp"]
    default_tz: str = "UTC"
    tz: str | None = None

    @field_validator("default_tz")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError("expected an IANA time zone such as UTC, Asia/Shanghai, Europe/Berlin") from None
        return value


class PostcodeStd(_Std):
    """``country``: SQL giving the record's ISO alpha-2 country."""

    kind: Literal["postcode"]
    country: str


class MoneyStd(_Std):
    """``currency``: SQL giving the amount's currency (code, symbol or word)."""

    kind: Literal["money"]
    currency: str | None = None


StdSpec = Annotated[
    EmailStd
    | EmailSha256Std
    | NameStd
    | CountryStd
    | AddressStd
    | CurrencyStd
    | PhoneStd
    | DateStd
    | BirthDateStd
    | TimestampStd
    | PostcodeStd
    | MoneyStd,
    Field(discriminator="kind"),
]
STD_KINDS: tuple[str, ...] = (
    "email",
    "email_sha256",
    "name",
    "country",
    "address",
    "currency",
    "phone",
    "date",
    "birth_date",
    "timestamp",
    "postcode",
    "money",
)
_STD_MODELS: dict[str, type[BaseModel]] = {
    m.model_fields["kind"].annotation.__args__[0]: m  # type: ignore[union-attr]
    for m in (
        EmailStd,
        EmailSha256Std,
        NameStd,
        CountryStd,
        AddressStd,
        CurrencyStd,
        PhoneStd,
        DateStd,
        BirthDateStd,
        TimestampStd,
        PostcodeStd,
        MoneyStd,
    )
}


# --------------------------------------------------------------------------- fields


class FieldSpec(StrictModel):
    """One canonical column: ``expr`` (Spark SQL over bronze columns), then ``std`` or a
    ``try_cast`` to the column type, then ``allowed`` values, then the ``missing`` policy.

    Invalid values (standardiser flag, failed cast, value not allowed) become null and add
    ``"<column>:<rule>"`` to ``_dq_flags``; the record is kept. Missing values (null, blank or a
    placeholder in the source) follow ``missing``: ``keep`` (null), ``default`` (the constant
    ``default``) or ``median``/``mean`` of the valid values of the same source in the same run
    (numeric columns only); imputed values are flagged ``<column>:imputed.<policy>``. Invalid
    values are never imputed: their flag is the evidence.
    """

    expr: str = Field(min_length=1)
    std: StdSpec | None = None
    allowed: list[str] | None = None
    missing: Literal["keep", "default", "median", "mean"] = "keep"
    default: str | int | float | bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        """``column: some_expr`` is ``{expr: some_expr}``; ``std: email`` is ``{kind: email}``."""
        if isinstance(data, str):
            return {"expr": data}
        if isinstance(data, dict) and isinstance(data.get("std"), str):
            return {**data, "std": {"kind": data["std"]}}
        return data

    @model_validator(mode="after")
    def _default_given(self) -> FieldSpec:
        if self.missing == "default" and self.default is None:
            raise ValueError("missing: default needs a 'default' value")
        if self.missing != "default" and self.default is not None:
            raise ValueError("'default' is only used with missing: default")
        return self


class RejectRule(StrictModel):
    """Reject a bronze row when ``when`` (SQL over bronze columns) is true, with rule ``name``."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_.]*$")
    when: str = Field(min_length=1)


class LinesMapping(StrictModel):
    """Order lines: ``explode`` is SQL giving an array; each element is ``item`` in ``fields``."""

    target: str = S.ORDER_LINES
    explode: str = Field(min_length=1)
    fields: dict[str, FieldSpec] = Field(default_factory=dict)

    @field_validator("target")
    @classmethod
    def _lines_table(cls, value: str) -> str:
        if value != S.ORDER_LINES:
            raise ValueError(f"order lines go to {S.ORDER_LINES}, got {value!r}")
        return value


class SourceMapping(StrictModel):
    """One file of ``conf/mappings/``; see the module docstring."""

    source: str | None = None
    target: str
    description: str = ""
    natural_key: list[str] = Field(min_length=1)
    event_time: FieldSpec
    channel: str = Field(min_length=1)
    version_by: str | None = None
    fields: dict[str, FieldSpec] = Field(default_factory=dict)
    identifiers: dict[IdType, FieldSpec] = Field(default_factory=dict)
    properties: dict[str, str] = Field(default_factory=dict)
    reject_when: list[RejectRule] = Field(default_factory=list)
    lines: LinesMapping | None = None

    @field_validator("target")
    @classmethod
    def _mappable(cls, value: str) -> str:
        if value not in S.MAPPABLE_TABLES:
            close = difflib.get_close_matches(value, S.MAPPABLE_TABLES, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(
                f"not a mappable silver table; {hint}expected one of {', '.join(S.MAPPABLE_TABLES)}"
            )
        return value

    def semantic_problems(self) -> list[tuple[str, str]]:
        """(key, problem) pairs pydantic cannot see: columns of the target, types, sections."""
        problems: list[tuple[str, str]] = []
        columns = S.business_fields(self.target)
        for name, spec in self.fields.items():
            problems.extend(_field_problems(f"fields.{name}", name, spec, columns, self.target))
        if self.properties and S.PROPERTIES not in columns:
            problems.append(("properties", f"{self.target} has no properties column"))
        if S.PROPERTIES in self.fields:
            problems.append((f"fields.{S.PROPERTIES}", "fill properties in the 'properties' section"))
        bad_props = [k for k in self.properties if not _SQL_NAME.match(k)]
        if bad_props:
            problems.append(("properties", f"keys must be lower_snake_case, got {bad_props}"))
        if self.version_by is not None:
            if self.version_by not in self.fields:
                problems.append(
                    ("version_by", f"names no mapped field; mapped fields: {', '.join(self.fields)}")
                )
            elif not isinstance(
                columns.get(self.version_by), (TimestampType, DateType, LongType, IntegerType)
            ):
                problems.append(("version_by", "must name a timestamp, date or integer column"))
        if self.event_time.missing != "keep":
            problems.append(
                ("event_time.missing", "an event time is never imputed; missing ones are rejected")
            )
        if self.event_time.std is not None and self.event_time.std.kind not in ("timestamp", "date"):
            problems.append(("event_time.std", "must be timestamp or date"))
        if self.lines is not None:
            if self.target != S.ORDERS:
                problems.append(("lines", "only an orders mapping has lines"))
            line_columns = S.business_fields(S.ORDER_LINES)
            for name, spec in self.lines.fields.items():
                problems.extend(
                    _field_problems(f"lines.fields.{name}", name, spec, line_columns, S.ORDER_LINES)
                )
        for id_type, spec in self.identifiers.items():
            if spec.missing != "keep":
                problems.append((f"identifiers.{id_type}.missing", "identifiers are never imputed"))
        names = [r.name for r in self.reject_when]
        if len(set(names)) != len(names):
            problems.append(("reject_when", f"rule names must be unique, got {names}"))
        return problems


_NUMERIC = (DoubleType, DecimalType, LongType, IntegerType)


def _field_problems(
    key: str, name: str, spec: FieldSpec, columns: Mapping[str, Any], table: str
) -> list[tuple[str, str]]:
    if name not in columns:
        hint = difflib.get_close_matches(name, list(columns), n=1)
        fix = f"did you mean '{hint[0]}'?" if hint else f"columns: {', '.join(columns)}"
        return [(key, f"not a column of {table}; {fix}")]
    problems = []
    if spec.missing in ("median", "mean") and not isinstance(columns[name], _NUMERIC):
        problems.append(
            (
                f"{key}.missing",
                f"{spec.missing} needs a numeric column, {name} is {columns[name].simpleString()}",
            )
        )
    return problems


# --------------------------------------------------------------------------- loading


def _format_pydantic(filename: str, err: ValidationError) -> list[str]:
    problems = []
    for item in err.errors(include_url=False):
        loc = [str(p) for p in item["loc"]]
        # Discriminated unions add the tag to the location (std.phone.region): drop it.
        loc = [p for i, p in enumerate(loc) if not (i > 0 and loc[i - 1] == "std" and p in _STD_MODELS)]
        is_key = bool(loc) and loc[-1] == "[key]"
        loc = loc[:-1] if is_key else loc
        where = ".".join(loc) or "(top level)"
        kind = item["type"]
        if is_key and loc[:1] == ["identifiers"]:
            hint = difflib.get_close_matches(str(item.get("input")), S.ID_TYPES, n=1)
            fix = f"did you mean '{hint[0]}'?" if hint else f"known: {', '.join(S.ID_TYPES)}"
            problems.append(f"{filename}: {where}: unknown identifier type; {fix}")
        elif kind == "extra_forbidden":
            allowed = _allowed_keys(item["loc"][:-1])
            hint = difflib.get_close_matches(str(item["loc"][-1]), allowed, n=1)
            fix = f"did you mean '{hint[0]}'?" if hint else f"allowed keys: {', '.join(sorted(allowed))}"
            problems.append(f"{filename}: {where}: unknown key; {fix}")
        elif kind == "missing":
            problems.append(f"{filename}: {where}: required key is missing")
        elif kind == "union_tag_invalid":
            tag = item.get("ctx", {}).get("tag")
            hint = difflib.get_close_matches(str(tag), STD_KINDS, n=1)
            fix = f"did you mean '{hint[0]}'?" if hint else f"known: {', '.join(STD_KINDS)}"
            problems.append(f"{filename}: {where}: unknown standardiser '{tag}'; {fix}")
        else:
            msg = item["msg"].removeprefix("Value error, ")
            value = item.get("input")
            shown = repr(value) if not isinstance(value, str) else f'"{value}"'
            shown = shown if len(shown) <= 80 else shown[:77] + "..."
            problems.append(f"{filename}: {where}: {msg}, got {shown}")
    return problems


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """Keys allowed at ``loc`` (walks the models; dict keys and union tags are skipped)."""
    model: Any = SourceMapping
    parts = list(loc)
    i = 0
    while i < len(parts):
        part = parts[i]
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            return []
        if part == "std":
            tag = parts[i + 1] if i + 1 < len(parts) else None
            model = _STD_MODELS.get(str(tag))
            i += 2
            continue
        if part in ("fields", "identifiers"):
            model, i = FieldSpec, i + 2
            continue
        annotation = fields[part].annotation
        model = {"event_time": FieldSpec, "lines": LinesMapping, "reject_when": RejectRule}.get(
            part, annotation
        )
        i += 2 if part == "reject_when" else 1
    fields = getattr(model, "model_fields", None)
    return list(fields) if fields else []


def load_mapping_file(path: Path, label: str | None = None) -> tuple[SourceMapping | None, list[str]]:
    """One mapping file: the model (or None) and every problem as ``file: key: problem``."""
    label = label or str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return None, [f"{label}: cannot be read ({exc.strerror})"]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return None, [f"{label}: is not valid YAML{where}: {getattr(exc, 'problem', exc)}"]
    if not isinstance(data, dict):
        return None, [f"{label}: expected a mapping of keys at the top level, got {type(data).__name__}"]
    data.setdefault("source", path.stem)
    try:
        mapping = SourceMapping.model_validate(data)
    except ValidationError as exc:
        return None, _format_pydantic(label, exc)
    problems = [f"{label}: {key}: {msg}" for key, msg in mapping.semantic_problems()]
    if mapping.source != path.stem:
        problems.append(
            f"{label}: source: must match the file name ('{path.stem}'), got \"{mapping.source}\""
        )
    return (None if problems else mapping), problems


def load_mappings(
    folder: Path, *, known_sources: set[str] | None = None
) -> tuple[dict[str, SourceMapping], list[str]]:
    """Every ``*.yaml`` of ``folder`` by source name, and all problems of all files."""
    mappings: dict[str, SourceMapping] = {}
    problems: list[str] = []
    if not folder.is_dir():
        return mappings, problems
    for path in sorted(folder.glob("*.yaml")):
        label = str(path)
        mapping, found = load_mapping_file(path, label)
        problems.extend(found)
        if mapping is None:
            continue
        if known_sources is not None and path.stem not in known_sources:
            hint = difflib.get_close_matches(path.stem, sorted(known_sources), n=1)
            fix = f"did you mean '{hint[0]}'?" if hint else f"sources: {', '.join(sorted(known_sources))}"
            problems.append(f"{label}: source: no source '{path.stem}' in sources.yaml; {fix}")
            continue
        mappings[path.stem] = mapping
    return mappings, problems


def mappings_dir(conf_dir: Path | None) -> Path:
    """``<conf dir>/mappings``; without a config file, ``./conf/mappings``."""
    return (conf_dir if conf_dir is not None else Path("conf")) / MAPPINGS_DIR


def require_mappings(folder: Path, *, known_sources: set[str] | None = None) -> dict[str, SourceMapping]:
    """:func:`load_mappings` that raises :class:`ConfigError` listing every problem."""
    mappings, problems = load_mappings(folder, known_sources=known_sources)
    if problems:
        raise ConfigError(problems)
    if not mappings:
        log.warning("no mappings found in %s; the cleanse stage has nothing to do", folder)
    return mappings
