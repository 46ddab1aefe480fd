"""The ``identity`` stage: silver records → guarded graph → components → stable person ids.

Shape: ``identity_records`` (IO) → :func:`resolve_identities` (pure DataFrame transforms,
unit-tested without a table store) → gate → publish. Everything is computed and the gate is
evaluated before the first gold write, so a blocked run publishes nothing but its report.

Incremental by default. The previous run's state is ``gold.identity_map`` (identifier →
person, plus each identifier's pre-limit component, ``cluster``) and ``silver.identity_edges``
(every candidate edge with its keep/drop decision). Seeds are the endpoints of edges that
appeared or disappeared, identifiers that appeared or left the graph; the previous clusters
of the seeds (whole clusters, so limits see whole components) plus the seeds are recomputed,
everything else is copied verbatim. An old edge has both endpoints in one previous cluster
and a new edge has both endpoints among the seeds, so the recomputed subgraph is closed and
yields the same components, hence the same ids, as ``--full``, which recomputes everything.
(A change of ``limits`` only reaches existing components on a ``--full`` run.)

Reruns: every finished run records in ``ops.run_state`` the versions of the identity map
and edges it started from (:mod:`cdp_spark.runstate`). Rerunning the latest date
time-travels to the state its first run started from, so it reproduces the same ids and the
same ``gold.identity_changes`` rows (replaced, not appended). Rerunning an older date that
later dates have built on is refused: it would rewrite history under them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

from pyspark.sql import Observation
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BooleanType,
    DateType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from cdp_spark import catalog
from cdp_spark.errors import CdpSparkError, QualityGateError
from cdp_spark.identity.components import choose_engine
from cdp_spark.identity.config import IdentityConfig, identity_config
from cdp_spark.identity.graph import (
    DST,
    EDGES_SCHEMA,
    ID_TYPE,
    ID_VALUE,
    NODE_ID,
    RECORDS_SCHEMA,
    SRC,
    build_edges,
    drop_edges_touching,
    extract_identifiers,
    identifier_nodes,
    node_id,
)
from cdp_spark.identity.guards import (
    EVIDENCE,
    KIND,
    METRIC,
    PERSON_ID,
    REASON,
    REPORT_SCHEMA,
    blocklist_guard,
    empty_report,
    enforce_person_limits,
    frequency_guard,
)
from cdp_spark.identity.stable_ids import (
    CHANGES_SCHEMA,
    CLUSTER,
    COMPONENT,
    IDENTITY_MAP_SCHEMA,
    assign_person_ids,
    check_person_id_collisions,
)
from cdp_spark.observe import metrics as observed
from cdp_spark.pipeline import RunContext, StageOptions, StageResult, stage
from cdp_spark.runstate import LEGACY_TABLES, RUN_STATE, current_versions, read_at, record, start_from

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pyspark.sql import DataFrame

    from cdp_spark.context import CdpContext
    from cdp_spark.identity.components import ConnectedComponentsEngine

log = logging.getLogger(__name__)

IDENTIFIERS_TABLE = catalog.SILVER_IDENTIFIERS.name
EDGES_TABLE = catalog.SILVER_IDENTITY_EDGES.name
MAP_TABLE = catalog.GOLD_IDENTITY_MAP.name
CHANGES_TABLE = catalog.GOLD_IDENTITY_CHANGES.name
REPORT_TABLE = catalog.GOLD_IDENTITY_REPORT.name
EXCLUSIONS_TABLE = catalog.OPS_IDENTITY_EXCLUSIONS.name

#: Silver tables read by :func:`identity_records` (those that exist and carry identifiers).
SILVER_SOURCES: tuple[str, ...] = tuple(
    t.name
    for t in (
        catalog.SILVER_EVENTS,
        catalog.SILVER_ORDERS,
        catalog.SILVER_CONTACTS,
        catalog.SILVER_CONSENTS,
        catalog.SILVER_TICKETS,
    )
)
#: People-level attributes for the frequency guard: attribute → silver columns, first present wins.
ATTRIBUTE_COLUMNS: dict[str, tuple[str, ...]] = {"given_name": ("first_name",)}

#: ``silver.identity_edges``: candidate edges with this run's keep/drop decision and cluster.
EDGE_STATE_SCHEMA = StructType(
    [
        *EDGES_SCHEMA.fields,
        StructField("kept", BooleanType(), False),
        StructField("drop_reason", StringType(), True),
        StructField(CLUSTER, LongType(), False),
    ]
)
#: ``gold.identity_report``: guard evidence, gate findings and the largest persons, per run date.
REPORT_TABLE_SCHEMA = StructType(
    [
        StructField("run_id", StringType(), False),
        StructField("run_date", DateType(), False),
        *REPORT_SCHEMA.fields,
    ]
)
EXCLUSIONS_SCHEMA = StructType(
    [
        StructField(ID_TYPE, StringType(), False),
        StructField(ID_VALUE, StringType(), False),
        StructField("added_at", TimestampType(), False),
        StructField("reason", StringType(), True),
    ]
)


@dataclass(frozen=True)
class PreviousState:
    """The identity state a run starts from (``None``: first run)."""

    identity_map: DataFrame | None = None
    edges: DataFrame | None = None


@dataclass
class Resolution:
    """Everything a run would publish, plus the gate's verdict."""

    identifiers: DataFrame
    edges: DataFrame
    identity_map: DataFrame
    changes: DataFrame
    report: DataFrame
    gate_violations: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- pure core


