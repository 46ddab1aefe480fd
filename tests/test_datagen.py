"""Synthetic data generator (issue 3): determinism, incremental days, truth coverage, schemas,
noise presence and rates, and the Antarctic story.

One generation (``generated``) is shared by most tests; it boosts every noise rate so that
a few hundred persons give enough noisy records to check rates. Further runs check
determinism (same seed -> byte-identical files), incremental delivery (one day alone ->
the same bytes as in the full run, reruns idempotent) and that another seed differs.
Truth tables are read with pyarrow/pandas, which is much faster than Spark jobs here.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from chispa import assert_df_equality
from pydantic import ValidationError

from cdp_spark.datagen import (
    NOISE_KINDS,
    SOURCE_SCHEMAS,
    SOURCES,
    STORY_PERSON_ID,
    DatagenSettings,
    GenerationResult,
    NoiseRates,
    bench_generate,
    generate,
)
from cdp_spark.datagen import story as story_mod
from cdp_spark.datagen._sql import bijective_py
from cdp_spark.datagen.population import MEMBER_BIJ, PHONE_BIJ, STORY_IDX
from cdp_spark.datagen.sources.orders import ORDER_BIJ

REPO = Path(__file__).resolve().parents[1]

BOOSTED = NoiseRates(
    typo=0.1,
    case_variant=0.1,
    phone_format=0.3,
    date_format=0.3,
    fullwidth_digits=0.1,
    missing=0.1,
    duplicate=0.05,
    late_arrival=0.1,
    junk_identifier=0.05,
    shared_device=0.5,
    family_email=0.5,
    duplicate_contact=0.1,
    schema_drift=0.05,
    broken_json=0.02,
    wrong_column_count=0.03,
    wrong_type=0.02,
    invalid_utf8=0.02,
)
SETTINGS = DatagenSettings(persons=800, days=3, seed=7, noise=BOOSTED)


# ------------------------------------------------------------------ helpers


def _sha256_tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _landing_lines(root: Path) -> pd.DataFrame:
    """Every raw line: source, file (landing-relative), line number (1-based), bytes."""
    rows = []
    for path in sorted((root / "landing").rglob("part-*")):
        rel = path.relative_to(root / "landing")
        source = rel.parts[0]
        for n, line in enumerate(path.read_bytes().split(b"\n")[:-1], start=1):
            rows.append((source, str(rel), n, line))
    return pd.DataFrame(rows, columns=["source", "file", "line_number", "raw"])


def _truth(root: Path, table: str) -> pd.DataFrame:
    return pq.read_table(root / "truth" / table).to_pandas()


def _binomial_ok(hits: int, n: int, rate: float) -> bool:
    """Observed count within 4 standard deviations (+1) of n * rate."""
    expected = n * rate
    return abs(hits - expected) <= 4 * math.sqrt(max(expected * (1 - rate), 1e-9)) + 1


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def generated(spark, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationResult]:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("datagen") / "ws"
    result = generate(spark, root, SETTINGS)
    return root, result


@pytest.fixture(scope="module")
def lines(generated) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    return _landing_lines(generated[0])


@pytest.fixture(scope="module")
def records(generated) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    return _truth(generated[0], "records")


@pytest.fixture(scope="module")
def identifiers(generated) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    return _truth(generated[0], "identifiers")


@pytest.fixture(scope="module")
def joined(lines, records) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """Truth records with their raw line and noise as a set."""
    out = records.merge(lines, on=["file", "line_number"], how="left", suffixes=("", "_raw"))
    out["kinds"] = out["noise"].map(lambda xs: set(xs))
    return out


# ------------------------------------------------------------------ settings and constants


def test_conf_file_documents_the_defaults() -> None:
    data = yaml.safe_load((REPO / "conf" / "datagen.yaml").read_text(encoding="utf-8"))
    assert DatagenSettings.model_validate(data) == DatagenSettings()


def test_settings_are_strict_and_registered() -> None:
    from cdp_spark.config import _DOMAIN_FILES

    assert _DOMAIN_FILES["datagen.yaml"].model is DatagenSettings
    with pytest.raises(ValidationError):
        DatagenSettings.model_validate({"persns": 10})
    with pytest.raises(ValidationError):
        DatagenSettings.model_validate({"noise": {"typo": 1.5}})
    with pytest.raises(ValidationError):  # one draw decides the malformed kind
        NoiseRates(broken_json=0.6, wrong_type=0.5)


def test_story_identifiers_come_from_reserved_indices() -> None:
    """Regular persons use indices < MAX_PERSONS, so the story's values can never collide."""
    assert story_mod.STORY_PHONE_NSN[3:] == f"{bijective_py(STORY_IDX, *PHONE_BIJ):08d}"
    assert f"M{bijective_py(STORY_IDX, *MEMBER_BIJ):08d}" == story_mod.STORY_MEMBER_ID
    assert f"{bijective_py(STORY_IDX, *ORDER_BIJ):08d}" == story_mod.STORY_PROMO_SUFFIX
    assert f"{bijective_py(STORY_IDX - 1, *ORDER_BIJ):08d}" == story_mod.STORY_FAMILY_SUFFIX
    assert story_mod.STORY_PERSON_ID == STORY_PERSON_ID


