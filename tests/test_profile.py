"""Profiles: RFM, lifecycle and repurchase cycle on hand-computed examples; survivorship with
provenance; late events, merges and splits through the stage; incremental == full rebuild."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from cdp_spark.cleanse.silver_schema import CONTACTS, EVENTS, ORDERS, table_schema
from cdp_spark.pipeline import RunContext
from cdp_spark.profile.build import build_profiles, lifecycle_changes
from cdp_spark.profile.config import ProfileConfig, Survivorship
from cdp_spark.profile.schema import CANDIDATE_SCHEMA, CANDIDATES, ROLLUP_SCHEMA, ROLLUPS, profile_schema

AS_OF = date(2025, 6, 30)


def _rollup(anchor: str, day: date, **measures: Any) -> dict[str, Any]:
    row: dict[str, Any] = {f.name: None for f in ROLLUP_SCHEMA.fields}
    at = datetime.combine(day, datetime.min.time()) + timedelta(hours=10)
    row.update(
        anchor_type="member_id", anchor_value=anchor, event_date=day, records=1, first_seen=at, last_seen=at
    )
    row["event_month"] = day.replace(day=1)
    row["last_channel"] = "web"
    row.update(measures)
    return row


def _orders(anchor: str, days: list[date], amount: str = "100.00") -> list[dict[str, Any]]:
    return [_rollup(anchor, d, orders=1, revenue=Decimal(amount), items=1) for d in days]


def _consent(purpose: str, status: str, day: int) -> dict[str, Any]:
    return {"purpose": purpose, "status": status, "at": datetime(2025, 6, day, 9)}


def _identity_map(spark, pairs: list[tuple[str, str, str]]):  # type: ignore[no-untyped-def]
    return spark.createDataFrame(pairs, "id_type string, id_value string, person_id string")


def _empty_candidates(spark):  # type: ignore[no-untyped-def]
    return spark.createDataFrame([], CANDIDATE_SCHEMA)


@pytest.fixture(scope="module")
def rfm_profiles(spark):  # type: ignore[no-untyped-def]
    d = date
    rows = [
        *_orders("m1", [d(2025, 6, 1), d(2025, 6, 11), d(2025, 6, 21)]),  # cycle 10, recency 9
        *_orders("m2", [d(2025, 1, 1), d(2025, 2, 1)]),  # cycle 31, recency 149 > 62
        *_orders("m3", [d(2025, 6, 25)]),  # one recent order
        _rollup("m4", d(2025, 6, 29), events=3, searches=1, search_terms=["antarctic cruise"]),  # no order
        *_orders("m5", [d(2024, 5, 1), d(2024, 5, 2)]),  # recency 424 > 365
        *_orders("m6", [d(2025, 6, 26) + timedelta(days=i) for i in range(5)]),  # 5 orders, daily
        _rollup("m7", d(2025, 7, 2), orders=1, revenue=Decimal("50.00")),  # after as_of: invisible
        # Consent: e-mail granted, withdrawn, granted again (a later day); sms granted and withdrawn
        # at the same instant (withdrawn wins); post only ever withdrawn.
        _rollup(
            "m8",
            d(2025, 6, 2),
            consent_events=[_consent("email", "granted", 2), _consent("post", "withdrawn", 2)],
        ),
        _rollup("m8", d(2025, 6, 3), consent_events=[_consent("email", "withdrawn", 3)]),
        _rollup(
            "m8",
            d(2025, 6, 4),
            consent_events=[
                _consent("email", "granted", 4),
                _consent("sms", "granted", 4),
                _consent("sms", "withdrawn", 4),
            ],
        ),
    ]
    rollups = spark.createDataFrame(rows, ROLLUP_SCHEMA)
    ids = _identity_map(spark, [("member_id", f"m{i}", f"P{i}") for i in range(1, 9)])
    out = build_profiles(rollups, _empty_candidates(spark), ids, AS_OF, ProfileConfig())
    return {r.person_id: r for r in out.collect()}, out


def test_profile_schema_is_the_contract(rfm_profiles) -> None:  # type: ignore[no-untyped-def]
    _, df = rfm_profiles

    def shape(schema):  # type: ignore[no-untyped-def]
        return [(f.name, f.dataType.simpleString()) for f in schema.fields]

    assert shape(df.schema) == shape(profile_schema(ProfileConfig().windows))


def test_order_history_and_repurchase_cycle(rfm_profiles) -> None:  # type: ignore[no-untyped-def]
    p, _ = rfm_profiles
    assert (p["P1"].orders, p["P1"].order_days, p["P1"].repurchase_cycle_days) == (3, 3, 10.0)
    assert p["P1"].revenue == Decimal("300.00") and p["P1"].avg_order_value == Decimal("100.00")
    assert (p["P1"].first_order_date, p["P1"].last_order_date) == (date(2025, 6, 1), date(2025, 6, 21))
    assert p["P2"].repurchase_cycle_days == 31.0
    assert p["P3"].repurchase_cycle_days is None and p["P4"].orders == 0
    assert "P7" not in p, "activity after the as-of date must not create a profile"


def test_lifecycle_stages(rfm_profiles) -> None:  # type: ignore[no-untyped-def]
    p, _ = rfm_profiles
    got = {k: v.lifecycle_stage for k, v in p.items()}
    assert got == {
        "P1": "active",
        "P2": "at_risk",
        "P3": "new",
        "P4": "prospect",
        "P5": "lapsed",
        "P6": "loyal",
        "P8": "prospect",
    }


def test_rfm_scores_and_segments(rfm_profiles) -> None:  # type: ignore[no-untyped-def]
    p, _ = rfm_profiles
    # Buyers' recency [0, 5, 9, 149, 424] → cut points 0, 5, 9, 149; frequency [1, 2, 2, 3, 5] →
    # 1, 2, 2, 3; monetary [100, 200, 200, 300, 500] → 100, 200, 200, 300.
    got = {k: (v.recency_days, v.r_score, v.f_score, v.m_score, v.rfm_segment) for k, v in p.items()}
    assert got == {
        "P1": (9, 3, 4, 4, "Loyal Customers"),
        "P2": (149, 2, 2, 2, "Hibernating"),
        "P3": (5, 4, 1, 1, "Promising"),
        "P4": (None, None, None, None, None),
        "P5": (424, 1, 2, 2, "Hibernating"),
        "P6": (0, 5, 5, 5, "Champions"),
        "P8": (None, None, None, None, None),
    }
    assert p["P6"].rfm_score == "555"


def test_behaviour_windows(rfm_profiles) -> None:  # type: ignore[no-untyped-def]
    p, _ = rfm_profiles
    assert p["P6"].last_7d.orders == 5 and p["P6"].last_7d.active_days == 5
    assert p["P1"].last_7d.orders == 0 and p["P1"].last_30d.orders == 3
    assert p["P4"].last_7d.search_terms == ["antarctic cruise"] and p["P4"].last_7d.searches == 1
    assert p["P2"].last_365d.orders == 2 and p["P5"].last_365d.orders == 0
    # Active days per window: P1 ordered on 1, 11 and 21 June; as of 30 June.
    assert (p["P1"].active_days, p["P1"].last_7d.active_days, p["P1"].last_30d.active_days) == (3, 0, 3)
    assert (p["P6"].active_days, p["P6"].last_7d.active_days) == (5, 5)
    assert (p["P2"].last_90d.active_days, p["P2"].last_365d.active_days) == (0, 2)


def test_consent_is_the_latest_event_per_purpose(rfm_profiles) -> None:  # type: ignore[no-untyped-def]
    p, _ = rfm_profiles
    assert p["P8"].consent == {"email": "granted", "post": "withdrawn", "sms": "withdrawn"}


def test_survivorship_rules_and_provenance(spark) -> None:  # type: ignore[no-untyped-def]
    def cand(attr: str, value: str, source: str, records: int, first: int, last: int, rid: str) -> tuple:
        base = datetime(2025, 6, 1)
        return (
            "member_id", "m1", date(2025, 6, 1), attr, value, source, records,
            base + timedelta(days=first), base + timedelta(days=last), rid, date(2025, 6, 1),
        )  # fmt: skip

    rows = [
        cand("name", "A. Schmidt", "orders", 3, 0, 9, "o9"),
        cand("name", "Anna Schmidt", "crm", 1, 2, 2, "c1"),
        cand("email", "anna@example.com", "orders", 3, 0, 9, "o9"),
        cand("email", "a.schmidt@example.com", "crm", 1, 5, 5, "c1"),
        cand("phone", "+4915112345678", "crm", 1, 1, 1, "c1"),
        cand("phone", "+4915199999999", "support", 1, 7, 7, "t7"),
        cand("birth_date", "1990-02-03", "crm", 1, 1, 1, "c1"),
        cand("address", '{"street":"Hauptstr. 1","postcode":"10115","city":"Berlin","country":"DE"}', "orders", 1, 3, 3, "o3"),
    ]  # fmt: skip
    candidates = spark.createDataFrame(rows, CANDIDATE_SCHEMA)
    rollups = spark.createDataFrame([_rollup("m1", date(2025, 6, 1))], ROLLUP_SCHEMA)
    ids = _identity_map(spark, [("member_id", "m1", "P1")])
    p = build_profiles(rollups, candidates, ids, AS_OF, ProfileConfig()).collect()[0]
    assert (p.full_name, p.name_source, p.name_record_id) == ("Anna Schmidt", "crm", "c1")  # source priority
    assert (p.email, p.email_source, p.email_record_id) == (
        "anna@example.com",
        "orders",
        "o9",
    )  # most frequent
    assert (p.phone, p.phone_source) == ("+4915199999999", "support")  # most recent
    assert (p.birth_date, p.age) == (date(1990, 2, 3), 35)
    assert (p.city, p.postcode, p.address_source) == ("Berlin", "10115", "orders")
    first = ProfileConfig(survivorship={"name": Survivorship(rule="first_non_null")})
    p = build_profiles(rollups, candidates, ids, AS_OF, first).collect()[0]
    assert (p.full_name, p.name_record_id) == ("A. Schmidt", "o9")


def test_lifecycle_changes_between_snapshots(spark) -> None:  # type: ignore[no-untyped-def]
    before = spark.createDataFrame(
        [("A", "new"), ("B", "active"), ("C", "loyal")], "person_id string, lifecycle_stage string"
    )
    after = spark.createDataFrame(
        [("A", "active"), ("B", "active"), ("D", "prospect")], "person_id string, lifecycle_stage string"
    )
    got = lifecycle_changes(before, after, AS_OF)
    expected = spark.createDataFrame(
        [(AS_OF, "A", "new", "active"), (AS_OF, "C", "loyal", None), (AS_OF, "D", None, "prospect")],
        "run_date date, person_id string, stage_before string, stage_after string",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_profile_config_errors_name_the_key() -> None:
    with pytest.raises(ValueError, match="source_priority"):
        Survivorship(rule="source_priority")
    with pytest.raises(ValueError, match=r"unknown group\(s\) \['nmae'\]"):
        ProfileConfig(survivorship={"nmae": Survivorship()})
    with pytest.raises(ValueError, match="anchor_priority: unknown identifier type"):
        ProfileConfig(anchor_priority=["member_id", "passport"])


# --------------------------------------------------------------------------- through the stage

D1, D2, D3 = date(2025, 3, 1), date(2025, 3, 2), date(2025, 3, 3)


def _silver(spark, table: str, rows: list[dict[str, Any]]):  # type: ignore[no-untyped-def]
    schema = table_schema(table)
    full = []
    for r in rows:
        row: dict[str, Any] = {f.name: None for f in schema.fields}
        row.update(r)
        row["event_date"] = row["event_time"].date()
        row.setdefault("source", "web")
        full.append(row)
    return spark.createDataFrame(full, schema)


def _event(
    rid: str, at: datetime, ids: dict[str, str], run: date, etype: str = "page_view", **props: str
) -> dict:
    return {
        "record_id": rid, "source": "web", "channel": "web", "event_time": at, "event_id": rid,
        "event_type": etype, "properties": props, "identifiers": ids, "_run_date": run,
    }  # fmt: skip


def _order(rid: str, at: datetime, ids: dict[str, str], run: date, amount: str) -> dict:
    return {
        "record_id": rid, "source": "orders", "channel": "web", "event_time": at, "order_id": rid,
        "status": "paid", "total_amount": Decimal(amount), "currency": "EUR", "item_count": 1,
        "identifiers": ids, "_run_date": run,
    }  # fmt: skip


def _at(day: date, hours: float) -> datetime:
    """``hours`` after midnight of ``day`` (naive, as the silver rows hold event times)."""
    return datetime.combine(day, datetime.min.time()) + timedelta(hours=hours)


def _order_line(rid: str, day: date, sku: str, category: str, run: date | None = None) -> dict[str, Any]:
    """A ``silver.order_lines`` row of one unit at noon of ``day`` (the catalogue learns from these)."""
    from cdp_spark.cleanse.silver_schema import order_lines_schema

    row: dict[str, Any] = {f.name: None for f in order_lines_schema().fields}
    row.update(record_id=f"{rid}#1", source="orders", event_time=_at(day, 12), event_date=day, order_record_id=rid,
               line_no=1, sku=sku, category=category, quantity=1, _run_date=run)  # fmt: skip
    return row


def _run(ctx, day: date, gen: int = 1, **options: Any):  # type: ignore[no-untyped-def]
    from cdp_spark.profile.stage import ProfileOptions, run_profile

    rc = RunContext(
        run_id=f"t-{day}-{gen}",
        run_date=day,
        stage="profile",
        generation=gen,
        options=ProfileOptions(**options),
    )
    return run_profile(ctx, rc)


def _by_key(df, *keys: str) -> dict:  # type: ignore[no-untyped-def]
    """Rows keyed by ``keys`` as plain dicts: compares map columns without ordering them (Spark cannot)."""
    return {tuple(r[k] for k in keys): r.asDict(recursive=True) for r in df.collect()}


def _write_identity(ctx, rows: list[tuple[str, str, str, date]]) -> None:  # type: ignore[no-untyped-def]
    """``(id_type, id_value, person_id, first_run)``: first_run is the first run that mapped the
    identifier to that person (a moved identifier starts again), as the identity stage writes it."""
    schema = "id_type string, id_value string, person_id string, first_run date"
    ctx.store.write("gold.identity_map", ctx.spark.createDataFrame(rows, schema), mode="overwrite")


def _with_profile(ctx, **values: Any):  # type: ignore[no-untyped-def]
    """``ctx`` with a ``profile.yaml`` of these values (defaults for the rest)."""
    from dataclasses import replace

    from cdp_spark.context import CdpContext

    config = replace(ctx.config, domains={**ctx.config.domains, "profile.yaml": ProfileConfig(**values)})
    return CdpContext.attach(config, ctx.spark, ctx.runtime)


# ------------------------------------------------ nights through the stage, played once per module
#
# One story of nights (late events, a merge, a rerun, a split, a window boundary, a skipped day,
# a vacuumed snapshot, a new and an updated contact), each night followed by a full rebuild of
# the same date. The stage runs 15 times in all, once per module: the fixture plays the nights
# in order and records what each run reported and left behind; the tests below only read that
# record, so any of them can run alone or in any order. The equalities incremental == full are
# asserted per night; the counters that prove the nights stayed incremental in a test of their own.

D8 = D1 + timedelta(days=7)
D9, D10, D11, D12 = (D8 + timedelta(days=n) for n in (1, 2, 3, 4))
ROLLUP_KEY = ("anchor_type", "anchor_value", "event_date")


@dataclass
class _Nights:
    """What the stage reported and left behind, by run label ("D2", "D2 rerun", "D2 full", ...)."""

    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    profiles: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # person_id → row
    rollups: dict[str, dict[tuple, dict[str, Any]]] = field(default_factory=dict)  # only where asked
    seen: dict[str, Any] = field(default_factory=dict)  # other observations, named where taken


def _profiles(df) -> dict[str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    return {key[0]: row for key, row in _by_key(df, "person_id").items()}


def _contact(first_name: str, updated: datetime, run: date) -> dict[str, Any]:
    """B's CRM contact ``k1``, created on D1."""
    return {"record_id": "k1", "source": "crm", "channel": "crm", "event_time": _at(D1, 8), "customer_no": "k1",
            "updated_at": updated, "first_name": first_name, "last_name": "Li", "identifiers": {"member_id": "m1"},
            "_run_date": run}  # fmt: skip


