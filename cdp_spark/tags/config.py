"""``conf/tags.yaml``: tags declared as Spark SQL over ``gold.profiles``, not coded.

Why declarative: which customers count as "high value" or "interested in Antarctica" is a
marketing decision that changes weekly; a new tag must be a reviewed line of YAML, not a
code change and a release. A tag is a name, a description, a category, a type and one Spark
SQL expression over the profile's columns, including the behaviour windows (``last_30d``
...), e.g. ``size(filter(last_30d.search_terms, t -> t rlike '(?i)南极|antarctic')) >= 2``.

Validation happens in two places, both reporting every problem at once, each naming the file
and the tag:

* on load (``cdp-spark validate``, no Spark): the model (names, categories, types) and
  :func:`static_problems` (duplicate names, windows that ``profile.yaml`` does not declare,
  functions whose value changes between reruns);
* at the start of the ``tags`` stage: :func:`cdp_spark.tags.engine.validate_tags` additionally
  analyses every expression against an empty DataFrame with the profile schema (column typos,
  type errors, SQL syntax), so nothing is written when a definition is wrong.

Defaults equal ``conf/tags.yaml``, so a workspace without the file behaves the same.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from cdp_spark.config import Config, DomainFile, StrictModel, register_domain_file

TAGS_FILE = "tags.yaml"

TagCategory = Literal["demographic", "value", "lifecycle", "behaviour", "interest", "predictive"]
TagType = Literal["boolean", "categorical", "score"]

_NAME_RE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
_WINDOW_RE = re.compile(r"(?<![A-Za-z0-9_])last_(\d+)d(?![A-Za-z0-9_])", re.IGNORECASE)
_STRING_RE = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
# Functions whose value depends on when or where a query runs: a rerun of a date would give
# different tags. ``unix_timestamp()`` only without arguments (with one it is a conversion).
_UNREPRODUCIBLE_RE = re.compile(
    r"(?<![A-Za-z0-9_.`])(?:(?P<call>rand|randn|random|uuid|shuffle|now|curdate|monotonically_increasing_id|"
    r"spark_partition_id|input_file_name|input_file_block_start|input_file_block_length)\s*\(|"
    r"(?P<bare>current_date|current_timestamp|localtimestamp)(?![A-Za-z0-9_`])|"
    r"(?P<unix>unix_timestamp)\s*\(\s*\))",
    re.IGNORECASE,
)


class TagDefinition(StrictModel):
    """One tag: what it means (``description``) and how it is computed (``expr``).

    ``type`` decides how the expression's value becomes a row of ``gold.tags``: ``boolean``
    emits ``"true"`` for persons where the expression is true (false and null emit nothing),
    ``categorical`` emits the value as text when it is not null, ``score`` emits the number as
    text (up to 4 decimals, no exponent) when it is a finite number.
    """

    name: str
    description: str = Field(min_length=1)
    category: TagCategory
    type: TagType
    expr: str = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _lower_snake(cls, value: str) -> str:
        if not _NAME_RE.match(value) or len(value) > 64:
            raise ValueError(
                "expected a lower_snake_case name of at most 64 characters (a-z, 0-9 and single "
                "underscores, starting with a letter), e.g. high_value"
            )
        return value


def _default_tags() -> list[TagDefinition]:
    return [TagDefinition.model_validate(t) for t in DEFAULT_TAGS]


class TagsConfig(StrictModel):
    """The whole ``tags.yaml``: a list of tag definitions, evaluated in one pass per run."""

    tags: list[TagDefinition] = Field(default_factory=_default_tags)


# The default tags (kept equal to conf/tags.yaml by a test). Money is in the reporting
# currency of profile.yaml (EUR by default); RFM scores are quintiles, 5 = best.
DEFAULT_TAGS: tuple[dict[str, str], ...] = (
    # ---- general
    {
        "name": "high_value",
        "description": "Top two monetary quintiles among buyers (RFM m_score 4-5).",
        "category": "value",
        "type": "boolean",
        "expr": "m_score >= 4",
    },
    {
        "name": "rfm_segment",
        "description": "Standard RFM segment name (champions, loyal customers, at risk ...).",
        "category": "value",
        "type": "categorical",
        "expr": "rfm_segment",
    },
    {
        "name": "avg_order_value",
        "description": "Average order value in the reporting currency.",
        "category": "value",
        "type": "score",
        "expr": "avg_order_value",
    },
    {
        "name": "lifecycle_stage",
        "description": "Lifecycle stage: prospect, new, active, loyal, at_risk or lapsed.",
        "category": "lifecycle",
        "type": "categorical",
        "expr": "lifecycle_stage",
    },
    {
        "name": "churn_risk",
        "description": "Repeat buyer going quiet: at_risk stage, or active/loyal in the lowest two recency quintiles.",
        "category": "predictive",
        "type": "boolean",
        "expr": "lifecycle_stage = 'at_risk' OR (lifecycle_stage IN ('active', 'loyal') AND r_score <= 2)",
    },
    {
        "name": "email_engaged",
        "description": "Opened or clicked a marketing e-mail in the last 90 days.",
        "category": "behaviour",
        "type": "boolean",
        "expr": "last_90d.event_counts['open'] > 0 OR last_90d.event_counts['click'] > 0",
    },
    {
        "name": "email_contactable",
        "description": "Has an e-mail address and an e-mail marketing consent that is granted.",
        "category": "demographic",
        "type": "boolean",
        "expr": "email IS NOT NULL AND consent['email'] = 'granted'",
    },
    {
        "name": "wechat_follower",
        "description": "Currently follows the WeChat official account.",
        "category": "behaviour",
        "type": "boolean",
        "expr": "wechat_following",
    },
    {
        "name": "top_category",
        "description": "Product category with the highest spend.",
        "category": "interest",
        "type": "categorical",
        "expr": "try_element_at(top_categories, 1)",
    },
    {
        "name": "age_band",
        "description": "Age band from the golden birth date.",
        "category": "demographic",
        "type": "categorical",
        "expr": (
            "CASE WHEN age IS NULL OR age < 0 THEN NULL WHEN age < 18 THEN 'under_18' "
            "WHEN age < 25 THEN '18_24' WHEN age < 35 THEN '25_34' WHEN age < 45 THEN '35_44' "
            "WHEN age < 55 THEN '45_54' WHEN age < 65 THEN '55_64' ELSE '65_plus' END"
        ),
    },
    {
        "name": "recently_active",
        "description": "Active on any channel in the last 7 days.",
        "category": "behaviour",
        "type": "boolean",
        "expr": "last_7d.active_days >= 1",
    },
    # ---- the Antarctic-travel story (cdp_spark/datagen/STORY.md), before identification
    {
        "name": "privacy_conscious",
        "description": "Declined the app's location permission.",
        "category": "behaviour",
        "type": "boolean",
        "expr": "array_contains(permissions_declined, 'location')",
    },
    {
        "name": "shallow_interest",
        "description": "Active but not registered (no member id): interest not yet committed.",
        "category": "lifecycle",
        "type": "boolean",
        "expr": "NOT coalesce(array_contains(id_types, 'member_id'), false) AND events > 0",
    },
    {
        "name": "interested_in_antarctica",
        "description": "At least 2 searches about Antarctica (南极 or antarctic) in the last 30 days.",
        "category": "interest",
        "type": "boolean",
        "expr": "size(filter(last_30d.search_terms, t -> t rlike '(?i)南极|antarctic')) >= 2",
    },
    {
        "name": "high_value_travel_potential",
        "description": (
            "Viewed a tour (TOUR- product) and searched for cruises or expeditions in the last 30 days, "
            "or spent at least 1000 on travel."
        ),
        "category": "predictive",
        "type": "boolean",
        "expr": (
            "(exists(map_keys(last_30d.viewed_products), k -> upper(k) LIKE 'TOUR-%') "
            "AND exists(last_30d.search_terms, t -> t rlike '(?i)cruise|邮轮|expedition|探险')) "
            "OR coalesce(category_spend['travel'], 0) >= 1000"
        ),
    },
    # ---- the story, after the purchases
    {
        "name": "has_partner",
        "description": "Bought at least 2 adult travel tickets.",
        "category": "demographic",
        "type": "boolean",
        "expr": "coalesce(ticket_types['adult'], 0) >= 2",
    },
    {
        "name": "has_children",
        "description": "Bought at least one child travel ticket.",
        "category": "demographic",
        "type": "boolean",
        "expr": "coalesce(ticket_types['child'], 0) >= 1",
    },
    {
        "name": "children_aged_1_7",
        "description": "Travelled (on a ticket) with a child aged 1 to 7.",
        "category": "demographic",
        "type": "boolean",
        "expr": "exists(traveler_ages, a -> a BETWEEN 1 AND 7)",
    },
    {
        "name": "responsive_to_local_family_trips",
        "description": "Has children and has spent on travel: a candidate for nearby family trips.",
        "category": "predictive",
        "type": "boolean",
        "expr": "coalesce(ticket_types['child'], 0) >= 1 AND coalesce(category_spend['travel'], 0) > 0",
    },
)


# --------------------------------------------------------------------------- checks


def tag_label(source: str, index: int, tag: TagDefinition) -> str:
    """How every problem starts: ``conf/tags.yaml: tags[3] 'interested_in_antarctica'``."""
    return f"{source}: tags[{index}] '{tag.name}'"


def windows_in(expr: str) -> list[int]:
    """The window lengths an expression refers to (``last_30d`` → 30), outside string literals."""
    code = _STRING_RE.sub("''", expr)
    return sorted({int(m.group(1)) for m in _WINDOW_RE.finditer(code)})


def static_problems(
    tags: TagsConfig, windows: Sequence[int], *, source: str = f"conf/{TAGS_FILE}"
) -> list[str]:
    """Problems found without Spark: duplicate names, undeclared windows, unreproducible functions.

    Why here and not in the model: windows are declared in another file (``profile.yaml``), and
    the messages name each tag with its position, which a pydantic error could not.
    """
    return [message for _, message in static_problems_by_tag(tags, windows, source=source)]


def static_problems_by_tag(
    tags: TagsConfig, windows: Sequence[int], *, source: str = f"conf/{TAGS_FILE}"
) -> list[tuple[int, str]]:
    """:func:`static_problems` with the index of the tag each problem belongs to."""
    problems: list[tuple[int, str]] = []
    declared = sorted(set(windows))
    first: dict[str, int] = {}
    for i, tag in enumerate(tags.tags):
        label = tag_label(source, i, tag)
        if tag.name in first:
            problems.append(
                (
                    i,
                    f"{label}: name: duplicate tag name, already used by tags[{first[tag.name]}]; "
                    "tag names must be unique, rename or remove one",
                )
            )
        first.setdefault(tag.name, i)
        unknown = [w for w in windows_in(tag.expr) if w not in declared]
        if unknown:
            have = ", ".join(f"last_{w}d" for w in declared) or "none"
            problems.append(
                (
                    i,
                    f"{label}: expr: unknown window {', '.join(f'last_{w}d' for w in unknown)}; "
                    f"the profile has {have} (declared by profile.yaml: windows); "
                    f"use one of those or add {', '.join(map(str, unknown))} to profile.yaml: windows",
                )
            )
        code = _STRING_RE.sub("''", tag.expr)
        bad = sorted(
            {
                (m.group("call") or m.group("bare") or m.group("unix")).lower()
                for m in _UNREPRODUCIBLE_RE.finditer(code)
            }
        )
        if bad:
            problems.append(
                (
                    i,
                    f"{label}: expr: uses {', '.join(bad)}, whose value changes from run to run, so a rerun "
                    "of a date would give different tags; use as_of_date (the profile's date) instead of the "
                    "clock, and no random values",
                )
            )
    return problems


def tags_source(config: Config) -> str:
    """The file name problems should cite: the real path when loaded from a folder."""
    return str(Path(config.conf_dir) / TAGS_FILE) if config.conf_dir is not None else f"conf/{TAGS_FILE}"


def _check(model: BaseModel, config: Config) -> list[str]:
    """Cross-file check run by ``load_config`` (hence ``cdp-spark validate``): needs profile.yaml."""
    from cdp_spark.profile.config import profile_config

    if not isinstance(model, TagsConfig):  # pragma: no cover - registration guarantees it
        raise TypeError(f"{TAGS_FILE} is registered with {type(model).__name__}, expected TagsConfig")
    return static_problems(model, profile_config(config).windows, source=tags_source(config))


def tags_config(config: Any) -> TagsConfig:
    """The validated ``tags.yaml`` of a :class:`cdp_spark.config.Config` (defaults if absent)."""
    model = config.domain(TAGS_FILE)
    if not isinstance(model, TagsConfig):  # pragma: no cover - registration guarantees it
        raise TypeError(f"{TAGS_FILE} is registered with {type(model).__name__}, expected TagsConfig")
    return model


register_domain_file(DomainFile(TAGS_FILE, TagsConfig, check=_check))