def test_every_source_documents_its_schema() -> None:
    for name, schema in SOURCE_SCHEMAS.items():
        assert schema.name == name
        assert schema.record_key in schema.field_names
        assert len(schema.spark_schema().fields) == len(schema.fields)
    for kind, spec in NOISE_KINDS.items():
        assert set(spec.sources) <= set(SOURCES), kind


# ------------------------------------------------------------------ layout, truth coverage


def test_layout_one_folder_per_source_and_day(generated) -> None:  # type: ignore[no-untyped-def]
    root, result = generated
    dates = ["2025-01-06", "2025-01-07", "2025-01-08"]
    assert list(result.dates) == dates
    for source in SOURCES:
        ext = SOURCE_SCHEMAS[source].extension
        for date in dates:
            folder = root / "landing" / source / date
            assert sorted(p.name for p in folder.iterdir()) == [f"part-00000.{ext}"]
            assert result.files[source][date] == (folder / f"part-00000.{ext}",)
    leftovers = [p for p in root.rglob("*") if p.name.startswith(("_", ".")) or p.suffix == ".crc"]
    assert leftovers == []
    assert result.total_records > 5_000


def test_truth_has_exactly_one_row_per_raw_line(generated, lines, records) -> None:  # type: ignore[no-untyped-def]
    _, result = generated
    data = lines.copy()
    data["header"] = [
        SOURCE_SCHEMAS[s].format == "csv" and n == 1
        for s, n in zip(data.source, data.line_number, strict=True)
    ]
    data = data[~data.header]
    assert not records.duplicated(["file", "line_number"]).any()
    keys_raw = set(zip(data.file, data.line_number, strict=True))
    keys_truth = set(zip(records.file, records.line_number, strict=True))
    assert keys_raw == keys_truth
    per_day = data.groupby("file").size()
    for source in SOURCES:
        for date, n in result.records[source].items():
            file = f"{source}/{date}/part-00000.{SOURCE_SCHEMAS[source].extension}"
            assert per_day.get(file, 0) == n, file
    assert records.person_id.notna().all()
    assert set(records.source) == set(SOURCES)


def test_truth_tables_follow_their_documented_schemas(generated) -> None:  # type: ignore[no-untyped-def]
    from cdp_spark.datagen.population import PERSON_COLUMNS
    from cdp_spark.datagen.schemas import TRUTH_IDENTIFIERS_SCHEMA, TRUTH_RECORDS_SCHEMA

    root, _ = generated
    for table, schema in (("records", TRUTH_RECORDS_SCHEMA), ("identifiers", TRUTH_IDENTIFIERS_SCHEMA)):
        files = sorted((root / "truth" / table).rglob("*.parquet"))
        assert files and all(f.parent.parent.name.startswith("source=") for f in files)
        for f in files:
            assert pq.read_schema(f).names == schema.fieldNames(), f
    assert pq.read_schema(next((root / "truth" / "persons").glob("*.parquet"))).names == list(PERSON_COLUMNS)