def _play_nights(ctx) -> _Nights:  # type: ignore[no-untyped-def]
    from cdp_spark.profile.stage import profiles_as_of

    # merge_new_rows: merge, so that every path of the night is taken; "again" is run on day 10.
    ctx = _with_profile(ctx, merge_new_rows="merge")
    spark, store = ctx.spark, ctx.store
    out = _Nights()

    def night(label: str, day: date, gen: int = 1, on=None, rollups: bool = False, **options: Any) -> None:  # type: ignore[no-untyped-def]
        res = _run(on or ctx, day, gen, **options)
        out.metrics[label] = dict(res.metrics)
        out.profiles[label] = _profiles(store.read("gold.profiles"))
        if rollups:
            out.rollups[label] = _by_key(store.read(ROLLUPS), *ROLLUP_KEY)

    def lifecycle_changes_of(day: date) -> list:
        return store.read("gold.lifecycle_changes").where(F.col("run_date") == day).collect()

    # Day 1: an anonymous cookie searches; a member orders.
    store.write("silver.events", _silver(spark, EVENTS, [
        _event("e1", _at(D1, 9), {"cookie": "c1"}, D1, "search", search_query="Antarctic cruise"),
        _event("e2", _at(D1, 9.2), {"cookie": "c1"}, D1, "search", search_query="南极"),
    ]), mode="append", partition_by=["event_date"])  # fmt: skip
    store.write("silver.orders", _silver(spark, ORDERS, [
        _order("o1", _at(D1, 12), {"member_id": "m1", "phone": "+8613900000001"}, D1, "100.00"),
    ]), mode="append", partition_by=["event_date"])  # fmt: skip
    _write_identity(
        ctx, [("cookie", "c1", "A", D1), ("member_id", "m1", "B", D1), ("phone", "+8613900000001", "B", D1)]
    )
    night("D1", D1)

    # Day 2: the cookie logs in as m1 (merge into B), and an order of day 1 arrives late.
    store.write("silver.events", _silver(spark, EVENTS, [
        _event("e3", _at(D2, 8), {"cookie": "c1", "member_id": "m1"}, D2, "login"),
    ]), mode="append", partition_by=["event_date"])  # fmt: skip
    store.write("silver.orders", _silver(spark, ORDERS, [
        _order("o0", _at(D1, 7), {"phone": "+8613900000001"}, D2, "50.00"),
    ]), mode="append", partition_by=["event_date"])  # fmt: skip
    # c1 is new to B but brings A's history: B is aggregated again, not merged.
    _write_identity(
        ctx, [("cookie", "c1", "B", D2), ("member_id", "m1", "B", D1), ("phone", "+8613900000001", "B", D1)]
    )
    night("D2", D2, rollups=True)
    out.seen["D2 lifecycle_changes"] = {
        r.person_id: (r.stage_before, r.stage_after) for r in lifecycle_changes_of(D2)
    }
    # Rerun of D2: same tables (no appended rows, same changes).
    night("D2 rerun", D2, gen=2, rollups=True)
    out.seen["D2 rerun lifecycle_changes"] = len(lifecycle_changes_of(D2))
    night("D2 full", D2, gen=3, rollups=True, full=True)

    # Day 3: the cookie is unlinked again (split): its searches go back to an anonymous person.
    # A new anonymous visitor Z arrives the same day, and a corrected version of the search e1
    # of day 1 names the member m1 instead of the cookie: the update changes the record's
    # anchor, so the old anchor's day-1 rollup (c1) must lose it, though no row of c1 was
    # written this run.
    store.write("silver.events", _silver(spark, EVENTS, [
        _event("e4", _at(D3, 10), {"cookie": "z1"}, D3, "page_view"),
    ]), mode="append", partition_by=["event_date"])  # fmt: skip
    store.merge("silver.events", _silver(spark, EVENTS, [
        _event("e1", _at(D1, 9), {"member_id": "m1"}, D3, "search", search_query="Antarctic cruise"),
    ]), keys=["record_id", "event_date"])  # fmt: skip
    _write_identity(ctx, [("cookie", "c1", "C", D3), ("member_id", "m1", "B", D1),
                          ("phone", "+8613900000001", "B", D1), ("cookie", "z1", "Z", D3)])  # fmt: skip
    night("D3", D3)
    night("D3 full", D3, gen=2, full=True)

    # A week after D1, with no new data: D1 leaves the 7-day window.
    night("D8", D8)
    night("D8 full", D8, gen=2, full=True)

    # An order arrives for day 9 but the profile stage does not run that day: day 10 picks it up.
    # On day 10 the anonymous C searches again, then on a new device, and orders as a guest.
    store.write("silver.orders", _silver(spark, ORDERS, [
        _order("o9", _at(D9, 12), {"member_id": "m1"}, D9, "30.00"),
        _order("o10", _at(D10, 12), {"cookie": "c1"}, D10, "80.00"),
    ]), mode="append", partition_by=["event_date"])  # fmt: skip
    store.write("silver.events", _silver(spark, EVENTS, [
        _event("e10", _at(D10, 11), {"cookie": "c1"}, D10, "search", search_query="Penguins"),
        _event("e11", _at(D10, 11.1), {"cookie": "c1", "device_id": "dev1"}, D10, "page_view"),
    ]), mode="append", partition_by=["event_date"])  # fmt: skip
    identity_d10 = [("cookie", "c1", "C", D3), ("member_id", "m1", "B", D1), ("phone", "+8613900000001", "B", D1),
                    ("cookie", "z1", "Z", D3), ("device_id", "dev1", "C", D10)]  # fmt: skip
    _write_identity(ctx, identity_d10)
    night("D10", D10)
    # The same night again with merge_new_rows: again.
    night("D10 again", D10, gen=2, on=_with_profile(ctx, merge_new_rows="again"))
    # The rollups are rewritten (as by OPTIMIZE) and vacuumed with no retention: the version
    # the snapshot was built from is gone, so a rerun rebuilds in full instead of failing.
    store.write(ROLLUPS, store.read(ROLLUPS), mode="overwrite")
    store.maintenance.vacuum(ROLLUPS, retention_hours=0)
    night("D10 vacuumed", D10, gen=3)

    # Day 11: Z's cookie turns up on C's device (Z merged into C) with only a new page view, and
    # the CRM delivers B's contact, created on D1.
    store.write("silver.events", _silver(spark, EVENTS, [
        _event("e12", _at(D11, 9), {"cookie": "z1"}, D11, "page_view"),
    ]), mode="append", partition_by=["event_date"])  # fmt: skip
    _write_identity(ctx, [*[r for r in identity_d10 if r[1] != "z1"], ("cookie", "z1", "C", D11)])
    store.write("silver.contacts", _silver(spark, CONTACTS, [_contact("Yue", _at(D11, 6), D11)]), mode="append",
                partition_by=["event_date"])  # fmt: skip
    night("D11", D11)
    night("D11 full", D11, gen=2, full=True)
    # Point in time, from the rollups the night of D11 left behind (before D12 changes them).
    out.seen["as of D11"] = _profiles(profiles_as_of(ctx, D11))
    out.seen["as of D1"] = _profiles(profiles_as_of(ctx, D1))

    # Day 12: the contact is updated (another first name), keeping its day.
    store.merge("silver.contacts", _silver(spark, CONTACTS, [_contact("Yun", _at(D12, 6), D12)]),
                keys=["record_id", "event_date"])  # fmt: skip
    night("D12", D12)
    night("D12 full", D12, gen=2, full=True)
    return out