def resolve_identities(
    records: DataFrame,
    config: IdentityConfig,
    engine: ConnectedComponentsEngine,
    previous: PreviousState,
    *,
    run_id: str,
    run_date: date,
    full: bool = False,
    exclusions: DataFrame | None = None,
) -> Resolution:
    """Resolve ``records`` (:data:`RECORDS_SCHEMA`) against ``previous``; no IO beyond Spark.

    ``exclusions(id_type, id_value)``: identifiers whose edges are removed (unlink). The gate
    is evaluated, not enforced: the caller decides (``--accept-merges``).
    """
    spark = records.sparkSession
    metrics: dict[str, Any] = {}
    ids = extract_identifiers(records, id_types=config.id_types).localCheckpoint()
    all_nodes = identifier_nodes(ids)
    blocked = blocklist_guard(all_nodes, config)
    freq = frequency_guard(blocked.kept, ids, records, config)
    node_obs, edge_obs = Observation("identity_nodes"), Observation("identity_edges")
    nodes = freq.kept.observe(node_obs, F.count(F.lit(1)).alias("n")).localCheckpoint()
    live_ids = ids.join(nodes.select(NODE_ID), NODE_ID, "left_semi")
    edges = build_edges(live_ids, config)
    excluded_report = empty_report(spark)
    if exclusions is not None:
        excluded = exclusions.select(node_id(ID_TYPE, ID_VALUE).alias(NODE_ID)).distinct()
        edges = drop_edges_touching(edges, excluded)
        excluded_report = nodes.join(excluded, NODE_ID, "left_semi").select(
            F.lit("exclusion").alias(KIND),
            F.lit("links removed by an exclusion (unlink or identity.yaml exclusions)").alias(REASON),
            ID_TYPE,
            ID_VALUE,
            NODE_ID,
        )
    edges = edges.observe(edge_obs, F.count(F.lit(1)).alias("n")).localCheckpoint()

    prev_map = previous.identity_map
    prev_edges = previous.edges
    incremental = not full and prev_map is not None and prev_edges is not None
    if incremental:
        assert prev_map is not None and prev_edges is not None
        touched = _touched_nodes(nodes, edges, prev_map, prev_edges).localCheckpoint()
        work_nodes = nodes.join(touched, NODE_ID, "left_semi")
        work_edges = edges.join(touched.withColumnRenamed(NODE_ID, SRC), SRC, "left_semi")
        prev_scope = prev_map.join(touched, NODE_ID, "left_semi")
    else:
        touched = None
        work_nodes, work_edges = nodes, edges
        prev_scope = prev_map if prev_map is not None else spark.createDataFrame([], IDENTITY_MAP_SCHEMA)

    vertices = work_nodes.select(F.col(NODE_ID).alias("id"))
    clusters = engine.run(work_edges.select(SRC, DST), vertices)
    decisions, limit_report, over = enforce_person_limits(work_nodes, work_edges, clusters, config)
    if over:
        kept_edges = work_edges.join(decisions.where(F.col("kept")).select(SRC, DST), [SRC, DST], "left_semi")
        labels = engine.run(kept_edges.select(SRC, DST), vertices)
    else:
        labels = clusters
    assignment = assign_person_ids(
        work_nodes,
        labels,
        prev_scope,
        run_id=run_id,
        run_date=run_date,
        anonymous_types=config.anonymous_types,
    )
    persons_obs = Observation("identity_persons")
    persons = assignment.persons.observe(persons_obs, F.count(F.lit(1)).alias("n")).localCheckpoint()
    check_person_id_collisions(persons, prev_map)

    cluster_of = clusters.select(F.col("id").alias(NODE_ID), F.col(COMPONENT).alias(CLUSTER))
    fresh_map = assignment.map_rows.join(cluster_of, NODE_ID).select(*IDENTITY_MAP_SCHEMA.fieldNames())
    edge_decisions = decisions.join(cluster_of.withColumnRenamed(NODE_ID, SRC), SRC)
    if incremental:
        assert prev_map is not None and prev_edges is not None and touched is not None
        keep_map = prev_map.join(touched, NODE_ID, "left_anti").select(*IDENTITY_MAP_SCHEMA.fieldNames())
        new_map = fresh_map.unionByName(keep_map)
        old_decisions = prev_edges.join(touched.withColumnRenamed(NODE_ID, SRC), SRC, "left_anti").select(
            SRC, DST, "kept", "drop_reason", CLUSTER
        )
        edge_decisions = edge_decisions.unionByName(old_decisions)
    else:
        new_map = fresh_map
    new_map = new_map.localCheckpoint()
    edge_state = (
        edges.join(edge_decisions, [SRC, DST]).select(*EDGE_STATE_SCHEMA.fieldNames()).localCheckpoint()
    )
    changes = assignment.changes.localCheckpoint()

    violations, gate_report = _evaluate_gate(persons, prev_map, config)
    largest = _largest_persons(new_map, config.gate.report_largest)
    report = (
        blocked.report.unionByName(freq.report)
        .unionByName(_conform(excluded_report, REPORT_SCHEMA))
        .unionByName(limit_report)
        .unionByName(gate_report)
        .unionByName(largest)
    )
    report = report.select(
        F.lit(run_id).alias("run_id"), F.lit(run_date).alias("run_date"), *REPORT_SCHEMA.fieldNames()
    ).localCheckpoint()

    counts = {
        r["change"]: r["n"] for r in changes.groupBy("change").agg(F.count(F.lit(1)).alias("n")).collect()
    }
    metrics.update(
        mode="incremental" if incremental else "full",
        nodes=int((observed(node_obs) or {}).get("n") or 0),
        edges=int((observed(edge_obs) or {}).get("n") or 0),
        recomputed_components=int((observed(persons_obs) or {}).get("n") or 0),
        over_limit_components=over,
        changes=counts,
        gate_violations=len(violations),
    )
    log.info("identity: %s", metrics)
    return Resolution(
        identifiers=ids,
        edges=edge_state,
        identity_map=new_map,
        changes=changes,
        report=report,
        gate_violations=violations,
        metrics=metrics,
    )


