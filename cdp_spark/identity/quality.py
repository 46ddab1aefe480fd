"""Identity quality against the generator's ground truth (``cdp-spark bench identity``).

Why a benchmark and not only unit tests: whether two customers become one is decided by the
interplay of silver normalisation, the link rules, the guards and the limits on realistic,
noisy data. Only the generator knows who is who, so this module scores a resolved workspace
against ``<workspace>/truth`` and runs the same silver data once with and once without the
guards, so the guards' value is a number rather than a claim.

How a silver record meets the truth: every silver row keeps the lineage of the raw line it
came from (``_bronze_file``, ``_bronze_line``); bronze's ``_file`` is the landing-relative path
(``web/2025-01-06/part-00000.jsonl``) and ``_line`` the 1-based physical line (a CSV header is
line 1), exactly the ``file`` / ``line_number`` keys of ``truth/records``. Raw lines that did
not become a silver row of their own (quarantined, rejected, exact duplicates, superseded order
snapshots) are not scored; their counts are reported.

A record's resolved person: its identifiers (``silver.identifiers`` by ``(source, record_id)``)
looked up in ``gold.identity_map``. Identifiers cut by a guard have no person; a record none of
whose identifiers has a person is a person of its own (a singleton). When a record's
identifiers map to several persons (a per-person limit split them), the person of its most
trusted identifier type wins (``limits.priority``, then the smallest person id), and such
records are counted.

Which records are scored (issue 5: "raw records that share at least one true identifier with
another record of the same person"): a *true identifier* of a record is an identifier silver
delivered for it whose value is, in ``truth/identifiers``, a clean (non-junk) value of the
record's true person and of nobody else. Values the generator attaches to several people on
purpose (the family tablet, the family e-mail) are not anybody's personal identifier: an
anonymous event on a shared tablet cannot be attributed by any identity graph, and counting it
would measure the data, not the resolver. Typo'd values are not true values either (there is
no fuzzy matching). A record is *eligible* when one of its true identifiers is also a true
identifier of another record. How many silver identifiers are true, shared or neither is
reported, so silver normalisation problems stay visible instead of shrinking the scored set.

Metrics, all over eligible records. Precision is pairwise against true persons, by pair
counting over the contingency table ``n(resolved, true)`` (``sum C(n, 2)``; pairs are never
materialised). Recall needs one more idea: two records of one person with no chain of shared
true identifiers between them (a cookie that never logged in, and the same person's app
device) cannot be linked by any identity graph, and on a few days of data such pairs are a
large share of all same-person pairs. So ``recall`` (the one with the 0.97 target) is measured against
*evidence components*: the person's eligible records connected through shared true identifiers
(computed with the connected-components engine). ``recall_person``, against whole true persons,
is reported beside it. Also: the share of resolved persons holding eligible records of two or
more true persons (over-merged), the share of evidence components (and of true persons) spread
over two or more resolved persons (split), and sizes. Over-merging over *all* scored records is
reported for information; it includes the anonymous shared-tablet events.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from cdp_spark.errors import CdpSparkError
from cdp_spark.identity.config import (
    BlocklistConfig,
    FrequencyConfig,
    IdentityConfig,
    LimitsConfig,
    identity_config,
)
from cdp_spark.identity.graph import ID_TYPE, ID_VALUE, NODE_ID, RECORD_ID, SOURCE
from cdp_spark.identity.stable_ids import PERSON_ID

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from cdp_spark.context import CdpContext
    from cdp_spark.identity.components import ConnectedComponentsEngine

log = logging.getLogger(__name__)

#: Targets of issue 5, checked on the run with guards.
TARGETS: dict[str, tuple[str, float]] = {
    "precision": (">=", 0.995),
    "recall": (">=", 0.97),
    "over_merged_share": ("<=", 0.001),
}
#: Stages run per delivered day, in order.
BENCH_STAGES: tuple[str, ...] = ("ingest", "cleanse", "identity")

TRUE_PERSON = "true_person"
RESOLVED = "resolved"
EVIDENCE = "evidence_component"
BRONZE_FILE = "_bronze_file"
BRONZE_LINE = "_bronze_line"
_KEY = [SOURCE, RECORD_ID]


# --------------------------------------------------------------------------- pair counting


@dataclass(frozen=True)
class PairCounts:
    """Pair counts of a clustering against the truth; precision and recall follow from them.

    ``true_positive``: pairs of records in the same resolved and the same true person;
    ``predicted``: pairs in the same resolved person; ``actual``: pairs in the same true person.
    With no predicted (actual) pairs, precision (recall) is 1: nothing was claimed (missed).
    """

    true_positive: int
    predicted: int
    actual: int

    @property
    def precision(self) -> float:
        return self.true_positive / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.true_positive / self.actual if self.actual else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def _pairs(n: Column) -> Column:
    """C(n, 2) as a long (exact: n * (n - 1) is even)."""
    return ((n * (n - 1)) / 2).cast("long")


def pair_counts(
    contingency: DataFrame, *, resolved: str = RESOLVED, truth: str = TRUE_PERSON, count: str = "n"
) -> PairCounts:
    """Pair counts from contingency counts ``(resolved, truth, n)``, one row per non-empty cell.

    ``true_positive = sum_ij C(n_ij, 2)``, ``predicted = sum_i C(a_i, 2)`` with ``a_i`` the
    row sums, ``actual = sum_j C(b_j, 2)`` with ``b_j`` the column sums. Three aggregations over
    the cells, so the cost grows with the number of persons, never with the number of pairs.
    """
    n = F.col(count)
    tp = contingency.agg(F.sum(_pairs(n)).alias("x"))
    pred = contingency.groupBy(resolved).agg(F.sum(n).alias("a")).agg(F.sum(_pairs(F.col("a"))).alias("x"))
    act = contingency.groupBy(truth).agg(F.sum(n).alias("b")).agg(F.sum(_pairs(F.col("b"))).alias("x"))
    row = tp.crossJoin(pred.withColumnRenamed("x", "p")).crossJoin(act.withColumnRenamed("x", "t")).first()
    assert row is not None

    def as_int(v: Any) -> int:
        return int(v) if v is not None else 0

    return PairCounts(true_positive=as_int(row["x"]), predicted=as_int(row["p"]), actual=as_int(row["t"]))


# --------------------------------------------------------------------------- inputs


def truth_records(spark: SparkSession, truth_root: Path) -> DataFrame:
    """``truth/records`` keyed like silver lineage: ``_bronze_file, _bronze_line, true_person, story``."""
    return spark.read.parquet(str(truth_root / "records")).select(
        F.col("file").alias(BRONZE_FILE),
        F.col("line_number").cast("long").alias(BRONZE_LINE),
        F.col("person_id").alias(TRUE_PERSON),
        F.col("story"),
    )


def personal_identifiers(spark: SparkSession, truth_root: Path) -> DataFrame:
    """Clean identifier values of exactly one true person: ``id_type, id_value, true_person``.

    Aggregated over every source and day; junk values and values several persons hold (shared
    tablets, family e-mails) are left out (see the module docstring for why).
    """
    ids = spark.read.parquet(str(truth_root / "identifiers"))
    return (
        ids.where(~F.col("is_junk") & F.col("id_value_true").isNotNull())
        .groupBy(ID_TYPE, F.col("id_value_true").alias(ID_VALUE))
        .agg(F.countDistinct("person_id").alias("_holders"), F.min("person_id").alias(TRUE_PERSON))
        .where(F.col("_holders") == 1)
        .drop("_holders")
    )


def shared_identifiers(spark: SparkSession, truth_root: Path) -> DataFrame:
    """Clean identifier values held by several true persons: ``id_type, id_value``."""
    ids = spark.read.parquet(str(truth_root / "identifiers"))
    return (
        ids.where(~F.col("is_junk") & F.col("id_value_true").isNotNull())
        .groupBy(ID_TYPE, F.col("id_value_true").alias(ID_VALUE))
        .agg(F.countDistinct("person_id").alias("_holders"))
        .where(F.col("_holders") > 1)
        .select(ID_TYPE, ID_VALUE)
    )


def silver_records(ctx: CdpContext) -> DataFrame:
    """Every silver record identity resolution reads, with its lineage: ``source, record_id,
    _bronze_file, _bronze_line``."""
    from cdp_spark.identity.stage import SILVER_SOURCES

    parts = []
    for table in SILVER_SOURCES:
        if ctx.store.exists(table):
            df = ctx.store.read(table)
            parts.append(df.select(SOURCE, RECORD_ID, BRONZE_FILE, F.col(BRONZE_LINE).cast("long")))
    if not parts:
        raise CdpSparkError(
            f"identity quality: none of {', '.join(SILVER_SOURCES)} exists in {ctx.workspace.root_uri}; "
            "run ingest and cleanse first"
        )
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return out


def resolve_records(
    identifiers: DataFrame, identity_map: DataFrame, priority: Mapping[str, int]
) -> DataFrame:
    """The resolved person of each record that has one: ``source, record_id, resolved, persons``.

    ``identifiers``: ``silver.identifiers`` rows (source, record_id, node_id, id_type);
    ``identity_map``: node_id → person_id. ``persons`` counts the distinct persons the record's
    identifiers map to; with several, the most trusted type wins, then the smallest person id,
    so the choice never depends on row order.
    """
    worst = len(priority)
    ranks = F.create_map(*[x for t, r in sorted(priority.items()) for x in (F.lit(t), F.lit(r))])
    rank = F.coalesce(ranks[F.col(ID_TYPE)], F.lit(worst)) if priority else F.lit(worst)
    mapped = identifiers.select(*_KEY, NODE_ID, ID_TYPE).join(
        identity_map.select(NODE_ID, PERSON_ID), NODE_ID
    )
    return mapped.groupBy(*_KEY).agg(
        F.min(F.struct(rank.alias("rank"), F.col(PERSON_ID).alias("pid")))["pid"].alias(RESOLVED),
        F.countDistinct(PERSON_ID).alias("persons"),
    )


# --------------------------------------------------------------------------- scoring


def _record_node() -> Column:
    """A record's long id in the evidence graph; seeded apart from identifier node ids."""
    return F.xxhash64(F.lit("identity-quality-record"), F.col(SOURCE), F.col(RECORD_ID))