@pytest.fixture(scope="module")
def nights(spark, runtime_info, spark_settings, tmp_path_factory) -> _Nights:  # type: ignore[no-untyped-def]
    """The nights above played once on a workspace of this module's own."""
    from cdp_spark.config import Config
    from cdp_spark.context import CdpContext

    root = tmp_path_factory.mktemp("profile-nights") / "ws"
    root.mkdir()
    settings = spark_settings.settings.model_copy(update={"workspace": str(root)})
    config = Config(settings=settings, conf_dir=None, source="test", domains={})
    return _play_nights(CdpContext.attach(config, spark, runtime_info))


# Every test below pays for the nights when it runs alone: all of them are slow.


@pytest.mark.slow
def test_stage_first_night_builds_an_anonymous_and_a_known_person(nights) -> None:  # type: ignore[no-untyped-def]
    p = nights.profiles["D1"]
    assert set(p) == {"A", "B"} and p["A"]["searches"] == 2 and not p["A"]["is_known"]
    assert (p["B"]["orders"], p["B"]["lifecycle_stage"], p["B"]["is_known"]) == (1, "new", True)


@pytest.mark.slow
def test_stage_late_order_and_merge_equal_a_full_rebuild(nights) -> None:  # type: ignore[no-untyped-def]
    # Day 2: the cookie logs in as m1 (the anonymous A merges into B); an order of D1 arrives late.
    p = nights.profiles["D2"]
    assert set(p) == {"B"}, "the anonymous person merged into the known one"
    assert (p["B"]["searches"], p["B"]["orders"], p["B"]["revenue"]) == (2, 2, Decimal("150.00"))
    assert p["B"]["search_terms"] == ["antarctic cruise", "南极"]
    assert nights.seen["D2 lifecycle_changes"] == {
        "A": ("prospect", None),  # merged away
        "B": ("new", "active"),  # two orders now
    }
    # Full rebuild reaches the same rollups and profiles (as the rerun of D2 left them).
    assert nights.rollups["D2 full"] == nights.rollups["D2"]
    assert nights.profiles["D2 full"] == nights.profiles["D2 rerun"]