def _conform(df: DataFrame, schema: StructType) -> DataFrame:
    """Select ``schema``'s columns in order, cast to its types. Target nested types are fully
    nullable, so the cast never narrows nullability and the table sees one exact type every run."""
    have = {f.name: f.dataType for f in df.schema.fields}
    cols = []
    for f in schema.fields:
        if f.name not in have:
            cols.append(F.lit(None).cast(f.dataType).alias(f.name))
        elif have[f.name] == f.dataType:
            cols.append(F.col(f.name))
        else:
            cols.append(F.col(f.name).cast(f.dataType).alias(f.name))
    return df.select(*cols)


def _touched_nodes(
    nodes: DataFrame, edges: DataFrame, prev_map: DataFrame, prev_edges: DataFrame
) -> DataFrame:
    """Nodes whose component may change: seeds plus every node of the seeds' previous clusters."""
    pair = [SRC, DST]
    new_e = edges.select(*pair).join(prev_edges.select(*pair), pair, "left_anti")
    gone_e = prev_edges.select(*pair).join(edges.select(*pair), pair, "left_anti")
    changed_e = new_e.unionByName(gone_e)
    new_n = nodes.select(NODE_ID).join(prev_map.select(NODE_ID), NODE_ID, "left_anti")
    gone_n = prev_map.select(NODE_ID).join(nodes.select(NODE_ID), NODE_ID, "left_anti")
    seeds = (
        changed_e.select(F.col(SRC).alias(NODE_ID))
        .unionByName(changed_e.select(F.col(DST).alias(NODE_ID)))
        .unionByName(new_n)
        .unionByName(gone_n)
        .distinct()
    )
    clusters = prev_map.join(seeds, NODE_ID, "left_semi").select(CLUSTER).distinct()
    members = prev_map.join(clusters, CLUSTER, "left_semi").select(NODE_ID)
    return members.unionByName(seeds).distinct()


