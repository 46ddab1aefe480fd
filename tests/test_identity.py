"""Identity resolution: extraction, guards, per-person limits, stable ids, incremental runs, gate.

Spark jobs, not rows, are what a test here costs, so the data is a handful of hand-made records
and each resolve is asked several questions at once. Pure parts (config, the greedy limit
algorithm) are tested without Spark. The stage tests write a minimal ``silver.events`` table
(the columns ``identity_records`` reads) and run the stage as the runner would.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import networkx as nx
import pandas as pd
import pytest
import yaml
from chispa import assert_df_equality
from pydantic import ValidationError
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from cdp_spark.errors import QualityGateError
from cdp_spark.identity import NativeConnectedComponents
from cdp_spark.identity.config import IdentityConfig
from cdp_spark.identity.graph import RECORDS_SCHEMA, build_edges, extract_identifiers, identifier_nodes
from cdp_spark.identity.guards import blocklist_guard, frequency_guard, greedy_limits
from cdp_spark.identity.stage import (
    CHANGES_TABLE,
    MAP_TABLE,
    REPORT_TABLE,
    IdentityOptions,
    PreviousState,
    Resolution,
    resolve_identities,
    run_identity,
    unlink,
)
from cdp_spark.pipeline import RunContext

REPO = Path(__file__).resolve().parents[1]
D1 = date(2026, 3, 1)
T0 = datetime(2026, 3, 1, 9, 0)
ENGINE = NativeConnectedComponents()
Rec = tuple[str, str, datetime, dict[str, str], dict[str, str]]


def rec(
    rid: str, ids: dict[str, str], *, attrs: dict[str, str] | None = None, source: str = "web", hours: int = 0
) -> Rec:
    return (rid, source, T0 + timedelta(hours=hours), ids, attrs or {})


def records_df(spark: SparkSession, rows: list[Rec]) -> DataFrame:
    return spark.createDataFrame(rows, RECORDS_SCHEMA)


def resolve(
    spark: SparkSession,
    rows: list[Rec],
    config: IdentityConfig | None = None,
    previous: Resolution | None = None,
    *,
    day: date = D1,
    full: bool = False,
    records: DataFrame | None = None,
) -> Resolution:
    prev = PreviousState(previous.identity_map, previous.edges) if previous else PreviousState()
    return resolve_identities(
        records if records is not None else records_df(spark, rows),
        config or IdentityConfig(),
        ENGINE,
        prev,
        run_id=f"run-{day}",
        run_date=day,
        full=full,
    )


def persons(res: Resolution) -> dict[tuple[str, str], str]:
    return {(r.id_type, r.id_value): r.person_id for r in res.identity_map.collect()}


def partition(mapping: dict[tuple[str, str], str]) -> set[frozenset[tuple[str, str]]]:
    groups: dict[str, set[tuple[str, str]]] = {}
    for ident, pid in mapping.items():
        groups.setdefault(pid, set()).add(ident)
    return {frozenset(g) for g in groups.values()}


def changes(res: Resolution) -> list[dict[str, Any]]:
    rows = [r.asDict(recursive=True) for r in res.changes.drop("run_id").collect()]
    return sorted(rows, key=lambda r: (r["change"], r["person_ids_before"], r["person_ids_after"]))


# --------------------------------------------------------------------------- config (no Spark)


def test_conf_file_equals_defaults_and_errors_are_collected() -> None:
    data = yaml.safe_load((REPO / "conf" / "identity.yaml").read_text())
    assert IdentityConfig.model_validate(data) == IdentityConfig()
    with pytest.raises(ValidationError) as err:
        IdentityConfig.model_validate(
            {"limits": {"max_per_person": {"emial": 2}}, "exclusions": [{"id_type": "fax", "id_value": "1"}]}
        )
    text = str(err.value)
    assert "'emial'" in text and "'fax'" in text
    with pytest.raises(ValidationError, match="max_per_persn"):
        IdentityConfig.model_validate({"limits": {"max_per_persn": {}}})
    with pytest.raises(ValidationError, match="not a valid regular expression"):
        IdentityConfig.model_validate({"blocklist": {"patterns": {"email": ["(unclosed"]}}})


def test_pair_trust_most_specific_rule_wins() -> None:
    cfg = IdentityConfig.model_validate(
        {
            "links": [
                {"types": ["*", "*"], "trust": 0.5},
                {"types": ["member_id", "*"], "trust": 1.0},
                {"types": ["cookie", "email"], "trust": 0},
            ]
        }
    )
    trust = cfg.pair_trust()
    assert trust[("cookie", "member_id")] == 1.0
    assert trust[("email", "phone")] == 0.5
    assert ("cookie", "email") not in trust  # trust 0: never link


def test_greedy_limits_drops_lowest_priority_least_seen_edge_whatever_the_order() -> None:
    """Two member ids reach one cookie; the cookie–member edge seen less often is dropped."""
    cfg = IdentityConfig()
    frame = pd.DataFrame(
        {
            "src": [1, 1, 2, 4],
            "dst": [2, 3, 5, 5],
            "src_type": ["cookie", "cookie", "member_id", "email"],
            "dst_type": ["member_id", "member_id", "email", "phone"],
            "trust": [1.0, 1.0, 1.0, 0.8],
            "record_count": [5, 1, 3, 1],
            "last_seen_us": [10, 20, 10, 10],
        }
    )
    expected = {(1, 2): True, (1, 3): False, (2, 5): True, (4, 5): True}
    for seed in range(4):
        out = greedy_limits(
            frame.sample(frac=1, random_state=seed), cfg.limits.max_per_person, cfg.priority_rank()
        )
        got = {(int(r.src), int(r.dst)): bool(r.kept) for r in out.itertuples()}
        assert got == expected
        assert out.loc[~out["kept"], "drop_reason"].tolist() == ["would exceed member_id limit 1"]


# --------------------------------------------------------------------------- extraction, guards


def test_extract_identifiers_and_edges(spark: SparkSession) -> None:
    cfg = IdentityConfig.model_validate(
        {"links": [{"types": ["*", "*"], "trust": 0.5}, {"types": ["cookie", "phone"], "trust": 0}]}
    )
    rows = [
        rec("r1", {"email": " a@x.com ", "phone": "+491", "cookie": "c1", "fax": "9", "device_id": ""}),
        rec("r1", {"email": "a@x.com", "phone": "+491", "cookie": "c1"}, hours=5),  # re-delivery
        rec("r2", {"member_id": "123", "customer_no": "123"}, source="crm", hours=1),
    ]
    ids = extract_identifiers(records_df(spark, rows), id_types=cfg.id_types)
    expected = spark.createDataFrame(
        [
            ("cookie", "c1", "web", "r1", T0, T0 + timedelta(hours=5)),
            ("customer_no", "123", "crm", "r2", T0 + timedelta(hours=1), T0 + timedelta(hours=1)),
            ("email", "a@x.com", "web", "r1", T0, T0 + timedelta(hours=5)),
            ("member_id", "123", "crm", "r2", T0 + timedelta(hours=1), T0 + timedelta(hours=1)),
            ("phone", "+491", "web", "r1", T0, T0 + timedelta(hours=5)),
        ],
        "id_type string, id_value string, source string, record_id string, first_seen timestamp, last_seen timestamp",
    )
    assert_df_equality(ids.drop("node_id"), expected, ignore_row_order=True, ignore_nullable=True)
    nodes = identifier_nodes(ids).collect()
    # a node is (type, value): the same "123" as member id and customer number are two nodes
    assert len({r.node_id for r in nodes}) == 5
    edges = build_edges(ids, cfg).collect()
    pairs = {tuple(sorted((e.src_type, e.dst_type))): e for e in edges}
    assert set(pairs) == {("cookie", "email"), ("email", "phone"), ("customer_no", "member_id")}
    assert all(e.src < e.dst for e in edges)
    assert pairs[("cookie", "email")].record_count == 1 and pairs[("cookie", "email")].sources == ["web"]


def test_blocklist_builtin_defaults_and_user_lists(spark: SparkSession) -> None:
    cfg = IdentityConfig.model_validate(
        {"blocklist": {"values": {"phone": ["+8613800138000"]}, "patterns": {"email": ["@mycompany\\.com$"]}}}
    )
    values = [
        ("email", "null", "builtin: placeholder value"),
        ("cookie", "undefined", "builtin: placeholder value"),
        ("member_id", "-1", "builtin: placeholder value"),
        ("email", "Anonymous", "builtin: placeholder value"),
        ("phone", "00000000000", "builtin: empty or all zeros"),
        ("device_id", "00000000-0000-0000-0000-000000000000", "builtin: empty or all zeros"),
        ("phone", "+86 13333333333", None),  # 13 then ten 3s: not one digit repeated
        ("phone", "+33 3333 333333", "builtin: one digit repeated"),
        ("customer_no", "111111", "builtin: one digit repeated"),
        ("email", "test@test.com", "builtin: placeholder e-mail"),
        ("email", "noreply@shop.cn", "builtin: placeholder e-mail"),
        ("email", "anna@example.com", "builtin: placeholder e-mail"),
        (
            "email_sha256",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "builtin: hash of an empty/placeholder e-mail",
        ),
        ("phone", "+8613800138000", "blocklist.values[phone]"),
        ("email", "ops@mycompany.com", "blocklist.patterns[email][0]"),
        ("email", "anna.lee@gmail.com", None),
        ("member_id", "12345", None),
        ("customer_no", "11111", None),  # shorter than min_repeated_digits
    ]
    nodes = spark.createDataFrame(
        [(i, t, v, None, None, 1) for i, (t, v, _) in enumerate(values)],
        "node_id long, id_type string, id_value string, first_seen timestamp, last_seen timestamp, record_count long",
    )
    result = blocklist_guard(nodes, cfg)
    got = {(r.id_type, r.id_value): r.reason for r in result.report.collect()}
    assert got == {(t, v): reason for t, v, reason in values if reason}
    kept = {(r.id_type, r.id_value) for r in result.kept.collect()}
    assert kept == {(t, v) for t, v, reason in values if reason is None}
    off = IdentityConfig.model_validate({"blocklist": {"builtin": False}})
    assert blocklist_guard(nodes, off).report.count() == 0


def test_frequency_guard_cuts_shared_identifiers_with_evidence(spark: SparkSession) -> None:
    cfg = IdentityConfig.model_validate(
        {
            "frequency": {
                "rules": [
                    {"id_type": "email", "attribute": "given_name", "max_distinct": 2},
                    {"id_type": "device_id", "attribute": "member_id", "max_distinct": 2},
                ]
            }
        }
    )
    rows = [
        rec("r1", {"email": "family@x.com"}, attrs={"given_name": "Ann"}),
        rec("r2", {"email": "family@x.com"}, attrs={"given_name": "ann "}),  # same name, other case
        rec("r3", {"email": "family@x.com"}, attrs={"given_name": "Bob"}),
        rec("r4", {"email": "family@x.com"}, attrs={"given_name": "Carl"}),
        rec("r5", {"email": "bob@x.com"}, attrs={"given_name": "Bob"}),
        rec("r6", {"device_id": "kiosk", "member_id": "m1"}),
        rec("r7", {"device_id": "kiosk", "member_id": "m2"}),
        rec("r8", {"device_id": "kiosk", "member_id": "m3"}),
        rec("r9", {"device_id": "phone-1", "member_id": "m1"}),
    ]
    records = records_df(spark, rows)
    ids = extract_identifiers(records)
    result = frequency_guard(identifier_nodes(ids), ids, records, cfg)
    report = {r.id_value: r for r in result.report.collect()}
    assert set(report) == {"family@x.com", "kiosk"}
    family = json.loads(report["family@x.com"].evidence)
    assert family == {
        "attribute": "given_name",
        "distinct": 3,
        "max_distinct": 2,
        "records": 4,
        "sample": ["ann", "bob", "carl"],
    }
    assert report["kiosk"].metric == 3 and report["kiosk"].kind == "frequency"
    kept = {r.id_value for r in result.kept.collect()}
    assert "family@x.com" not in kept and "kiosk" not in kept and {"bob@x.com", "phone-1", "m1"} <= kept


# --------------------------------------------------------------------------- resolve


DAY1 = [
    rec("a1", {"email": "ann@x.com", "phone": "+4911"}, attrs={"given_name": "Ann"}, source="crm"),
    rec("a2", {"email": "ann@x.com", "cookie": "ca"}),
    rec("b1", {"email": "bob@x.com", "member_id": "mb"}, attrs={"given_name": "Bob"}, source="crm"),
    rec("c1", {"cookie": "cc", "device_id": "dc"}),
    rec("d1", {"email": "dan@x.com", "phone": "+4944"}, attrs={"given_name": "Dan"}, source="crm"),
    rec("d2", {"email": "dan@x.com", "cookie": "cd"}),
    rec("e1", {"cookie": "ce1"}),
    rec("f1", {"phone": "+4966", "cookie": "cf"}, attrs={"given_name": "Fay"}, source="crm"),
    # one shared cookie logs into two member ids: the login seen once loses its edge (limit 1)
    rec("k1", {"cookie": "ck", "member_id": "mk1"}),
    rec("k2", {"cookie": "ck", "member_id": "mk1"}, hours=1),
    rec("k3", {"cookie": "ck", "member_id": "mk2"}, hours=2),
    rec("k4", {"member_id": "mk2", "email": "kim@x.com"}, source="crm"),
]
DAY2 = [
    rec("x1", {"cookie": "ca", "member_id": "mb"}, hours=30),  # login: merges Ann's and Bob's persons
    rec("x2", {"email": "new@x.com", "cookie": "cn"}, hours=30),  # a new person
    # Fay's phone shows up with two more given names: the frequency guard (max 2) cuts it out
    # of Fay's person, which is recorded as a split
    rec("x3", {"phone": "+4966"}, attrs={"given_name": "Gus"}, source="crm", hours=30),
    rec("x4", {"phone": "+4966"}, attrs={"given_name": "Hal"}, source="crm", hours=30),
]
FREQ_CFG = IdentityConfig.model_validate(
    {"frequency": {"rules": [{"id_type": "phone", "attribute": "given_name", "max_distinct": 2}]}}
)


@pytest.fixture(scope="module")
def day1(spark: SparkSession) -> Resolution:
    """Day 1 resolved from scratch, shared by the tests below (a resolve is the expensive part)."""
    return resolve(spark, DAY1, FREQ_CFG)


def test_person_limit_drops_weakest_edge_and_reports_it(day1: Resolution) -> None:
    groups = partition(persons(day1))
    assert frozenset({("cookie", "ck"), ("member_id", "mk1")}) in groups
    assert frozenset({("member_id", "mk2"), ("email", "kim@x.com")}) in groups
    limit_rows = day1.report.where("kind = 'person_limit'").collect()
    assert [r.reason for r in limit_rows] == ["would exceed member_id limit 1"]
    evidence = json.loads(limit_rows[0].evidence)
    assert {evidence["src_type"], evidence["dst_type"]} == {"cookie", "member_id"} and evidence[
        "records"
    ] == 1
    dropped = day1.edges.where(~F.col("kept")).collect()
    assert len(dropped) == 1 and dropped[0].drop_reason == "would exceed member_id limit 1"
    assert day1.metrics["over_limit_components"] == 1 and day1.metrics["mode"] == "full"
    # the dropped edge still belongs to the component's pre-limit cluster (incremental bookkeeping)
    clusters = {r.id_value: r.cluster for r in day1.identity_map.collect()}
    assert clusters["ck"] == clusters["mk1"] == clusters["mk2"] == clusters["kim@x.com"]


def test_incremental_equals_full_and_touches_only_new_components(
    spark: SparkSession, day1: Resolution
) -> None:
    day2 = D1 + timedelta(days=1)
    ids1 = persons(day1)
    inc = resolve(spark, DAY1 + DAY2, FREQ_CFG, day1, day=day2)
    full = resolve(spark, DAY1 + DAY2, FREQ_CFG, day1, day=day2, full=True)
    assert inc.metrics["mode"] == "incremental" and full.metrics["mode"] == "full"
    assert inc.metrics["recomputed_components"] == 3 < full.metrics["recomputed_components"]
    key = ["id_type", "id_value", "node_id", "person_id", "anonymous", "first_run"]
    assert_df_equality(inc.identity_map.select(*key), full.identity_map.select(*key), ignore_row_order=True)
    assert changes(inc) == changes(full)

    ids2 = persons(inc)
    # untouched persons keep their ids and their rows (last_run included) in the incremental run
    for ident in [
        ("cookie", "cc"),
        ("device_id", "dc"),
        ("email", "dan@x.com"),
        ("cookie", "ce1"),
        ("cookie", "ck"),
    ]:
        assert ids2[ident] == ids1[ident]
    untouched = inc.identity_map.where("id_value in ('cc', 'dc', 'dan@x.com', 'ce1', 'ck', 'mk2')")
    assert {r.last_run for r in untouched.collect()} == {D1}
    # the merge keeps the older id (both born on day 1: the lexicographically smaller one)
    ann, bob = ids1[("email", "ann@x.com")], ids1[("email", "bob@x.com")]
    kept = min(ann, bob)
    assert ids2[("email", "ann@x.com")] == ids2[("member_id", "mb")] == kept
    assert ("phone", "+4966") not in ids2  # cut by the frequency guard
    assert ids2[("cookie", "cf")] == ids1[("cookie", "cf")]

    got = {
        (c["change"], tuple(c["person_ids_before"]), tuple(c["person_ids_after"])): c for c in changes(inc)
    }
    assert ("merge", tuple(sorted([ann, bob])), (kept,)) in got
    assert ("retire", (max(ann, bob),), (kept,)) in got
    fay = ids1[("cookie", "cf")]
    split = got[("split", (fay,), (fay,))]
    assert split["identifiers_moved"] == [{"id_type": "phone", "id_value": "+4966"}]
    assert [k for k in got if k[0] == "new"] == [("new", (), (ids2[("email", "new@x.com")],))]
    assert len(got) == 4

    # oracle: persons are the connected components of the kept edges (networkx)
    graph = nx.Graph()
    node_of = {r.node_id: (r.id_type, r.id_value) for r in inc.identity_map.collect()}
    graph.add_nodes_from(node_of.values())
    graph.add_edges_from((node_of[e.src], node_of[e.dst]) for e in inc.edges.where("kept").collect())
    assert {frozenset(c) for c in nx.connected_components(graph)} == partition(ids2)


def test_ids_do_not_depend_on_partitioning_or_row_order(spark: SparkSession, day1: Resolution) -> None:
    old = spark.conf.get("spark.sql.shuffle.partitions")
    try:
        spark.conf.set("spark.sql.shuffle.partitions", "7")
        shuffled = records_df(spark, list(reversed(DAY1))).repartition(5, "record_id")
        other = resolve(spark, DAY1, FREQ_CFG, records=shuffled)
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", old or "2")
    assert_df_equality(day1.identity_map, other.identity_map, ignore_row_order=True)
    assert_df_equality(day1.edges, other.edges, ignore_row_order=True)
    assert changes(day1) == changes(other)
    assert all(pid.startswith("p-") and len(pid) == 18 for pid in persons(day1).values())


# --------------------------------------------------------------------------- the stage


def write_silver(ctx: Any, rows: list[Rec], day: date) -> None:
    df = ctx.spark.createDataFrame(
        [(r[0], r[1], r[2], r[3], r[4].get("given_name"), day) for r in rows],
        "record_id string, source string, event_time timestamp, identifiers map<string,string>, "
        "first_name string, _run_date date",
    )
    ctx.store.write("silver.contacts", df, mode="append")


def run(ctx: Any, day: date, generation: int = 1, **options: bool) -> Any:
    rc = RunContext(
        run_id=f"{day:%Y%m%d}-g{generation}",
        run_date=day,
        stage="identity",
        generation=generation,
        options=IdentityOptions(**options),
    )
    return run_identity(ctx, rc)


def read_map(ctx: Any) -> DataFrame:
    return ctx.store.read(MAP_TABLE).orderBy("node_id")


@pytest.mark.slow
def test_stage_anonymous_to_known_rerun_and_unlink_split(ctx: Any) -> None:
    d1, d2, d3, d4 = (D1 + timedelta(days=i) for i in range(4))
    write_silver(ctx, [rec("r1", {"cookie": "c1", "device_id": "d1"})], d1)
    run(ctx, d1)
    anon = {r.id_value: r for r in read_map(ctx).collect()}
    assert anon["c1"].anonymous and anon["c1"].person_id == anon["d1"].person_id
    write_silver(ctx, [rec("r2", {"member_id": "m1", "email": "ann@x.com"}, source="crm", hours=24)], d2)
    run(ctx, d2)
    known = {r.id_value: r.person_id for r in read_map(ctx).collect()}["m1"]

    write_silver(ctx, [rec("r3", {"cookie": "c1", "member_id": "m1"}, hours=48)], d3)  # a login
    res = run(ctx, d3)
    after = {r.id_value: r for r in read_map(ctx).collect()}
    oldest = anon["c1"].person_id
    assert {r.person_id for r in after.values()} == {oldest}  # the oldest id survives
    assert not after["m1"].anonymous and after["m1"].first_run == d3 and after["c1"].first_run == d1
    day3 = ctx.store.read(CHANGES_TABLE).where(F.col("run_date") == d3)
    got = sorted((r.change, r.person_ids_before, r.person_ids_after, r.reason) for r in day3.collect())
    assert got == [
        (
            "merge",
            sorted([oldest, known]),
            [oldest],
            "2 persons linked by new edges; anonymous identifiers joined a known person",
        ),
        ("retire", [known], [oldest], f"merged into {oldest}"),
    ]
    assert res.metrics["changes"] == {"merge": 1, "retire": 1}

    # rerunning the date (a forced rerun: new generation) changes no id and no change row
    map_before = read_map(ctx).localCheckpoint()
    changes_before = day3.drop("run_id").collect()
    run(ctx, d3, generation=2)
    assert_df_equality(read_map(ctx), map_before)
    day3_again = ctx.store.read(CHANGES_TABLE).where(F.col("run_date") == d3).drop("run_id")
    assert sorted(map(str, day3_again.collect())) == sorted(map(str, changes_before))

    # unlink the shared cookie: the person splits; the part with most identifiers keeps the id
    assert unlink(ctx, "cookie", "c1", reason="shared kiosk cookie") == 1
    run(ctx, d4)
    final = {r.id_value: r.person_id for r in read_map(ctx).collect()}
    assert final["m1"] == final["ann@x.com"] == oldest
    assert len({final["c1"], final["d1"], oldest}) == 3
    day4 = ctx.store.read(CHANGES_TABLE).where(F.col("run_date") == d4).collect()
    assert [(r.change, r.person_ids_before, r.person_ids_after) for r in day4] == [
        ("split", [oldest], sorted([oldest, final["c1"], final["d1"]]))
    ]
    assert sorted(i.id_value for i in day4[0].identifiers_moved) == ["c1", "d1"]
    report = ctx.store.read(REPORT_TABLE).where((F.col("run_date") == d4) & (F.col("kind") == "exclusion"))
    assert [r.id_value for r in report.collect()] == ["c1"]


def test_stage_gate_blocks_giant_component_until_accepted(ctx: Any) -> None:
    cfg = IdentityConfig.model_validate({"gate": {"max_component_size": 4}})
    ctx = dataclasses.replace(ctx, config=dataclasses.replace(ctx.config, domains={"identity.yaml": cfg}))
    chain = [rec(f"r{i}", {"cookie": f"c{i}", "email": f"e{i}@x.com"}) for i in range(3)]
    chain += [rec(f"s{i}", {"cookie": f"c{i}", "email": f"e{i + 1}@x.com"}) for i in range(2)]
    chain.append(rec("ok", {"cookie": "lonely"}))
    write_silver(ctx, chain, D1)
    with pytest.raises(QualityGateError, match="max_component_size=4"):
        run(ctx, D1)
    assert not ctx.store.exists(MAP_TABLE) and not ctx.store.exists(CHANGES_TABLE)
    gate = ctx.store.read(REPORT_TABLE).where("kind = 'gate'").collect()
    assert [(r.metric, json.loads(r.evidence)["type_counts"]) for r in gate] == [
        (6, {"cookie": 3, "email": 3})
    ]

    result = run(ctx, D1, accept_merges=True)
    assert result.metrics["gate_overridden"] is True
    sizes = read_map(ctx).groupBy("person_id").count().collect()
    assert sorted(r["count"] for r in sizes) == [1, 6]