@pytest.mark.slow
def test_stage_rerun_of_a_night_keeps_its_rollups_and_lifecycle_changes(nights) -> None:  # type: ignore[no-untyped-def]
    # Rerun of D2: same tables (no appended rows, same changes); the rollups already hold the
    # rows it computes (that no month of them is written again is asserted with the counters).
    assert nights.rollups["D2 rerun"] == nights.rollups["D2"]
    assert nights.seen["D2 rerun lifecycle_changes"] == 2  # A gone, B new→active


@pytest.mark.slow
def test_stage_split_and_a_corrected_anchor_equal_a_full_rebuild(nights) -> None:  # type: ignore[no-untyped-def]
    # Day 3: c1 is split off B into C; the corrected search e1 moves from c1 to m1 (B).
    incremental_d3 = nights.profiles["D3"]
    assert (incremental_d3["C"]["searches"], incremental_d3["C"]["orders"]) == (1, 0)
    assert incremental_d3["C"]["search_terms"] == ["南极"]
    assert (incremental_d3["B"]["searches"], incremental_d3["B"]["orders"]) == (1, 2)
    assert incremental_d3["B"]["search_terms"] == ["antarctic cruise"]
    assert nights.profiles["D3 full"] == incremental_d3


@pytest.mark.slow
def test_stage_a_day_leaving_the_7_day_window_equals_a_full_rebuild(nights) -> None:  # type: ignore[no-untyped-def]
    # A week after D1, with no new data: D1 leaves the 7-day window. Only the persons with D1
    # rollups (B and C) are aggregated again; Z keeps its row, but its recency moves on.
    incremental_d8 = nights.profiles["D8"]
    assert (incremental_d8["C"]["searches"], incremental_d8["C"]["last_7d"]["searches"]) == (1, 0)
    assert incremental_d8["Z"]["as_of_date"] == D8
    assert nights.profiles["D8 full"] == incremental_d8


@pytest.mark.slow
def test_stage_skipped_day_merged_rows_and_departed_days_equal_a_full_rebuild(nights) -> None:  # type: ignore[no-untyped-def]
    # An order arrives for day 9 but the profile stage does not run that day: day 10 picks it up.
    # On day 10 the anonymous C searches again, then on a new device, and orders as a guest: new
    # rows and an identifier without history only, so C's new rollups are merged into C's stored
    # profile (the order day joins the stored order days) and C's identifier columns are
    # recomputed, instead of C being aggregated again. B's login of day 2 and Z's page view of
    # day 3 left the 7-day window: they hold only subtractable measures, so they are taken out
    # of B's and Z's windows (B also gets the order of day 9 merged in); nobody is aggregated
    # again.
    incremental_d10 = nights.profiles["D10"]
    assert (incremental_d10["B"]["orders"], incremental_d10["B"]["last_7d"]["event_counts"]) == (3, {})
    assert (incremental_d10["Z"]["last_7d"]["page_views"], incremental_d10["Z"]["page_views"]) == (0, 1)
    c = incremental_d10["C"]
    assert (c["searches"], c["page_views"], c["active_days"], c["search_terms"]) == (
        2,
        1,
        2,
        ["penguins", "南极"],
    )
    assert (c["id_types"], c["identifiers"], c["is_known"]) == (["cookie", "device_id"], 2, False)
    assert (c["orders"], c["order_dates"], c["lifecycle_stage"]) == (1, [D10], "new")
    assert (c["last_7d"]["searches"], c["last_7d"]["active_days"], c["last_30d"]["searches"]) == (1, 1, 2)
    assert (c["first_seen"], c["last_seen"], c["last_channel"]) == (
        _at(D1, 9.2),
        _at(D10, 12),
        "web",
    )  # the order
    # The rollups were then rewritten (as by OPTIMIZE) and vacuumed with no retention: the
    # version the snapshot was built from is gone, so the rerun rebuilt in full (the counters
    # test checks it says why) instead of failing; that full rebuild must equal the incremental
    # result.
    assert nights.profiles["D10 vacuumed"] == incremental_d10


@pytest.mark.slow
def test_stage_merge_new_rows_again_gives_the_profiles_merging_gave(nights) -> None:  # type: ignore[no-untyped-def]
    # The night of D10 again with merge_new_rows: again. The three candidates are aggregated
    # again instead (as auto does when they are fewer than the persons aggregated anyway), and
    # the profiles are the same.
    assert nights.profiles["D10 again"] == nights.profiles["D10"]


@pytest.mark.slow
def test_stage_identity_merge_and_a_new_contact_equal_a_full_rebuild(nights) -> None:  # type: ignore[no-untyped-def]
    # Day 11: Z's cookie turns up on C's device (Z merged into C) with only a new page view. z1
    # is new to C but not new: it brings Z's day-3 history, so C is aggregated again, not merged.
    # The CRM also delivers B's contact, created on D1: a new record, so B is aggregated again.
    incremental_d11 = nights.profiles["D11"]
    assert set(incremental_d11) == {"B", "C"} and incremental_d11["C"]["page_views"] == 3
    assert incremental_d11["B"]["full_name"] == "Yue Li"
    assert nights.profiles["D11 full"] == incremental_d11


@pytest.mark.slow
def test_profiles_as_of_a_past_date_count_rows_up_to_it_with_todays_person_ids(nights) -> None:  # type: ignore[no-untyped-def]
    # Point in time: the same code as of a past date, from the stored rollups with today's
    # person ids (taken on D11). As of the run date it is that night's snapshot; as of D1 only
    # rows dated up to D1 count (the late order o0 and the corrected search e1 included, o9 not).
    assert nights.seen["as of D11"] == nights.profiles["D11"]
    then = nights.seen["as of D1"]
    assert set(then) == {"B", "C"}, "today's person ids; z1 (now C's) had no activity by D1"
    b, c = then["B"], then["C"]
    assert (b["as_of_date"], b["orders"], b["revenue"], b["order_dates"]) == (D1, 2, Decimal("150.00"), [D1])
    assert (b["search_terms"], c["search_terms"], c["page_views"]) == (["antarctic cruise"], ["南极"], 0)


@pytest.mark.slow
def test_stage_updated_contact_equals_a_full_rebuild(nights) -> None:  # type: ignore[no-untyped-def]
    # Day 12: the contact is updated (another first name). It keeps its day and contributes the
    # same partial to the D1 rollup, so only its candidate rows are stated again.
    incremental_d12 = nights.profiles["D12"]
    assert incremental_d12["B"]["full_name"] == "Yun Li"
    assert nights.profiles["D12 full"] == incremental_d12


@pytest.mark.slow
def test_stage_reports_the_steps_of_a_night(nights) -> None:  # type: ignore[no-untyped-def]
    steps = nights.metrics["D2"]["step_seconds"]  # the night's breakdown, as bench gold reports it
    wanted = {
        "touched_days",
        "gold.daily_rollups",
        "persons_to_rebuild",
        "aggregate",
        "finalise_and_write_profiles",
    }
    assert wanted <= set(steps)
    assert all(v >= 0 for v in steps.values())