def test_every_identifier_value_has_its_true_person(identifiers, records) -> None:  # type: ignore[no-untyped-def]
    assert identifiers.person_id.notna().all()
    assert set(identifiers.id_type) == {
        "cookie",
        "device_id",
        "member_id",
        "customer_no",
        "loyalty_card",
        "email",
        "email_sha256",
        "phone",
        "wechat_openid",
        "wechat_unionid",
        "order_id",
    }
    persons = identifiers.groupby(["id_type", "id_value"]).person_id.nunique()
    junk = identifiers[identifiers.is_junk]
    assert (persons.loc[list(zip(junk.id_type, junk.id_value, strict=True))] > 1).any(), (
        "junk values are shared by many"
    )
    assert junk.id_value_true.isna().all()
    # clean personal identifiers never collide between two people (bijections, 128-bit ids)
    clean = identifiers[
        ~identifiers.is_junk & identifiers.id_type.isin(["phone", "member_id", "customer_no", "cookie"])
    ]
    shared = clean.groupby(["id_type", "id_value_true"]).person_id.nunique()
    assert (shared == 1).all(), shared[shared > 1].head()
    assert set(identifiers.person_id) <= set(records.person_id)


# ------------------------------------------------------------------ schemas


@pytest.mark.parametrize("source", SOURCES)
def test_well_formed_records_parse_with_the_documented_schema(spark, generated, records, source) -> None:  # type: ignore[no-untyped-def]
    from pyspark.sql.types import StringType, StructField

    root, _ = generated
    schema = SOURCE_SCHEMAS[source]
    spark_schema = schema.spark_schema().add(StructField("_corrupt_record", StringType()))
    path = str(root / "landing" / source)
    reader = (
        spark.read.schema(spark_schema)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", "_corrupt_record")
    )
    if schema.format == "jsonl":
        df = reader.option("recursiveFileLookup", "true").json(path)
    else:
        df = (
            reader.option("recursiveFileLookup", "true")
            .option("header", "true")
            .option("sep", schema.delimiter)
            .csv(path)
        )
    # all columns, not just the key: Spark's JSON/CSV parser skips fields nobody reads, so a
    # wrong type in an unread field would go unnoticed
    rows = df.withColumn(schema.record_key, df[schema.record_key].cast("string")).toPandas()
    truth = records[records.source == source]
    assert len(rows) == len(truth)
    corrupt = rows._corrupt_record.notna()
    must_fail = truth.noise.map(
        lambda xs: bool({"broken_json", "wrong_type", "wrong_column_count"} & set(xs))
    )
    may_fail = truth.malformed
    assert corrupt.sum() >= must_fail.sum()
    assert corrupt.sum() <= may_fail.sum()
    # every record the truth calls well-formed parsed and kept its key
    good_keys = set(rows.loc[~corrupt, schema.record_key].dropna())
    for key in truth.loc[~truth.malformed, "record_key"]:
        raw_key = key.split(":")[0] if source in ("orders", "email") else key
        assert raw_key in good_keys, (source, key)


# ------------------------------------------------------------------ noise: presence in the raw text