def _evaluate_gate(
    persons: DataFrame, prev_map: DataFrame | None, config: IdentityConfig
) -> tuple[list[str], DataFrame]:
    """Oversized persons created or changed by this run, and the share of persons merged away."""
    gate = config.gate
    oversized = persons.where(F.col("changed") & (F.col("size") > gate.max_component_size))
    stats = persons.agg(
        F.count(F.when(F.col("changed") & (F.col("size") > gate.max_component_size), 1)).alias("oversized"),
        F.max("size").alias("largest"),
        F.coalesce(F.sum(F.when(F.col("n_claims") >= 2, F.col("n_claims") - 1)), F.lit(0)).alias(
            "merged_away"
        ),
    ).first()
    assert stats is not None
    violations: list[str] = []
    rows = oversized.select(
        F.lit("gate").alias(KIND),
        F.format_string(
            "component of %d identifiers exceeds gate.max_component_size %d",
            F.col("size"),
            F.lit(gate.max_component_size),
        ).alias(REASON),
        F.col(PERSON_ID),
        F.col("size").cast("long").alias(METRIC),
        F.to_json(F.struct("type_counts", "n_claims", "claimed_ids", "seed_type")).alias(EVIDENCE),
    )
    report = _conform(rows, REPORT_SCHEMA)
    if stats["oversized"]:
        violations.append(
            f"{stats['oversized']} person(s) would exceed gate.max_component_size={gate.max_component_size} "
            f"identifiers (largest: {stats['largest']})"
        )
    merged = int(stats["merged_away"])
    existing = prev_map.select(PERSON_ID).distinct().count() if prev_map is not None and merged else 0
    if merged and existing >= gate.min_persons_for_share and merged / existing > gate.max_merge_share:
        share = merged / existing
        violations.append(
            f"{merged} of {existing} existing persons ({share:.1%}) would be merged away, more than "
            f"gate.max_merge_share={gate.max_merge_share:.1%}"
        )
        spark = persons.sparkSession
        share_row = spark.createDataFrame(
            [("gate", f"run merges {merged} of {existing} existing persons ({share:.2%})", merged)],
            "kind string, reason string, metric long",
        )
        report = report.unionByName(_conform(share_row, REPORT_SCHEMA))
    return violations, report


def _largest_persons(identity_map: DataFrame, top: int) -> DataFrame:
    if top <= 0:
        return empty_report(identity_map.sparkSession)
    sizes = identity_map.groupBy(PERSON_ID).agg(F.count(F.lit(1)).alias("size"))
    largest = sizes.orderBy(F.desc("size"), F.asc(PERSON_ID)).limit(top)
    by_type = (
        identity_map.join(largest.select(PERSON_ID), PERSON_ID, "left_semi")
        .groupBy(PERSON_ID, ID_TYPE)
        .agg(F.count(F.lit(1)).alias("n"))
        .groupBy(PERSON_ID)
        .agg(F.map_from_entries(F.array_sort(F.collect_list(F.struct(ID_TYPE, "n")))).alias("type_counts"))
    )
    rows = largest.join(by_type, PERSON_ID).select(
        F.lit("largest_component").alias(KIND),
        F.format_string("%d identifiers", F.col("size")).alias(REASON),
        F.col(PERSON_ID),
        F.col("size").cast("long").alias(METRIC),
        F.to_json(F.struct("type_counts")).alias(EVIDENCE),
    )
    return _conform(rows, REPORT_SCHEMA)


