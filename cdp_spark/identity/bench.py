"""Connected-components benchmark: identity-like edges, our engines against GraphX and scipy.

Why a synthetic generator instead of a sample of real data: the benchmark has to be
reproducible on any machine and any partitioning, and it has to contain the shape that
hurts label propagation in practice: a few people whose identifiers form long chains
(cookie → login → new cookie → ...). Every value is derived from ``(seed, person, position)``
with ``xxhash64``, never from ``rand()``, so the same arguments give the same edges on one
core or a thousand.

GraphX is the baseline because it ships inside pyspark (no extra jar) and is what a Spark
user reaches for first; scipy on the driver is the lower bound a single machine sets.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from cdp_spark.identity.components import (
    COMPONENT,
    DST,
    ID,
    SRC,
    NativeConnectedComponents,
    min_label_components,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

BenchEngine = Literal["native", "native_distributed_only", "graphx", "scipy"]
DEFAULT_ENGINES: tuple[BenchEngine, ...] = ("native", "native_distributed_only", "graphx", "scipy")

_MASK63 = 0x7FFFFFFFFFFFFFFF
# How many identifiers an ordinary person has (1..5) and how often: most people are
# seen with one or two identifiers, few with five.
_SMALL_SIZES = (1, 2, 3, 4, 5)
_SMALL_PROBS = (0.30, 0.30, 0.20, 0.12, 0.08)


def _expected_edges_per_person(
    chain_share: float, chain_min: int, chain_max: int, duplicate_share: float
) -> float:
    # a person with k identifiers contributes k-1 tree edges, or one self-loop when k == 1
    small = sum(p * max(k - 1, 1) for k, p in zip(_SMALL_SIZES, _SMALL_PROBS, strict=True))
    chain = (chain_min + chain_max) / 2 - 1
    return ((1 - chain_share) * small + chain_share * chain) * (1 + duplicate_share)


def make_identity_edges(
    spark: SparkSession,
    *,
    edges: int,
    seed: int,
    chain_share: float = 0.02,
    chain_min: int = 20,
    chain_max: int = 200,
    duplicate_share: float = 0.05,
    partitions: int | None = None,
) -> DataFrame:
    """About ``edges`` identity-like edges ``(src, dst)``, identical for equal arguments.

    People are drawn from ``range(persons)``. Most have 1-5 identifiers joined as a random tree
    (the order in which records linked them); a person with one identifier contributes a
    self-loop, the way a record carrying a single identifier does. ``chain_share`` of people
    own a chain of ``chain_min..chain_max`` identifiers, the worst case for label propagation.
    Node ids are non-negative 63-bit hashes, so ids carry no hint of the structure and GraphX,
    scipy and our engine all accept them. ``duplicate_share`` of edges appear twice, and edge
    direction is random. The count is approximate (it is a sum of random sizes).
    """
    from pyspark.sql import functions as F

    if edges < 1:
        raise ValueError(f"edges must be >= 1, got {edges}")
    if not 0.0 <= chain_share <= 1.0:
        raise ValueError(f"chain_share must be within [0, 1], got {chain_share}")
    if not 2 <= chain_min <= chain_max:
        raise ValueError(f"need 2 <= chain_min <= chain_max, got {chain_min}..{chain_max}")
    per_person = _expected_edges_per_person(chain_share, chain_min, chain_max, duplicate_share)
    persons = max(1, math.ceil(edges / per_person))
    if partitions is None:
        partitions = max(spark.sparkContext.defaultParallelism, math.ceil(edges / 2_000_000))

    def h(*parts: Any) -> Any:
        """A uniform non-negative long derived from the seed and the given columns/tags."""
        cols = [F.lit(seed)] + [p if not isinstance(p, str) else F.lit(p) for p in parts]
        return F.xxhash64(*cols).bitwiseAND(F.lit(_MASK63))

    def unit(*parts: Any) -> Any:
        return h(*parts).cast("double") / F.lit(float(_MASK63))

    p = F.col("p")
    u_kind = unit(p, "kind")
    u_size = unit(p, "size")
    size = F.lit(_SMALL_SIZES[-1])
    cum = 0.0
    thresholds = []
    for k, prob in zip(_SMALL_SIZES, _SMALL_PROBS, strict=True):
        cum += prob
        thresholds.append((k, cum))
    size_expr = None
    for k, upper in thresholds[:-1]:
        size_expr = (size_expr if size_expr is not None else F).when(u_size < F.lit(upper), F.lit(k))
    assert size_expr is not None
    small = size_expr.otherwise(size)
    chain_len = F.lit(chain_min) + F.pmod(h(p, "len"), F.lit(chain_max - chain_min + 1))
    people = spark.range(0, persons, 1, partitions).select(F.col("id").alias("p"))
    people = people.select(
        p,
        (u_kind < F.lit(chain_share)).alias("is_chain"),
    ).select(p, "is_chain", F.when(F.col("is_chain"), chain_len).otherwise(small).alias("k"))
    j = F.col("j")
    k_col = F.col("k")
    rows = people.select(
        p, "is_chain", k_col, F.explode(F.sequence(F.lit(1), F.greatest(k_col - 1, F.lit(1)))).alias("j")
    )
    parent = (
        F.when(k_col == 1, F.lit(0))
        .when(F.col("is_chain"), j - 1)
        .otherwise(F.pmod(h(p, j, "parent"), j.cast("long")))
    )
    child = F.when(k_col == 1, F.lit(0)).otherwise(j)
    a = h(p, parent.cast("long"), "node")
    b = h(p, child.cast("long"), "node")
    swap = F.pmod(h(p, j, "dir"), F.lit(2)) == 1
    copies = F.when(unit(p, j, "dup") < F.lit(duplicate_share), F.array(F.lit(0), F.lit(1))).otherwise(
        F.array(F.lit(0))
    )
    return rows.select(
        F.when(swap, b).otherwise(a).alias(SRC),
        F.when(swap, a).otherwise(b).alias(DST),
        F.explode(copies).alias("_copy"),
    ).drop("_copy")


# --------------------------------------------------------------------------- engines


def _graphx_components(spark: SparkSession, edges: DataFrame) -> DataFrame:
    """GraphX ``ConnectedComponents`` driven through the py4j gateway (classic Spark only).

    All py4j and Scala plumbing lives here: a ``Dataset[(Long, Long)]`` gives the
    ``RDD[(VertexId, VertexId)]`` that ``Graph.fromEdgeTuples`` wants, the implicit
    ``ClassTag`` arguments are passed explicitly, and the resulting ``VertexRDD`` is turned
    back into a DataFrame through the same tuple encoder. The vertices are cached by GraphX
    and counted, so the returned DataFrame is materialised like our engine's output.
    """
    from pyspark.sql import DataFrame as PyDataFrame

    jvm = getattr(spark, "_jvm", None)
    if jvm is None:
        raise RuntimeError("the GraphX baseline needs classic Spark with a py4j gateway, not Spark Connect")
    encoders = jvm.org.apache.spark.sql.Encoders
    pair = encoders.tuple(encoders.LONG(), encoders.LONG())
    tuples = getattr(edges.select(SRC, DST)._jdf, "as")(pair).rdd()
    class_tag = getattr(getattr(jvm.scala.reflect, "ClassTag$"), "MODULE$")
    level = jvm.org.apache.spark.storage.StorageLevel.MEMORY_AND_DISK()
    graph = jvm.org.apache.spark.graphx.Graph.fromEdgeTuples(
        tuples, 1, jvm.scala.Option.empty(), level, level, class_tag.Any()
    )
    result = jvm.org.apache.spark.graphx.lib.ConnectedComponents.run(graph, class_tag.Any(), class_tag.Int())
    vertices = result.vertices()
    vertices.count()
    jdf = spark._jsparkSession.createDataset(vertices, pair).toDF()
    return PyDataFrame(jdf, spark).toDF(ID, COMPONENT)


def _scipy_components(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read the edge list with pyarrow and label components on one machine."""
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=[SRC, DST])
    src = table.column(SRC).to_numpy()
    dst = table.column(DST).to_numpy()
    return min_label_components(src, dst)