def score_resolution(
    records: DataFrame,
    identifiers: DataFrame,
    identity_map: DataFrame,
    truth: DataFrame,
    personal: DataFrame,
    shared: DataFrame,
    *,
    priority: Mapping[str, int],
    engine: ConnectedComponentsEngine | None = None,
    examples: int = 5,
) -> dict[str, Any]:
    """Score one resolution; see the module docstring for the definitions. JSON-able result.

    ``records``: :func:`silver_records`; ``identifiers``: ``silver.identifiers``;
    ``identity_map``: ``gold.identity_map`` (or a :class:`Resolution`'s); ``truth``:
    :func:`truth_records`; ``personal`` / ``shared``: :func:`personal_identifiers` /
    :func:`shared_identifiers`. ``engine`` computes the evidence components (default: native).
    """
    from cdp_spark.identity.components import NativeConnectedComponents

    engine = engine or NativeConnectedComponents()
    labelled = records.join(truth, [BRONZE_FILE, BRONZE_LINE], "left")
    resolved = resolve_records(identifiers, identity_map, priority)
    rec = labelled.join(resolved, _KEY, "left").withColumn(
        "_cluster",
        F.coalesce(F.col(RESOLVED), F.concat_ws(":", F.lit("~record"), F.col(SOURCE), F.col(RECORD_ID))),
    )

    # identifier occurrences of scored records, classified against the truth
    occ = identifiers.select(*_KEY, NODE_ID, ID_TYPE, ID_VALUE).join(
        rec.where(F.col(TRUE_PERSON).isNotNull()).select(*_KEY, TRUE_PERSON), _KEY
    )
    occ = occ.join(personal.withColumnRenamed(TRUE_PERSON, "_holder"), [ID_TYPE, ID_VALUE], "left").join(
        shared.withColumn("_shared", F.lit(True)), [ID_TYPE, ID_VALUE], "left"
    )
    occ = occ.withColumn(
        "_class",
        F.when(F.col("_holder") == F.col(TRUE_PERSON), F.lit("personal"))
        .when(F.col("_shared"), F.lit("shared"))
        .when(F.col("_holder").isNotNull(), F.lit("someone_else"))
        .otherwise(F.lit("not_a_true_value")),
    ).localCheckpoint()
    occ_counts = {
        r["_class"]: int(r["n"]) for r in occ.groupBy("_class").agg(F.count(F.lit(1)).alias("n")).collect()
    }
    true_ids = occ.where(F.col("_class") == "personal")
    linking = (
        true_ids.groupBy(ID_TYPE, ID_VALUE)
        .agg(F.countDistinct(*_KEY).alias("_records"))
        .where(F.col("_records") >= 2)
    )
    evidence = true_ids.join(linking, [ID_TYPE, ID_VALUE], "left_semi")
    # Evidence components: records joined by shared true identifiers (never across persons,
    # since a true identifier has one holder). Same-person pairs in different components have
    # no identifier path in the data at all; recall is measured against these components.
    labels = engine.run(evidence.select(_record_node().alias("src"), F.col(NODE_ID).alias("dst")))
    eligible = (
        evidence.select(*_KEY, _record_node().alias("id"))
        .distinct()
        .join(labels, "id")
        .select(*_KEY, F.col("component").alias(EVIDENCE), F.lit(True).alias("_eligible"))
    )
    rec = (
        rec.join(eligible, _KEY, "left")
        .withColumn("_eligible", F.coalesce(F.col("_eligible"), F.lit(False)))
        .localCheckpoint()
    )

    counts = rec.agg(
        F.count(F.lit(1)).alias("silver"),
        F.count(F.col(TRUE_PERSON)).alias("matched"),
        F.sum(F.col("_eligible").cast("long")).alias("eligible"),
        F.sum((F.col("_eligible") & F.col(RESOLVED).isNull()).cast("long")).alias("eligible_unresolved"),
        F.sum((F.col("_eligible") & (F.col("persons") > 1)).cast("long")).alias("eligible_multi"),
        F.sum((F.col("persons") > 1).cast("long")).alias("multi"),
        F.countDistinct(*_KEY).alias("distinct_keys"),
    ).first()
    assert counts is not None
    raw_lines = truth.count()

    scored = rec.where(F.col("_eligible"))
    cells = scored.groupBy(F.col("_cluster").alias(RESOLVED), TRUE_PERSON).agg(F.count(F.lit(1)).alias("n"))
    cells = cells.localCheckpoint()
    pc = pair_counts(cells)
    ev_cells = scored.groupBy(F.col("_cluster").alias(RESOLVED), EVIDENCE).agg(F.count(F.lit(1)).alias("n"))
    ev_cells = ev_cells.localCheckpoint()
    ev = pair_counts(ev_cells, truth=EVIDENCE)
    recall = ev.recall
    f1 = 2 * pc.precision * recall / (pc.precision + recall) if pc.precision + recall else 0.0
    ev_split = (
        ev_cells.groupBy(EVIDENCE)
        .agg(F.count(F.lit(1)).alias("parts"))
        .agg(F.count(F.lit(1)).alias("n"), F.sum((F.col("parts") >= 2).cast("long")).alias("split"))
        .first()
    )

    by_resolved = (
        cells.where(~F.col(RESOLVED).startswith("~record:"))
        .groupBy(RESOLVED)
        .agg(F.count(F.lit(1)).alias("true_persons"), F.sum("n").alias("records"))
    )
    over = by_resolved.agg(
        F.count(F.lit(1)).alias("persons"),
        F.sum((F.col("true_persons") >= 2).cast("long")).alias("over"),
        F.max("records").alias("largest_records"),
    ).first()
    by_true = cells.groupBy(TRUE_PERSON).agg(F.count(F.lit(1)).alias("parts"))
    split = by_true.agg(
        F.count(F.lit(1)).alias("persons"), F.sum((F.col("parts") >= 2).cast("long")).alias("split")
    ).first()
    worst = (
        by_resolved.where(F.col("true_persons") >= 2)
        .orderBy(F.desc("true_persons"), F.desc("records"), F.asc(RESOLVED))
        .limit(examples)
        .collect()
    )
    all_over = (
        rec.where(F.col(RESOLVED).isNotNull() & F.col(TRUE_PERSON).isNotNull())
        .groupBy(RESOLVED)
        .agg(F.countDistinct(TRUE_PERSON).alias("true_persons"))
        .agg(
            F.count(F.lit(1)).alias("persons"),
            F.sum((F.col("true_persons") >= 2).cast("long")).alias("over"),
        )
        .first()
    )
    sizes = (
        identity_map.groupBy(PERSON_ID)
        .agg(F.count(F.lit(1)).alias("ids"))
        .agg(F.count(F.lit(1)).alias("persons"), F.max("ids").alias("largest"))
        .first()
    )
    assert over is not None and split is not None and all_over is not None and sizes is not None
    assert ev_split is not None

    def share(part: Any, whole: Any) -> float:
        return round(int(part or 0) / int(whole), 6) if whole else 0.0

    return {
        "precision": round(pc.precision, 6),
        "recall": round(recall, 6),
        "f1": round(f1, 6),
        "recall_person": round(pc.recall, 6),
        "f1_person": round(pc.f1, 6),
        "pairs": {
            "true_positive": pc.true_positive,
            "predicted": pc.predicted,
            "actual_person": pc.actual,
            "true_positive_evidence": ev.true_positive,
            "actual_evidence": ev.actual,
        },
        "over_merged_persons": int(over["over"] or 0),
        "over_merged_share": share(over["over"], over["persons"]),
        "split_components": int(ev_split["split"] or 0),
        "split_share": share(ev_split["split"], ev_split["n"]),
        "split_persons": int(split["split"] or 0),
        "split_share_person": share(split["split"], split["persons"]),
        "persons": {
            "resolved_in_identity_map": int(sizes["persons"] or 0),
            "resolved_holding_eligible_records": int(over["persons"] or 0),
            "true_with_eligible_records": int(split["persons"] or 0),
            "evidence_components": int(ev_split["n"] or 0),
        },
        "largest_component": {
            "identifiers": int(sizes["largest"] or 0),
            "eligible_records": int(over["largest_records"] or 0),
        },
        "records": {
            "raw_lines": raw_lines,
            "raw_lines_without_own_silver_row": raw_lines - int(counts["matched"]),
            "silver": int(counts["silver"]),
            "silver_distinct_keys": int(counts["distinct_keys"]),
            "matched_to_truth": int(counts["matched"]),
            "not_matched_to_truth": int(counts["silver"]) - int(counts["matched"]),
            "eligible": int(counts["eligible"] or 0),
            "eligible_without_person": int(counts["eligible_unresolved"] or 0),
            "eligible_with_several_persons": int(counts["eligible_multi"] or 0),
            "with_several_persons": int(counts["multi"] or 0),
        },
        "identifier_occurrences": {
            k: occ_counts.get(k, 0) for k in ("personal", "shared", "someone_else", "not_a_true_value")
        },
        "all_records": {
            "over_merged_persons": int(all_over["over"] or 0),
            "over_merged_share": share(all_over["over"], all_over["persons"]),
            "note": "over all scored records, incl. anonymous events on shared devices (not attributable)",
        },
        "worst_over_merged": [
            {"person_id": r[RESOLVED], "true_persons": int(r["true_persons"]), "records": int(r["records"])}
            for r in worst
        ],
    }


