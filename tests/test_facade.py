"""``Cdp`` on the session's demo workspace (read only), checked against the tables themselves."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from conftest import DEMO_DATES, DEMO_MARKS, REPO, DemoRun
from deltalake import DeltaTable

from cdp_spark.datagen import story
from cdp_spark.errors import CdpSparkError
from cdp_spark.facade import Cdp

pytestmark = list(DEMO_MARKS)


@pytest.fixture(scope="module")
def cdp(demo: DemoRun, spark) -> Cdp:  # type: ignore[no-untyped-def]
    return Cdp.open(demo.workspace, conf=REPO / "conf" / "local.yaml")


def _rows(demo: DemoRun, name: str, version: int | None = None) -> list[dict[str, Any]]:
    layer, _, table = name.partition(".")
    return (
        DeltaTable(str(demo.workspace / "lake" / layer / table), version=version)
        .to_pyarrow_table()
        .to_pylist()
    )


def test_last_run_date_and_tables(cdp: Cdp, demo: DemoRun) -> None:
    assert cdp.last_run_date() == date.fromisoformat(DEMO_DATES[-1])
    listed = cdp.tables.list()
    assert {"gold.profiles", "gold.identity_map", "ops.runs", "bronze.web"} <= set(listed)
    assert set(listed) <= set(cdp.catalogue)
    assert cdp.tables.list("gold") == [n for n in listed if n.startswith("gold.")]
    history = cdp.tables.history("gold.profiles", limit=2)
    latest = history[0]["version"]
    assert len(history) == 2 and latest > history[1]["version"]
    first = cdp.tables.read("gold.profiles", version=1).count()
    assert first == len(_rows(demo, "gold.profiles", version=1))
    with pytest.raises(CdpSparkError, match="not in the catalogue"):
        cdp.tables.read("gold.nope")


def test_profiles_as_of_the_last_night_are_todays_persons(cdp: Cdp, demo: DemoRun) -> None:
    as_of = cdp.profiles.as_of(cdp.last_run_date())
    assert {r["person_id"] for r in as_of.select("person_id").collect()} == {
        r["person_id"] for r in _rows(demo, "gold.profiles")
    }
    with pytest.raises(CdpSparkError, match="no date given"):
        cdp.profiles.as_of(None)


def test_identity_lookup_and_explain(cdp: Cdp, demo: DemoRun) -> None:
    person = cdp.identity.lookup("member_id", story.STORY_MEMBER_ID)
    identity_map = _rows(demo, "gold.identity_map")
    held = {(r["id_type"], r["id_value"]) for r in identity_map if r["person_id"] == person}
    assert (("member_id", story.STORY_MEMBER_ID)) in held
    assert cdp.identity.lookup("member_id", "M00000000-not-there") is None

    why = cdp.identity.explain(str(person))
    assert {(i["id_type"], i["id_value"]) for i in why["identifiers"]} == held
    seen = {(r["id_type"], r["id_value"]) for r in _rows(demo, "silver.identifiers")}
    assert all(i["records"] for i in why["identifiers"] if (i["id_type"], i["id_value"]) in seen)
    assert all(link["from"] in held and link["to"] in held for link in why["links"])
    assert len(held) > 1 and why["links"], "the story person is joined by at least one kept edge"
    assert any(person in c["person_ids_after"] for c in why["changes"])
    with pytest.raises(CdpSparkError, match="unknown person id"):
        cdp.identity.explain("p-does-not-exist")
