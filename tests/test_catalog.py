"""The table catalogue: complete, consistent with the code, and true of a real demo workspace.

The first tests need no Spark: they hold the catalogue against the source tree, the schemas it
points to and the stages' declarations. The last ones read the workspace the session's demo
left (``demo`` fixture in conftest): every table there is catalogued, every table the nightly
declares it writes exists with the catalogued schema, and what each stage really touched
(``ops.runs.touched_reads`` / ``touched_writes``) is what it declares.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from conftest import DEMO_MARKS, REPO, DemoRun

from cdp_spark import catalog
from cdp_spark.catalog import PII_KINDS, RUNNER, TableSpec
from cdp_spark.config import Config, load_config
from cdp_spark.errors import CdpSparkError, ConfigError
from cdp_spark.pipeline import plan, registered_stages

TABLE_NAME = re.compile(r"(bronze|silver|gold|ops)\.[a-z][a-z0-9_]*")


@pytest.fixture(scope="module")
def project_config() -> Config:
    return load_config(REPO / "conf" / "local.yaml")


@pytest.fixture(scope="module")
def tables(project_config: Config) -> catalog.Catalogue:
    return catalog.for_config(project_config)


def test_no_table_name_is_spelled_outside_the_catalogue() -> None:
    """String constants that are a table name; docstrings and messages may mention tables."""
    offenders = []
    for path in sorted([*(REPO / "cdp_spark").rglob("*.py"), *(REPO / "jobs").glob("*.py")]):
        if path.name == "catalog.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            if TABLE_NAME.fullmatch(node.value):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value}")
    assert offenders == []


def test_bronze_tables_follow_sources_yaml(tables: catalog.Catalogue, project_config: Config) -> None:
    sources = project_config.domain("sources.yaml").sources  # type: ignore[attr-defined]
    bronze = {s.name for s in tables.in_layer("bronze")}
    assert bronze == {f"bronze.{name}" for name in sources} | {"bronze.quarantine"}
    web = tables["bronze.web"]
    assert web.owner == "ingest" and web.subject == "event_id"
    assert web.pii["member_id"] == "identifier" and web.pii["_raw"] == "raw_line"


def test_every_spec_is_consistent_with_its_schema(tables: catalog.Catalogue, project_config: Config) -> None:
    owners = {*registered_stages(), RUNNER, catalog.BENCH, catalog.UNLINK, catalog.LEGACY}
    problems = []
    for spec in tables.values():
        columns = set(spec.schema_for(project_config).fieldNames())
        named = {*spec.partition_by, *spec.keys, *spec.pii, *([spec.subject] if spec.subject else [])}
        if named - columns:
            problems.append(f"{spec.name}: {sorted(named - columns)} not in its schema")
        if spec.owner not in owners:
            problems.append(f"{spec.name}: owner {spec.owner!r} is no stage")
        if set(spec.pii.values()) - set(PII_KINDS):
            problems.append(f"{spec.name}: unknown PII kind")
    assert problems == []


def test_personal_columns_are_declared_where_they_live(tables: catalog.Catalogue) -> None:
    assert tables["silver.contacts"].pii["birth_date"] == "birth_date"
    assert tables["gold.profiles"].pii["email"] == "email"
    assert tables["gold.identity_map"].pii == {"id_value": "identifier"}
    assert "gold.tags" not in {s.name for s in tables.with_pii()}
    assert {s.name for s in tables.with_pii("raw_line")} >= {"bronze.quarantine", "silver.rejected"}


def test_an_unknown_pii_kind_or_table_is_an_error(tables: catalog.Catalogue) -> None:
    with pytest.raises(CdpSparkError, match="unknown PII kinds"):
        catalog._spec("gold.x", "tags", "", "m", pii={"c": "e-mail"})
    with pytest.raises(CdpSparkError, match="not in the catalogue"):
        tables["gold.nope"]


def test_pii_without_kinds_in_sources_yaml_is_a_config_error(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "local.yaml").write_text("workspace: ws\n")
    (conf / "sources.yaml").write_text(
        "sources:\n  web:\n    format: jsonl\n    channel: web\n    record_key: id\n"
        "    pii: [email]\n    fields: {id: string, email: string}\n"
    )
    with pytest.raises(ConfigError, match=r"sources\.web\.pii.*maps each field to the kind"):
        load_config(conf / "local.yaml")


def test_stage_declarations_name_catalogued_tables(tables: catalog.Catalogue) -> None:
    for st in registered_stages().values():
        catalog.expand(st.reads, tables)  # raises on a name the catalogue lacks
        assert catalog.expand(st.writes, tables), f"{st.name} declares no table it writes"
        owned = {s.name for s in tables.values() if s.owner == st.name}
        assert owned <= set(catalog.expand(st.writes, tables)), st.name


# ---------------------------------------------------------------- the demo workspace


def _demo(test):  # type: ignore[no-untyped-def]
    for mark in DEMO_MARKS:
        test = mark(test)
    return test


def _lake_tables(ws: Path) -> set[str]:
    return {
        f"{layer.name}.{table.name}"
        for layer in (ws / "lake").iterdir()
        for table in layer.iterdir()
        if (table / "_delta_log").is_dir()
    }


def _nightly_writes(config: Config, tables: catalog.Catalogue) -> set[str]:
    declared = {name for st in plan("nightly", config) for name in catalog.expand(st.writes, tables)}
    return declared | {catalog.OPS_RUNS.name}


@_demo
def test_demo_workspace_matches_the_catalogue(
    demo: DemoRun, tables: catalog.Catalogue, project_config: Config
) -> None:
    from deltalake import DeltaTable

    present = _lake_tables(demo.workspace)
    assert present - set(tables) == set(), "tables in the workspace the catalogue does not know"
    assert _nightly_writes(project_config, tables) - present == set(), "declared but not produced"
    for name in sorted(present):
        spec: TableSpec = tables[name]
        layer, _, table = name.partition(".")
        stored = DeltaTable(str(demo.workspace / "lake" / layer / table)).schema().to_arrow()
        assert stored.names == spec.schema_for(project_config).fieldNames(), name
        assert DeltaTable(str(demo.workspace / "lake" / layer / table)).metadata().partition_columns == list(
            spec.partition_by
        ), name


@_demo
def test_each_stage_touched_what_it_declares(
    demo: DemoRun, tables: catalog.Catalogue, project_config: Config
) -> None:
    from deltalake import DeltaTable

    rows = DeltaTable(str(demo.workspace / "lake" / "ops" / "runs")).to_pyarrow_table().to_pylist()
    present = _lake_tables(demo.workspace)
    touched: dict[str, tuple[set[str], set[str]]] = {}
    for r in rows:
        reads, writes = touched.setdefault(r["stage"], (set(), set()))
        reads.update(r["touched_reads"])
        writes.update(r["touched_writes"])
    stages = plan("nightly", project_config)
    assert set(touched) == {st.name for st in stages}
    for st in stages:
        reads, writes = touched[st.name]
        declared_reads = set(catalog.expand(st.reads, tables))
        assert writes == set(catalog.expand(st.writes, tables)), st.name
        assert reads <= declared_reads, f"{st.name} read undeclared {sorted(reads - declared_reads)}"
        # A declared read can only be missing when the table does not exist (nothing to read).
        assert (declared_reads - reads) & present == set(), st.name