def score_workspace(
    ctx: CdpContext, truth_root: Path | None = None, config: IdentityConfig | None = None
) -> dict[str, Any]:
    """Score the published ``gold.identity_map`` of ``ctx``'s workspace against its truth."""
    from cdp_spark.identity.stage import IDENTIFIERS_TABLE, MAP_TABLE

    root = truth_root or ctx.workspace.truth
    cfg = config or identity_config(ctx.config)
    for table in (IDENTIFIERS_TABLE, MAP_TABLE):
        if not ctx.store.exists(table):
            raise CdpSparkError(
                f"identity quality: {table} does not exist in {ctx.workspace.root_uri}; run identity first"
            )
    spark = ctx.spark
    return score_resolution(
        silver_records(ctx),
        ctx.store.read(IDENTIFIERS_TABLE),
        ctx.store.read(MAP_TABLE),
        truth_records(spark, root),
        personal_identifiers(spark, root),
        shared_identifiers(spark, root),
        priority=cfg.priority_rank(),
    )


def check_targets(
    scores: Mapping[str, Any], targets: Mapping[str, tuple[str, float]] = TARGETS
) -> dict[str, Any]:
    """Pass/fail per target: ``{name: {value, target, op, met}}``."""
    out: dict[str, Any] = {}
    for name, (op, bound) in targets.items():
        value = float(scores[name])
        met = value >= bound if op == ">=" else value <= bound
        out[name] = {"value": value, "op": op, "target": bound, "met": met}
    return out