def test_noise_is_visible_in_the_raw_files(joined) -> None:  # type: ignore[no-untyped-def]
    text = joined.raw.map(lambda b: b.decode("utf-8", errors="replace"))
    kinds = joined.kinds
    # phones in several notations, some with full-width digits
    pos_phones = joined[joined.source == "pos"].raw.map(
        lambda b: b.decode("utf-8", "replace").split(";")[4] if b.count(b";") >= 8 else ""
    )
    assert pos_phones.str.contains(r"^1\d\d \d{4} \d{4}$").any()
    assert text.str.contains(r"\+86 1\d\d \d{4} \d{4}").any()
    assert text.str.contains(r"0086-1\d\d-\d{4}-\d{4}").any()
    assert text.str.contains("[０-９]{4}").any()
    # at least four birth-date formats in the CRM
    crm = joined[(joined.source == "crm") & ~joined.malformed]
    births = crm.raw.map(lambda b: b.decode("utf-8").split(",")[6] if b.count(b",") == 14 else "")
    shapes = {
        "iso": r"^\d{4}-\d{2}-\d{2}$",
        "german": r"^\d{2}\.\d{2}\.\d{4}$",
        "us": r"^\d{2}/\d{2}/\d{4}$",
        "slash": r"^\d{4}/\d{1,2}/\d{1,2}$",
        "cjk": r"^\d{4}年\d{1,2}月\d{1,2}日$",
        "compact": r"^\d{8}$",
        "month": r"^\d{1,2}-[A-Z][a-z]{2}-\d{4}$",
    }
    seen = {name for name, rx in shapes.items() if births.str.contains(rx).any()}
    assert len(seen) >= 4, seen
    # invalid UTF-8 bytes exactly on the lines the truth flags
    bad_bytes = joined.raw.map(lambda b: _is_invalid_utf8(b))
    assert (bad_bytes == kinds.map(lambda k: "invalid_utf8" in k)).all()
    # broken JSON does not parse; other JSON lines do
    json_lines = joined[joined.source.map(lambda s: SOURCE_SCHEMAS[s].format == "jsonl") & ~bad_bytes]
    broken = json_lines.kinds.map(lambda k: "broken_json" in k)
    parses = json_lines.raw.map(_parses)
    assert broken.any() and not parses[broken].any() and parses[~broken].all()
    # schema drift: fields the schema does not list
    drifted = json_lines[json_lines.kinds.map(lambda k: "schema_drift" in k) & parses]
    for source, raw in zip(drifted.source, drifted.raw, strict=True):
        assert set(json.loads(raw)) - set(SOURCE_SCHEMAS[source].field_names), raw
    # duplicates: the second copy is the same bytes as the line before it
    dups = joined[kinds.map(lambda k: "duplicate" in k)]
    assert len(dups) > 0
    by_line = joined.set_index(["file", "line_number"]).raw
    for file, n, raw in zip(dups.file, dups.line_number, dups.raw, strict=True):
        assert by_line[(file, n - 1)] == raw
    # late arrivals: event date before the file date
    late = joined[kinds.map(lambda k: "late_arrival" in k)]
    assert len(late) > 0 and (late.event_date < late.file_date.astype(str)).all()
    on_time = joined[~kinds.map(lambda k: "late_arrival" in k) & joined.source.isin(["web", "app", "pos"])]
    assert (on_time.event_date == on_time.file_date.astype(str)).all()
    # junk identifiers appear verbatim
    assert text.str.contains(
        "test@test.com|13800000000|noemail@noemail.com|00000000-0000-0000-0000-000000000000"
    ).any()


