"""``ops.run_state``: what reruns start from, unfinished attempts, the migration of the three
tables it replaces, and maintenance.

The stage used here is ``tags`` (the cheapest stage that continues from its own output); the
identity and profile stages read the same rows through the same functions, and their own
tests (rerun reproduces the ids; incremental == full) run them through it.
"""

from __future__ import annotations

import dataclasses
import shutil
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import functions as F

from cdp_spark.errors import CdpSparkError
from cdp_spark.pipeline import RunContext
from cdp_spark.profile.schema import PROFILES, profile_schema
from cdp_spark.runstate import (
    LEGACY_TABLES,
    RUN_STATE,
    ProfileBuild,
    history,
    legacy_states,
    migrate_legacy,
    start_from,
)
from cdp_spark.tags import TagDefinition, TagsConfig
from cdp_spark.tags.stage import TAG_CHANGES, TAGS, run_tags

D1, D2, D3 = date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)
SCHEMA = profile_schema([7, 30, 90, 365])
STAGE_TAG = TagsConfig(
    tags=[
        TagDefinition(
            name="stage",
            description="lifecycle",
            category="lifecycle",
            type="categorical",
            expr="lifecycle_stage",
        )
    ]
)


def _rc(stage: str, day: date, generation: int = 1) -> RunContext:
    return RunContext(
        run_id=f"{stage}-{day:%Y%m%d}-g{generation}", run_date=day, stage=stage, generation=generation
    )


def _tags_ctx(ctx: Any) -> Any:
    return dataclasses.replace(ctx, config=dataclasses.replace(ctx.config, domains={"tags.yaml": STAGE_TAG}))


def _profiles(ctx: Any, day: date, stages: dict[str, str]) -> None:
    rows = []
    for person, stage in stages.items():
        row = {"person_id": person, "as_of_date": day, "is_known": True, "lifecycle_stage": stage}
        rows.append(tuple(row.get(f.name) for f in SCHEMA.fields))
    ctx.store.write(PROFILES, ctx.spark.createDataFrame(rows, SCHEMA), mode="overwrite")


def _changes(ctx: Any, day: date) -> list[tuple[Any, ...]]:
    rows = ctx.store.read(TAG_CHANGES).where(F.col("run_date") == day).collect()
    return sorted((r.person_id, r.change, r.value_before, r.value_after) for r in rows)


def _versions(ctx: Any) -> dict[str, int]:
    return {t: ctx.store.version(t) for t in (TAGS, TAG_CHANGES, RUN_STATE)}


# The tags of the nights below: p2 goes new -> active on D2 and active -> loyal on D3.
NIGHTS = {D1: {"p1": "new", "p2": "new"}, D2: {"p1": "new", "p2": "active"}, D3: {"p2": "loyal"}}
D2_CHANGES = [("p2", "changed", "new", "active")]
D3_CHANGES = [("p1", "lost", "new", None), ("p2", "changed", "active", "loyal")]


def _night(ctx: Any, day: date, generation: int = 1) -> Any:
    _profiles(ctx, day, NIGHTS[day])
    return run_tags(ctx, _rc("tags", day, generation))


def test_rows_say_what_a_run_started_from_and_reruns_start_there(ctx: Any) -> None:
    ctx = _tags_ctx(ctx)
    _night(ctx, D1)
    tags_d1 = ctx.store.version(TAGS)
    _night(ctx, D2)
    rows = history(ctx, "tags")
    assert [(r.run_date, r.status, r.inputs[TAGS], r.outputs[TAGS]) for r in rows] == [
        (D1, "succeeded", None, tags_d1),  # the first run ever: gold.tags did not exist
        (D2, "succeeded", tags_d1, ctx.store.version(TAGS)),
    ]
    assert rows[1].inputs[PROFILES] == ctx.store.version(PROFILES) and rows[1].profile is None
    assert _changes(ctx, D2) == D2_CHANGES

    # A forced rerun of D2 starts where D2's first run started, so it reports the same changes;
    # its row is the date's second. A resume of that generation commits nothing at all.
    assert start_from(ctx, _rc("tags", D2, 2), [TAGS]).versions == {TAGS: tags_d1}
    run_tags(ctx, _rc("tags", D2, 2))
    assert _changes(ctx, D2) == D2_CHANGES
    assert [r.run_id for r in history(ctx, "tags")][-1] == "tags-20260303-g2"
    versions = _versions(ctx)
    run_tags(ctx, _rc("tags", D2, 2))
    assert _versions(ctx) == versions

    with pytest.raises(CdpSparkError, match="tags: 2026-03-02 cannot be rerun: later date"):
        start_from(ctx, _rc("tags", D1, 3), [TAGS])