# --------------------------------------------------------------------------- guards off


def without_guards(config: IdentityConfig) -> IdentityConfig:
    """``config`` with the blocklist, the frequency rules and the per-person limits switched off
    and a gate that cannot block. Link rules, trust and exclusions stay: they define the graph,
    the guards protect it."""
    return config.model_copy(
        update={
            "blocklist": BlocklistConfig(builtin=False),
            "frequency": FrequencyConfig(rules=[]),
            "limits": LimitsConfig(max_per_person={}, priority=list(config.limits.priority)),
            "gate": config.gate.model_copy(update={"max_component_size": 2**62, "max_merge_share": 1.0}),
        }
    )


# --------------------------------------------------------------------------- the benchmark


def run_days(
    ctx: CdpContext,
    dates: Sequence[str | date],
    stages: Sequence[str] = BENCH_STAGES,
    options: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, float]]:
    """Run ``stages`` one by one for each date, as a nightly run would (day k's files are all
    there, the later days' too, but ingest only takes files up to the run date). Raises on the
    first failed stage; returns seconds per date and stage."""
    from cdp_spark.pipeline import run_pipeline

    timings: dict[str, dict[str, float]] = {}
    for value in dates:
        day = value if isinstance(value, date) else date.fromisoformat(value)
        timings[day.isoformat()] = {}
        for name in stages:
            t0 = time.perf_counter()
            outcome = run_pipeline(ctx, name, day, options=options)
            timings[day.isoformat()][name] = round(time.perf_counter() - t0, 2)
            failed = [s for s in outcome.stages if s.status != "succeeded"]
            if failed:
                raise CdpSparkError(
                    f"bench identity: stage {name} for {day} {failed[0].status}: {failed[0].error}"
                )
    return timings