@pytest.mark.slow
def test_stage_nights_stay_incremental_and_touch_only_what_changed(nights) -> None:  # type: ignore[no-untyped-def]
    m = nights.metrics
    # The first night and the requested rebuilds are full: the equalities above compare an
    # incremental night with a real full rebuild.
    assert m["D1"]["mode"] == "full"
    for label in ("D2 full", "D3 full", "D8 full", "D11 full", "D12 full"):
        assert (m[label]["mode"], m[label]["full_reason"]) == ("full", "full run requested"), label

    # D2: the late order's day and the login's day are rolled up again.
    assert m["D2"]["mode"] == "incremental" and m["D2"]["days_rolled_up"] == 2  # D1 (late) and D2
    # Of those days, only the keys written: the login's anchor on D2, the late order's phone on D1.
    assert (m["D2"]["rolled_up"], m["D2"]["keys_rolled_up"]) == ("keys", 2)
    assert (m["D2"]["daily_rollups_months_rewritten"], m["D2"]["attribute_candidates_months_rewritten"]) == (
        1,
        0,
    )
    # Its rerun: the rollups already hold the rows it computes, so no month of them is written again.
    assert m["D2 rerun"]["daily_rollups_months_rewritten"] == 0

    # D3: B, C split; Z new. Only the keys of the rows written and of the version replaced:
    # (z1, D3), (m1, D1), (c1, D1).
    assert m["D3"]["mode"] == "incremental" and m["D3"]["persons_rebuilt"] == 3
    assert (m["D3"]["rolled_up"], m["D3"]["keys_rolled_up"], m["D3"]["records_written"]) == ("keys", 3, 2)

    # D8: only the persons with D1 rollups (B and C) are aggregated again.
    assert (m["D8"]["mode"], m["D8"]["persons_rebuilt"]) == ("incremental", 2)

    # D10 (D9 skipped): C's new rows merged in, B's and Z's departed days subtracted; nobody
    # aggregated again.
    assert (m["D10"]["mode"], m["D10"]["days_rolled_up"]) == ("incremental", 2)
    assert (m["D10"]["persons_rebuilt"], m["D10"]["persons_merged"]) == (0, 3)
    assert (m["D10"]["persons_merged_new_identifiers"], m["D10"]["persons_merged_departed_days"]) == (1, 2)
    # merge_new_rows: again. The candidates are found in the same join as the others, not told
    # apart first: they are not counted.
    assert (m["D10 again"]["mode"], m["D10 again"]["persons_merge_candidates"]) == ("incremental", None)
    assert (m["D10 again"]["persons_rebuilt"], m["D10 again"]["persons_merged"]) == (3, 0)
    # The snapshot's rollups vacuumed: a full rebuild, and it says why.
    vacuumed = m["D10 vacuumed"]
    assert vacuumed["mode"] == "full" and "not readable (vacuumed?)" in vacuumed["full_reason"]

    # D11: C, B, and Z retired are aggregated again.
    assert (m["D11"]["persons_rebuilt"], m["D11"]["persons_merged"]) == (3, 0)

    # D12: only the updated contact's candidate rows are stated again: the rollups and the
    # silver days they would be rolled up from are not read, no rollup month is written.
    d12 = m["D12"]
    assert (d12["keys_touched"], d12["keys_rolled_up"], d12["candidate_keys"]) == (1, 0, 1)
    assert (d12["days_rolled_up"], d12["candidate_days"]) == (0, 1)
    assert (d12["daily_rollups_months_rewritten"], d12["attribute_candidates_months_rewritten"]) == (0, 1)
    assert (d12["persons_rebuilt"], d12["persons_merged"]) == (1, 0), "B: its candidate rows changed"


def test_profiles_as_of_learn_the_catalogue_only_from_order_lines_up_to_that_date(ctx) -> None:  # type: ignore[no-untyped-def]
    # A member views two products on D1. Sku k1 was sold (as a cruise) on D1, sku t1 (a tent)
    # only on D3: as of D2 the view of t1 has no known category yet; as of D3 it has.
    from cdp_spark.cleanse.silver_schema import ORDER_LINES, order_lines_schema
    from cdp_spark.profile.stage import profiles_as_of

    spark, store = ctx.spark, ctx.store
    store.write(ROLLUPS, spark.createDataFrame(
        [_rollup("m1", D1, events=3, product_views=3, viewed_products={"k1": 1, "t1": 2})], ROLLUP_SCHEMA
    ), mode="overwrite")  # fmt: skip
    store.write(CANDIDATES, _empty_candidates(spark), mode="overwrite")
    _write_identity(ctx, [("member_id", "m1", "P1", D1)])

    lines = [_order_line("o1", D1, "k1", "cruise"), _order_line("o3", D3, "t1", "tent")]
    store.write(ORDER_LINES, spark.createDataFrame(lines, order_lines_schema()), mode="overwrite",
                partition_by=["event_date"])  # fmt: skip
    then = profiles_as_of(ctx, D2).collect()
    now = profiles_as_of(ctx, D3).collect()
    assert [(r.person_id, r.viewed_categories) for r in then] == [("P1", {"cruise": 1})]
    assert [(r.person_id, r.viewed_categories) for r in now] == [("P1", {"cruise": 1, "tent": 2})]


def test_a_night_moves_the_viewed_categories_of_untouched_persons_with_the_catalogue(ctx) -> None:  # type: ignore[no-untyped-def]
    # Four members view products on D1; on D2 order lines move k1 from cruise to expedition and
    # sell t1 (unknown before) as a tent. P1 and P2 are untouched by D2 but viewed those skus,
    # P3 is touched (another view of k1), P4 viewed only z1, whose category stays. The catalogue
    # is not a rollup: a night that touches none of a person's rows still changes their
    # viewed_categories, and must equal a full rebuild.
    from cdp_spark.cleanse.silver_schema import ORDER_LINES, order_lines_schema

    spark, store = ctx.spark, ctx.store

    def view(rid: str, day: date, member: str, sku: str) -> dict:
        return _event(rid, _at(day, 9), {"member_id": member}, day, "product_view", product_id=sku)

    def deliver(events: list[dict], lines: list[dict[str, Any]]) -> None:
        store.write(
            "silver.events", _silver(spark, EVENTS, events), mode="append", partition_by=["event_date"]
        )
        store.write(ORDER_LINES, spark.createDataFrame(lines, order_lines_schema()), mode="append",
                    partition_by=["event_date"])  # fmt: skip

    deliver(
        [
            view("v1", D1, "m1", "k1"),
            view("v2", D1, "m2", "t1"),
            view("v3", D1, "m3", "k1"),
            view("v4", D1, "m4", "z1"),
        ],
        [_order_line("o1", D1, "k1", "cruise", run=D1), _order_line("o2", D1, "z1", "shoes", run=D1)],
    )
    _write_identity(ctx, [("member_id", f"m{i}", f"P{i}", D1) for i in range(1, 5)])
    _run(ctx, D1)
    got = {r.person_id: r.viewed_categories for r in store.read("gold.profiles").collect()}
    assert got == {"P1": {"cruise": 1}, "P2": {}, "P3": {"cruise": 1}, "P4": {"shoes": 1}}

    deliver(
        [view("v5", D2, "m3", "k1")],
        [
            _order_line("o3", D2, "k1", "expedition", run=D2),
            _order_line("o4", D2, "k1", "expedition", run=D2),
            _order_line("o5", D2, "t1", "tent", run=D2),
        ],
    )
    res = _run(ctx, D2)
    assert res.metrics["mode"] == "incremental" and res.metrics["persons_rebuilt"] == 1  # P3
    night = _by_key(
        store.read("gold.profiles"), "person_id"
    )  # collected: the full rebuild overwrites the table
    got = {key[0]: row["viewed_categories"] for key, row in night.items()}
    assert got == {"P1": {"expedition": 1}, "P2": {"tent": 1}, "P3": {"expedition": 2}, "P4": {"shoes": 1}}
    _run(ctx, D2, gen=2, full=True)
    assert _by_key(store.read("gold.profiles"), "person_id") == night


def test_viewed_categories_sum_views_per_category_each_sku_was_sold_most_as(spark) -> None:  # type: ignore[no-untyped-def]
    # k1 was sold twice as a cruise and once as a tour: a cruise, like k2. t1 once as camping and
    # once as tent: a tie, to the greater name. x9 was never sold: its views count nowhere.
    from cdp_spark.profile.build import product_catalogue, with_viewed_categories

    sold = [("k1", "cruise"), ("k1", "cruise"), ("k1", "tour"), ("k2", "cruise"), ("t1", "camping"),
            ("t1", "tent"), ("n1", None), (None, "cruise")]  # fmt: skip
    catalogue = product_catalogue(spark.createDataFrame(sold, "sku string, category string"))
    assert catalogue is not None
    expected = spark.createDataFrame(
        [("k1", "cruise"), ("k2", "cruise"), ("t1", "tent")], "sku string, category string"
    )
    assert_df_equality(catalogue, expected, ignore_row_order=True, ignore_nullable=True)

    profiles = spark.createDataFrame(
        [("P1", {"k1": 2, "k2": 4, "t1": 3, "x9": 5}), ("P2", {"x9": 1}), ("P3", None), ("P4", {"k1": 1})],
        "person_id string, viewed_products map<string,bigint>",
    )
    got = {r.person_id: r.viewed_categories for r in with_viewed_categories(profiles, catalogue).collect()}
    assert got == {"P1": {"cruise": 6, "tent": 3}, "P2": {}, "P3": {}, "P4": {"cruise": 1}}
    unknown = with_viewed_categories(profiles, None).collect()
    assert sorted((r.person_id, r.viewed_categories) for r in unknown) == [
        (p, {}) for p in ("P1", "P2", "P3", "P4")
    ]