# --------------------------------------------------------------------------- IO


def identity_records(ctx: CdpContext, rc: RunContext) -> DataFrame:
    """Silver records as :data:`RECORDS_SCHEMA`, from every silver table that carries identifiers.

    A table is used when it exists and has ``record_id``, ``source`` and an ``identifiers`` map;
    ``seen_at`` is its ``event_time``; rows written by a later run (``_run_date`` after the run
    date) are left out so that rerunning a date sees the same data.
    """
    spark = ctx.spark
    parts: list[DataFrame] = []
    for table in SILVER_SOURCES:
        if not ctx.store.exists(table):
            continue
        df = ctx.store.read(table)
        cols = set(df.columns)
        if not {"record_id", "source", "identifiers"} <= cols:
            log.warning("identity: %s has no record_id/source/identifiers columns; skipped", table)
            continue
        if "_run_date" in cols:
            df = df.where(F.col("_run_date").isNull() | (F.col("_run_date") <= F.lit(rc.run_date)))
        seen = (
            F.col("event_time").cast("timestamp") if "event_time" in cols else F.lit(None).cast("timestamp")
        )
        attrs = []
        for attribute, candidates in ATTRIBUTE_COLUMNS.items():
            present = [c for c in candidates if c in cols]
            if present:
                attrs += [F.lit(attribute), F.coalesce(*[F.col(c).cast("string") for c in present])]
        attributes = (
            F.map_filter(F.create_map(*attrs), lambda _k, v: v.isNotNull())
            if attrs
            else F.create_map().cast(RECORDS_SCHEMA["attributes"].dataType)
        )
        parts.append(
            df.select(
                F.col("record_id").cast("string").alias("record_id"),
                F.col("source").cast("string").alias("source"),
                seen.alias("seen_at"),
                F.col("identifiers"),
                attributes.alias("attributes"),
            )
        )
    if not parts:
        return spark.createDataFrame([], RECORDS_SCHEMA)
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return out


def load_exclusions(ctx: CdpContext, config: IdentityConfig) -> DataFrame:
    """``identity.yaml`` exclusions plus ``ops.identity_exclusions`` (written by :func:`unlink`)."""
    rows = [(e.id_type, e.id_value) for e in config.exclusions]
    out = ctx.spark.createDataFrame(rows, f"{ID_TYPE} string, {ID_VALUE} string")
    if ctx.store.exists(EXCLUSIONS_TABLE):
        out = out.unionByName(ctx.store.read(EXCLUSIONS_TABLE).select(ID_TYPE, ID_VALUE))
    return out.distinct()


def unlink(ctx: CdpContext, id_type: str, id_value: str, *, reason: str | None = None) -> int:
    """Record an exclusion: the identifier's links are removed on the next identity run.

    The value must be given as stored in ``gold.identity_map`` (normalised). Returns how many
    identity-map rows currently match (0 is allowed: the exclusion also guards the future).
    """
    config = identity_config(ctx.config)
    if id_type not in config.id_types:
        raise CdpSparkError(
            f"unlink: unknown identifier type {id_type!r}; expected one of {', '.join(config.id_types)}"
        )
    value = id_value.strip()
    if not value:
        raise CdpSparkError("unlink: the identifier value is empty")
    row = (id_type, value, datetime.now(timezone.utc), reason)
    ctx.store.write(EXCLUSIONS_TABLE, ctx.spark.createDataFrame([row], EXCLUSIONS_SCHEMA), mode="append")
    matches = 0
    if ctx.store.exists(MAP_TABLE):
        matches = (
            ctx.store.read(MAP_TABLE).where((F.col(ID_TYPE) == id_type) & (F.col(ID_VALUE) == value)).count()
        )
    log.info("identity unlink recorded for a %s identifier (%d identity-map row(s) match)", id_type, matches)
    return matches


def _load_previous(ctx: CdpContext, rc: RunContext) -> tuple[PreviousState, Mapping[str, int | None]]:
    """The state this run starts from, and the versions it is read at (see the module docstring)."""
    before = start_from(
        ctx,
        rc,
        [MAP_TABLE, EDGES_TABLE],
        depends="were resolved on top of it and their person ids depend on it",
        rebuild="with --full to rebuild every component",
    ).versions
    previous = PreviousState(
        read_at(ctx, MAP_TABLE, before[MAP_TABLE]), read_at(ctx, EDGES_TABLE, before[EDGES_TABLE])
    )
    return previous, before