def test_an_unfinished_attempt_is_resumed_from_what_the_night_before_left(ctx: Any, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """An attempt that wrote ``gold.tags`` but stopped before its row: the resume compares with
    the snapshot of D2 (what D2's run left), not with the attempt's own output."""
    import cdp_spark.tags.stage as tags_stage

    ctx = _tags_ctx(ctx)
    _night(ctx, D1)
    _night(ctx, D2)

    def crash(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("killed before recording the run")

    monkeypatch.setattr(tags_stage, "record", crash)
    with pytest.raises(RuntimeError, match="killed"):
        _night(ctx, D3)
    monkeypatch.undo()
    assert [r.run_date for r in history(ctx, "tags")] == [D1, D2]
    written = ctx.store.version(TAGS)

    res = run_tags(ctx, _rc("tags", D3))  # the resume: same generation
    assert res.metrics["changes"] == {"gained": 0, "lost": 1, "changed": 1}
    assert _changes(ctx, D3) == D3_CHANGES
    assert ctx.store.version(TAGS) == written, "the attempt's write is not committed twice"
    assert history(ctx, "tags")[-1].run_date == D3


# ------------------------------------------------------------------- migration

T0 = datetime(2026, 3, 2, 1, 0)


def _at(minutes: int) -> datetime:
    return T0.replace(minute=minutes)


def _legacy_rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows as the old tables held them: tags ran D1 and D2 (D2 twice), profile built D1 (one
    build before builds kept silver versions) and D2, identity ran D1 and D2."""
    stage_state = [
        {"stage": "tags", "run_date": D1, "table": TAGS, "version_before": None, "recorded_at": _at(5)},
        {"stage": "tags", "run_date": D2, "table": TAGS, "version_before": 0, "recorded_at": _at(15)},
        {"stage": "tags", "run_date": D2, "table": TAGS, "version_before": 4, "recorded_at": _at(25)},  # a forced rerun appended
        {"stage": "profile", "run_date": D1, "table": PROFILES, "version_before": None, "recorded_at": _at(4)},
        {"stage": "profile", "run_date": D2, "table": PROFILES, "version_before": 0, "recorded_at": _at(14)},
    ]  # fmt: skip
    identity_runs = [
        {"run_date": D1, "run_id": "i1", "generation": 1, "map_version_before": None,
         "edges_version_before": None, "recorded_at": _at(3)},
        {"run_date": D2, "run_id": "i2", "generation": 1, "map_version_before": 0,
         "edges_version_before": 0, "recorded_at": _at(13)},
    ]  # fmt: skip
    build = {"as_of_date": D1, "mode": "full", "full_reason": "no previous profiles", "config_fingerprint": "fp",
             "persons": 2, "persons_rebuilt": 2}  # fmt: skip
    profile_builds = [
        {**build, "run_id": "p1", "run_date": D1, "profiles_version": 0, "rollups_version": 0,
         "candidates_version": 0, "built_at": _at(6), "silver_versions": None},
        {**build, "run_id": "p2", "run_date": D2, "as_of_date": D2, "mode": "incremental", "full_reason": None,
         "profiles_version": 1, "rollups_version": 3, "candidates_version": 2, "persons_rebuilt": 1,
         "built_at": _at(16), "silver_versions": {"silver.events": 5}},
    ]  # fmt: skip
    return stage_state, identity_runs, profile_builds


def test_legacy_rows_map_onto_run_state_rows_deterministically() -> None:
    stage_state, identity_runs, profile_builds = _legacy_rows()
    states = legacy_states(stage_state, identity_runs, profile_builds)
    again = legacy_states(stage_state[::-1], identity_runs[::-1], profile_builds[::-1])
    assert states == again, "the order of the old rows does not matter"
    got = {(s.stage, s.run_date, s.run_id): s for s in states}
    assert sorted(got) == [
        ("identity", D1, "i1"),
        ("identity", D2, "i2"),
        ("profile", D1, "p1"),
        ("profile", D2, "p2"),
        ("tags", D1, "migrated-tags-2026-03-02"),
        ("tags", D2, "migrated-tags-2026-03-03"),
    ]
    # The old reader took the first version recorded for a date: so does the migration.
    tags_d2 = got["tags", D2, "migrated-tags-2026-03-03"]
    assert (tags_d2.status, tags_d2.inputs, tags_d2.outputs, tags_d2.generation) == (
        "started",
        {TAGS: 0},
        {},
        None,
    )
    identity = got["identity", D2, "i2"]
    assert (identity.status, identity.generation) == ("started", 1)
    assert identity.inputs == {"gold.identity_map": 0, "silver.identity_edges": 0}
    p2 = got["profile", D2, "p2"]
    assert p2.status == "succeeded" and p2.recorded_at == _at(16)
    assert p2.inputs == {"silver.events": 5, PROFILES: 0}
    assert p2.outputs == {PROFILES: 1, "gold.daily_rollups": 3, "gold.attribute_candidates": 2}
    assert p2.profile == ProfileBuild(D2, "incremental", None, "fp", persons=2, persons_rebuilt=1)
    # A build that kept no silver versions is not a base for an incremental build (the next
    # one is full, and says why); its versions are kept.
    assert got["profile", D1, "p1"].profile is None and got["profile", D1, "p1"].outputs[PROFILES] == 0


def _write_legacy(ctx: Any) -> None:
    """The old tables with the old schemas (``silver_versions`` is a later column of builds)."""
    stage_state, identity_runs, profile_builds = _legacy_rows()
    spark, store = ctx.spark, ctx.store
    ddl = {
        "ops.stage_state": "stage string, run_date date, table string, version_before bigint, recorded_at timestamp",
        "ops.identity_runs": "run_date date, run_id string, generation int, map_version_before bigint, "
        "edges_version_before bigint, recorded_at timestamp",
        "ops.profile_builds": "run_id string, run_date date, as_of_date date, mode string, full_reason string, "
        "profiles_version bigint, rollups_version bigint, candidates_version bigint, config_fingerprint string, "
        "persons bigint, persons_rebuilt bigint, built_at timestamp, silver_versions map<string,bigint>",
    }
    for table, rows in zip(LEGACY_TABLES, (stage_state, identity_runs, profile_builds), strict=True):
        schema = spark.createDataFrame([], ddl[table]).schema
        df = spark.createDataFrame([tuple(r[f.name] for f in schema) for r in rows], schema)
        store.write(table, df, mode="append")


def test_an_old_workspace_is_migrated_once_and_its_runs_are_read_from_run_state(ctx: Any) -> None:
    _write_legacy(ctx)
    # The first reader migrates: identity's rerun of D2 starts from the versions identity_runs
    # recorded, and D1 cannot be rerun any more.
    start = start_from(ctx, _rc("identity", D2, 2), ["gold.identity_map", "silver.identity_edges"])
    assert start.rerun and start.versions == {"gold.identity_map": 0, "silver.identity_edges": 0}
    with pytest.raises(CdpSparkError, match="identity: 2026-03-02 cannot be rerun: later date"):
        start_from(ctx, _rc("identity", D1, 2), ["gold.identity_map"])
    # Profile: a rerun of D2 starts from gold.profiles version 0, which the D1 build wrote
    # without silver versions (so D2's rerun is full); D3 would start from D2's build.
    start = start_from(ctx, _rc("profile", D2, 2), [PROFILES])
    assert start.versions == {PROFILES: 0}
    built = start.written(PROFILES, 0)
    assert built is not None and built.run_id == "p1" and built.profile is None
    built = start.written(PROFILES, 1)
    assert built is not None and built.profile is not None and built.profile.mode == "incremental"
    assert start_from(ctx, _rc("tags", D2, 2), [TAGS]).versions == {TAGS: 0}

    # Once: the migration commit carries its own token; the old tables are left as they were.
    version = ctx.store.version(RUN_STATE)
    assert ctx.store.read(RUN_STATE).count() == 6
    assert migrate_legacy(ctx) == 0 and ctx.store.version(RUN_STATE) == version
    assert all(ctx.store.exists(t) for t in LEGACY_TABLES)


def test_a_migrated_tags_rerun_reproduces_the_changes_the_old_tables_recorded(ctx: Any) -> None:
    """End to end: two nights, their run-state rows then replaced by the ``ops.stage_state`` rows
    the old version wrote for them; a forced rerun of D2 still compares with D1's snapshot."""
    ctx = _tags_ctx(ctx)
    _night(ctx, D1)
    _night(ctx, D2)
    rows = history(ctx, "tags")
    shutil.rmtree(Path(ctx.store.location(RUN_STATE)))
    old = [(r.stage, r.run_date, TAGS, r.inputs[TAGS], r.recorded_at) for r in rows]
    ddl = "stage string, run_date date, table string, version_before bigint, recorded_at timestamp"
    ctx.store.write("ops.stage_state", ctx.spark.createDataFrame(old, ddl), mode="append")

    run_tags(ctx, _rc("tags", D2, 2))
    assert _changes(ctx, D2) == D2_CHANGES
    assert [(r.run_date, r.status) for r in history(ctx, "tags")] == [
        (D1, "started"),
        (D2, "started"),
        (D2, "succeeded"),
    ]


# ------------------------------------------------------------------- maintenance


def test_maintenance_compacts_and_vacuums_run_state(ctx: Any) -> None:
    from cdp_spark.context import CdpContext
    from cdp_spark.maintenance import run_maintenance
    from cdp_spark.runstate import record

    for day in (D1, D2, D3):
        record(ctx, _rc("tags", day), inputs={TAGS: None}, outputs={TAGS: 1})
    rows = sorted(map(str, ctx.store.read(RUN_STATE).collect()))
    storage = ctx.config.settings.storage.model_copy(update={"vacuum_retention_hours": 0})
    settings = ctx.config.settings.model_copy(update={"storage": storage})
    maint = CdpContext.attach(dataclasses.replace(ctx.config, settings=settings), ctx.spark, ctx.runtime)
    res = run_maintenance(maint, _rc("maintenance", D3))
    done = res.metrics["tables"][RUN_STATE]
    assert (done["files_compacted"], done["files_written"]) == (3, 1) and done["files_vacuumed"] >= 3
    assert sorted(map(str, ctx.store.read(RUN_STATE).collect())) == rows
    assert len(list(Path(ctx.store.location(RUN_STATE)).glob("*.parquet"))) == 1
