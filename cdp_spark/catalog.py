"""The table catalogue: every table cdp-spark writes, in one place.

Each entry says which layer and stage own a table, where its schema is defined, how it is
partitioned and keyed, which column names the person or record a row is about, which columns
hold personal data (and of what kind), and how long its rows are meant to live. Erasure,
masking, the report and maintenance read this instead of guessing from column names, and a
test checks a demo workspace against it: every table present is catalogued, every table the
nightly owns exists, and every schema matches.

Bronze has one table per landing source, so those entries are derived from
``conf/sources.yaml`` (:func:`catalogue`); everything else is fixed here.

Retention is declared, not yet enforced: the privacy work applies it. ``None`` means rows live
as long as the person's data does (erasure removes them); Delta's own version history is
bounded separately by ``storage.vacuum_retention_hours``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, get_args

from cdp_spark.errors import CdpSparkError

if TYPE_CHECKING:
    from pyspark.sql.types import StructType

    from cdp_spark.config import Config
    from cdp_spark.ingest.config import SourceConfig, SourcesConfig

Layer = Literal["bronze", "silver", "gold", "ops"]
PiiKind = Literal["email", "phone", "name", "address", "birth_date", "free_text", "raw_line", "identifier"]
PII_KINDS: tuple[str, ...] = get_args(PiiKind)
SubjectKind = Literal["person", "record", "identifier"]

#: Placeholders a stage may declare among its reads and writes (see :func:`expand`).
BRONZE_SOURCES = "bronze.<source>"
OPS_TABLES = "ops.*"

#: Stage names that own tables without being a stage of their own.
RUNNER = "runner"
BENCH = "bench"
UNLINK = "identity unlink"  # the command, not the stage, records exclusions
LEGACY = "legacy"  # tables of earlier versions, migrated and no longer written


@dataclass(frozen=True)
class TableSpec:
    """One table. ``schema`` names where its schema is defined, resolved lazily so that this
    module imports neither Spark nor the stages: ``"module:ATTRIBUTE"`` is a ``StructType``
    constant; a bare ``"module"`` has ``catalog_schema(config, table)`` build it (schemas that
    depend on configuration: a source's fields, the profile's windows)."""

    name: str
    owner: str
    description: str
    schema: str
    partition_by: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    subject: str | None = None
    subject_kind: SubjectKind | None = None
    pii: Mapping[str, PiiKind] = field(default_factory=dict)
    retention_days: int | None = None

    @property
    def layer(self) -> Layer:
        return self.name.partition(".")[0]  # type: ignore[return-value]

    def schema_for(self, config: Config) -> StructType:
        module, _, attribute = self.schema.partition(":")
        loaded = importlib.import_module(module)
        if attribute:
            schema: StructType = getattr(loaded, attribute)
            return schema
        built: StructType = loaded.catalog_schema(config, self.name)
        return built


def _spec(name: str, owner: str, description: str, schema: str, **kw: Any) -> TableSpec:
    pii = kw.pop("pii", {})
    bad = sorted(set(pii.values()) - set(PII_KINDS))
    if bad:  # a typo here would hide a column from erasure
        raise CdpSparkError(f"catalogue: {name} declares unknown PII kinds {bad}; expected {PII_KINDS}")
    return TableSpec(name, owner, description, schema, pii=MappingProxyType(dict(pii)), **kw)


_SILVER = "cdp_spark.cleanse.silver_schema"
_GRAPH = "cdp_spark.identity.graph"
_IDENTITY = "cdp_spark.identity.stage"
_PROFILE = "cdp_spark.profile.schema"
_ID = {"identifiers": "identifier"}
_RECORD = {"subject": "record_id", "subject_kind": "record"}
_PERSON = {"subject": "person_id", "subject_kind": "person"}

# --- bronze (fixed part; per-source tables come from sources.yaml)
BRONZE_QUARANTINE = _spec(
    "bronze.quarantine",
    "ingest",
    "landing lines that could not be parsed, with the reason",
    "cdp_spark.ingest.bronze",
    partition_by=("_run_date",),
    keys=("_file", "_line"),
    pii={"_raw": "raw_line", "_raw_base64": "raw_line"},
    retention_days=90,
)

# --- silver
SILVER_EVENTS = _spec(
    "silver.events",
    "cleanse",
    "web, app, e-mail and WeChat events, standardised and de-duplicated",
    _SILVER,
    partition_by=("event_date",),
    keys=("record_id",),
    **_RECORD,
    pii={**_ID, "properties": "free_text"},
)
SILVER_ORDERS = _spec(
    "silver.orders",
    "cleanse",
    "e-commerce and POS orders, latest status per order",
    _SILVER,
    partition_by=("event_date",),
    keys=("record_id",),
    **_RECORD,
    pii={
        **_ID,
        "shipping_name": "name",
        "shipping_street": "address",
        "shipping_city": "address",
        "shipping_postcode": "address",
        "phone": "phone",
        "email": "email",
    },
)
SILVER_ORDER_LINES = _spec(
    "silver.order_lines",
    "cleanse",
    "one row per order line, keyed by the order's record id",
    _SILVER,
    partition_by=("event_date",),
    keys=("order_record_id", "line_no"),
    subject="order_record_id",
    subject_kind="record",
)
SILVER_CONTACTS = _spec(
    "silver.contacts",
    "cleanse",
    "CRM contacts, latest version per customer",
    _SILVER,
    partition_by=("event_date",),
    keys=("record_id",),
    **_RECORD,
    pii={
        **_ID,
        "first_name": "name",
        "last_name": "name",
        "email": "email",
        "phone": "phone",
        "birth_date": "birth_date",
        "street": "address",
        "postcode": "address",
        "city": "address",
    },
)
SILVER_CONSENTS = _spec(
    "silver.consents",
    "cleanse",
    "consent grants and withdrawals per purpose",
    _SILVER,
    partition_by=("event_date",),
    keys=("record_id",),
    **_RECORD,
    pii=_ID,
)
SILVER_TICKETS = _spec(
    "silver.tickets",
    "cleanse",
    "support tickets",
    _SILVER,
    partition_by=("event_date",),
    keys=("record_id",),
    **_RECORD,
    pii={
        **_ID,
        "subject": "free_text",
        "text": "free_text",
        "name": "name",
        "email": "email",
        "phone": "phone",
    },
)
SILVER_REJECTED = _spec(
    "silver.rejected",
    "cleanse",
    "bronze rows a mapping rule refused, with the rule",
    _SILVER,
    partition_by=("_run_date",),
    keys=("reject_id",),
    pii={"_raw": "raw_line", "natural_key": "identifier"},
    retention_days=90,
)
SILVER_DQ_METRICS = _spec(
    "silver.dq_metrics",
    "cleanse",
    "per run, source, table and column: rows, null rates, rejects",
    _SILVER,
    partition_by=("run_date",),
    keys=("run_id", "source", "table", "column"),
    retention_days=400,
)

# --- identity
SILVER_IDENTIFIERS = _spec(
    "silver.identifiers",
    "identity",
    "one row per identifier, source and record it was seen in",
    f"{_GRAPH}:IDENTIFIERS_SCHEMA",
    keys=("id_type", "id_value", "source", "record_id"),
    **_RECORD,
    pii={"id_value": "identifier"},
)
SILVER_IDENTITY_EDGES = _spec(
    "silver.identity_edges",
    "identity",
    "candidate edges with this run's keep/drop decision",
    f"{_IDENTITY}:EDGE_STATE_SCHEMA",
    keys=("src", "dst"),
)
GOLD_IDENTITY_MAP = _spec(
    "gold.identity_map",
    "identity",
    "identifier → stable person id",
    "cdp_spark.identity.stable_ids:IDENTITY_MAP_SCHEMA",
    keys=("id_type", "id_value"),
    **_PERSON,
    pii={"id_value": "identifier"},
)
GOLD_IDENTITY_CHANGES = _spec(
    "gold.identity_changes",
    "identity",
    "every merge, split, new person and retired id, per run",
    "cdp_spark.identity.stable_ids:CHANGES_SCHEMA",
    partition_by=("run_date",),
    pii={"identifiers_moved": "identifier"},
    retention_days=400,
)
GOLD_IDENTITY_REPORT = _spec(
    "gold.identity_report",
    "identity",
    "guard evidence, gate findings and the largest persons",
    f"{_IDENTITY}:REPORT_TABLE_SCHEMA",
    partition_by=("run_date",),
    **_PERSON,
    pii={"id_value": "identifier", "evidence": "free_text"},
    retention_days=400,
)
OPS_IDENTITY_EXCLUSIONS = _spec(
    "ops.identity_exclusions",
    UNLINK,
    "identifiers cut by `cdp-spark identity unlink`",
    f"{_IDENTITY}:EXCLUSIONS_SCHEMA",
    keys=("id_type", "id_value"),
    subject="id_value",
    subject_kind="identifier",
    pii={"id_value": "identifier", "reason": "free_text"},
)

# --- profile
GOLD_DAILY_ROLLUPS = _spec(
    "gold.daily_rollups",
    "profile",
    "per identifier and day: the measures profiles sum up",
    f"{_PROFILE}:ROLLUP_SCHEMA",
    partition_by=("event_month",),
    keys=("anchor_type", "anchor_value", "event_date"),
    subject="anchor_value",
    subject_kind="identifier",
    pii={"anchor_value": "identifier", "search_terms": "free_text"},
)
GOLD_ATTRIBUTE_CANDIDATES = _spec(
    "gold.attribute_candidates",
    "profile",
    "golden-record candidates with provenance",
    f"{_PROFILE}:CANDIDATE_SCHEMA",
    partition_by=("event_month",),
    keys=("anchor_type", "anchor_value", "event_date", "attribute", "value", "source"),
    subject="anchor_value",
    subject_kind="identifier",
    pii={"anchor_value": "identifier", "value": "free_text"},
)
GOLD_PROFILES = _spec(
    "gold.profiles",
    "profile",
    "one row per person: golden record, behaviour, RFM, lifecycle",
    _PROFILE,
    keys=("person_id",),
    **_PERSON,
    pii={
        "full_name": "name",
        "birth_date": "birth_date",
        "street": "address",
        "postcode": "address",
        "city": "address",
        "email": "email",
        "phone": "phone",
        "search_terms": "free_text",
    },
)
GOLD_LIFECYCLE_CHANGES = _spec(
    "gold.lifecycle_changes",
    "profile",
    "lifecycle stage moves per person and run",
    f"{_PROFILE}:LIFECYCLE_CHANGES_SCHEMA",
    partition_by=("run_date",),
    keys=("run_date", "person_id"),
    **_PERSON,
    retention_days=400,
)

# --- tags
GOLD_TAGS = _spec(
    "gold.tags",
    "tags",
    "current tags, one row per person and tag that applies",
    "cdp_spark.tags.engine:TAGS_SCHEMA",
    keys=("person_id", "tag"),
    **_PERSON,
)
GOLD_TAG_CHANGES = _spec(
    "gold.tag_changes",
    "tags",
    "tags gained, lost or changed per run",
    "cdp_spark.tags.engine:TAG_CHANGES_SCHEMA",
    partition_by=("run_date",),
    keys=("run_date", "person_id", "tag"),
    **_PERSON,
    retention_days=400,
)

# --- ops
OPS_RUNS = _spec(
    "ops.runs",
    RUNNER,
    "one row per stage execution: status, rows, versions, cost, tables touched",
    "cdp_spark.pipeline",
    keys=("run_id", "stage"),
    retention_days=400,
)
OPS_INGESTED_FILES = _spec(
    "ops.ingested_files",
    "ingest",
    "every landing file seen: size, checksum, lines, bronze rows",
    "cdp_spark.ingest.bronze",
    keys=("source", "file", "checksum"),
)
OPS_RUN_STATE = _spec(
    "ops.run_state",
    RUNNER,
    "per stage run: the input and output versions, status, and how a profile build was made",
    "cdp_spark.runstate:RUN_STATE_SCHEMA",
    keys=("stage", "run_date", "run_id"),
)
# Before ops.run_state: present only in workspaces written earlier, copied into it once
# (runstate.migrate_legacy) and then never read or written again; safe to delete.
OPS_STAGE_STATE = _spec(
    "ops.stage_state",
    LEGACY,
    "legacy: the versions a date's first profile or tags run started from",
    "cdp_spark.runstate",
    keys=("stage", "run_date", "table"),
)
OPS_IDENTITY_RUNS = _spec(
    "ops.identity_runs",
    LEGACY,
    "legacy: the versions each identity run started from",
    "cdp_spark.runstate",
    keys=("run_date", "run_id"),
)
OPS_PROFILE_BUILDS = _spec(
    "ops.profile_builds",
    LEGACY,
    "legacy: one row per finished profile build",
    "cdp_spark.runstate",
    keys=("run_date", "run_id"),
)
OPS_BENCH_MERGE = _spec(
    "ops.bench_merge",
    BENCH,
    "scratch table of `cdp-spark bench storage`",
    "cdp_spark.bench_storage",
    retention_days=0,
)
OPS_BENCH_APPEND = _spec(
    "ops.bench_append",
    BENCH,
    "scratch table of `cdp-spark bench storage`",
    "cdp_spark.bench_storage",
    retention_days=0,
)

_FIXED: tuple[TableSpec, ...] = tuple(v for v in dict(globals()).values() if isinstance(v, TableSpec))

#: Bronze metadata columns every ``bronze.<source>`` carries after the source's own fields.
BRONZE_RAW_PII: Mapping[str, PiiKind] = MappingProxyType({"_raw": "raw_line"})


def bronze_spec(name: str, source: SourceConfig) -> TableSpec:
    """``bronze.<name>``: the source's declared fields plus bronze metadata, PII from sources.yaml."""
    return _spec(
        f"bronze.{name}",
        "ingest",
        source.description or f"raw {name} lines",
        "cdp_spark.ingest.bronze",
        partition_by=("_run_date",),
        keys=("_file", "_line"),
        subject=source.record_key,
        subject_kind="record",
        pii={**source.pii, **BRONZE_RAW_PII},
        retention_days=400,
    )