class IdentityOptions(StageOptions):
    """``full``: resolve every record again; ``accept_merges``: publish merges the gate stopped."""

    full: bool = False
    accept_merges: bool = False


@stage(
    "identity",
    options=IdentityOptions,
    depends_on=["cleanse"],
    description="silver identifiers → guarded graph → stable person ids (gold.identity_map, identity_changes)",
    reads=[*SILVER_SOURCES, MAP_TABLE, EDGES_TABLE, EXCLUSIONS_TABLE, RUN_STATE, *LEGACY_TABLES],
    writes=[IDENTIFIERS_TABLE, EDGES_TABLE, MAP_TABLE, CHANGES_TABLE, REPORT_TABLE, RUN_STATE],
)
def run_identity(ctx: CdpContext, rc: RunContext) -> StageResult:
    """Resolve identities for the run date (see :class:`IdentityOptions`)."""
    config = identity_config(ctx.config)
    options = rc.options_as(IdentityOptions)
    full, accept = options.full, options.accept_merges
    store = ctx.store
    previous, before = _load_previous(ctx, rc)
    read = current_versions(ctx, [*(t for t in SILVER_SOURCES if store.exists(t)), EXCLUSIONS_TABLE])
    engine = choose_engine(ctx.spark, ctx.config.settings.runtime.connected_components)
    records = identity_records(ctx, rc)
    res = resolve_identities(
        records,
        config,
        engine,
        previous,
        run_id=rc.run_id,
        run_date=rc.run_date,
        full=full,
        exclusions=load_exclusions(ctx, config),
    )
    day = [("run_date", "=", rc.run_date.isoformat())]
    if res.gate_violations and not accept:
        # The report is the reviewer's input, so it is written even though nothing else is; no
        # idempotency token, so a later accepted run of the same generation can still replace it.
        store.write(
            REPORT_TABLE,
            _conform(res.report, REPORT_TABLE_SCHEMA),
            mode="replace_where",
            partition_by=["run_date"],
            replace_where=day,
        )
        raise QualityGateError(
            "identity gate failed, nothing was published: "
            + "; ".join(res.gate_violations)
            + f". Review the rows of kind 'gate' in {REPORT_TABLE} for run_date {rc.run_date}; "
            "if the merges are right, rerun with --accept-merges; otherwise fix the data or tighten "
            "the guards in identity.yaml."
        )
    if res.gate_violations:
        log.warning("identity gate overridden by --accept-merges: %s", "; ".join(res.gate_violations))

    result = StageResult(rows_in=int(res.metrics.get("nodes", 0)))
    writes = [
        (IDENTIFIERS_TABLE, res.identifiers, "overwrite", None),
        (EDGES_TABLE, _conform(res.edges, EDGE_STATE_SCHEMA), "overwrite", None),
        (MAP_TABLE, _conform(res.identity_map, IDENTITY_MAP_SCHEMA), "overwrite", None),
        (CHANGES_TABLE, _conform(res.changes, CHANGES_SCHEMA), "replace_where", ["run_date"]),
        (REPORT_TABLE, _conform(res.report, REPORT_TABLE_SCHEMA), "replace_where", ["run_date"]),
    ]
    for table, df, mode, parts in writes:
        if mode == "overwrite":
            out = store.write(table, df, mode="overwrite", txn=rc.txn(table))
        else:
            out = store.write(
                table, df, mode="replace_where", partition_by=parts, replace_where=day, txn=rc.txn(table)
            )
        result.wrote(table, None if out.skipped else out.version)
        if table == MAP_TABLE:
            result.rows_out = out.rows_written
    out = record(
        ctx,
        rc,
        inputs={**before, **read},
        outputs=current_versions(ctx, [table for table, *_ in writes]),
    )
    result.wrote(RUN_STATE, None if out.skipped else out.version)
    result.metrics = {**res.metrics, "gate_overridden": bool(res.gate_violations)}
    return result