def _sorted_by_id(ids: np.ndarray, comp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(ids, kind="stable")
    return ids[order], comp[order]


def _to_numpy(df: DataFrame) -> tuple[np.ndarray, np.ndarray]:
    table = df.select(ID, COMPONENT).toArrow()
    return _sorted_by_id(table.column(ID).to_numpy(), table.column(COMPONENT).to_numpy())


def _same_partition(comp_a: np.ndarray, comp_b: np.ndarray) -> bool:
    """True when two labelings (aligned on the same ids) induce the same partition."""
    if comp_a.shape != comp_b.shape:
        return False
    _, inv_a = np.unique(comp_a, return_inverse=True)
    _, inv_b = np.unique(comp_b, return_inverse=True)
    pairs = np.unique(np.stack([inv_a, inv_b], axis=1), axis=0)
    return bool(len(pairs) == inv_a.max(initial=-1) + 1 == inv_b.max(initial=-1) + 1)


def run_cc_benchmark(
    spark: SparkSession,
    *,
    edges: int,
    seed: int,
    engines: Sequence[BenchEngine] = DEFAULT_ENGINES,
    out: Path | None = None,
    chain_share: float = 0.02,
    chain_min: int = 20,
    chain_max: int = 200,
    driver_finish_threshold: int = 1_000_000,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Time each engine on the same edge list in this process and check they agree.

    The edges are generated once and written to Parquet, so every engine starts from the same
    files and pays for its own loading: Spark engines read them lazily inside the timed
    section, scipy reads them with pyarrow inside its timed section. Spark engines are timed
    until every output row has been computed (our result is written to Spark's ``noop``
    sink, GraphX caches and counts its vertices); the check that all engines give the same labels runs
    after the clock stops. ``native_distributed_only`` disables the driver finish so the
    large-star/small-star iterations run to convergence on their own.
    """
    unknown = sorted(set(engines) - set(DEFAULT_ENGINES))
    if unknown:
        raise ValueError(f"unknown engine(s) {unknown}; expected some of {list(DEFAULT_ENGINES)}")
    owns_workdir = workdir is None
    base = Path(tempfile.mkdtemp(prefix="cdp-cc-bench-")) if workdir is None else Path(workdir)
    base.mkdir(parents=True, exist_ok=True)
    edge_path = base / f"edges-{edges}-{seed}.parquet"
    try:
        started = time.perf_counter()
        generated = make_identity_edges(
            spark, edges=edges, seed=seed, chain_share=chain_share, chain_min=chain_min, chain_max=chain_max
        )
        generated.write.mode("overwrite").parquet(str(edge_path))
        generate_seconds = time.perf_counter() - started
        log.info("bench cc: generated edges in %.1f s at %s", generate_seconds, edge_path)

        results: dict[str, dict[str, Any]] = {}
        labels: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        runners: dict[str, Callable[[], dict[str, Any]]] = {}

        def spark_edges() -> DataFrame:
            return spark.read.parquet(str(edge_path))

        def run_scipy() -> dict[str, Any]:
            t0 = time.perf_counter()
            ids, comp = _scipy_components(edge_path)
            seconds = time.perf_counter() - t0
            labels["scipy"] = _sorted_by_id(ids, comp)
            return {"seconds": round(seconds, 3)}

        def run_native(threshold: int, key: str) -> dict[str, Any]:
            engine = NativeConnectedComponents(driver_finish_threshold=threshold)
            t0 = time.perf_counter()
            result, stats = engine.run_with_stats(spark_edges())
            result.write.format("noop").mode("overwrite").save()  # every label computed
            seconds = time.perf_counter() - t0
            labels[key] = _to_numpy(result)
            return {"seconds": round(seconds, 3), **stats.as_dict()}

        def run_graphx() -> dict[str, Any]:
            t0 = time.perf_counter()
            result = _graphx_components(spark, spark_edges())
            seconds = time.perf_counter() - t0
            labels["graphx"] = _to_numpy(result)
            return {"seconds": round(seconds, 3)}

        runners["scipy"] = run_scipy
        runners["native"] = lambda: run_native(driver_finish_threshold, "native")
        runners["native_distributed_only"] = lambda: run_native(0, "native_distributed_only")
        runners["graphx"] = run_graphx

        for name in engines:
            log.info("bench cc: running %s on %s edges", name, edges)
            results[name] = runners[name]()
            log.info("bench cc: %s took %.2f s", name, results[name]["seconds"])

        edge_rows = spark_edges().count()
        reference_name = "scipy" if "scipy" in labels else next(iter(labels), None)
        summary: dict[str, Any] = {
            "benchmark": "connected_components",
            "edges_requested": edges,
            "edges": edge_rows,
            "seed": seed,
            "chain_share": chain_share,
            "chain_lengths": [chain_min, chain_max],
            "driver_finish_threshold": driver_finish_threshold,
            "spark_version": spark.version,
            "master": spark.sparkContext.master,
            "default_parallelism": spark.sparkContext.defaultParallelism,
            "shuffle_partitions": int(spark.conf.get("spark.sql.shuffle.partitions") or 0),
            "generate_seconds": round(generate_seconds, 3),
            "engines": results,
        }
        if reference_name is not None:
            ref_ids, ref_comp = labels[reference_name]
            summary["vertices"] = len(ref_ids)
            summary["components"] = len(np.unique(ref_comp))
            agreement: dict[str, dict[str, bool]] = {}
            for engine_name, (ids, comp) in labels.items():
                same_ids = bool(np.array_equal(ids, ref_ids))
                agreement[engine_name] = {
                    "same_vertices": same_ids,
                    "same_partition": same_ids and _same_partition(comp, ref_comp),
                    "same_labels": same_ids and bool(np.array_equal(comp, ref_comp)),
                }
            summary["reference"] = reference_name
            summary["agreement"] = agreement
            summary["all_agree"] = all(a["same_partition"] and a["same_labels"] for a in agreement.values())
        ratios: dict[str, float] = {}
        for native_name in ("native", "native_distributed_only"):
            if native_name not in results:
                continue
            for base_name in ("graphx", "scipy"):
                if base_name in results and results[base_name]["seconds"] > 0:
                    ratios[f"{native_name}/{base_name}"] = round(
                        results[native_name]["seconds"] / results[base_name]["seconds"], 3
                    )
        summary["ratios"] = ratios
        if out is not None:
            out = Path(out)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        return summary
    finally:
        if owns_workdir:
            shutil.rmtree(base, ignore_errors=True)