def test_touched_keys_roll_up_only_where_a_record_contributes_another_partial(spark) -> None:  # type: ignore[no-untyped-def]
    from cdp_spark.identity.config import IdentityConfig
    from cdp_spark.profile.incremental import touched_keys

    t = lambda h: datetime.combine(D1, datetime.min.time()) + timedelta(hours=h)  # noqa: E731

    def contact(first_name: str, updated_hour: float) -> dict[str, Any]:
        return {"record_id": "k1", "source": "crm", "channel": "crm", "event_time": t(8), "updated_at": t(updated_hour),
                "first_name": first_name, "identifiers": {"member_id": "m1"}, "_run_date": D2}  # fmt: skip

    replaced = {
        CONTACTS: _silver(spark, CONTACTS, [contact("Yue", 8)]),
        EVENTS: _silver(spark, EVENTS, [
            _event("e1", t(9), {"cookie": "c1"}, D1, referrer="a"),
            _event("e3", t(11), {"cookie": "c3"}, D1, "search", search_query="penguins"),
            _event("gone", t(12), {"cookie": "c9"}, D1),  # not written again: not touched
        ]),
        ORDERS: _silver(spark, ORDERS, [_order("o1", t(12), {"member_id": "m2"}, D1, "10.00")]),
    }  # fmt: skip
    written = {
        # Another first name: the candidate rows change, the partial (key, time, channel) does not.
        CONTACTS: _silver(spark, CONTACTS, [contact("Yun", 30)]),
        EVENTS: _silver(spark, EVENTS, [
            _event("e1", t(9), {"cookie": "c1"}, D2, referrer="b"),  # a property no partial reads
            _event("e2", t(10), {"cookie": "c2"}, D2),  # new
            _event("e3", t(11), {"member_id": "m3"}, D2, "search", search_query="penguins"),  # another anchor
        ]),
        ORDERS: _silver(spark, ORDERS, [_order("o1", t(12), {"member_id": "m2"}, D2, "10.00")]),  # orders always roll
    }  # fmt: skip
    got = touched_keys(written, replaced, ProfileConfig(), IdentityConfig())
    expected = spark.createDataFrame(
        [("member_id", "m1", D1, False, True), ("cookie", "c1", D1, False, False), ("cookie", "c2", D1, True, False),
         ("cookie", "c3", D1, True, False), ("member_id", "m3", D1, True, False), ("member_id", "m2", D1, True, False)],
        "anchor_type string, anchor_value string, event_date date, rolls boolean, states boolean",
    )  # fmt: skip
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_night_rewrites_only_the_months_whose_rolled_up_rows_changed(ctx) -> None:  # type: ignore[no-untyped-def]
    from cdp_spark.profile.stage import ProfileOptions, _replace_rows

    spark, store = ctx.spark, ctx.store
    jan, feb, mar = date(2025, 1, 10), date(2025, 2, 3), date(2025, 3, 5)
    store.write(ROLLUPS, spark.createDataFrame([
        _rollup("a", jan, events=1), _rollup("b", jan, events=2), _rollup("a", feb, events=4), _rollup("a", mar, events=1),
    ], ROLLUP_SCHEMA), mode="overwrite", partition_by=["event_month"])  # fmt: skip
    keys = spark.createDataFrame([("member_id", "a", jan), ("member_id", "a", mar), ("member_id", "c", mar)],
                                 "anchor_type string, anchor_value string, event_date date")  # fmt: skip
    # The keys were touched; a's January row rolls up as before (an updated contact keeping its
    # old day), its March row changed, c's is new. Columns in another order compare by name.
    rows = spark.createDataFrame([_rollup("a", jan, events=1), _rollup("a", mar, events=5), _rollup("c", mar, events=3)],
                                 ROLLUP_SCHEMA)  # fmt: skip
    rows = rows.select(*reversed(rows.columns))

    def rc(gen: int) -> RunContext:
        return RunContext(
            run_id=f"m-{gen}", run_date=mar, stage="profile", generation=gen, options=ProfileOptions()
        )

    # Given the snapshot's date, the comparison is returned too (rule 1 of the night reuses it):
    # a key with a row before is changed, a key after that date without one is appended.
    out, months, diff = _replace_rows(ctx, ROLLUPS, rows, [jan, mar], keys, rc(1), as_of=date(2025, 2, 28))
    assert out is not None and (months, out.files_removed) == (1, 1), "only March's file is replaced"
    got = {(r.anchor_value, r.event_date): r.events for r in store.read(ROLLUPS).collect()}
    assert got == {("a", jan): 1, ("b", jan): 2, ("a", feb): 4, ("a", mar): 5, ("c", mar): 3}
    assert diff is not None
    assert sorted((r.anchor_value, r.event_date, r.appended) for r in diff.collect()) == [
        ("a", mar, False),
        ("c", mar, True),
    ]
    # The same rows again: nothing differs, nothing is written.
    version = store.version(ROLLUPS)
    assert _replace_rows(ctx, ROLLUPS, rows, [jan, mar], keys, rc(2)) == (None, 0, None)
    assert store.version(ROLLUPS) == version
    # A touched key without a new row (its records moved to another anchor) loses its row.
    gone = keys.where(F.col("event_date") == jan)
    out, months, _ = _replace_rows(ctx, ROLLUPS, rows.limit(0), [jan], gone, rc(3))
    assert out is not None and months == 1
    got = {(r.anchor_value, r.event_date): r.events for r in store.read(ROLLUPS).collect()}
    assert got == {("b", jan): 2, ("a", feb): 4, ("a", mar): 5, ("c", mar): 3}


def test_merge_new_rows_auto_merges_over_deep_histories_when_the_candidates_are_at_least_the_persons_aggregated_again() -> (
    None
):
    from cdp_spark.profile.incremental import merge_pays

    assert merge_pays("auto", 5, 5, 9.8) and merge_pays("auto", 1, 0, 6.7)
    assert not merge_pays("auto", 634, 17066, 9.8)
    # Shallow histories (30 days: 3.4 rollup rows per person): aggregating again was faster
    # even for 50.7k candidates against 7.4k persons aggregated anyway.
    assert not merge_pays("auto", 50706, 7402, 3.4) and not merge_pays("auto", 1, 0, 3.4)
    assert merge_pays("auto", 5, 5), "depth unknown: the counts decide"
    assert merge_pays("merge", 1, 17066, 1.0) and not merge_pays("again", 50, 0, 20.0)


def test_merge_is_ruled_out_before_counting_only_where_no_count_could_make_it_pay() -> None:
    from cdp_spark.profile.incremental import MERGE_MIN_ROWS_PER_PERSON, merge_pays, merge_possible

    shallow, deep = MERGE_MIN_ROWS_PER_PERSON - 0.1, MERGE_MIN_ROWS_PER_PERSON
    assert not merge_possible("again", deep) and not merge_possible("auto", shallow)
    assert merge_possible("auto", deep) and merge_possible("auto", None) and merge_possible("merge", 1.0)
    # Where it is ruled out, merge_pays says no for any counts: skipping the count loses nothing.
    for mode, depth in (("again", deep), ("auto", shallow)):
        assert not any(merge_pays(mode, c, a, depth) for c in (1, 10, 10**6) for a in (0, 10, 10**6))


def test_window_days_are_days_entering_the_range_or_leaving_a_window() -> None:
    from cdp_spark.profile.incremental import window_days

    d = date
    got = window_days(previous_as_of=d(2025, 3, 1), run_date=d(2025, 3, 2), windows=[7, 30])
    # entered the as-of range; left the 7- and 30-day windows
    assert got == [d(2025, 1, 31), d(2025, 2, 23), d(2025, 3, 2)]
    assert window_days(d(2025, 3, 2), d(2025, 3, 2), [7]) == []  # rerun of the same date


def test_changed_anchors_compare_row_contents_not_row_order(spark) -> None:  # type: ignore[no-untyped-def]
    from cdp_spark.profile.incremental import changed_anchors

    day = date(2025, 3, 1)
    before = [
        _rollup("m1", day, channels={"web": 2, "app": 1}),
        _rollup("m2", day, searches=1),
        _rollup("m3", day),
    ]
    after = [
        _rollup("m1", day, channels={"app": 1, "web": 2}),  # same map, other entry order
        _rollup("m2", day, searches=2),  # changed
        _rollup("m4", day),  # new; m3 gone
    ]
    got = changed_anchors(
        spark.createDataFrame(before, ROLLUP_SCHEMA), spark.createDataFrame(after, ROLLUP_SCHEMA)
    )
    assert sorted(r.anchor_value for r in got.collect()) == ["m2", "m3", "m4"]


