"""TableStore contract: every operation, run against each store that can start here.

The delta-spark store needs the Delta jars on the classpath; on machines without Maven
access it is skipped with that reason. Every embedded table is also reopened with
``deltalake`` (and Polars/DuckDB) to prove it is a genuine Delta table.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, LongType, StringType, StructField, StructType

from cdp_spark.errors import SchemaContractError, TableNotFoundError
from cdp_spark.storage import Txn
from cdp_spark.workspace import Workspace

SCHEMA = StructType(
    [
        StructField("id", LongType(), True),
        StructField("name", StringType(), True),
        StructField("day", DateType(), True),
    ]
)
D1, D2, D3 = date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)


@pytest.fixture(params=["embedded", "delta-spark"])
def store(request, spark, runtime_info, workspace, spark_settings):  # type: ignore[no-untyped-def]
    settings = spark_settings.settings.storage
    if request.param == "embedded":
        from cdp_spark.storage.embedded import EmbeddedDeltaStore

        return EmbeddedDeltaStore(spark, Workspace.at(workspace), settings)
    from cdp_spark.session import DELTA_CLASS, _jvm_has_class

    if not _jvm_has_class(spark, DELTA_CLASS):
        pytest.skip(
            f"delta-spark store: {DELTA_CLASS} is not on the JVM classpath here (no Maven access to fetch "
            "io.delta:delta-spark_2.13); these contract tests run on a cluster runtime"
        )
    from cdp_spark.storage.deltaspark import DeltaSparkStore

    return DeltaSparkStore(spark, Workspace.at(workspace), settings)


def rows(spark, data):  # type: ignore[no-untyped-def]
    return spark.createDataFrame(data, SCHEMA)


def sorted_df(df):  # type: ignore[no-untyped-def]
    return df.orderBy("id", "day")


def as_delta_rs(store, name):  # type: ignore[no-untyped-def]
    from deltalake import DeltaTable

    return DeltaTable(store.location(name))


def test_read_missing_table_says_what_to_do(store):  # type: ignore[no-untyped-def]
    with pytest.raises(TableNotFoundError, match=r"silver\.nothing"):
        store.read("silver.nothing")


def test_create_then_read_empty(store, spark):  # type: ignore[no-untyped-def]
    version = store.create("silver.people", SCHEMA, partition_by=["day"])
    assert version == 0
    assert store.exists("silver.people")
    df = store.read("silver.people")
    assert df.schema == SCHEMA
    assert df.count() == 0
    with pytest.raises(SchemaContractError, match="already exists"):
        store.create("silver.people", SCHEMA, if_exists="error")


def test_append_read_and_genuine_delta(store, spark):  # type: ignore[no-untyped-def]
    data = [(1, "ann", D1), (2, "bob", D1), (3, "cai", D2)]
    result = store.write("silver.people", rows(spark, data), mode="append", partition_by=["day"])
    assert result.rows_written == 3
    assert result.version == 1  # version 0 is the CREATE TABLE commit
    assert_df_equality(sorted_df(store.read("silver.people")), sorted_df(rows(spark, data)))
    assert store.partition_columns("silver.people") == ["day"]
    if store.kind == "embedded":
        dt = as_delta_rs(store, "silver.people")
        assert dt.version() == store.version("silver.people") == 1
        assert dt.metadata().partition_columns == ["day"]
        arrow = dt.to_pyarrow_table().sort_by("id").to_pydict()
        assert arrow == {"id": [1, 2, 3], "name": ["ann", "bob", "cai"], "day": [D1, D1, D2]}
        assert [h["version"] for h in dt.history()] == [h["version"] for h in store.history("silver.people")]


def test_other_readers_see_the_same_rows(store, spark):  # type: ignore[no-untyped-def]
    if store.kind != "embedded":
        pytest.skip("interop of the embedded writer only")
    import duckdb
    import polars as pl

    data = [(i, f"n{i}", D1 if i % 2 else D2) for i in range(50)]
    store.write("silver.people", rows(spark, data), mode="append", partition_by=["day"])
    store.merge("silver.people", rows(spark, [(7, "seven", D1)]), keys=["id", "day"])
    store.delete("silver.people", "id >= 40")
    spark_rows = sorted((r.id, r.name, r.day) for r in store.read("silver.people").collect())
    pl_df = pl.read_delta(store.location("silver.people")).sort("id")
    assert sorted(pl_df.select("id", "name", "day").rows()) == spark_rows
    con = duckdb.connect()
    arrow = as_delta_rs(store, "silver.people").to_pyarrow_dataset()
    con.register("people", arrow)
    duck_rows = sorted(con.execute("select id, name, day from people").fetchall())
    assert duck_rows == spark_rows
    assert len(spark_rows) == 40 and (7, "seven", D1) in spark_rows


def test_overwrite_replaces_everything(store, spark):  # type: ignore[no-untyped-def]
    store.write(
        "silver.people", rows(spark, [(1, "a", D1), (2, "b", D2)]), mode="append", partition_by=["day"]
    )
    result = store.write("silver.people", rows(spark, [(9, "z", D3)]), mode="overwrite")
    assert result.files_removed >= 2
    assert [r.id for r in store.read("silver.people").collect()] == [9]


def test_replace_where_replaces_only_its_partition(store, spark):  # type: ignore[no-untyped-def]
    store.write(
        "silver.people",
        rows(spark, [(1, "a", D1), (2, "b", D2), (3, "c", D2)]),
        mode="append",
        partition_by=["day"],
    )
    store.write(
        "silver.people",
        rows(spark, [(4, "d", D2)]),
        mode="replace_where",
        replace_where=[("day", "=", D2.isoformat())],
    )
    got = sorted((r.id, r.day) for r in store.read("silver.people").collect())
    assert got == [(1, D1), (4, D2)]
    version = store.version("silver.people")
    folder = Path(store.location("silver.people"))
    files_before = {p.name for p in folder.rglob("*.parquet")}
    for refused in ([("day", "=", D2.isoformat())], [("day", "in", [D2.isoformat(), D3.isoformat()])]):
        with pytest.raises(SchemaContractError, match=r"outside replace_where|replaceWhere|does not conform"):
            store.write(
                "silver.people",
                rows(spark, [(5, "e", D1), (6, "f", D2)]),
                mode="replace_where",
                replace_where=refused,
            )
    # Refused before the commit: no new version, the same rows, no staged file left behind.
    assert store.version("silver.people") == version
    assert sorted((r.id, r.day) for r in store.read("silver.people").collect()) == [(1, D1), (4, D2)]
    assert {p.name for p in folder.rglob("*.parquet")} == files_before
    store.write(
        "silver.people",
        rows(spark, [(7, "g", D2), (8, "h", D3)]),
        mode="replace_where",
        replace_where=[("day", "in", [D2.isoformat(), D3.isoformat()])],
    )
    assert sorted((r.id, r.day) for r in store.read("silver.people").collect()) == [(1, D1), (7, D2), (8, D3)]


def test_read_prunes_partitions_from_the_log(store, spark):  # type: ignore[no-untyped-def]
    store.write(
        "silver.people", rows(spark, [(1, "a", D1), (2, "b", D2)]), mode="append", partition_by=["day"]
    )
    df = store.read("silver.people", partition_filters=[("day", "=", D2.isoformat())])
    assert [r.id for r in df.collect()] == [2]
    if store.kind == "embedded":
        files = {r[0] for r in df.select(F.input_file_name()).collect()}
        assert len(files) == 1 and "day=2026-01-02" in next(iter(files))


def test_time_travel_by_version_and_timestamp(store, spark):  # type: ignore[no-untyped-def]
    store.write("silver.people", rows(spark, [(1, "a", D1)]), mode="append")
    after_first = datetime.now(timezone.utc)
    time.sleep(1.1)
    store.write("silver.people", rows(spark, [(2, "b", D1)]), mode="append")
    assert store.read("silver.people", version=1).count() == 1
    assert store.read("silver.people").count() == 2
    assert [r.id for r in store.read("silver.people", as_of=after_first).collect()] == [1]


def test_idempotent_retry_commits_once(store, spark):  # type: ignore[no-untyped-def]
    df = rows(spark, [(1, "a", D1), (2, "b", D1)])
    token = Txn("cdp-spark/test/silver.people/2026-01-01", 1)
    first = store.write("silver.people", df, mode="append", txn=token)
    retry = store.write("silver.people", df, mode="append", txn=token)
    assert not first.skipped and retry.skipped
    assert retry.version == first.version
    assert store.read("silver.people").count() == 2
    assert store.txn_version("silver.people", token.app_id) == 1
    newer = store.write("silver.people", df, mode="append", txn=Txn(token.app_id, 2))
    assert not newer.skipped
    assert store.read("silver.people").count() == 4


def test_append_split_routes_rows_once_and_resumes(store, spark):  # type: ignore[no-untyped-def]
    routed = StructType([*SCHEMA.fields, StructField("why", StringType(), True)])
    data = [
        (1, "a", D1, None),
        (2, "b", D1, "too short"),
        (3, "c", D2, None),
        (4, "d", D2, ""),
        (5, "e", D1, "a/b=c:d"),
    ]
    df = spark.createDataFrame(data, routed)
    token = Txn("cdp-spark/test/silver.people/split", 1)
    seen: list[list[tuple]] = []

    def rejects(rejected):  # type: ignore[no-untyped-def]
        seen.append(sorted((r["id"], r["name"], r["day"], r["why"]) for r in rejected.collect()))
        return store.write("silver.rejects", rejected, mode="append")

    accepted, rejected = store.append_split(
        "silver.people", df, route="why", rejects=rejects, partition_by=["day"], txn=token
    )
    assert accepted.rows_written == 2 and not accepted.skipped
    assert rejected is not None and rejected.table == "silver.rejects"
    assert store.read("silver.people").schema == SCHEMA  # the route column is not a table column
    assert_df_equality(
        sorted_df(store.read("silver.people")), sorted_df(rows(spark, [(1, "a", D1), (3, "c", D2)]))
    )
    # An empty reason is a reason too (Spark would write "" to the null folder): never accepted.
    empty = "(empty)" if store.kind == "embedded" else ""
    assert seen == [[(2, "b", D1, "too short"), (4, "d", D2, empty), (5, "e", D1, "a/b=c:d")]]
    assert store.read("silver.rejects").count() == 3
    if store.kind == "embedded":
        folders = {u.split("/")[-2] for u in as_delta_rs(store, "silver.people").file_uris()}
        assert folders == {"day=2026-01-01", "day=2026-01-02"}
    # Resumed after the table's commit: the table is left alone, the rejects are computed again.
    again, _ = store.append_split(
        "silver.people", df, route="why", rejects=rejects, partition_by=["day"], txn=token
    )
    assert again.skipped and store.read("silver.people").count() == 2
    assert [r[0] for r in seen[1]] == [2, 4, 5]
    # Nothing to reject: the embedded store sees that from its staged files and skips the
    # callback (no empty commit); delta-spark cannot tell without a pass and runs it on no rows.
    rejects_version, rejects_rows = store.version("silver.rejects"), store.read("silver.rejects").count()
    clean, clean_rejects = store.append_split(
        "silver.people", df.where("why IS NULL"), route="why", rejects=rejects, txn=Txn(token.app_id, 2)
    )
    assert clean.rows_written == 2 and store.read("silver.people").count() == 4
    calls_without_rejects = {"embedded": [], "cluster": [[]]}[store.kind]
    assert seen[2:] == calls_without_rejects
    assert (clean_rejects is None) == (store.kind == "embedded")
    assert store.read("silver.rejects").count() == rejects_rows
    assert store.version("silver.rejects") == rejects_version + len(calls_without_rejects)


def test_merge_update_insert_delete_and_only_affected_files(store, spark):  # type: ignore[no-untyped-def]
    # Two partitions -> separate files; the merge touches keys in one of them only.
    store.write(
        "silver.people",
        rows(spark, [(1, "a", D1), (2, "b", D1), (3, "c", D2), (4, "d", D2)]),
        mode="append",
        partition_by=["day"],
    )
    files_before = set(as_delta_rs(store, "silver.people").file_uris()) if store.kind == "embedded" else set()
    source = rows(spark, [(3, "C", D2), (4, "gone", D2), (5, "e", D2)])
    result = store.merge("silver.people", source, keys=["id"], delete_when="s.name = 'gone'")
    expected = rows(spark, [(1, "a", D1), (2, "b", D1), (3, "C", D2), (5, "e", D2)])
    assert_df_equality(sorted_df(store.read("silver.people")), sorted_df(expected))
    if store.kind == "embedded":
        assert result.metrics == {"inserted": 1, "updated": 1, "deleted": 1}
        files_after = set(as_delta_rs(store, "silver.people").file_uris())
        untouched = [f for f in files_before if "day=2026-01-01" in f]
        assert untouched and all(f in files_after for f in untouched), "D1 files must not be rewritten"
        assert result.files_removed == len([f for f in files_before if "day=2026-01-02" in f])


def test_merge_ignore_modes_and_duplicate_source_keys(store, spark):  # type: ignore[no-untyped-def]
    store.write("silver.people", rows(spark, [(1, "a", D1)]), mode="append")
    store.merge(
        "silver.people", rows(spark, [(1, "A", D1), (2, "b", D1)]), keys=["id"], when_matched="ignore"
    )
    assert sorted((r.id, r.name) for r in store.read("silver.people").collect()) == [(1, "a"), (2, "b")]
    store.merge(
        "silver.people", rows(spark, [(2, "B", D1), (3, "c", D1)]), keys=["id"], when_not_matched="ignore"
    )
    assert sorted((r.id, r.name) for r in store.read("silver.people").collect()) == [(1, "a"), (2, "B")]
    if store.kind == "embedded":
        with pytest.raises(SchemaContractError, match="several rows for the same key"):
            store.merge("silver.people", rows(spark, [(1, "x", D1), (1, "y", D1)]), keys=["id"])


def test_merge_into_missing_table_creates_it(store, spark):  # type: ignore[no-untyped-def]
    store.merge("silver.people", rows(spark, [(1, "a", D1)]), keys=["id"], partition_by=["day"])
    assert store.read("silver.people").count() == 1


def test_delete_rewrites_only_files_with_matches(store, spark):  # type: ignore[no-untyped-def]
    store.write(
        "silver.people",
        rows(spark, [(1, "a", D1), (2, "b", D2), (3, "c", D2)]),
        mode="append",
        partition_by=["day"],
    )
    result = store.delete("silver.people", "id = 2")
    assert sorted(r.id for r in store.read("silver.people").collect()) == [1, 3]
    if store.kind == "embedded":
        assert result.metrics["deleted"] == 1
        assert result.files_removed == 1
        nothing = store.delete("silver.people", "id = 99")
        assert nothing.files_removed == 0 and nothing.version == result.version


def test_schema_evolution_adds_nullable_columns(store, spark):  # type: ignore[no-untyped-def]
    store.write("silver.people", rows(spark, [(1, "a", D1)]), mode="append")
    wider = rows(spark, [(2, "b", D1)]).withColumn("email", F.lit("b@example.com"))
    store.write("silver.people", wider, mode="append")
    got = {r.id: r.email for r in store.read("silver.people").collect()}
    assert got == {1: None, 2: "b@example.com"}
    assert store.read("silver.people").schema["email"].nullable


def test_incompatible_schema_change_names_table_column_and_types(store, spark):  # type: ignore[no-untyped-def]
    store.write("silver.people", rows(spark, [(1, "a", D1)]), mode="append")
    bad = rows(spark, [(2, "b", D1)]).withColumn("name", F.lit(5).cast("int"))
    with pytest.raises(SchemaContractError) as err:
        store.write("silver.people", bad, mode="append")
    message = str(err.value)
    for needle in ("silver.people", "name", "string", "int"):
        assert needle in message
    assert store.read("silver.people").count() == 1


def test_schema_evolution_can_be_refused(store, spark):  # type: ignore[no-untyped-def]
    if store.kind != "embedded":
        pytest.skip("delta-spark refuses by default without mergeSchema; covered by its own docs")
    store.write("silver.people", rows(spark, [(1, "a", D1)]), mode="append")
    wider = rows(spark, [(2, "b", D1)]).withColumn("email", F.lit("x"))
    with pytest.raises(SchemaContractError, match="schema evolution is off"):
        store.write("silver.people", wider, mode="append", schema_evolution=False)


def test_widening_cast_is_accepted(store, spark):  # type: ignore[no-untyped-def]
    store.write("silver.people", rows(spark, [(1, "a", D1)]), mode="append")
    narrow = spark.createDataFrame([(2, "b", D1)], "id int, name string, day date")
    store.write("silver.people", narrow, mode="append")
    assert store.read("silver.people").schema["id"].dataType == LongType()


def test_optimize_compacts_small_files_without_changing_data(store, spark):  # type: ignore[no-untyped-def]
    for i in range(4):
        store.write("silver.people", rows(spark, [(i, f"n{i}", D1)]), mode="append", partition_by=["day"])
    before = sorted_df(store.read("silver.people"))
    expected = before.collect()
    result = store.maintenance.optimize("silver.people")
    assert sorted_df(store.read("silver.people")).collect() == expected
    if store.kind == "embedded":
        assert result.files_removed == 4 and result.files_added == 1
        last = store.history("silver.people", limit=1)[0]
        assert last.get("cdp.operation") == "OPTIMIZE"


def test_vacuum_removes_unreferenced_files_only(store, spark):  # type: ignore[no-untyped-def]
    first = store.write("silver.people", rows(spark, [(1, "a", D1)]), mode="append").version
    now = store.write("silver.people", rows(spark, [(2, "b", D1)]), mode="overwrite").version
    would = store.maintenance.vacuum("silver.people", retention_hours=0, dry_run=True)
    if store.kind == "embedded":
        assert len(would) == 1
    assert store.missing_files("silver.people", first) in (0, None)  # None: this store cannot tell
    store.maintenance.vacuum("silver.people", retention_hours=0)
    assert [r.id for r in store.read("silver.people").collect()] == [2]
    if store.kind == "embedded":  # the first write's file is gone, the current version is whole
        assert (store.missing_files("silver.people", first), store.missing_files("silver.people", now)) == (
            1,
            0,
        )


def test_file_ranges_come_from_the_log(store, spark):  # type: ignore[no-untyped-def]
    store.write("silver.t", rows(spark, [(1, "a", D1), (2, "b", D1)]), mode="append", partition_by=["day"])
    store.write("silver.t", rows(spark, [(7, "c", D2), (9, None, D2)]), mode="append", partition_by=["day"])
    ranges = store.file_ranges("silver.t", "id")
    if ranges is None:  # a store without per-file statistics says so; callers scan
        return
    by_day: dict[str | None, tuple[int, int]] = {}
    for r in ranges:
        lo, hi = by_day.get(r.partition["day"], (r.low, r.high))
        by_day[r.partition["day"]] = (min(lo, r.low), max(hi, r.high))
    assert by_day == {D1.isoformat(): (1, 2), D2.isoformat(): (7, 9)}


def test_file_changes_are_the_files_added_and_removed_since_a_version(store, spark):  # type: ignore[no-untyped-def]
    store.write(
        "silver.t",
        rows(spark, [(1, "a", D1), (2, "b", D1), (3, "c", D2)]),
        mode="append",
        partition_by=["day"],
    )
    since = store.version("silver.t")
    # An update of id 1 (its D1 file is rewritten) and an append on D3; D2's file is untouched.
    store.merge("silver.t", rows(spark, [(1, "A", D1)]), keys=["id"])
    store.write("silver.t", rows(spark, [(4, "d", D3)]), mode="append")
    changes = store.file_changes("silver.t", since)
    if changes is None:  # a store that cannot tell from the log says so; callers scan
        return
    as_set = lambda df: {(r.id, r.name, r.day) for r in df.collect()}  # noqa: E731
    # A rewritten file may hold rows copied unchanged (row 2, if it shared row 1's file):
    # callers filter by a run column. Nothing of the untouched D2 file is in either.
    added, removed = as_set(changes.added), as_set(changes.removed)
    assert {(1, "A", D1), (4, "d", D3)} <= added <= {(1, "A", D1), (2, "b", D1), (4, "d", D3)}
    assert {(1, "a", D1)} <= removed <= {(1, "a", D1), (2, "b", D1)}
    assert ((2, "b", D1) in added) == ((2, "b", D1) in removed)
    unchanged = store.file_changes("silver.t", store.version("silver.t"))
    assert unchanged is not None and unchanged.added.count() == 0 and unchanged.removed.count() == 0