class Catalogue(Mapping[str, TableSpec]):
    """Tables by name: the fixed ones plus one ``bronze.<source>`` per configured source."""

    def __init__(self, specs: Iterable[TableSpec]):
        self._specs = {s.name: s for s in specs}

    def __getitem__(self, name: str) -> TableSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise CdpSparkError(
                f"table {name!r} is not in the catalogue (cdp_spark/catalog.py); "
                f"known: {', '.join(sorted(self._specs))}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def owned_by(self, owner: str) -> list[TableSpec]:
        return [s for s in self._specs.values() if s.owner == owner]

    def in_layer(self, layer: Layer) -> list[TableSpec]:
        return [s for s in self._specs.values() if s.layer == layer]

    def with_pii(self, kind: PiiKind | None = None) -> list[TableSpec]:
        """Tables holding personal data (of ``kind``, when given)."""
        return [s for s in self._specs.values() if s.pii and (kind is None or kind in s.pii.values())]


def catalogue(sources: SourcesConfig | None = None) -> Catalogue:
    """The catalogue for a configuration's sources (none: the fixed tables only)."""
    bronze = [bronze_spec(n, s) for n, s in (sources.sources.items() if sources else ())]
    return Catalogue([*bronze, *_FIXED])


def for_config(config: Config) -> Catalogue:
    sources = config.domain("sources.yaml") if "sources.yaml" in config.domains else None
    return catalogue(sources)  # type: ignore[arg-type]


def expand(names: Iterable[str], tables: Catalogue) -> list[str]:
    """Declared table names with :data:`BRONZE_SOURCES` and :data:`OPS_TABLES` spelled out."""
    out: list[str] = []
    for name in names:
        if name == BRONZE_SOURCES:
            out += [s.name for s in tables.in_layer("bronze") if s.name != BRONZE_QUARANTINE.name]
        elif name == OPS_TABLES:
            out += [s.name for s in tables.in_layer("ops")]
        else:
            out.append(tables[name].name)
    return sorted(set(out))