def test_identity_changes_mark_persons_who_only_gained_identifiers_since_the_snapshot(spark) -> None:  # type: ignore[no-untyped-def]
    from cdp_spark.profile.build import person_identifiers
    from cdp_spark.profile.incremental import fresh_identifiers, identity_changes

    d0, d1 = date(2025, 3, 1), date(2025, 3, 2)
    schema = "id_type string, id_value string, person_id string, first_run date"
    then = spark.createDataFrame([
        ("cookie", "a1", "P1", d0), ("cookie", "a2", "P1", d0), ("cookie", "b1", "P2", d0),
        ("cookie", "c1", "P3", d0), ("cookie", "c2", "P3", d0), ("cookie", "d1", "P4", d0),
        ("cookie", "f1", "P6", d0),
    ], schema)  # fmt: skip
    now = spark.createDataFrame([
        ("cookie", "a1", "P1", d0), ("cookie", "a2", "P1", d0), ("device_id", "a3", "P1", d1),  # gained a3
        ("cookie", "b1", "P2", d0), ("cookie", "x1", "P2", d1), ("cookie", "d1", "P2", d1),  # x1, and P4's d1
        ("cookie", "c1", "P3", d0), ("cookie", "c3", "P3", d1),  # lost c2, gained c3
        ("cookie", "e1", "P5", d1),  # new person; P4 retired; P6 unchanged
        ("cookie", "f1", "P6", d0),
    ], schema)  # fmt: skip
    previous = person_identifiers(then, ProfileConfig())
    got = identity_changes(now, previous, d0)
    expected = spark.createDataFrame(
        [("P1", True), ("P2", True), ("P3", False), ("P4", False), ("P5", False)],
        "person_id string, grown boolean",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    # Which of a grown person's identifiers are new to them (the stage checks those for history).
    fresh = fresh_identifiers(now, expected.where("grown"), d0)
    assert sorted(tuple(r) for r in fresh.collect()) == [
        ("cookie", "d1", "P2"),
        ("cookie", "x1", "P2"),
        ("device_id", "a3", "P1"),
    ]
    # Without first_run (an identity map of an earlier version) nobody counts as grown.
    assert identity_changes(now.drop("first_run"), previous, d0).where("grown").isEmpty()


def test_rollup_changes_mark_only_new_keys_after_the_snapshot_as_appended(spark) -> None:  # type: ignore[no-untyped-def]
    from cdp_spark.profile.incremental import rollup_changes

    d0, d1 = date(2025, 3, 1), date(2025, 3, 2)
    before = [_rollup("m1", d0, searches=1), _rollup("m2", d0), _rollup("m3", d0), _rollup("m6", d1)]
    after = [
        _rollup("m1", d0, searches=1),  # unchanged: not listed
        _rollup("m2", d0, searches=5),  # changed
        _rollup("m4", d0),  # new but on the snapshot's own day (late): not appended
        _rollup("m5", d1, events=2, channels={"web": 2}),  # new, after the snapshot: appended
        _rollup("m6", d1, orders=1, revenue=Decimal("9.00")),  # after the snapshot but changed: not appended
        _rollup("m7", d1, consent_events=[_consent("email", "granted", 2)]),  # new consent: appended
        _rollup("m8", d1, wechat_state={"at": datetime(2025, 3, 2, 8), "following": True}),  # appended
        _rollup("m9", date(2025, 3, 5), events=1),  # after the run date: not appended
    ]  # m3 vanished: changed
    got = rollup_changes(
        spark.createDataFrame(before, ROLLUP_SCHEMA), spark.createDataFrame(after, ROLLUP_SCHEMA), d0, d1
    )
    assert {r.anchor_value: r.appended for r in got.collect()} == {
        "m2": False, "m3": False, "m4": False, "m5": True, "m6": False, "m7": True, "m8": True, "m9": False,
    }  # fmt: skip


def test_merging_new_rows_into_a_stored_profile_equals_aggregating_all_rows(spark) -> None:  # type: ignore[no-untyped-def]
    from cdp_spark.profile.build import aggregate_profiles, behaviour, merge_behaviour, person_anchors

    d0, d1 = date(2025, 6, 29), date(2025, 6, 30)
    config = ProfileConfig()
    old = [
        *_orders("m1", [date(2025, 5, 1), date(2025, 6, 1)]),
        _rollup("m1", date(2025, 6, 25), events=2, channels={"web": 2}, search_terms=["b", "c"], searches=2,
                category_spend={"books": Decimal("3.10")}, stores={"s1": 1}, satisfaction_sum=4, satisfaction_n=1),
        _rollup("m2", d0, events=1, channels={"app": 1}, traveler_ages=[7]),
        _rollup("m3", date(2025, 6, 27), events=1, channels={"web": 1}),  # no new rows, a new cookie
    ]  # fmt: skip
    at = datetime(2025, 6, 30, 23)
    wechat = lambda day, following: {"at": datetime(2025, 6, day, 8), "following": following}  # noqa: E731
    old[1]["consent_events"] = [_consent("email", "granted", 25), _consent("sms", "granted", 25)]
    old[1]["wechat_state"] = wechat(25, True)
    new = [
        # an order (the repurchase cycle takes the new gap), an e-mail withdrawal, a WeChat unfollow
        _rollup("m1", d1, events=3, channels={"web": 1, "email": 2}, search_terms=["a", "c"], searches=2,
                viewed_products={"sku1": 2}, stores={"s2": 2}, satisfaction_sum=2, satisfaction_n=1,
                last_channel="email", first_seen=at, last_seen=at, orders=1, revenue=Decimal("40.00"), items=2,
                consent_events=[_consent("email", "withdrawn", 30)], wechat_state=wechat(30, False)),
        _rollup("m2", d1, events=1, channels={"app": 1}, traveler_ages=[3, 7], permissions_declined=["location"],
                wechat_state=wechat(30, True)),
    ]  # fmt: skip
    pairs = [("member_id", "m1", "P1"), ("member_id", "m2", "P2"), ("member_id", "m3", "P3")]
    ids, ids_now = _identity_map(spark, pairs), _identity_map(spark, [*pairs, ("cookie", "k3", "P3")])
    cands = _empty_candidates(spark)
    stored = aggregate_profiles(spark.createDataFrame(old, ROLLUP_SCHEMA), cands, ids, d0, config)
    delta = behaviour(spark.createDataFrame(new, ROLLUP_SCHEMA), person_anchors(ids), d1, config)
    merged = merge_behaviour(stored, delta, config, identity_map=ids_now)
    everything = aggregate_profiles(
        spark.createDataFrame(old + new, ROLLUP_SCHEMA), cands, ids_now, d1, config
    )
    assert _by_key(merged, "person_id") == _by_key(everything, "person_id")
    p1 = _by_key(merged, "person_id")[("P1",)]
    assert (p1["last_channel"], p1["search_terms"], p1["preferred_store"]) == ("email", ["a", "b", "c"], "s2")
    assert (p1["active_days"], p1["last_7d"]["active_days"], p1["orders"], p1["revenue"]) == (
        4,
        2,
        3,
        Decimal("240.00"),
    )
    assert (p1["order_dates"][-1], p1["repurchase_cycle_days"]) == (d1, 30.0)  # gaps 31 and 29
    assert (p1["consent"], p1["wechat_following"]) == ({"email": "withdrawn", "sms": "granted"}, False)
    assert _by_key(merged, "person_id")[("P2",)]["wechat_following"] is True
    p3 = _by_key(merged, "person_id")[("P3",)]
    assert (p3["events"], p3["active_days"], p3["id_types"], p3["identifiers"]) == (
        1,
        1,
        ["cookie", "member_id"],
        2,
    )


def test_subtracting_the_days_that_left_a_window_equals_aggregating_again(spark) -> None:  # type: ignore[no-untyped-def]
    # A snapshot as of 28 June, two nights missed: as of 30 June, 22-23 June left the 7-day
    # window and 30-31 May the 30-day one. The stored profiles get the new days merged in and
    # the departed days subtracted; that must equal aggregating all rows as of 30 June.
    from cdp_spark.profile.build import (
        aggregate_profiles,
        behaviour,
        departed_windows,
        merge_behaviour,
        person_anchors,
        subtract_windows,
    )
    from cdp_spark.profile.incremental import window_days
    from cdp_spark.profile.rollups import removable

    d = lambda m, day: date(2025, m, day)  # noqa: E731
    before, now = d(6, 28), d(6, 30)
    config = ProfileConfig()
    old = [
        _rollup("m1", d(5, 30), events=1, channels={"email": 1}, orders=1, revenue=Decimal("10.00"), items=2),
        _rollup("m1", d(6, 10), events=1, channels={"email": 1}),
        _rollup("m1", d(6, 22), events=2, channels={"email": 2}, event_counts={"email_open": 2}),
        _rollup("m1", d(6, 23), events=1, channels={"web": 1}, page_views=1, event_counts={"page_view": 1}),
        _rollup("m1", d(6, 25), events=1, channels={"email": 1}, event_counts={"email_open": 1}),
        _rollup("m2", d(6, 22), events=1, stores={"s1": 1}, orders=1, revenue=Decimal("5.50")),
        _rollup("m2", d(6, 26), events=1, stores={"s1": 1}),
        _rollup("m3", d(6, 23), events=1, channels={"app": 1}),  # nothing left in 7 days
    ]  # fmt: skip
    new = [
        _rollup("m1", d(6, 29), events=1, channels={"email": 1}, event_counts={"email_open": 1}),
        _rollup("m2", d(6, 30), events=1, channels={"app": 1}, search_terms=["penguins"], searches=1),
    ]  # fmt: skip
    ids = _identity_map(spark, [("member_id", f"m{i}", f"P{i}") for i in (1, 2, 3)])
    cands = _empty_candidates(spark)
    rows = spark.createDataFrame(old, ROLLUP_SCHEMA)
    stored = aggregate_profiles(rows, cands, ids, before, config)
    delta = behaviour(spark.createDataFrame(new, ROLLUP_SCHEMA), person_anchors(ids), now, config)
    merged = merge_behaviour(stored, delta, config)
    left = [day for day in window_days(before, now, config.windows) if day <= before]
    departing = rows.where(F.col("event_date").isin(left))
    assert departing.where(~removable()).count() == 0
    departed = departed_windows(departing, person_anchors(ids), before, now, config)
    assert sorted(r.person_id for r in departed.collect()) == ["P1", "P2", "P3"]
    got = _by_key(subtract_windows(merged, departed, config), "person_id")
    everything = aggregate_profiles(spark.createDataFrame(old + new, ROLLUP_SCHEMA), cands, ids, now, config)
    assert got == _by_key(everything, "person_id")
    p1, p2, p3 = (got[(p,)] for p in ("P1", "P2", "P3"))
    assert (p1["last_7d"]["events"], p1["last_7d"]["active_days"], p1["last_7d"]["channels"]) == (
        2,
        2,
        {"email": 2},
    )
    assert p1["last_7d"]["event_counts"] == {"email_open": 2}  # page_view dropped at zero
    assert (p1["last_30d"]["orders"], p1["last_30d"]["revenue"], p1["orders"]) == (0, Decimal("0.00"), 1)
    assert (p2["last_7d"]["stores"], p2["last_7d"]["revenue"], p2["last_7d"]["search_terms"]) == (
        {"s1": 1}, Decimal("0.00"), ["penguins"],
    )  # fmt: skip
    assert (p3["last_7d"]["events"], p3["last_7d"]["channels"], p3["last_30d"]["events"]) == (0, {}, 1)


def test_only_rows_without_distinct_values_money_or_ticket_maps_are_removable(spark) -> None:  # type: ignore[no-untyped-def]
    from cdp_spark.profile.rollups import removable

    day = date(2025, 6, 1)
    rows = [
        _rollup("ok", day, events=3, channels={"email": 3}, search_terms=[], revenue=Decimal("1.00")),
        _rollup("terms", day, search_terms=["x"]),
        _rollup("spend", day, category_spend={"books": Decimal("0.00")}),
        _rollup("tickets", day, ticket_types={"adult": 0}),
        _rollup("ages", day, traveler_ages=[7]),
        _rollup("declined", day, permissions_declined=["location"]),
    ]
    df = spark.createDataFrame(rows, ROLLUP_SCHEMA)
    assert [r.anchor_value for r in df.where(removable()).collect()] == ["ok"]


def test_profiles_differing_ignores_map_entry_order_also_inside_windows(spark) -> None:  # type: ignore[no-untyped-def]
    from cdp_spark.profile.bench import profiles_differing

    schema = "person_id string, channels map<string,bigint>, last_7d struct<channels: map<string,bigint>>"
    one = spark.createDataFrame(
        [
            ("P1", {"web": 1, "app": 2}, {"channels": {"web": 1, "app": 2}}),
            ("P2", {}, None),
            ("P3", {}, None),
        ],
        schema,
    )
    other = spark.createDataFrame(
        [
            ("P1", {"app": 2, "web": 1}, {"channels": {"app": 2, "web": 1}}),
            ("P2", {"web": 1}, None),
            ("P4", {}, None),
        ],
        schema,
    )
    assert profiles_differing(one, one) == 0
    assert profiles_differing(one, other) == 3  # P2 changed, P3 and P4 on one side only


def test_previous_profiles_are_reused_only_when_built_the_same_way(spark) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from cdp_spark.identity.config import IdentityConfig
    from cdp_spark.profile.incremental import Base, config_fingerprint, reusable_base
    from cdp_spark.runstate import ProfileBuild, RunState

    cfg = ProfileConfig()
    fp = config_fingerprint(cfg, IdentityConfig())
    schema = profile_schema(cfg.windows)
    row: dict[str, Any] = {f.name: None for f in schema.fields}
    row.update(person_id="P1", as_of_date=AS_OF, is_known=True, lifecycle_stage="prospect")
    previous = spark.createDataFrame([row], schema)
    build = RunState(
        stage="profile",
        run_date=AS_OF,
        run_id="r1",
        generation=1,
        status="succeeded",
        recorded_at=datetime(2025, 7, 1),
        inputs={"gold.profiles": 4, "silver.events": 7, "silver.orders": None, "gold.identity_map": 9},
        outputs={"gold.profiles": 5, ROLLUPS: 3, CANDIDATES: 2},
        profile=ProfileBuild(AS_OF, "full", "no previous profiles", fp, persons=1, persons_rebuilt=1),
    )
    base = reusable_base(previous, build, AS_OF + timedelta(days=1), cfg, fp)
    assert isinstance(base, Base) and (base.as_of, base.rollups_version, base.candidates_version) == (
        AS_OF,
        3,
        2,
    )
    # The silver versions it read (a table that did not exist is not among them), its persons.
    assert (base.silver_versions, base.persons) == ({"silver.events": 7}, 1)
    # A run recorded without a build (migrated from a build that kept no silver versions).
    assert "no record" in str(reusable_base(previous, replace(build, profile=None), AS_OF, cfg, fp))
    other = config_fingerprint(ProfileConfig(windows=[7, 30]), IdentityConfig())
    assert other != fp
    # How a night computes (not what) does not force a rebuild.
    assert config_fingerprint(ProfileConfig(merge_new_rows="again"), IdentityConfig()) == fp
    assert "changed" in str(reusable_base(previous, build, AS_OF, cfg, other))
    assert "another schema" in str(reusable_base(previous, build, AS_OF, ProfileConfig(windows=[7]), fp))
    assert "after" in str(reusable_base(previous, build, AS_OF - timedelta(days=1), cfg, fp))
    assert "no record" in str(reusable_base(previous, None, AS_OF, cfg, fp))
    assert reusable_base(None, build, AS_OF, cfg, fp) == "no previous profiles"


def test_rfm_scores_do_not_depend_on_partitioning(spark) -> None:  # type: ignore[no-untyped-def]
    """Exact cut points: the same buyers in another partitioning score the same (an incremental
    build unions kept and rebuilt rows, a full build does not)."""
    from cdp_spark.profile.build import with_rfm

    buyers = spark.range(40000).select(
        F.col("id").cast("string").alias("person_id"),
        (F.col("id") % 7 + 1).cast("bigint").alias("orders"),
        F.date_sub(F.lit(AS_OF), (F.col("id") * 31 % 997).cast("int")).alias("last_order_date"),
        ((F.col("id") * 7919 % 40000) / 100).cast("decimal(18,2)").alias("revenue"),
    )
    scores = ["person_id", "r_score", "f_score", "m_score"]
    one = with_rfm(buyers.coalesce(1), AS_OF).select(*scores)
    many = with_rfm(buyers.repartition(7, "revenue"), AS_OF).select(*scores)
    assert_df_equality(one, many, ignore_row_order=True)
