"""Declarative tags: definitions, validation, evaluation, snapshot diffs and the stage.

Spark jobs are what a test here costs, so profiles are a handful of hand-built rows (built
from ``profile_schema``, every column not named left null) and each evaluation answers several
questions. Config checks that need no Spark run without it. The stage test writes
``gold.profiles`` directly instead of running the upstream stages.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from chispa import assert_df_equality
from pydantic import ValidationError
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from cdp_spark.config import load_config
from cdp_spark.errors import CdpSparkError, ConfigError
from cdp_spark.pipeline import RunContext
from cdp_spark.profile.schema import PROFILES, profile_schema
from cdp_spark.tags import TagDefinition, TagsConfig, diff_tags, evaluate_tags, validate_tags
from cdp_spark.tags.config import static_problems
from cdp_spark.tags.engine import TAG_CHANGES_SCHEMA, TAGS_SCHEMA
from cdp_spark.tags.stage import TAG_CHANGES, TAGS, run_tags

REPO = Path(__file__).resolve().parents[1]
WINDOWS = [7, 30, 90, 365]
SCHEMA = profile_schema(WINDOWS)
D0, D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)
STORY = [
    "privacy_conscious",
    "shallow_interest",
    "interested_in_antarctica",
    "high_value_travel_potential",
]
FAMILY = ["has_partner", "has_children", "children_aged_1_7", "responsive_to_local_family_trips"]


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def tag(name: str, type_: str, expr: str, category: str = "interest") -> TagDefinition:
    return TagDefinition(name=name, description=f"test tag {name}", category=category, type=type_, expr=expr)


def profile(person_id: str, as_of: date = D1, **values: Any) -> tuple[Any, ...]:
    """One ``gold.profiles`` row: the named columns, the rest null (windows may be partial dicts)."""
    unknown = set(values) - set(SCHEMA.fieldNames())
    assert not unknown, f"not profile columns: {unknown}"
    row = {"person_id": person_id, "as_of_date": as_of, "is_known": False, "lifecycle_stage": "prospect"}
    row.update(values)
    return tuple(row.get(f.name) for f in SCHEMA.fields)


def profiles_df(spark: SparkSession, rows: list[tuple[Any, ...]]) -> DataFrame:
    return spark.createDataFrame(rows, SCHEMA)


def long_df(spark: SparkSession, rows: list[tuple[str, str, str, str]]) -> DataFrame:
    return spark.createDataFrame(rows, "person_id string, tag string, value string, category string")


# --------------------------------------------------------------------------- config (no Spark)


def test_conf_file_equals_defaults_and_model_errors() -> None:
    data = yaml.safe_load((REPO / "conf" / "tags.yaml").read_text(encoding="utf-8"))
    assert TagsConfig.model_validate(data) == TagsConfig()
    names = [t.name for t in TagsConfig().tags]
    assert set(STORY + FAMILY) <= set(names) and len(names) == len(set(names))
    assert static_problems(TagsConfig(), WINDOWS) == []
    with pytest.raises(ValidationError) as err:
        TagsConfig.model_validate(
            {
                "tags": [
                    {
                        "name": "High Value",
                        "description": "d",
                        "category": "value",
                        "type": "boolean",
                        "expr": "x",
                    },
                    {"name": "ok", "description": "d", "category": "money", "type": "flag", "expr": "x"},
                    {"name": "ok2", "description": "d", "category": "value", "type": "score", "exp": "x"},
                ]
            }
        )
    text = str(err.value)
    assert "tags.0.name" in text and "tags.1.category" in text and "tags.1.type" in text
    assert "tags.2.exp" in text and "tags.2.expr" in text


def test_validate_command_reports_static_problems_of_every_tag(tmp_path: Path) -> None:
    """``cdp-spark validate`` (``load_config``, no Spark): duplicates, windows, clock functions."""
    (tmp_path / "local.yaml").write_text("{}\n")
    (tmp_path / "profile.yaml").write_text("windows: [7, 30]\n")
    tags = [
        {"name": "a", "description": "d", "category": "value", "type": "boolean", "expr": "m_score >= 4"},
        {"name": "a", "description": "d", "category": "value", "type": "boolean", "expr": "m_score >= 5"},
        {
            "name": "b",
            "description": "d",
            "category": "interest",
            "type": "boolean",
            "expr": "last_90d.searches > 1",
        },
        {
            "name": "c",
            "description": "d",
            "category": "value",
            "type": "boolean",
            "expr": "as_of_date = current_date()",
        },
        {
            "name": "d",
            "description": "d",
            "category": "value",
            "type": "boolean",
            "expr": "city = 'last_90d'",
        },
    ]
    (tmp_path / "tags.yaml").write_text(yaml.safe_dump({"tags": tags}))
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "local.yaml", environ={})
    problems = err.value.problems
    where = str(tmp_path / "tags.yaml")
    assert len(problems) == 3, problems
    assert problems[0].startswith(f"{where}: tags[1] 'a': name: duplicate tag name, already used by tags[0]")
    assert problems[1].startswith(
        f"{where}: tags[2] 'b': expr: unknown window last_90d; the profile has last_7d, last_30d"
    )
    assert "profile.yaml: windows" in problems[1]
    assert (
        problems[2].startswith(f"{where}: tags[3] 'c': expr: uses current_date")
        and "as_of_date" in problems[2]
    )


# --------------------------------------------------------------------------- validation (analysis only)


def test_validation_reports_all_problems_naming_file_and_tag(spark: SparkSession) -> None:
    assert validate_tags(spark, TagsConfig(), WINDOWS) == []  # the defaults fit the profile schema
    bad = TagsConfig(
        tags=[
            tag(
                "fine",
                "boolean",
                "size(filter(last_30d.search_terms, t -> t rlike '(?i)南极|antarctic')) >= 2",
            ),
            tag("typo", "boolean", "m_scor >= 4"),
            tag("not_boolean", "boolean", "m_score + 1"),
            tag("not_number", "score", "lifecycle_stage"),
            tag("bad_window", "boolean", "last_45d.searches > 1"),
            tag("syntax", "boolean", "m_score >="),
            tag("typo", "categorical", "rfm_segment"),
            tag("field_typo", "boolean", "size(last_30d.serch_terms) > 0"),
            tag("aggregate", "score", "count(*)"),
            tag("array_category", "categorical", "search_terms"),
            tag("commented", "boolean", "events > 1 -- any activity"),
        ]
    )
    problems = validate_tags(spark, bad, WINDOWS, source="conf/tags.yaml")
    assert all(p.startswith("conf/tags.yaml: tags[") for p in problems), problems
    by_tag: dict[str, list[str]] = {}
    for p in problems:
        by_tag.setdefault(p.split("'")[1], []).append(p)
    assert set(by_tag) == {
        "typo",
        "not_boolean",
        "not_number",
        "bad_window",
        "syntax",
        "field_typo",
        "aggregate",
        "array_category",
    }
    assert "unknown column `m_scor`; did you mean one of `m_score`" in by_tag["typo"][0]
    assert "name: duplicate tag name, already used by tags[1]" in by_tag["typo"][1]
    assert "a boolean tag needs a true/false expression, but this one is int" in by_tag["not_boolean"][0]
    assert "a score tag needs a number, but this expression is string" in by_tag["not_number"][0]
    assert by_tag["bad_window"] == [
        "conf/tags.yaml: tags[4] 'bad_window': expr: unknown window last_45d; the profile has last_7d, last_30d, "
        "last_90d, last_365d (declared by profile.yaml: windows); use one of those or add 45 to profile.yaml: windows"
    ]
    assert "SQL syntax error at or near end of input (line 1, position 11)" in by_tag["syntax"][0]
    assert "unknown struct field `serch_terms`; the fields are `active_days`" in by_tag["field_typo"][0]
    assert "uses an aggregate function" in by_tag["aggregate"][0]
    assert "array<string>" in by_tag["array_category"][0]
    assert [p.split("]")[0] for p in problems] == sorted(
        (p.split("]")[0] for p in problems), key=lambda s: int(s.split("[")[1])
    )


# --------------------------------------------------------------------------- evaluation


def test_evaluate_boolean_categorical_and_score_tags(spark: SparkSession) -> None:
    tags = [
        tag(
            "antarctica",
            "boolean",
            "size(filter(last_30d.search_terms, t -> t rlike '(?i)南极|antarctic')) >= 2",
        ),
        tag("stage", "categorical", "lifecycle_stage", "lifecycle"),
        tag("top_category", "categorical", "try_element_at(top_categories, 1)"),
        tag("aov", "score", "avg_order_value", "value"),
        tag("cycle", "score", "repurchase_cycle_days", "value"),
        tag("orders", "score", "orders", "value"),
    ]
    profiles = profiles_df(
        spark,
        [
            profile(
                "p1",
                lifecycle_stage="active",
                top_categories=["travel", "toys"],
                avg_order_value=Decimal("5999.50"),
                repurchase_cycle_days=12.25,
                orders=3,
                last_30d={"search_terms": ["antarctic cruise", "南极旅游", "rain jacket"]},
            ),
            profile(
                "p2",
                top_categories=[],
                avg_order_value=Decimal("20.00"),
                repurchase_cycle_days=1e9 / 3,
                orders=0,
                last_30d={"search_terms": ["南极旅游"]},
            ),
            profile("p3", repurchase_cycle_days=float("nan")),
        ],
    )
    expected = long_df(
        spark,
        [
            ("p1", "antarctica", "true", "interest"),
            ("p1", "stage", "active", "lifecycle"),
            ("p1", "top_category", "travel", "interest"),
            ("p1", "aov", "5999.5", "value"),
            ("p1", "cycle", "12.25", "value"),
            ("p1", "orders", "3", "value"),
            ("p2", "stage", "prospect", "lifecycle"),
            ("p2", "aov", "20", "value"),
            ("p2", "cycle", "333333333.3333", "value"),
            ("p2", "orders", "0", "value"),
            ("p3", "stage", "prospect", "lifecycle"),
        ],
    )
    got = evaluate_tags(profiles, tags)
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_default_tags_follow_the_antarctic_story(spark: SparkSession) -> None:
    """Day 0 she is an anonymous app user; after registration and the family tickets, one person."""
    searches = ["antarctic cruise", "南极 企鹅 亲子游", "南极 邮轮 价格", "南极旅游"]
    anonymous = profile(
        "anon",
        D0,
        id_types=["device_id"],
        events=7,
        permissions_declined=["location"],
        last_30d={"search_terms": searches[:1] + searches[2:], "viewed_products": {"TOUR-ANT-PROMO": 1}},
    )
    known = profile(
        "lin",
        D3,
        is_known=True,
        id_types=["device_id", "email", "member_id", "phone", "wechat_openid", "wechat_unionid"],
        events=30,
        orders=2,
        permissions_declined=["location"],
        ticket_types={"adult": 2, "child": 1},
        traveler_ages=[5],
        category_spend={"travel": Decimal("2700.00")},
        email="linyue.travel@163.com",
        consent={"email": "granted", "sms": "granted"},
        wechat_following=True,
        lifecycle_stage="active",
        last_30d={"search_terms": searches, "viewed_products": {"TOUR-ANT-PROMO": 2}},
    )
    regular = profile(
        "someone", D3, id_types=["member_id"], events=3, last_30d={"search_terms": ["rain jacket"]}
    )
    got = evaluate_tags(profiles_df(spark, [anonymous, known, regular]), TagsConfig().tags)
    tagged: dict[str, set[str]] = {}
    for r in got.where(F.col("value") == "true").collect():
        tagged.setdefault(r.person_id, set()).add(r.tag)
    assert tagged["anon"] & set(STORY + FAMILY) == set(STORY)
    # registered now: shallow_interest (not registered) is lost; everything else of both sets holds
    assert tagged["lin"] & set(STORY + FAMILY) == (set(STORY) - {"shallow_interest"}) | set(FAMILY)
    assert {"email_contactable", "wechat_follower", "high_value_travel_potential"} <= tagged["lin"]
    assert "someone" not in tagged


# --------------------------------------------------------------------------- snapshots


def test_diff_gained_lost_changed_and_updated_at_carried_over(spark: SparkSession) -> None:
    previous = spark.createDataFrame(
        [
            ("p1", "vip", "true", "value", midnight(D0)),
            ("p1", "stage", "new", "lifecycle", midnight(D0)),
            ("p2", "vip", "true", "value", midnight(D0)),
            ("p2", "retired_tag", "x", "interest", midnight(D0)),
        ],
        TAGS_SCHEMA,
    )
    current = long_df(
        spark,
        [
            ("p1", "vip", "true", "value"),
            ("p1", "stage", "active", "lifecycle"),
            ("p3", "vip", "true", "value"),
        ],
    )
    diff = diff_tags(previous, current, run_date=D1)
    expected_tags = spark.createDataFrame(
        [
            ("p1", "vip", "true", "value", midnight(D0)),  # unchanged: keeps the date it was set
            ("p1", "stage", "active", "lifecycle", midnight(D1)),
            ("p3", "vip", "true", "value", midnight(D1)),
        ],
        TAGS_SCHEMA,
    )
    assert_df_equality(diff.tags, expected_tags, ignore_row_order=True, ignore_nullable=True)
    expected_changes = spark.createDataFrame(
        [
            (D1, "p1", "stage", "changed", "new", "active"),
            (D1, "p2", "vip", "lost", "true", None),
            (D1, "p2", "retired_tag", "lost", "x", None),
            (D1, "p3", "vip", "gained", None, "true"),
        ],
        TAG_CHANGES_SCHEMA,
    )
    assert_df_equality(diff.changes, expected_changes, ignore_row_order=True, ignore_nullable=True)
    assert diff.counts() == {
        "vip": {"tagged": 2, "gained": 1, "lost": 1, "changed": 0},
        "stage": {"tagged": 1, "gained": 0, "lost": 0, "changed": 1},
        "retired_tag": {"tagged": 0, "gained": 0, "lost": 1, "changed": 0},
    }
    first = diff_tags(None, current, run_date=D1)  # first run ever: everything is gained
    assert sorted(r.change for r in first.changes.collect()) == ["gained"] * 3


# --------------------------------------------------------------------------- the stage

STAGE_TAGS = TagsConfig(
    tags=[
        tag(
            "antarctica",
            "boolean",
            "size(filter(last_30d.search_terms, t -> t rlike '(?i)南极|antarctic')) >= 2",
        ),
        tag("stage", "categorical", "lifecycle_stage", "lifecycle"),
        tag("aov", "score", "avg_order_value", "value"),
    ]
)


def with_tags(ctx: Any, tags: TagsConfig) -> Any:
    return dataclasses.replace(ctx, config=dataclasses.replace(ctx.config, domains={"tags.yaml": tags}))


def write_profiles(ctx: Any, rows: list[tuple[Any, ...]]) -> None:
    ctx.store.write(PROFILES, profiles_df(ctx.spark, rows), mode="overwrite")


def run(ctx: Any, day: date, generation: int = 1) -> Any:
    rc = RunContext(run_id=f"{day:%Y%m%d}-g{generation}", run_date=day, stage="tags", generation=generation)
    return run_tags(ctx, rc)


def snapshot(ctx: Any) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    return sorted(map(tuple, ctx.store.read(TAGS).collect())), sorted(
        map(tuple, ctx.store.read(TAG_CHANGES).collect())
    )


def test_stage_two_runs_rerun_idempotent_and_refusals(ctx: Any) -> None:
    ctx = with_tags(ctx, STAGE_TAGS)
    empty = run(ctx, D0)  # no profiles yet (e.g. nightly on an empty workspace): nothing to tag
    assert empty.metrics["persons"] == 0 and not ctx.store.exists(TAGS)
    searches = {"search_terms": ["antarctic cruise", "南极旅游"]}
    write_profiles(
        ctx,
        [
            profile("p1", D1, lifecycle_stage="new", avg_order_value=Decimal("10.00"), last_30d=searches),
            profile("p2", D1, last_30d=searches),
        ],
    )
    first = run(ctx, D1)
    assert first.metrics["persons_tagged"] == {"antarctica": 2, "stage": 2, "aov": 1}
    assert first.metrics["changes"] == {"gained": 5, "lost": 0, "changed": 0}

    write_profiles(
        ctx,
        [
            profile("p1", D2, lifecycle_stage="active", avg_order_value=Decimal("10.00"), last_30d=searches),
            profile("p3", D2),  # p2 merged away, p3 new
        ],
    )
    second = run(ctx, D2)
    changes = ctx.store.read(TAG_CHANGES).where(F.col("run_date") == D2)
    got = sorted((r.person_id, r.tag, r.change, r.value_before, r.value_after) for r in changes.collect())
    assert got == [
        ("p1", "stage", "changed", "new", "active"),
        ("p2", "antarctica", "lost", "true", None),
        ("p2", "stage", "lost", "prospect", None),
        ("p3", "stage", "gained", None, "prospect"),
    ]
    assert second.metrics["gained"] == {"stage": 1} and second.metrics["lost"] == {
        "antarctica": 1,
        "stage": 1,
    }
    stamps = ctx.store.read(TAGS).select("person_id", "tag", F.unix_timestamp("updated_at").alias("at"))
    assert {(r.person_id, r.tag): r.at for r in stamps.collect()} == {
        ("p1", "antarctica"): midnight(D1).timestamp(),  # unchanged since D1
        ("p1", "aov"): midnight(D1).timestamp(),
        ("p1", "stage"): midnight(D2).timestamp(),
        ("p3", "stage"): midnight(D2).timestamp(),
    }

    # a forced rerun (new generation), then a resume of it (same generation: writes are skipped by
    # their idempotency tokens) reproduce the same tables, compared with the state before D2
    before = snapshot(ctx)
    for generation in (2, 2):
        rerun = run(ctx, D2, generation)
        assert rerun.metrics["changes"] == second.metrics["changes"]
        assert snapshot(ctx) == before

    with pytest.raises(CdpSparkError, match=r"is as of 2026-03-03, not the run date 2026-03-04.*run profile"):
        run(ctx, D3)
    write_profiles(ctx, [profile("p1", D1)])
    with pytest.raises(CdpSparkError, match="cannot be rerun: later date"):
        run(ctx, D1, 2)

    # a wrong definition fails before anything is written
    version = ctx.store.version(TAGS)
    broken = TagsConfig(tags=[*STAGE_TAGS.tags, tag("typo", "boolean", "m_scor > 1")])
    with pytest.raises(ConfigError, match=r"tags\[3\] 'typo': expr: unknown column `m_scor`"):
        run(with_tags(ctx, broken), D3)
    assert ctx.store.version(TAGS) == version
