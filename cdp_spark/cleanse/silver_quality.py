"""``conf/quality.yaml``: data-quality thresholds for silver, and the gate that applies them.

A rule matches metrics rows of ``silver.dq_metrics`` by table, source and column (``*`` matches
anything) and sets limits; a breach is a warning or, with ``action: fail``, fails the run with
:class:`~cdp_spark.errors.QualityGateError`. The cleanse stage writes ``silver.dq_metrics``
first and evaluates the gate *before* merging anything into silver tables, so a failed gate
keeps its evidence and publishes nothing.

Registered as a domain file whose cross-file check also validates ``conf/mappings/*.yaml``, so
``cdp-spark validate`` covers the mappings (see :mod:`cdp_spark.cleanse.mapping`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from cdp_spark.config import Config, DomainFile, StrictModel, register_domain_file

QUALITY_FILE = "quality.yaml"


class QualityRule(StrictModel):
    """Limits for the metrics rows it matches; glob patterns allowed (``silver.*``, ``identifiers.*``)."""

    table: str = "*"
    source: str = "*"
    column: str = "*"
    max_null_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    min_validity_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    max_rejected_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    max_quarantined_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    min_rows: int | None = Field(default=None, ge=0)
    # Rates over fewer rows than this are not judged: 1 bad line in 4 is noise, not a broken feed.
    min_sample: int = Field(default=0, ge=0)
    action: Literal["warn", "fail"] = "warn"

    @model_validator(mode="after")
    def _has_limit(self) -> QualityRule:
        limits = (
            self.max_null_rate,
            self.min_validity_rate,
            self.max_rejected_rate,
            self.max_quarantined_rate,
            self.min_rows,
        )
        if all(v is None for v in limits):
            raise ValueError(
                "a rule needs at least one limit: max_null_rate, min_validity_rate, max_rejected_rate, "
                "max_quarantined_rate or min_rows"
            )
        return self


class QualityConfig(StrictModel):
    """``conf/quality.yaml``."""

    rules: list[QualityRule] = Field(default_factory=list)


@dataclass(frozen=True)
class Breach:
    """One rule broken by one metrics row."""

    action: str
    source: str
    table: str
    column: str
    metric: str
    value: float
    limit: float

    def describe(self) -> str:
        op = "<" if self.metric.startswith("min_") else ">"
        return (
            f"{self.table} {self.source} {self.column}: {self.metric.removeprefix('max_').removeprefix('min_')} "
            f"{self.value:.4g} {op} limit {self.limit:g}"
        )


def _matches(rule: QualityRule, row: Mapping[str, Any]) -> bool:
    return (
        fnmatch.fnmatchcase(str(row["table"]), rule.table)
        and fnmatch.fnmatchcase(str(row["source"]), rule.source)
        and fnmatch.fnmatchcase(str(row["column"]), rule.column)
    )


def evaluate(rules: Iterable[QualityRule], metrics: Iterable[Mapping[str, Any]]) -> list[Breach]:
    """Every breach of every rule over dq metrics rows (dicts with the dq_metrics columns).

    Column-level limits (null, validity) apply to column rows; table-level limits (rejected,
    quarantined, rows) to the ``column = '*'`` row. Rates of tables without rows are not judged.
    """
    breaches: list[Breach] = []
    rows = list(metrics)
    for rule in rules:
        for row in rows:
            is_table_row = row["column"] == "*"
            if rule.column != "*" and is_table_row:
                continue
            if not _matches(rule, row):
                continue
            key = (row["source"], row["table"], row["column"])
            checks: list[tuple[str, float | None, float | None, bool]] = []
            if is_table_row:
                seen = (row.get("bronze_rows") or 0) + (row.get("quarantined") or 0)
                rejected = (row.get("rejected") or 0) / row["bronze_rows"] if row.get("bronze_rows") else None
                quarantined = (row.get("quarantined") or 0) / seen if seen else None
                checks += [
                    ("max_rejected_rate", rejected, rule.max_rejected_rate, True),
                    ("max_quarantined_rate", quarantined, rule.max_quarantined_rate, True),
                    (
                        "min_rows",
                        float(row.get("rows") or 0),
                        None if rule.min_rows is None else float(rule.min_rows),
                        False,
                    ),
                ]
            else:
                checks += [
                    ("max_null_rate", row.get("null_rate"), rule.max_null_rate, True),
                    ("min_validity_rate", row.get("validity_rate"), rule.min_validity_rate, False),
                ]
            sample = (
                (row.get("bronze_rows") or 0) + (row.get("quarantined") or 0)
                if is_table_row
                else row.get("rows") or 0
            )
            for metric, value, limit, is_max in checks:
                if value is None or limit is None:
                    continue
                if metric != "min_rows" and sample < rule.min_sample:
                    continue
                if (is_max and value > limit) or (not is_max and value < limit):
                    breaches.append(
                        Breach(rule.action, key[0], key[1], key[2], metric, float(value), float(limit))
                    )
    return breaches


def _check_mappings(model: BaseModel, config: Config) -> list[str]:
    """Cross-file check run by ``load_config``: every mapping file valid, sources known."""
    from cdp_spark.cleanse.mapping import load_mappings, mappings_dir

    del model
    if config.conf_dir is None:
        return []
    known: set[str] | None = None
    if "sources.yaml" in config.domains:
        known = set(getattr(config.domains["sources.yaml"], "sources", {}))
    _, problems = load_mappings(mappings_dir(config.conf_dir), known_sources=known)
    return problems


register_domain_file(DomainFile(QUALITY_FILE, QualityConfig, check=_check_mappings))
