"""``conf/identity.yaml``: which identifiers link, the guards, per-person limits and the gate.

Why every threshold lives here: the values that decide whether two customers become one
(junk lists, frequency caps, per-type limits, gate sizes) differ per business and per market,
and a change to them must be reviewable in version control rather than hidden in code.
The models are strict (``extra="forbid"``), so ``max_per_persn:`` fails on load, and the
cross-field checks (every type named anywhere must be a declared identifier type) report all
problems at once.

Defaults equal ``conf/identity.yaml``, so a workspace without the file behaves the same.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from cdp_spark.cleanse.silver_schema import ID_TYPES
from cdp_spark.config import DomainFile, StrictModel, register_domain_file

IDENTITY_FILE = "identity.yaml"
ANY_TYPE = "*"

# One list of identifier types for the whole product: the silver contract owns it.
DEFAULT_ID_TYPES: tuple[str, ...] = ID_TYPES


class LinkRule(StrictModel):
    """Identifiers of these two types seen in one record are linked, with this trust.

    ``"*"`` stands for any type. The most specific rule wins (an exact pair beats a rule with
    one wildcard, which beats ``["*", "*"]``); among equally specific rules the highest trust
    wins. ``trust: 0`` (or anything below ``min_trust``) means "never link this pair".
    """

    types: tuple[str, str]
    trust: float = Field(ge=0.0, le=1.0)


class BlocklistConfig(StrictModel):
    """Junk identifier values that never enter the graph.

    ``builtin`` enables the built-in rules (empty / ``null`` / ``undefined`` / ``anonymous`` /
    ``-1`` style placeholders, all-zero values, one digit repeated ``min_repeated_digits`` times
    or more, ``test@test.com``-style e-mails, the SHA-256 of an empty string). ``values`` and
    ``patterns`` are keyed by identifier type or ``"*"``; values compare case-insensitively
    after trimming, patterns are Java regular expressions *searched* in the value (anchor them
    with ``^...$`` for a full match).
    """

    builtin: bool = True
    min_repeated_digits: int = Field(default=6, ge=2, le=64)
    values: dict[str, list[str]] = Field(default_factory=dict)
    patterns: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("patterns")
    @classmethod
    def _compile(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        problems = []
        for id_type, patterns in value.items():
            for i, pattern in enumerate(patterns):
                try:
                    re.compile(pattern)
                except re.error as exc:
                    problems.append(f"{id_type}[{i}] {pattern!r} is not a valid regular expression ({exc})")
        if problems:
            raise ValueError("; ".join(problems))
        return value


class FrequencyRule(StrictModel):
    """An identifier of ``id_type`` seen with more than ``max_distinct`` distinct values of
    ``attribute`` (a people-level attribute, another identifier type, or ``record_id``) is junk
    (a shared family e-mail, a shop's phone, a kiosk device) and is cut from the graph."""

    id_type: str
    attribute: str = Field(min_length=1)
    max_distinct: int = Field(ge=1)


def _default_frequency_rules() -> list[FrequencyRule]:
    return [
        FrequencyRule(id_type="email", attribute="given_name", max_distinct=20),
        FrequencyRule(id_type="phone", attribute="given_name", max_distinct=20),
        FrequencyRule(id_type="device_id", attribute="member_id", max_distinct=5),
        FrequencyRule(id_type="cookie", attribute="member_id", max_distinct=5),
    ]


class FrequencyConfig(StrictModel):
    rules: list[FrequencyRule] = Field(default_factory=_default_frequency_rules)


def _default_limits() -> dict[str, int]:
    return {
        "member_id": 1,
        "customer_no": 1,
        "wechat_unionid": 1,
        "loyalty_card": 2,
        "email": 5,
        "email_sha256": 5,
        "phone": 5,
        "wechat_openid": 5,
        "device_id": 10,
        "cookie": 20,
    }


def _default_priority() -> list[str]:
    return [
        "member_id",
        "customer_no",
        "wechat_unionid",
        "loyalty_card",
        "wechat_openid",
        "email",
        "email_sha256",
        "phone",
        "device_id",
        "cookie",
    ]


class LimitsConfig(StrictModel):
    """At most ``max_per_person[type]`` identifiers of a type in one person.

    ``priority`` lists types from most to least trusted; types left out rank after the listed
    ones in ``id_types`` order. When a component would exceed a limit, edges are admitted
    strongest first (priority of the weaker endpoint, then trust, then records seen, then
    recency, then node ids) and an edge that would push its component over a limit is dropped,
    so the lowest-priority, least-seen edges are the ones that go. Changing limits or priority
    changes already-published components only on a ``--full`` run.
    """

    max_per_person: dict[str, int] = Field(default_factory=_default_limits)
    priority: list[str] = Field(default_factory=_default_priority)

    @field_validator("max_per_person")
    @classmethod
    def _positive(cls, value: dict[str, int]) -> dict[str, int]:
        bad = [f"{k}: {v}" for k, v in value.items() if v < 1]
        if bad:
            raise ValueError(f"limits must be >= 1 (remove a type to leave it unlimited): {', '.join(bad)}")
        return value

    @field_validator("priority")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        dupes = sorted({t for t in value if value.count(t) > 1})
        if dupes:
            raise ValueError(f"each type may appear once, repeated: {', '.join(dupes)}")
        return value


class GateConfig(StrictModel):
    """Stop before publishing when a run would over-merge (``--accept-merges`` overrides).

    ``max_component_size``: a person created or changed by this run may hold at most this many
    identifiers. ``max_merge_share``: at most this share of the existing persons may be merged
    away in one run; only checked once there are ``min_persons_for_share`` existing persons, so
    the first small loads are not blocked by percentages of tiny numbers.
    """

    max_component_size: int = Field(default=64, ge=2)
    max_merge_share: float = Field(default=0.05, gt=0.0, le=1.0)
    min_persons_for_share: int = Field(default=100, ge=1)
    report_largest: int = Field(default=20, ge=0, le=10_000)


class Exclusion(StrictModel):
    """An identifier whose edges are removed (it stays as an identifier of its own)."""

    id_type: str
    id_value: str = Field(min_length=1)


def _default_links() -> list[LinkRule]:
    return [
        LinkRule(types=(ANY_TYPE, ANY_TYPE), trust=0.5),
        LinkRule(types=("member_id", ANY_TYPE), trust=1.0),
        LinkRule(types=("customer_no", ANY_TYPE), trust=1.0),
        LinkRule(types=("wechat_unionid", ANY_TYPE), trust=0.9),
        LinkRule(types=("email", "email_sha256"), trust=1.0),
        LinkRule(types=("email", "phone"), trust=0.8),
        LinkRule(types=("cookie", "device_id"), trust=0.6),
    ]


class IdentityConfig(StrictModel):
    """The whole ``identity.yaml``."""

    id_types: list[str] = Field(default_factory=lambda: list(DEFAULT_ID_TYPES), min_length=1)
    anonymous_types: list[str] = Field(default_factory=lambda: ["cookie", "device_id"])
    links: list[LinkRule] = Field(default_factory=_default_links)
    min_trust: float = Field(default=0.0, ge=0.0, le=1.0)
    blocklist: BlocklistConfig = Field(default_factory=BlocklistConfig)
    frequency: FrequencyConfig = Field(default_factory=FrequencyConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    gate: GateConfig = Field(default_factory=GateConfig)
    exclusions: list[Exclusion] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_types(self) -> IdentityConfig:
        known = set(self.id_types)
        problems: list[str] = []

        def check(where: str, id_type: str, *, wildcard: bool = False) -> None:
            if id_type in known or (wildcard and id_type == ANY_TYPE):
                return
            problems.append(
                f"{where}: unknown identifier type {id_type!r} (declared id_types: {', '.join(self.id_types)})"
            )

        for t in self.anonymous_types:
            check("anonymous_types", t)
        for i, rule in enumerate(self.links):
            for t in rule.types:
                check(f"links[{i}].types", t, wildcard=True)
        for t in self.blocklist.values:
            check("blocklist.values", t, wildcard=True)
        for t in self.blocklist.patterns:
            check("blocklist.patterns", t, wildcard=True)
        for i, fr in enumerate(self.frequency.rules):
            check(f"frequency.rules[{i}].id_type", fr.id_type)
        for t in self.limits.max_per_person:
            check("limits.max_per_person", t)
        for t in self.limits.priority:
            check("limits.priority", t)
        for i, ex in enumerate(self.exclusions):
            check(f"exclusions[{i}].id_type", ex.id_type)
        exact = [tuple(sorted(r.types)) for r in self.links if ANY_TYPE not in r.types]
        dupes = sorted({p for p in exact if exact.count(p) > 1})
        if dupes:
            problems.append(f"links: pair(s) listed more than once: {', '.join('/'.join(p) for p in dupes)}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # ---- derived views used by the transforms

    def pair_trust(self) -> dict[tuple[str, str], float]:
        """Trust per linked type pair (sorted pair as key); pairs that never link are absent."""
        out: dict[tuple[str, str], float] = {}
        types = sorted(set(self.id_types))
        for i, a in enumerate(types):
            for b in types[i + 1 :]:
                best: tuple[int, float] | None = None
                for rule in self.links:
                    x, y = rule.types
                    if not ((_matches(x, a) and _matches(y, b)) or (_matches(x, b) and _matches(y, a))):
                        continue
                    specificity = (x != ANY_TYPE) + (y != ANY_TYPE)
                    if best is None or (specificity, rule.trust) > best:
                        best = (specificity, rule.trust)
                if best is not None and best[1] > 0 and best[1] >= self.min_trust:
                    out[(a, b)] = best[1]
        return out

    def priority_rank(self) -> dict[str, int]:
        """0 = most trusted type; types missing from ``limits.priority`` rank last, in order."""
        ordered = [t for t in self.limits.priority if t in self.id_types]
        ordered += [t for t in self.id_types if t not in ordered]
        return {t: i for i, t in enumerate(ordered)}


def _matches(pattern: str, id_type: str) -> bool:
    return pattern in (ANY_TYPE, id_type)


def identity_config(config: Any) -> IdentityConfig:
    """The validated ``identity.yaml`` of a :class:`cdp_spark.config.Config` (defaults if absent)."""
    model = config.domain(IDENTITY_FILE)
    if not isinstance(model, IdentityConfig):  # pragma: no cover - registration guarantees it
        raise TypeError(f"{IDENTITY_FILE} is registered with {type(model).__name__}, expected IdentityConfig")
    return model


register_domain_file(DomainFile(IDENTITY_FILE, IdentityConfig))
