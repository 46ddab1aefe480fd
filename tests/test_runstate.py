"""``ops.run_state``: what reruns start from, unfinished attempts, and maintenance.

The stage used here is ``tags`` (the cheapest stage that continues from its own output); the
identity and profile stages read the same rows through the same functions, and their own
tests (rerun reproduces the ids; incremental == full) run them through it.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import functions as F

from cdp_spark.errors import CdpSparkError
from cdp_spark.pipeline import RunContext
from cdp_spark.profile.schema import PROFILES, profile_schema
from cdp_spark.runstate import RUN_STATE, history, start_from
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
