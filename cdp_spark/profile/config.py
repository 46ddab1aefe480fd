"""``conf/profile.yaml``: survivorship, currency, windows, RFM and lifecycle thresholds.

Why config and not code: which source wins a customer's name, what counts as "at risk" and
which currency revenue is reported in are business decisions that differ per company and
change after review; they belong in version-controlled YAML next to the identity rules.
Defaults equal ``conf/profile.yaml``, so a workspace without the file behaves the same.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from cdp_spark.config import DomainFile, StrictModel, register_domain_file
from cdp_spark.identity.config import DEFAULT_ID_TYPES

PROFILE_FILE = "profile.yaml"

#: Attribute groups of the golden record, each with its own survivorship rule.
ATTRIBUTE_GROUPS: tuple[str, ...] = ("name", "gender", "birth_date", "address", "email", "phone")
Rule = Literal["source_priority", "most_recent", "most_frequent", "first_non_null"]
MergeMode = Literal["auto", "merge", "again"]


class Survivorship(StrictModel):
    """How one attribute group picks its value among all candidates of a person.

    ``source_priority``: the first source of ``sources`` that has a value wins (ties inside a
    source: most recent); sources left out rank after the listed ones, most recent first.
    ``most_recent``: the value seen last. ``most_frequent``: the value seen in most records
    (ties: most recent). ``first_non_null``: the value seen first. Every rule breaks remaining
    ties by source name and value, so the winner never depends on row order.
    """

    rule: Rule = "most_recent"
    sources: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _sources_only_for_priority(self) -> Survivorship:
        if self.sources and self.rule != "source_priority":
            raise ValueError(
                f"sources are only used by rule 'source_priority', not {self.rule!r}; remove them"
            )
        if self.rule == "source_priority" and not self.sources:
            raise ValueError("rule 'source_priority' needs a non-empty sources list, e.g. [crm, orders]")
        return self


def _default_survivorship() -> dict[str, Survivorship]:
    return {
        "name": Survivorship(rule="source_priority", sources=["crm", "orders", "support"]),
        "gender": Survivorship(rule="most_frequent"),
        "birth_date": Survivorship(rule="source_priority", sources=["crm"]),
        "address": Survivorship(rule="most_recent"),
        "email": Survivorship(rule="most_frequent"),
        "phone": Survivorship(rule="most_recent"),
    }


class Lifecycle(StrictModel):
    """Acquisition → growth → maturity → decline → win-back, as thresholds in days.

    prospect: no order. lapsed: no order for ``lapsed_days``. at_risk: silent for longer than
    ``at_risk_factor`` × the person's own repurchase cycle (``default_cycle_days`` while
    there is only one order). new: exactly one order. loyal: at least ``loyal_min_orders``
    orders. active: any other repeat buyer.
    """

    at_risk_factor: float = Field(default=2.0, gt=1.0)
    default_cycle_days: int = Field(default=60, ge=1)
    lapsed_days: int = Field(default=365, ge=1)
    loyal_min_orders: int = Field(default=4, ge=2)


class ProfileConfig(StrictModel):
    """The validated ``profile.yaml``."""

    reporting_currency: str = "EUR"
    fx_rates: dict[str, float] = Field(
        default_factory=lambda: {"CNY": 0.128, "USD": 0.92, "GBP": 1.17, "CHF": 1.05, "HKD": 0.118}
    )
    #: Revenue counts orders in these statuses (cancelled and returned orders do not).
    revenue_statuses: list[str] = Field(default_factory=lambda: ["paid", "shipped"])
    #: Which identifier of a record keys its daily rollup; the first type present wins.
    anchor_priority: list[str] = Field(
        default_factory=lambda: [
            "member_id",
            "customer_no",
            "loyalty_card",
            "wechat_unionid",
            "phone",
            "email",
            "email_sha256",
            "wechat_openid",
            "device_id",
            "cookie",
        ]
    )
    #: Identifier types that make a person "known" (the rest, cookies and devices, are anonymous).
    known_id_types: list[str] = Field(
        default_factory=lambda: [
            "member_id",
            "customer_no",
            "loyalty_card",
            "email",
            "email_sha256",
            "phone",
            "wechat_unionid",
            "wechat_openid",
        ]
    )
    survivorship: dict[str, Survivorship] = Field(default_factory=_default_survivorship)
    #: Behaviour windows in days; each becomes a struct column ``last_<n>d`` on the profile.
    windows: list[int] = Field(default_factory=lambda: [7, 30, 90, 365])
    session_gap_minutes: int = Field(default=30, ge=1)
    lifecycle: Lifecycle = Field(default_factory=Lifecycle)
    #: How a night treats persons whose only changes are new rows (and new identifiers without
    #: history, and subtractable rows on days that left a window): ``merge`` them into the
    #: stored row, aggregate them ``again`` with the persons that are aggregated again anyway,
    #: or ``auto``: merge when the history is deep (``incremental.MERGE_MIN_ROWS_PER_PERSON``
    #: rollup rows per person) and they are at least as many as those. All give the same
    #: profiles; only the cost differs (see ``incremental.merge_pays``).
    merge_new_rows: MergeMode = "auto"

    @field_validator("reporting_currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        code = value.strip().upper()
        if len(code) != 3 or not code.isalpha():
            raise ValueError(f"expected an ISO 4217 code such as EUR or CNY, got {value!r}")
        return code

    @field_validator("fx_rates")
    @classmethod
    def _rates(cls, value: dict[str, float]) -> dict[str, float]:
        out = {}
        for code, rate in value.items():
            if not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0):
                raise ValueError(f"rate for {code!r} must be a positive number, got {rate!r}")
            out[code.strip().upper()] = float(rate)
        return out

    @field_validator("windows")
    @classmethod
    def _windows(cls, value: list[int]) -> list[int]:
        if any(w < 1 or w > 3660 for w in value):
            raise ValueError(f"window lengths are days between 1 and 3660, got {value}")
        return sorted(set(value))

    @model_validator(mode="after")
    def _known_names(self) -> ProfileConfig:
        problems = []
        unknown_groups = sorted(set(self.survivorship) - set(ATTRIBUTE_GROUPS))
        if unknown_groups:
            problems.append(
                f"survivorship: unknown group(s) {unknown_groups}; groups are {list(ATTRIBUTE_GROUPS)}"
            )
        for key in ("anchor_priority", "known_id_types"):
            bad = [t for t in getattr(self, key) if t not in DEFAULT_ID_TYPES]
            if bad:
                problems.append(
                    f"{key}: unknown identifier type(s) {bad}; types are {list(DEFAULT_ID_TYPES)}"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def rule_for(self, group: str) -> Survivorship:
        return self.survivorship.get(group) or _default_survivorship()[group]

    @staticmethod
    def window_column(days: int) -> str:
        return f"last_{days}d"


def profile_config(config: Any) -> ProfileConfig:
    """The validated ``profile.yaml`` of a :class:`cdp_spark.config.Config` (defaults if absent)."""
    model = config.domain(PROFILE_FILE)
    if not isinstance(model, ProfileConfig):  # pragma: no cover - registration guarantees it
        raise TypeError(f"{PROFILE_FILE} is registered with {type(model).__name__}, expected ProfileConfig")
    return model


register_domain_file(DomainFile(PROFILE_FILE, ProfileConfig))
