"""Bronze → silver on hand-made bronze batches, with the shipped ``conf/mappings``.

Bronze rows are built like ingest builds them (declared fields parsed from the raw JSON line,
record hash = SHA-256 of the line), so each test says exactly which lines a run sees. One test
goes landing → bronze → silver through the real ingest stage to check the whole equation.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from chispa import assert_df_equality

from cdp_spark.cleanse import silver_schema as S
from cdp_spark.cleanse.mapping import SourceMapping, load_mapping_file, load_mappings
from cdp_spark.cleanse.silver import cleanse_run
from cdp_spark.cleanse.silver_quality import QualityConfig, QualityRule, evaluate
from cdp_spark.config import Config, load_config
from cdp_spark.context import CdpContext
from cdp_spark.errors import ConfigError, QualityGateError
from cdp_spark.ingest.config import SourcesConfig
from cdp_spark.pipeline import RunContext, run_pipeline

REPO = Path(__file__).resolve().parents[1]
D0, D1, D2 = date(2025, 12, 30), date(2026, 1, 1), date(2026, 1, 2)
SOURCES_YAML = yaml.safe_load((REPO / "conf" / "sources.yaml").read_text())
MAPPINGS, _PROBLEMS = load_mappings(REPO / "conf" / "mappings", known_sources=set(SOURCES_YAML["sources"]))


def _ctx(
    spark: Any,
    runtime_info: Any,
    config: Config,
    rules: list[QualityRule] | None = None,
    conf_dir: Path | None = None,
) -> CdpContext:
    domains = {
        "sources.yaml": SourcesConfig.model_validate(SOURCES_YAML),
        "quality.yaml": QualityConfig(rules=rules or []),
    }
    cfg = Config(settings=config.settings, conf_dir=conf_dir, source="test", domains=domains)
    return CdpContext.attach(cfg, spark, runtime_info)


@pytest.fixture
def sctx(spark, runtime_info, config):  # type: ignore[no-untyped-def]
    return _ctx(spark, runtime_info, config)


def write_bronze(
    ctx: CdpContext,
    source: str,
    records: list[dict[str, Any] | None],
    run_date: date,
    *,
    file_date: date | None = None,
) -> None:
    """Append records as bronze rows of ``run_date`` (None = a line the test leaves out)."""
    from pyspark.sql import functions as F

    schema = SourcesConfig.model_validate(SOURCES_YAML).sources[source].spark_schema()
    day = (file_date or run_date).isoformat()
    rows = [
        (f"{source}/{day}/part-00000.jsonl", i + 1, json.dumps(r, ensure_ascii=False, sort_keys=True))
        for i, r in enumerate(records)
        if r is not None
    ]
    raw = ctx.spark.createDataFrame(rows, "_file string, _line long, _raw string")
    parsed = F.from_json(F.col("_raw"), schema)
    now = datetime(2026, 1, 3, tzinfo=timezone.utc)
    df = raw.select(
        F.lit(source).alias("_source"),
        "_file",
        "_line",
        F.lit(date.fromisoformat(day)).alias("_file_date"),
        F.lit(now).alias("_file_modified"),
        F.lit(now).alias("_ingested_at"),
        F.lit("ingest-run").alias("_run_id"),
        F.lit(run_date).alias("_run_date"),
        "_raw",
        F.sha2(F.col("_raw"), 256).alias("_record_hash"),
        *[parsed[f.name].alias(f.name) for f in schema.fields],
        F.array().cast("array<string>").alias("_extra_fields"),
    )
    ctx.store.write(f"bronze.{source}", df, mode="append", partition_by=["_run_date"])


def rc_for(run_date: date, generation: int = 1) -> RunContext:
    return RunContext(
        run_id=f"run-{run_date:%Y%m%d}-{generation}",
        run_date=run_date,
        stage="cleanse",
        generation=generation,
    )


def pick(names: list[str], **overrides: SourceMapping) -> dict[str, SourceMapping]:
    return {n: overrides.get(n, MAPPINGS[n]) for n in names}


def dq(ctx: CdpContext, run_id: str) -> dict[tuple[str, str], Any]:
    rows = ctx.store.read(S.DQ_METRICS).filter(f"run_id = '{run_id}'").collect()
    return {(r.source, r.column): r for r in rows}


# ----------------------------------------------------------------------------- mappings


def test_shipped_mappings_are_valid() -> None:
    assert _PROBLEMS == []
    assert set(MAPPINGS) == set(SOURCES_YAML["sources"])


BAD_MAPPING = """
target: silver.evnts
natural_key: [event_id]
event_time: {expr: ts, std: timestamp}
channel: "'web'"
fileds: {}
"""
BAD_FIELDS = """
target: silver.events
natural_key: [event_id]
event_time: {expr: ts, std: {kind: timestamp, default_tz: Mars/Olympus}}
channel: "'web'"
fields:
  evnt_type: event_type
  event_id: {expr: event_id, std: emial}