def _is_invalid_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _parses(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------ noise: rates


RATE_CHECKS = {
    # kind: restrict to these sources where eligibility is "every record"
    "missing": ("web", "app", "orders", "pos", "crm", "support"),
    "late_arrival": ("web", "app", "pos", "wechat", "email", "consents", "support"),
    "schema_drift": ("web", "app", "orders", "wechat", "consents", "support"),
    "duplicate": SOURCES,
    "typo": ("orders", "crm"),
    "case_variant": ("orders", "crm"),
    "junk_identifier": ("web", "app", "orders", "pos", "crm", "consents", "support", "wechat"),
    "date_format": ("pos",),
}


@pytest.mark.parametrize("kind", sorted(RATE_CHECKS))
def test_per_record_noise_rates_match_the_settings(joined, kind) -> None:  # type: ignore[no-untyped-def]
    first_copies = joined[~joined.kinds.map(lambda k: "duplicate" in k) & ~joined.story]
    pool = first_copies[first_copies.source.isin(RATE_CHECKS[kind])]
    if kind == "duplicate":
        hits = int(joined.kinds.map(lambda k: "duplicate" in k).sum())
    else:
        hits = int(pool.kinds.map(lambda k: kind in k).sum())
    rate = getattr(SETTINGS.noise, kind)
    assert hits > 0
    assert _binomial_ok(hits, len(pool), rate), (kind, hits, len(pool), rate)


def test_phone_noise_rates_among_records_with_a_phone(joined) -> None:  # type: ignore[no-untyped-def]
    first = joined[~joined.kinds.map(lambda k: "duplicate" in k) & ~joined.story]
    for kind in ("phone_format", "fullwidth_digits"):
        pool = first[
            first.source.isin(NOISE_KINDS[kind].sources) & first.id_types.map(lambda t: "phone" in t)
        ]
        hits = int(pool.kinds.map(lambda k, kind=kind: kind in k).sum())
        assert hits > 0
        assert _binomial_ok(hits, len(pool), getattr(SETTINGS.noise, kind)), (kind, hits, len(pool))
    # only records that carry a phone are flagged
    assert (
        not first[first.id_types.map(lambda t: "phone" not in t)]
        .kinds.map(lambda k: "phone_format" in k)
        .any()
    )


def test_malformed_rates_and_flags(joined) -> None:  # type: ignore[no-untyped-def]
    first = joined[~joined.kinds.map(lambda k: "duplicate" in k) & ~joined.story]
    csv = first.source.map(lambda s: SOURCE_SCHEMAS[s].format == "csv")
    for kind, pool in (
        ("broken_json", first[~csv]),
        ("wrong_column_count", first[csv]),
        ("wrong_type", first),
        ("invalid_utf8", first),
    ):
        hits = int(pool.kinds.map(lambda k, kind=kind: kind in k).sum())
        assert hits > 0, kind
        assert _binomial_ok(hits, len(pool), getattr(SETTINGS.noise, kind)), (kind, hits, len(pool))
    malformed_kinds = joined.kinds.map(
        lambda k: bool(k & {"broken_json", "wrong_column_count", "wrong_type", "invalid_utf8"})
    )
    assert (malformed_kinds == joined.malformed).all()


def test_household_noise_rates(generated, joined) -> None:  # type: ignore[no-untyped-def]
    persons = _truth(generated[0], "persons")
    multi = persons[(persons.household_size > 1) & ~persons.is_story].drop_duplicates("household_id")
    for column, kind in (("shares_device", "shared_device"), ("family_email", "family_email")):
        hits = int(multi[column].notna().sum() if column == "family_email" else multi[column].sum())
        assert _binomial_ok(hits, len(multi), getattr(SETTINGS.noise, kind)), (kind, hits, len(multi))
        assert joined.kinds.map(lambda k, kind=kind: kind in k).any()
    contacts = persons[persons.customer_no.notna()]
    dup = int(contacts.customer_no2.notna().sum())
    assert _binomial_ok(dup, len(contacts), SETTINGS.noise.duplicate_contact)
    assert joined.kinds.map(lambda k: "duplicate_contact" in k).sum() > 0


def test_shared_devices_map_to_several_household_members(generated, identifiers, joined) -> None:  # type: ignore[no-untyped-def]
    persons = _truth(generated[0], "persons").set_index("person_id")
    devices = identifiers[(identifiers.id_type == "device_id") & ~identifiers.is_junk]
    multi = devices.groupby("id_value").person_id.unique()
    multi = multi[multi.map(len) > 1]
    assert len(multi) > 0
    for people in multi:
        assert persons.loc[list(people), "household_id"].nunique() == 1


# ------------------------------------------------------------------ population


def test_population_mixes_locales_and_looks_real(generated) -> None:  # type: ignore[no-untyped-def]
    import phonenumbers

    persons = _truth(generated[0], "persons")
    regular = persons[~persons.is_story]
    assert len(regular) == SETTINGS.persons
    shares = regular.locale.value_counts(normalize=True)
    for locale, weight in SETTINGS.locales.normalised().items():
        assert shares[locale] == pytest.approx(weight, abs=0.08)
    for phone in regular.phone.dropna():
        assert phonenumbers.is_valid_number(phonenumbers.parse(phone)), phone
    zh = regular[regular.locale == "zh_CN"]
    assert zh.full_name.str.match(r"^[\u4e00-\u9fff]{2,4}$").all()
    assert zh.phone.dropna().str.match(r"^\+861[3-9]\d{9}$").all()
    assert zh.postcode.str.match(r"^\d{6}$").all()
    de = regular[regular.locale == "de_DE"]
    assert de.full_name.str.contains("[äöüßÄÖÜ]").any()
    assert de.postcode.str.match(r"^\d{5}$").all() and de.phone.dropna().str.startswith("+49").all()
    assert regular.email.dropna().is_unique
    assert regular.household_id.nunique() < len(regular)  # households exist
    assert set(regular.segment) == {"new", "active", "loyal", "churning", "returning"}


# ------------------------------------------------------------------ the story


def test_antarctic_story_records(generated, records, identifiers, lines) -> None:  # type: ignore[no-untyped-def]
    root, _ = generated
    story = records[records.story]
    assert (story.person_id == STORY_PERSON_ID).all()
    assert set(story.source) == {"app", "orders", "consents", "wechat"}
    assert not story.malformed.any() and (story.noise.map(len) == 0).all()
    raw = lines.merge(story, on=["file", "line_number"])
    events = [json.loads(b) for b in raw.raw]
    app = sorted((e for e in events if "event_name" in e), key=lambda e: e["event_time"])
    day0 = [e for e in app if e["event_time"] < 1736121600000 + 86_400_000]
    searches = [e["search_term"] for e in day0 if e["event_name"] == "search"]
    assert len(searches) >= 3 and any("南极" in s for s in searches)
    assert all("member_id" not in e for e in day0), "day 0 is anonymous"
    assert {"permission": "location", "granted": False}.items() <= next(
        e for e in day0 if e["event_name"] == "permission_prompt"
    ).items()
    orders = sorted((e for e in events if "order_id" in e and "status" in e), key=lambda e: e["created_at"])
    promo, family = orders
    assert "member_id" not in promo and "guest_email" not in promo
    assert promo["phone"] == story_mod.STORY_PHONE and promo["shipping"]["name"] == story_mod.STORY_NAME
    assert promo["shipping"]["street"].startswith("漕溪北路")
    assert family["member_id"] == story_mod.STORY_MEMBER_ID
    tickets = {i["ticket_type"]: i for i in family["items"]}
    assert tickets["adult"]["quantity"] == 2 and tickets["child"]["quantity"] == 1
    assert tickets["child"]["traveler_age"] == story_mod.STORY_CHILD_AGE
    placed = {e["order_id"] for e in app if e["event_name"] == "order_placed"}
    assert placed == {promo["order_id"], family["order_id"]} == set(story_mod.order_ids(SETTINGS))
    register = next(e for e in app if e["event_name"] == "register")
    assert (
        register["device_id"] == story_mod.STORY_DEVICE_ID
        and register["member_id"] == story_mod.STORY_MEMBER_ID
    )
    wechat = {e["event"]: e for e in events if "appid" in e}
    assert wechat["subscribe"]["openid"] == story_mod.STORY_OPENID_OA
    assert wechat["subscribe"]["unionid"] == wechat["mp_phone_auth"]["unionid"] == story_mod.STORY_UNIONID
    assert wechat["mp_phone_auth"]["phone"] == story_mod.STORY_PHONE_NSN
    # every story identifier maps to the story person only
    ids = identifiers[identifiers.person_id == STORY_PERSON_ID]
    expected = {
        ("device_id", story_mod.STORY_DEVICE_ID),
        ("member_id", story_mod.STORY_MEMBER_ID),
        ("phone", story_mod.STORY_PHONE),
        ("email", story_mod.STORY_EMAIL),
        ("wechat_unionid", story_mod.STORY_UNIONID),
        ("wechat_openid", story_mod.STORY_OPENID_OA),
        ("wechat_openid", story_mod.STORY_OPENID_MP),
    }
    assert expected <= set(zip(ids.id_type, ids.id_value_true, strict=True))
    owners = identifiers.merge(ids[["id_type", "id_value"]].drop_duplicates(), on=["id_type", "id_value"])
    assert set(owners.person_id) == {STORY_PERSON_ID}
    persons = _truth(root, "persons")
    assert persons[persons.is_story].person_id.tolist() == [STORY_PERSON_ID]


# ------------------------------------------------------------------ determinism and incremental days


@pytest.mark.slow
def test_same_seed_gives_identical_files_and_single_days_match(spark, generated, tmp_path) -> None:  # type: ignore[no-untyped-def]
    root, _ = generated
    expected = _sha256_tree(root)
    other = tmp_path / "again"
    generate(spark, other, SETTINGS)
    assert _sha256_tree(other) == expected
    # deliver day 1 on its own into the same workspace: it replaces that day's folders
    # with byte-identical files, so day k alone equals day k of a full run (and reruns
    # are idempotent); nothing else changes.
    (other / "landing" / "web" / "2025-01-07" / "stale.jsonl").write_text("left over\n")
    result = generate(spark, other, SETTINGS, days=[1])
    assert result.days == (1,) and set(result.dates) == {"2025-01-07"}
    assert _sha256_tree(other) == expected
    # the truth of day 1 read back with Spark is the same DataFrame in both workspaces
    a = spark.read.parquet(str(root / "truth" / "records")).where("file_date = '2025-01-07'")
    b = spark.read.parquet(str(other / "truth" / "records")).where("file_date = '2025-01-07'")
    assert_df_equality(a, b, ignore_row_order=True)


@pytest.mark.slow
def test_another_seed_differs_and_story_can_be_switched_off(spark, generated, tmp_path) -> None:  # type: ignore[no-untyped-def]
    root, _ = generated
    settings = SETTINGS.model_copy(update={"seed": SETTINGS.seed + 1, "story": False})
    other = tmp_path / "seed"
    generate(spark, other, settings, sources=["app", "crm"])
    assert sorted(p.name for p in (other / "landing").iterdir()) == ["app", "crm"]
    for source in ("app", "crm"):
        for date in ("2025-01-06", "2025-01-07", "2025-01-08"):
            ext = SOURCE_SCHEMAS[source].extension
            a = (root / "landing" / source / date / f"part-00000.{ext}").read_bytes()
            b = (other / "landing" / source / date / f"part-00000.{ext}").read_bytes()
            assert a != b
    truth = _truth(other, "records")
    assert not truth.story.any()
    assert STORY_PERSON_ID not in set(_truth(other, "persons").person_id)


def test_days_outside_the_window_are_rejected(spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cdp_spark.errors import ConfigError

    with pytest.raises(ConfigError, match="outside"):
        generate(spark, tmp_path, SETTINGS, days=[3])
    with pytest.raises(ConfigError, match="unknown sources"):
        generate(spark, tmp_path, SETTINGS, sources=["fax"])


@pytest.mark.slow
def test_bench_generate_reports_rows_per_second(spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = bench_generate(spark, tmp_path, persons=200, days=1, seed=3, sources=["pos", "crm"])
    assert json.loads(json.dumps(result)) == result
    assert result["persons"] == 200 and result["events"] == sum(
        s["records"] for s in result["sources"].values()
    )
    assert set(result["sources"]) == {"pos", "crm"}
    assert result["rows_per_second"] > 0


def test_result_counts_sum(generated) -> None:  # type: ignore[no-untyped-def]
    _, result = generated
    assert sum(result.records_by_source().values()) == result.total_records
    assert Counter(result.records_by_source()).most_common(1)[0][0] == "web"