def bench_context(ctx: CdpContext, root: Path) -> CdpContext:
    """A context on workspace ``root`` sharing ``ctx``'s session, runtime and config files."""
    from cdp_spark.context import CdpContext

    settings = ctx.config.settings.model_copy(update={"workspace": str(root)})
    config = dataclasses.replace(ctx.config, settings=settings)
    return CdpContext.attach(config, ctx.spark, ctx.runtime)


def bench_identity(
    ctx: CdpContext,
    *,
    persons: int = 10_000,
    days: int = 3,
    seed: int = 42,
    root: Path | None = None,
    accept_merges: bool = False,
) -> dict[str, Any]:
    """Generate, run ingest → cleanse → identity day by day, score; then resolve the same silver
    data with the guards off and score that too. JSON-able result.

    The run happens in its own workspace (``root``, default ``<workspace>/bench/identity``,
    emptied first) so the benchmark never mixes with real data. Generator settings are
    ``datagen.yaml``'s with ``persons``, ``days`` and ``seed`` replaced. The run without guards
    is a full resolution of the final silver records in memory (nothing published), with the
    same link rules and engine.
    """
    from cdp_spark.datagen import DatagenSettings, generate
    from cdp_spark.identity.components import choose_engine
    from cdp_spark.identity.stage import PreviousState, identity_records, resolve_identities
    from cdp_spark.pipeline import RunContext

    base = ctx.config.domain("datagen.yaml")
    settings = DatagenSettings.model_validate(
        {**base.model_dump(), "persons": persons, "days": days, "seed": seed}
    )
    root = (root or ctx.workspace.bench / "identity").resolve()
    shutil.rmtree(root, ignore_errors=True)
    bctx = bench_context(ctx, root)
    config = identity_config(ctx.config)
    spark = ctx.spark

    t0 = time.perf_counter()
    generated = generate(spark, root, settings)
    generate_s = time.perf_counter() - t0
    timings = run_days(bctx, generated.dates, options={"accept_merges": accept_merges})

    t0 = time.perf_counter()
    guarded = score_workspace(bctx, config=config)
    score_s = time.perf_counter() - t0

    last = date.fromisoformat(generated.dates[-1])
    rc = RunContext(run_id="bench-identity-unguarded", run_date=last, stage="identity", generation=1)
    engine = choose_engine(spark, ctx.config.settings.runtime.connected_components)
    t0 = time.perf_counter()
    off = resolve_identities(
        identity_records(bctx, rc),
        without_guards(config),
        engine,
        PreviousState(),
        run_id=rc.run_id,
        run_date=last,
        full=True,
    )
    unguarded_resolve_s = time.perf_counter() - t0
    unguarded = score_resolution(
        silver_records(bctx),
        off.identifiers,
        off.identity_map,
        truth_records(spark, bctx.workspace.truth),
        personal_identifiers(spark, bctx.workspace.truth),
        shared_identifiers(spark, bctx.workspace.truth),
        priority=config.priority_rank(),
    )
    targets = check_targets(guarded)
    result = {
        "benchmark": "identity",
        "persons": persons,
        "days": days,
        "seed": seed,
        "workspace": str(root),
        "generator": {
            "raw_records": generated.total_records,
            "records_by_source": generated.records_by_source(),
            "noise": settings.noise.model_dump(),
            "seconds": round(generate_s, 2),
        },
        "stage_seconds": timings,
        "with_guards": guarded,
        "without_guards": unguarded,
        "targets": targets,
        "targets_met": all(t["met"] for t in targets.values()),
        "without_guards_targets": check_targets(unguarded),
        "guard_effect": {
            "precision": round(guarded["precision"] - unguarded["precision"], 6),
            "recall": round(guarded["recall"] - unguarded["recall"], 6),
            "over_merged_persons": guarded["over_merged_persons"] - unguarded["over_merged_persons"],
            "largest_component_identifiers": guarded["largest_component"]["identifiers"]
            - unguarded["largest_component"]["identifiers"],
        },
        "seconds": {"score": round(score_s, 2), "resolve_without_guards": round(unguarded_resolve_s, 2)},
        "engine": type(engine).__name__,
        "spark_version": spark.version,
    }
    log.info(
        "bench identity: precision %.4f recall %.4f over-merged %.4f%% (without guards: %.4f / %.4f / %.4f%%)",
        guarded["precision"],
        guarded["recall"],
        100 * guarded["over_merged_share"],
        unguarded["precision"],
        unguarded["recall"],
        100 * unguarded["over_merged_share"],
    )
    return result