identifiers:
  cookie: {expr: cookie_id, std: {kind: phone, regoin: "'CN'"}}
  fax: fax
"""


def test_mapping_errors_name_file_and_key(tmp_path: Path) -> None:
    folder = tmp_path / "mappings"
    folder.mkdir()
    (folder / "web.yaml").write_text(BAD_MAPPING)
    (folder / "app.yaml").write_text(BAD_FIELDS)
    (folder / "nosuch.yaml").write_text(
        "target: silver.events\nnatural_key: [x]\nevent_time: x\nchannel: x\n"
    )
    _, problems = load_mappings(folder, known_sources={"web", "app"})
    text = "\n".join(problems)
    web, app = str(folder / "web.yaml"), str(folder / "app.yaml")
    assert (
        f"{web}: target: not a mappable silver table; did you mean 'silver.events'? expected one of" in text
    )
    assert f"{web}: fileds: unknown key; did you mean 'fields'?" in text
    assert f"{app}: event_time.std.default_tz: expected an IANA time zone" in text
    assert f"{app}: fields.event_id.std: unknown standardiser 'emial'; did you mean 'email'?" in text
    assert f"{app}: identifiers.cookie.std.regoin: unknown key; did you mean 'region'?" in text
    assert f"{app}: identifiers.fax: unknown identifier type; known: email, email_sha256," in text
    assert f"{folder / 'nosuch.yaml'}: source: no source 'nosuch' in sources.yaml" in text

    # Semantic problems (once the shape is right): unknown column, numeric-only policies.
    (folder / "app.yaml").write_text(
        "target: silver.events\nnatural_key: [event_id]\nevent_time: ts\nchannel: \"'app'\"\n"
        "fields:\n  evnt_type: event_name\n  event_id: {expr: event_id, missing: median}\n"
    )
    _, problems = load_mapping_file(folder / "app.yaml")
    assert problems == [
        f"{app}: fields.evnt_type: not a column of silver.events; did you mean 'event_type'?",
        f"{app}: fields.event_id.missing: median needs a numeric column, event_id is string",
    ]


def test_validate_reports_mapping_problems(tmp_path: Path) -> None:
    """``load_config`` (what ``cdp-spark validate`` runs) reports mapping files with file and key."""
    (tmp_path / "mappings").mkdir()
    (tmp_path / "local.yaml").write_text("workspace: ws\n")
    (tmp_path / "sources.yaml").write_text((REPO / "conf" / "sources.yaml").read_text())
    (tmp_path / "mappings" / "web.yaml").write_text(BAD_MAPPING)
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "local.yaml", environ={})
    assert any(
        p.startswith(f"{tmp_path / 'mappings' / 'web.yaml'}: fileds: unknown key") for p in err.value.problems
    )


def test_quality_rules() -> None:
    rows = [
        {
            "source": "web",
            "table": "silver.events",
            "column": "*",
            "rows": 10,
            "bronze_rows": 12,
            "rejected": 2,
            "quarantined": 0,
            "null_rate": None,
            "validity_rate": None,
        },
        {
            "source": "web",
            "table": "silver.events",
            "column": "event_type",
            "rows": 10,
            "null_rate": 0.5,
            "validity_rate": 0.8,
        },
    ]
    rules = [
        QualityRule(table="silver.*", max_rejected_rate=0.1, action="fail"),
        QualityRule(column="event_*", max_null_rate=0.6, min_validity_rate=0.9),
    ]
    breaches = evaluate(rules, rows)
    assert [(b.action, b.column, b.metric) for b in breaches] == [
        ("fail", "*", "max_rejected_rate"),
        ("warn", "event_type", "min_validity_rate"),
    ]
    assert "rejected_rate 0.1667 > limit 0.1" in breaches[0].describe()


# ----------------------------------------------------------------------------- events


def web(event_id: str | None, ts: str, **kw: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "ts": ts,
        "cookie_id": kw.pop("cookie_id", "c1"),
        "event_type": kw.pop("event_type", "page_view"),
        **kw,
    }


WEB_D2 = [
    web("e1", "2026-01-02T10:00:00.000Z"),
    web("e1", "2026-01-02T10:00:00.000Z"),  # exact duplicate line
    web("e2", "2026-01-02T11:00:00.000Z", event_type="login", member_id="m1"),
    web(None, "2026-01-02T12:00:00.000Z"),  # no natural key: rejected
    web("e3", "yesterday-ish"),  # unparseable time: rejected
    web("e4", "2025-12-30T23:59:59.000Z"),  # late: its own partition
    web("e5", "2026-01-02T13:00:00.000Z", event_type="teleport"),  # invalid value: kept, flagged
    web("e6", "2026-01-02T14:00:00.000Z", cookie_id=" "),  # blank identifier
]
WECHAT_D2 = [
    {
        "event_id": "w1",
        "ts": 1767348000,
        "openid": "o1",
        "event": "mp_phone_auth",
        "phone": "+86 138 1234 5678",
    },
    {"event_id": "w2", "ts": 1767348060, "openid": "o2", "event": "mp_phone_auth", "phone": "12345"},
]
SUPPORT_D2 = [
    {
        "ticket_id": f"t{i}",
        "created_at": "2026-01-02 09:00:00",
        "language": "de",
        "channel": "email",
        "email": "kunde@example.de",
        "satisfaction": s,
    }
    for i, s in enumerate([1, 3, 5, None])
]


def median_support() -> SourceMapping:
    data = yaml.safe_load((REPO / "conf" / "mappings" / "support.yaml").read_text())
    data["fields"]["satisfaction"] = {"expr": "satisfaction", "missing": "median"}
    return SourceMapping.model_validate({**data, "source": "support"})


def test_events_keep_invalid_values_reject_by_rule_and_reconcile(sctx) -> None:  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    ctx = sctx
    write_bronze(ctx, "web", WEB_D2, D2)
    write_bronze(ctx, "wechat", WECHAT_D2, D2)
    write_bronze(ctx, "support", SUPPORT_D2, D2)
    write_bronze(ctx, "web", [web("x1", "2026-01-01T10:00:00.000Z")], D1)  # another date: not read
    rc = rc_for(D2)
    result = cleanse_run(ctx, rc, pick(["web", "wechat", "support"], support=median_support()))

    m = result.metrics["sources"]["web"]
    assert (m["bronze_rows"], m["inserted"], m["duplicates_removed"], m["superseded"], m["rejected"]) == (
        8,
        5,
        1,
        0,
        2,
    )
    assert m["rejected_by_rule"] == {"natural_key.missing": 1, "event_time.unparseable": 1}
    assert result.metrics["reconciled"] is True

    events = ctx.store.read(S.EVENTS)
    got = events.filter("source = 'web'").select(
        "event_id",
        "event_type",
        "event_date",
        F.col("identifiers").getItem("cookie").alias("cookie"),
        F.col("identifiers").getItem("member_id").alias("member_id"),
        "_dq_flags",
        "_bronze_line",
    )
    expected = ctx.spark.createDataFrame(
        [
            ("e1", "page_view", D2, "c1", None, [], 1),
            ("e2", "login", D2, "c1", "m1", [], 3),
            ("e4", "page_view", D0, "c1", None, [], 6),
            ("e5", None, D2, "c1", None, ["event_type:value.not_allowed"], 7),
            ("e6", "page_view", D2, None, None, [], 8),
        ],
        "event_id string, event_type string, event_date date, cookie string, member_id string, "
        "_dq_flags array<string>, _bronze_line long",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    late = ctx.store.read(S.EVENTS, partition_filters=[("event_date", "=", D0.isoformat())])
    assert [r.event_id for r in late.collect()] == ["e4"]
    assert len({r.record_id for r in events.collect()}) == events.count()

    wechat = {r.event_id: r for r in events.filter("source = 'wechat'").collect()}
    assert wechat["w1"].identifiers == {"wechat_openid": "o1", "phone": "+8613812345678"}
    assert wechat["w2"].identifiers == {"wechat_openid": "o2"}
    assert wechat["w2"]._dq_flags == ["identifiers.phone:phone.invalid"]

    rejected = {r.rule: r for r in ctx.store.read(S.REJECTED).collect()}
    assert set(rejected) == {"natural_key.missing", "event_time.unparseable"}
    assert (
        rejected["event_time.unparseable"]._bronze_line == 5
        and '"yesterday-ish"' in rejected["event_time.unparseable"]._raw
    )

    tickets = {r.ticket_id: r for r in ctx.store.read(S.TICKETS).collect()}
    assert tickets["t3"].satisfaction == 3 and tickets["t3"]._dq_flags == ["satisfaction:imputed.median"]
    assert tickets["t0"].event_time == datetime(2026, 1, 2, 8, 0)  # 09:00 Berlin (session is UTC)
    assert result.metrics["sources"]["support"]["imputed"] == {"satisfaction": 3}

    metrics = dq(ctx, rc.run_id)
    table_row = metrics[("web", "*")]
    assert (table_row.rows, table_row.duplicates_removed, table_row.rejected, table_row.quarantined) == (
        5,
        1,
        2,
        0,
    )
    assert metrics[("web", "identifiers.member_id")].null_rate == pytest.approx(4 / 5)
    assert metrics[("web", "identifiers.cookie")].null_rate == pytest.approx(1 / 5)
    assert metrics[("web", "event_type")].validity_rate == pytest.approx(4 / 5)
    assert metrics[("web", "event_type")].distinct_count == 2
    assert metrics[("wechat", "identifiers.phone")].validity_rate == pytest.approx(1 / 2)
    assert metrics[("support", "satisfaction")].null_rate == 0.0  # imputed, and still valid

    # Rerunning the date with the same generation (a resume) changes no silver table; the
    # pipeline test below covers --force (a new generation).
    versions = {t: ctx.store.version(t) for t in (S.EVENTS, S.TICKETS, S.REJECTED, S.DQ_METRICS)}
    again = cleanse_run(ctx, rc, pick(["web", "wechat", "support"], support=median_support()))
    assert {t: ctx.store.version(t) for t in versions} == versions
    m2 = again.metrics["sources"]["web"]
    assert (m2["inserted"], m2["duplicates_removed"], m2["duplicates_already_in_silver"], m2["rejected"]) == (
        0,
        6,
        5,
        2,
    )
    assert again.metrics["reconciled"] is True and S.EVENTS not in again.tables


def test_quality_gate_fails_before_publishing(spark, runtime_info, config) -> None:  # type: ignore[no-untyped-def]
    ctx = _ctx(
        spark,
        runtime_info,
        config,
        rules=[
            QualityRule(table=S.EVENTS, column="event_type", min_validity_rate=0.99, action="fail"),
            QualityRule(table=S.EVENTS, max_rejected_rate=0.01, action="warn"),
        ],
    )
    write_bronze(ctx, "web", WEB_D2[:7], D2)
    with pytest.raises(QualityGateError, match=re.escape("event_type: validity_rate 0.75 < limit 0.99")):
        cleanse_run(ctx, rc_for(D2), pick(["web"]))
    assert ctx.store.read(S.EVENTS).count() == 0, "nothing is merged when the gate fails"
    assert dq(ctx, rc_for(D2).run_id)[("web", "event_type")].validity_rate == pytest.approx(0.75)


# ----------------------------------------------------------------------------- versioned tables


def order(
    order_id: str, status: str, updated: str, items: list[tuple[str, int]], **kw: Any
) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "created_at": kw.pop("created_at", "2026-01-01T09:00:00+08:00"),
        "updated_at": updated,
        "status": status,
        "channel": "web",
        "currency": "CNY",
        "total_amount": 99.5,
        "items": [
            {"sku": s, "name": s.lower(), "quantity": q, "unit_price": 10.0, "currency": "CNY"}
            for s, q in items
        ],
        **kw,
    }


ORDERS_D1 = [
    order(
        "o1",
        "paid",
        "2026-01-01T09:00:00+08:00",
        [("A", 1), ("B", 2)],
        member_id="m1",
        phone="138 1234 5678",
        shipping={"name": "LI LEI", "country": "CN", "postcode": "200120"},
    ),
    order(
        "o2",
        "shipped",
        "2026-01-01T22:00:00+01:00",
        [("C", 1)],
        created_at="2026-01-01T20:00:00+01:00",
        guest_email=" Anna@Example.DE ",
        phone="0151 23456789",
        shipping={"country": "DE", "postcode": "1067"},
    ),
]
ORDERS_D2 = [
    order("o1", "shipped", "2026-01-02T10:00:00+08:00", [("A", 1)], member_id="m1"),  # newer: wins
    order("o1", "shipped", "2026-01-02T10:00:00+08:00", [("A", 1)], member_id="m1"),  # exact duplicate
    order(
        "o2", "paid", "2026-01-01T20:00:00+01:00", [("C", 1)], created_at="2026-01-01T20:00:00+01:00"
    ),  # late, older
]
POS_D1 = [
    {
        "txn_id": "t1",
        "store_id": "DE-BER-001",
        "ts": "2026/01/01 10:00:00",
        "card_no": "L1",
        "phone": "030 1234567",
        "items": "SKU1*2|SKU2*x",
        "amount": 30.5,
        "currency": "EUR",
        "payment_method": "Card",
    },
]
CRM_D1 = [
    {
        "customer_no": "0000000001",
        "first_name": "anna",
        "last_name": "SCHMIDT",
        "email": "Anna@Example.DE",
        "phone": "030 1234567",
        "birth_date": "05.03.1985",
        "gender": "w",
        "country": "DE",
        "postcode": "10115",
        "created_at": "2025-06-01",
        "updated_at": "2026-01-01 08:00:00 UTC",
    },
    {
        "customer_no": "0000000002",
        "email": "not-an-email@",
        "phone": "12",
        "birth_date": "1800-01-01",
        "gender": "x",
        "country": "CN",
        "loyalty_points": 7,
        "created_at": "2025-07-01",
        "updated_at": "2026-01-01 08:00:00 UTC",
    },
    {"customer_no": " ", "email": "nobody@example.com", "created_at": "2025-07-01"},
]
CRM_D2 = [
    {**CRM_D1[0], "email": "anna.neu@example.de", "updated_at": "2026-01-02 08:00:00 UTC"},
    {**CRM_D1[1], "email": "old@example.com", "updated_at": "2025-12-01 08:00:00 UTC"},  # older change, late
]


def test_orders_and_contacts_latest_version_wins(sctx) -> None:  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    ctx = sctx
    names = ["orders", "pos", "crm"]
    write_bronze(ctx, "orders", ORDERS_D1, D1)
    write_bronze(ctx, "pos", POS_D1, D1)
    write_bronze(ctx, "crm", CRM_D1, D1)
    first = cleanse_run(ctx, rc_for(D1), pick(names))
    assert first.metrics["sources"]["crm"]["rejected_by_rule"] == {"natural_key.missing": 1}

    contacts = {r.customer_no: r for r in ctx.store.read(S.CONTACTS).collect()}
    anna, bad = contacts["0000000001"], contacts["0000000002"]
    assert (anna.first_name, anna.last_name, anna.email, anna.phone) == (
        "Anna",
        "Schmidt",
        "anna@example.de",
        "+49301234567",
    )
    assert (anna.birth_date, anna.gender, anna.loyalty_points) == (date(1985, 3, 5), "f", 0)
    assert anna._dq_flags == ["loyalty_points:imputed.default"]
    assert anna.identifiers == {
        "customer_no": "0000000001",
        "email": "anna@example.de",
        "phone": "+49301234567",
    }
    assert (bad.email, bad.phone, bad.birth_date, bad.gender, bad.loyalty_points) == (
        None,
        None,
        None,
        None,
        7,
    )
    assert sorted(bad._dq_flags) == [
        "birth_date:birth_date.implausible",
        "email:email.invalid_format",
        "gender:value.not_allowed",
        "phone:phone.invalid",
    ]
    assert anna.event_date == date(2025, 6, 1)

    pos = ctx.store.read(S.ORDERS).filter("source = 'pos'").collect()[0]
    assert (pos.channel, pos.event_time, pos.identifiers) == (
        "store",
        datetime(2026, 1, 1, 9, 0),
        {"loyalty_card": "L1", "phone": "+49301234567"},
    )
    pos_lines = ctx.store.read(S.ORDER_LINES).filter("source = 'pos'").orderBy("line_no").collect()
    assert [(r.sku, r.quantity, r._dq_flags) for r in pos_lines] == [
        ("SKU1", 2, []),
        ("SKU2", None, ["quantity:cast.invalid"]),
    ]

    o2 = ctx.store.read(S.ORDERS).filter("order_id = 'o2'").collect()[0]
    assert o2._dq_flags == ["shipping_postcode:postcode.invalid"] and o2.email == "anna@example.de"
    assert o2.phone == "+4915123456789" and o2.event_date == D1

    versions = {t: ctx.store.version(t) for t in (S.ORDERS, S.ORDER_LINES, S.CONTACTS)}
    write_bronze(ctx, "orders", ORDERS_D2, D2)
    write_bronze(ctx, "crm", CRM_D2, D2)
    second = cleanse_run(ctx, rc_for(D2), pick(names))
    m = second.metrics["sources"]["orders"]
    assert (m["bronze_rows"], m["updated"], m["duplicates_removed"], m["superseded"]) == (3, 1, 1, 1)
    c = second.metrics["sources"]["crm"]
    assert (c["bronze_rows"], c["updated"], c["superseded"]) == (2, 1, 1)
    assert "pos" not in second.metrics["sources"] or second.metrics["sources"]["pos"]["bronze_rows"] == 0

    orders = {r.order_id: r for r in ctx.store.read(S.ORDERS).filter("source = 'orders'").collect()}
    assert orders["o1"].status == "shipped" and orders["o1"].event_date == D1, (
        "updates stay in their partition"
    )
    assert orders["o2"].status == "shipped", "an older status arriving late does not overwrite a newer one"
    lines = ctx.store.read(S.ORDER_LINES).filter("order_id = 'o1'").select("line_no", "sku", "quantity")
    assert_df_equality(
        lines,
        ctx.spark.createDataFrame([(1, "A", 1)], "line_no int, sku string, quantity long"),
        ignore_nullable=True,
    )
    contacts = {r.customer_no: r for r in ctx.store.read(S.CONTACTS).collect()}
    assert contacts["0000000001"].email == "anna.neu@example.de" and contacts["0000000002"].email is None
    assert ctx.store.read(S.ORDERS).groupBy("record_id").count().filter(F.col("count") > 1).count() == 0
    assert all(ctx.store.version(t) > v for t, v in versions.items())


# ----------------------------------------------------------------------------- pipeline


LANDING_WEB = [
    json.dumps(web("e1", "2026-01-01T10:00:00.000Z")),
    json.dumps(web("e1", "2026-01-01T10:00:00.000Z")),
    json.dumps(web("e2", "2025-12-31T10:00:00.000Z", member_id="m1")),
    '{"event_id": "e3", "ts": "2026-01-01T1',
    json.dumps(web(None, "2026-01-01T10:00:00.000Z")),
]


def test_pipeline_landing_to_silver_reconciles_and_rerun_changes_nothing(spark, runtime_info, config) -> None:  # type: ignore[no-untyped-def]
    """ingest + cleanse through the runner with the shipped conf/: lines = bronze + quarantine,
    bronze = silver + duplicates + superseded + rejected; a forced rerun changes no silver version;
    the next day's delivery is the only thing the next run reads. (Stages run one by one: later
    stages of ``nightly`` belong to other packages.)"""
    ctx = _ctx(spark, runtime_info, config, conf_dir=REPO / "conf")
    landing = ctx.workspace.root / "landing" / "web"
    (landing / "2026-01-01").mkdir(parents=True)
    (landing / "2026-01-01" / "part-00000.jsonl").write_text("\n".join(LANDING_WEB) + "\n")
    first = run_pipeline(ctx, "ingest", D1)
    assert first.ok, first.stages
    run = run_pipeline(ctx, "cleanse", D1)
    assert run.ok, run.stages
    m = run.stages[0].result.metrics["sources"]["web"]  # type: ignore[union-attr]
    files = ctx.store.read("ops.ingested_files").collect()
    assert [(f.lines, f.bronze_rows, f.quarantined_rows) for f in files] == [(5, 4, 1)]
    assert (
        m["bronze_rows"],
        m["silver_rows"],
        m["duplicates_removed"],
        m["superseded"],
        m["rejected"],
        m["quarantined"],
    ) == (4, 2, 1, 0, 1, 1)
    versions = {t: ctx.store.version(t) for t in (S.EVENTS, S.REJECTED, S.ORDERS, S.CONTACTS)}

    rerun = run_pipeline(ctx, "cleanse", D1, force=True)
    assert rerun.ok, rerun.stages
    assert {t: ctx.store.version(t) for t in versions} == versions

    (landing / "2026-01-02").mkdir()
    (landing / "2026-01-02" / "part-00000.jsonl").write_text(
        json.dumps(web("e9", "2026-01-02T10:00:00.000Z")) + "\n"
    )
    assert run_pipeline(ctx, "ingest", D2).ok
    cleanse = run_pipeline(ctx, "cleanse", D2).stages[0]
    assert cleanse.status == "succeeded", cleanse.error
    assert cleanse.result.metrics["sources"]["web"]["bronze_rows"] == 1  # type: ignore[union-attr]
    assert sorted(r.event_id for r in ctx.store.read(S.EVENTS).collect()) == ["e1", "e2", "e9"]


# ----------------------------------------------------------------------------- generated data

E2E_NOISE = {
    "duplicate": 0.05,
    "late_arrival": 0.2,
    "missing": 0.1,
    "typo": 0.05,
    "case_variant": 0.05,
    "fullwidth_digits": 0.3,
    "junk_identifier": 0.05,
    "family_email": 1.0,
    "shared_device": 1.0,
    "duplicate_contact": 0.2,
    "schema_drift": 0.05,
    "broken_json": 0.02,
    "wrong_type": 0.02,
    "invalid_utf8": 0.02,
    "wrong_column_count": 0.1,
}


@pytest.mark.slow
def test_generated_data_with_every_noise_kind_reconciles(spark, runtime_info, config) -> None:  # type: ignore[no-untyped-def]
    """Acceptance: per source and day, landing lines = bronze + quarantine and bronze = silver +
    duplicates removed + superseded + rejected. (A forced rerun changing no silver version is
    checked by test_pipeline_landing_to_silver_reconciles_and_rerun_changes_nothing, on less data:
    the suite has a 15-minute budget.)"""
    from pyspark.sql import functions as F

    from cdp_spark.datagen import DatagenSettings, generate
    from cdp_spark.datagen.schemas import NOISE_KINDS

    ctx = _ctx(spark, runtime_info, config, conf_dir=REPO / "conf")
    settings = DatagenSettings(
        persons=120, days=1, activity=3.0, seed=12, noise=E2E_NOISE
    )  # seed: every kind occurs
    result = generate(spark, ctx.workspace.root, settings)
    truth = spark.read.parquet(str(result.truth["records"]))
    assert {r[0] for r in truth.select(F.explode("noise")).distinct().collect()} == set(NOISE_KINDS)
    duplicates = {
        (r.source, r.file_date): r.n
        for r in truth.filter("array_contains(noise, 'duplicate') AND NOT malformed")
        .groupBy("source", F.col("file_date").cast("string").alias("file_date"))
        .agg(F.count(F.lit(1)).alias("n"))
        .collect()
    }

    for day in result.dates:
        run_date = date.fromisoformat(day)
        assert run_pipeline(ctx, "ingest", run_date).ok
        stage = run_pipeline(ctx, "cleanse", run_date).stages[0]
        assert stage.status == "succeeded", stage.error
        files = ctx.store.read("ops.ingested_files").filter(F.col("_run_date") == F.lit(run_date)).collect()
        for source, m in stage.result.metrics["sources"].items():  # type: ignore[union-attr]
            mine = [f for f in files if f.source == source]
            assert sum(f.lines for f in mine) == result.records[source].get(day, 0), (source, day)
            assert sum(f.lines for f in mine) == m["bronze_rows"] + m["quarantined"], (source, day)
            assert (
                m["bronze_rows"]
                == m["silver_rows"] + m["duplicates_removed"] + m["superseded"] + m["rejected"]
            )
            assert m["duplicates_in_batch"] >= duplicates.get((source, day), 0), (source, day, m)
