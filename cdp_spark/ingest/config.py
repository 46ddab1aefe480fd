"""``conf/sources.yaml``: what each landing source looks like.

Field types are Spark DDL strings (``string``, ``bigint``, ``array<struct<sku:string>>``).
They are parsed here in pure Python, so ``cdp-spark validate`` catches a typo such as
``strnig`` without starting a JVM.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    ByteType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    MapType,
    ShortType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from cdp_spark.catalog import PiiKind
from cdp_spark.config import DomainFile, StrictModel, register_domain_file

_PRIMITIVES: dict[str, DataType] = {
    "string": StringType(),
    "bigint": LongType(),
    "long": LongType(),
    "int": IntegerType(),
    "integer": IntegerType(),
    "smallint": ShortType(),
    "tinyint": ByteType(),
    "double": DoubleType(),
    "float": FloatType(),
    "boolean": BooleanType(),
    "date": DateType(),
    "timestamp": TimestampType(),
    "binary": BinaryType(),
}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_ddl_type(text: str) -> DataType:
    """Parse a Spark DDL type string; raises ValueError naming the position of the problem."""
    parser = _DdlParser(text)
    dtype = parser.type()
    parser.skip_ws()
    if parser.pos != len(text):
        raise ValueError(f"unexpected {text[parser.pos :]!r} after a complete type in {text!r}")
    return dtype


class _DdlParser:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def expect(self, char: str) -> None:
        self.skip_ws()
        if not self.text.startswith(char, self.pos):
            raise ValueError(f"expected {char!r} at position {self.pos} of {self.text!r}")
        self.pos += len(char)

    def name(self) -> str:
        self.skip_ws()
        match = _NAME.match(self.text, self.pos)
        if not match:
            raise ValueError(f"expected a name at position {self.pos} of {self.text!r}")
        self.pos = match.end()
        return match.group(0)

    def type(self) -> DataType:
        word = self.name().lower()
        if word == "array":
            self.expect("<")
            element = self.type()
            self.expect(">")
            return ArrayType(element)
        if word == "map":
            self.expect("<")
            key = self.type()
            self.expect(",")
            value = self.type()
            self.expect(">")
            return MapType(key, value)
        if word == "struct":
            self.expect("<")
            fields = []
            while True:
                field_name = self.name()
                self.expect(":")
                fields.append(StructField(field_name, self.type(), True))
                self.skip_ws()
                if self.text.startswith(",", self.pos):
                    self.pos += 1
                    continue
                break
            self.expect(">")
            return StructType(fields)
        if word == "decimal":
            self.expect("(")
            precision = int(self.name_digits())
            self.expect(",")
            scale = int(self.name_digits())
            self.expect(")")
            return DecimalType(precision, scale)
        if word in _PRIMITIVES:
            return _PRIMITIVES[word]
        raise ValueError(
            f"unknown type {word!r} in {self.text!r}; known: {', '.join(sorted(_PRIMITIVES))}, "
            "array<...>, map<...,...>, struct<...>, decimal(p,s)"
        )

    def name_digits(self) -> str:
        self.skip_ws()
        match = re.compile(r"\d+").match(self.text, self.pos)
        if not match:
            raise ValueError(f"expected a number at position {self.pos} of {self.text!r}")
        self.pos = match.end()
        return match.group(0)


class CsvOptions(StrictModel):
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    header: Literal[True] = True
    quote: str = Field(default='"', min_length=1, max_length=1)


class SourceConfig(StrictModel):
    """One landing source: ``landing/<path>/<YYYY-MM-DD>/*.<extension>``."""

    format: Literal["jsonl", "csv"]
    path: str | None = None
    extension: str | None = None
    channel: str
    description: str = ""
    record_key: str
    event_time: str | None = None
    pii: dict[str, PiiKind] = Field(default_factory=dict)
    csv: CsvOptions = Field(default_factory=CsvOptions)
    fields: dict[str, str]

    @field_validator("pii", mode="before")
    @classmethod
    def _pii_has_kinds(cls, value: object) -> object:
        if isinstance(value, list):
            raise ValueError(
                "pii maps each field to the kind of personal data it holds, e.g. "
                "{email: email, member_id: identifier}; a list of names gives no kind"
            )
        return value

    @field_validator("fields")
    @classmethod
    def _types_parse(cls, value: dict[str, str]) -> dict[str, str]:
        problems = []
        for name, ddl in value.items():
            try:
                parse_ddl_type(ddl)
            except ValueError as exc:
                problems.append(f"{name}: {exc}")
        if problems:
            raise ValueError("; ".join(problems))
        if not value:
            raise ValueError("declare at least one field")
        return value

    @model_validator(mode="after")
    def _keys_are_fields(self) -> SourceConfig:
        missing = [k for k in [self.record_key, self.event_time, *self.pii] if k and k not in self.fields]
        if missing:
            raise ValueError(
                f"record_key/event_time/pii name undeclared fields {missing}; add them under fields"
            )
        return self

    def spark_schema(self) -> StructType:
        return StructType([StructField(n, parse_ddl_type(t), True) for n, t in self.fields.items()])


class SourcesConfig(StrictModel):
    """``conf/sources.yaml``."""

    landing_subdir: str = "landing"
    sources: dict[str, SourceConfig] = Field(default_factory=dict)

    @field_validator("sources")
    @classmethod
    def _names(cls, value: dict[str, SourceConfig]) -> dict[str, SourceConfig]:
        bad = [n for n in value if not re.fullmatch(r"[a-z][a-z0-9_]*", n)]
        if bad:
            raise ValueError(f"source names must be lower_snake_case (they become table names), got {bad}")
        return value


register_domain_file(DomainFile("sources.yaml", SourcesConfig))
