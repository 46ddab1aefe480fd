"""Connected components of the identity graph: one interface, two engines.

Every engine returns ``id, component`` where ``component`` is the smallest node id of the
component. That is what GraphFrames and GraphX return, so swapping engines changes no label,
and a label never depends on partitioning, row order or the number of iterations.

``native`` is the embedded default: alternating large-star / small-star (Kiveris et al.,
"Connected Components in MapReduce and Beyond", SoCC 2014; the algorithm GraphFrames runs by
default) written against the DataFrame API only (no RDDs), so it also runs on Spark Connect.
Each round is two shuffles and no join:

1. *annotate*: the symmetrised edges are hash-partitioned by node once; one sort by
   ``(node, nbr)`` feeds one window that drops duplicate rows (``lag``) and yields the
   smallest and largest neighbour. ``m(u) = min(u, neighbours(u))`` and every flag below are
   derived from those two numbers.
2. *large star* emits ``(v, m(u))`` for every neighbour ``v > u`` straight from those rows;
   *small star* partitions them by ``v`` and, per row, emits ``(min, w)``, or ``(min, v)`` for
   the row holding the minimum itself, which connects ``v`` to its new parent without a union.

The annotated rows are persisted every round, and checkpointed every ``checkpoint_interval``
rounds to cut the lineage; the one statistics job per round fills them.

A node is *open* when it has a smaller neighbour and at least two distinct neighbours, i.e.
it is neither a star centre nor a leaf hanging off one. No open node means every component is
a star, the fixed point of large-star/small-star, and every label is ``m(u)``: an exact
convergence test that costs one sum over rows already in memory.

Driver finish. Leaves have degree one, so no path between two other nodes runs through them;
every edge between two non-leaves has an open larger end. Hence the *open edges*, rows from an
open node to a smaller neighbour, connect the non-leaf nodes of every unfinished component
exactly as the whole graph does, and the smallest id of a component is never a leaf. Once
there are at most ``driver_finish_threshold`` open edges they are collected through Arrow,
labelled with ``scipy.sparse.csgraph`` (``L``), and every node gets
``component(u) = L[m(u)]`` if ``m(u)`` was collected, else ``m(u)``: one broadcast join and no
further round. (``m(u)`` is a collected node whenever ``u`` lies in an unfinished component:
for an open node it is a smaller neighbour, for a leaf its non-leaf parent.) A whole input at
most the threshold goes to the driver at once. Open edges shrink much faster than the graph:
on identity-like data roughly 38 %, 13 %, 5 % ... of the directed rows after rounds 0, 1, 2.

Vertices (and self-loops) enter the first round as ``(u, u)`` rows; an isolated node keeps its
self-loop through the rounds so it comes out as its own component without a final union.

``graphframes`` delegates to ``GraphFrame.connectedComponents()`` where the JVM package is on
the classpath (the cluster runtime).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np

from cdp_spark.errors import CdpSparkError, RuntimeUnavailableError, SchemaContractError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

log = logging.getLogger(__name__)

SRC = "src"
DST = "dst"
ID = "id"
COMPONENT = "component"

# working columns of the native engine
_NODE = "node"
_NBR = "nbr"
_MIN_NBR = "min_nbr"  # smallest neighbour of node
_MAX_NBR = "max_nbr"  # largest neighbour of node
_V = "v"
_W = "w"

EngineMode = Literal["auto", "native", "graphframes"]
CheckpointMode = Literal["local", "reliable"]
_INTEGRAL = ("tinyint", "smallint", "int", "bigint")


@runtime_checkable
class ConnectedComponentsEngine(Protocol):
    """What the identity stage needs from a connected-components implementation."""

    name: str

    def run(self, edges: DataFrame, vertices: DataFrame | None = None) -> DataFrame:
        """``edges(src, dst)`` [+ ``vertices(id)``] → ``id, component`` (component = min id)."""
        ...


@dataclass(frozen=True)
class ComponentsRunStats:
    """What one native run did; the benchmark reports it and the identity stage can log it."""

    input_rows: int
    iterations: int
    finish: Literal["empty", "driver", "distributed", "hybrid"]
    driver_rows: int = 0
    open_edges_per_iteration: tuple[int, ...] = field(default_factory=tuple)
    seconds_per_iteration: tuple[float, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["open_edges_per_iteration"] = list(self.open_edges_per_iteration)
        data["seconds_per_iteration"] = list(self.seconds_per_iteration)
        return data


# --------------------------------------------------------------------------- shared helpers


def min_label_components(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Single-machine components of an edge list: the distinct ids and their min-id labels.

    Used by the driver finish and as the benchmark's lower bound, so both label the same way.
    Ids are densified with a hash (``pandas.factorize``, O(n)) rather than a sort, the
    adjacency is a CSR matrix for ``scipy.sparse.csgraph``, and the smallest id per component
    is a scatter-min; self-loops and duplicate edges are harmless. Ids come back in order of
    first appearance, not sorted.
    """
    import pandas as pd
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    if src.size == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    codes, uniques = pd.factorize(np.concatenate([src, dst]))
    ids = np.asarray(uniques, dtype=np.int64)
    n, m = len(ids), src.size
    graph = csr_matrix((np.ones(m, dtype=np.int32), (codes[:m], codes[m:])), shape=(n, n))
    count, labels = connected_components(graph, directed=False)
    smallest = np.full(count, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(smallest, labels, ids)
    return ids, smallest[labels]


def _require_columns(df: DataFrame, what: str, columns: tuple[str, ...]) -> None:
    types = dict(df.dtypes)
    problems = []
    for name in columns:
        if name not in types:
            problems.append(f"missing column {name!r}")
        elif types[name] not in _INTEGRAL:
            problems.append(f"column {name!r} has type {types[name]}, expected an integer (bigint) node id")
    if problems:
        raise SchemaContractError(
            f"connected components: {what} must have integer columns {list(columns)}; "
            + "; ".join(problems)
            + f". Columns found: {', '.join(f'{n}:{t}' for n, t in df.dtypes) or '(none)'}. "
            "Map identifiers to long node ids first (e.g. xxhash64 of type and value)."
        )


def _clean_edges(edges: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    _require_columns(edges, "edges", (SRC, DST))
    return edges.select(F.col(SRC).cast("long").alias(SRC), F.col(DST).cast("long").alias(DST)).where(
        F.col(SRC).isNotNull() & F.col(DST).isNotNull()
    )


def _arrow_labels(spark: SparkSession, ids: np.ndarray, labels: np.ndarray) -> DataFrame:
    """Ship driver-side labels to Spark as a partitioned DataFrame.

    Below ``spark.sql.execution.arrow.localRelationThreshold`` (48 MB) pyspark turns an Arrow
    table into a ``LocalRelation`` that lives in the query plan and is re-sent with every task:
    a million-row result then costs seconds per read. The threshold is lifted for this one call
    (and the batch size raised to give a few batches per core) so the rows land in an RDD-backed
    relation instead; both settings are restored afterwards.
    """
    import pyarrow as pa

    table = pa.table({ID: pa.array(ids, type=pa.int64()), COMPONENT: pa.array(labels, type=pa.int64())})
    overrides = {
        "spark.sql.execution.arrow.localRelationThreshold": "0",
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(
            max(10_000, -(-len(ids) // (4 * max(1, _parallelism(spark)))))
        ),
    }
    saved = {key: spark.conf.get(key, None) for key in overrides}
    try:
        for key, value in overrides.items():
            spark.conf.set(key, value)
        return spark.createDataFrame(table)
    finally:
        for key, old in saved.items():
            if old is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, old)


def _parallelism(spark: SparkSession) -> int:
    try:
        return int(spark.sparkContext.defaultParallelism)
    except Exception:  # Spark Connect has no SparkContext
        return int(spark.conf.get("spark.sql.shuffle.partitions", "8") or 8)


def _collect_pairs(df: DataFrame, a: str, b: str) -> tuple[np.ndarray, np.ndarray]:
    table = df.select(a, b).toArrow()
    return (
        table.column(a).to_numpy(zero_copy_only=False).astype(np.int64, copy=False),
        table.column(b).to_numpy(zero_copy_only=False).astype(np.int64, copy=False),
    )


# --------------------------------------------------------------------------- native engine


class NativeConnectedComponents:
    """Alternating large-star / small-star on DataFrames, with an optional finish on the driver.

    ``driver_finish_threshold``: once at most this many *open edges* remain (see the module
    docstring) they are finished on the driver, and an input of at most this many rows goes to
    the driver at once; ``0`` disables the finish so the distributed rounds run to convergence.
    The default (one million edges, 16 MB of Arrow) is far below what a driver holds.
    ``checkpoint_interval``: every that many rounds the working set is checkpointed instead of
    persisted, which cuts the logical plan; ``0`` never checkpoints.
    ``max_iterations``: large-star/small-star rounds before giving up with an error (never a
    partial answer).
    ``checkpoint``: ``local`` keeps checkpoints in executor storage (fast, lost with an
    executor); ``reliable`` writes them to the session's checkpoint directory.
    """

    name = "native"

    def __init__(
        self,
        *,
        driver_finish_threshold: int = 1_000_000,
        checkpoint_interval: int = 2,
        max_iterations: int = 100,
        checkpoint: CheckpointMode = "local",
    ) -> None:
        problems = []
        if driver_finish_threshold < 0:
            problems.append(
                f"driver_finish_threshold must be >= 0 (0 disables), got {driver_finish_threshold}"
            )
        if checkpoint_interval < 0:
            problems.append(
                f"checkpoint_interval must be >= 0 (0 never checkpoints), got {checkpoint_interval}"
            )
        if max_iterations < 1:
            problems.append(f"max_iterations must be >= 1, got {max_iterations}")
        if checkpoint not in ("local", "reliable"):
            problems.append(f"checkpoint must be 'local' or 'reliable', got {checkpoint!r}")
        if problems:
            raise ValueError("; ".join(problems))
        self.driver_finish_threshold = driver_finish_threshold
        self.checkpoint_interval = checkpoint_interval
        self.max_iterations = max_iterations
        self.checkpoint = checkpoint

    def __repr__(self) -> str:
        return (
            f"NativeConnectedComponents(driver_finish_threshold={self.driver_finish_threshold}, "
            f"checkpoint_interval={self.checkpoint_interval}, max_iterations={self.max_iterations}, "
            f"checkpoint={self.checkpoint!r})"
        )

    def run(self, edges: DataFrame, vertices: DataFrame | None = None) -> DataFrame:
        """Components of ``edges`` (+ isolated ``vertices``); see :meth:`run_with_stats`."""
        return self.run_with_stats(edges, vertices)[0]

    def run_with_stats(
        self, edges: DataFrame, vertices: DataFrame | None = None
    ) -> tuple[DataFrame, ComponentsRunStats]:
        """Run to completion; return ``id, component`` (backed by materialised data) and stats.

        Vertices enter the graph as self-loops, so isolated ones come out as their own
        component without a final union or join. ``edges`` (and ``vertices``) are scanned twice,
        once to count and once for the first round: persist them if they are expensive.
        """
        from pyspark.sql import functions as F

        spark = edges.sparkSession
        graph = _clean_edges(edges)
        if vertices is not None:
            _require_columns(vertices, "vertices", (ID,))
            ids = F.col(ID).cast("long")
            graph = graph.unionByName(vertices.where(ids.isNotNull()).select(ids.alias(SRC), ids.alias(DST)))

        count_row = graph.agg(F.count(F.lit(1)).alias("rows")).first()
        input_rows = int(count_row["rows"]) if count_row is not None else 0
        log.info(
            "connected components (native): %d input rows, driver finish threshold %d",
            input_rows,
            self.driver_finish_threshold,
        )
        if input_rows == 0:
            empty = spark.createDataFrame([], f"{ID} long, {COMPONENT} long")
            return empty, ComponentsRunStats(0, 0, "empty")

        if input_rows <= self.driver_finish_threshold:
            src, dst = _collect_pairs(graph, SRC, DST)
            ids_np, labels = min_label_components(src, dst)
            log.info(
                "connected components (native): whole graph (%d nodes) finished on the driver", ids_np.size
            )
            stats = ComponentsRunStats(input_rows, 0, "driver", driver_rows=input_rows)
            return _arrow_labels(spark, ids_np, labels), stats
        return self._distributed(spark, graph, input_rows)

    # ---- distributed rounds

    def _checkpoints(self, iteration: int) -> bool:
        return bool(self.checkpoint_interval) and (iteration + 1) % self.checkpoint_interval == 0

    def _materialise(self, df: DataFrame, iteration: int) -> DataFrame:
        """Persist (columnar, compressed, released explicitly), or every ``checkpoint_interval``
        rounds checkpoint to cut the lineage. Lazy: the round's statistics job fills it."""
        from pyspark.storagelevel import StorageLevel

        if self._checkpoints(iteration):
            if self.checkpoint == "reliable":
                return df.checkpoint(eager=False)
            return df.localCheckpoint(eager=False, storageLevel=StorageLevel.MEMORY_AND_DISK)
        return df.persist(StorageLevel.MEMORY_AND_DISK_DESER)

    def _distributed(
        self, spark: SparkSession, graph: DataFrame, input_rows: int
    ) -> tuple[DataFrame, ComponentsRunStats]:
        from pyspark.sql import functions as F
        from pyspark.storagelevel import StorageLevel

        sym = _symmetrise(graph, SRC, DST)
        iteration = 0
        open_log: list[int] = []
        seconds_log: list[float] = []
        previous: DataFrame | None = None
        while True:
            t0 = time.perf_counter()
            annotated = self._materialise(_annotate(sym), iteration)
            stats_row = annotated.agg(
                F.count(F.lit(1)).alias("rows"),
                F.coalesce(F.sum(_is_open_up().cast("long")), F.lit(0)).alias("open_edges"),
            ).first()
            assert stats_row is not None
            if previous is not None:
                previous.unpersist()
            previous = annotated
            rows, open_edges = int(stats_row["rows"]), int(stats_row["open_edges"])
            open_log.append(open_edges)
            seconds_log.append(round(time.perf_counter() - t0, 3))
            log.info(
                "connected components (native): round %d: %d directed edges, %d open edges (%.2f s)",
                iteration,
                rows,
                open_edges,
                seconds_log[-1],
            )
            if open_edges == 0:
                labels = annotated.where(_is_head()).select(
                    F.col(_NODE).alias(ID), _min_id().alias(COMPONENT)
                )
                finish: Literal["distributed", "hybrid"] = "distributed"
                break
            if open_edges <= self.driver_finish_threshold:
                labels = self._driver_finish(spark, annotated)
                finish = "hybrid"
                break
            if iteration >= self.max_iterations:
                annotated.unpersist()
                raise CdpSparkError(
                    f"connected components did not converge in {self.max_iterations} rounds "
                    f"({open_edges} edges still open). Large-star/small-star needs O(log^2 n) rounds, "
                    "so this points to a bug or a pathological graph: raise max_iterations, or set "
                    "driver_finish_threshold above the open edge count to finish on the driver."
                )
            sym = _small_star_symmetrised(_large_star(annotated))
            iteration += 1

        if not self._checkpoints(iteration):
            # The last round is only persisted: materialise the (smaller) result so that the
            # working set can be released now instead of living as long as the result.
            if self.checkpoint == "reliable":
                labels = labels.checkpoint(eager=True)
            else:
                labels = labels.localCheckpoint(eager=True, storageLevel=StorageLevel.MEMORY_AND_DISK)
            annotated.unpersist()
        stats = ComponentsRunStats(
            input_rows,
            iteration,
            finish,
            driver_rows=open_edges if finish == "hybrid" else 0,
            open_edges_per_iteration=tuple(open_log),
            seconds_per_iteration=tuple(seconds_log),
        )
        return labels, stats

    def _driver_finish(self, spark: SparkSession, annotated: DataFrame) -> DataFrame:
        from pyspark.sql import functions as F

        src, dst = _collect_pairs(annotated.where(_is_open_up()), _NODE, _NBR)
        ids, comp = min_label_components(src, dst)
        log.info(
            "connected components (native): finishing %d open edges (%d nodes) on the driver",
            src.size,
            ids.size,
        )
        driver = _arrow_labels(spark, ids, comp).select(
            F.col(ID).alias("_d_id"), F.col(COMPONENT).alias("_d_c")
        )
        heads = annotated.where(_is_head()).select(F.col(_NODE), _min_id().alias("_m"))
        return heads.join(F.broadcast(driver), heads["_m"] == driver["_d_id"], "left").select(
            F.col(_NODE).alias(ID), F.coalesce(F.col("_d_c"), F.col("_m")).alias(COMPONENT)
        )


def _symmetrise(df: DataFrame, a: str, b: str) -> DataFrame:
    from pyspark.sql import functions as F

    both = F.explode(
        F.array(
            F.struct(F.col(a).alias(_NODE), F.col(b).alias(_NBR)),
            F.struct(F.col(b).alias(_NODE), F.col(a).alias(_NBR)),
        )
    ).alias("_e")
    return df.select(both).select(F.col("_e." + _NODE).alias(_NODE), F.col("_e." + _NBR).alias(_NBR))


def _annotate(sym: DataFrame) -> DataFrame:
    """One row per distinct directed edge ``(node, nbr)``: ``node, nbr, min_nbr, max_nbr``.

    ``repartition(node)`` is the only shuffle. One sort by ``(node, nbr)`` serves a single
    window operator that yields the previous neighbour (to drop duplicates without a hash
    aggregate) and the smallest and largest neighbour, from which every flag is derived when
    read: "open" needs at least two *distinct* neighbours, which is ``min != max``, no count.
    A self-loop row ``(u, u)`` marks a vertex; alone it means an isolated node.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    ordered = Window.partitionBy(_NODE).orderBy(_NBR)
    whole = ordered.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    nbr = F.col(_NBR)
    return (
        sym.repartition(_NODE)
        .select(
            _NODE,
            _NBR,
            F.lag(nbr).over(ordered).alias("_prev"),
            F.min(nbr).over(whole).alias(_MIN_NBR),
            F.max(nbr).over(whole).alias(_MAX_NBR),
        )
        .where(F.col("_prev").isNull() | (F.col("_prev") != nbr))
        .drop("_prev")
    )


def _min_id() -> Column:
    """``m(u) = min(u, neighbours(u))`` of an annotated row."""
    from pyspark.sql import functions as F

    return F.least(F.col(_NODE), F.col(_MIN_NBR))


def _is_open_up() -> Column:
    """Rows from an open node to a smaller neighbour: the only edges the driver finish needs.

    A node is open when it has a smaller neighbour and at least two distinct neighbours, i.e.
    it is neither a star centre nor a leaf hanging off one.
    """
    from pyspark.sql import functions as F

    node, min_nbr = F.col(_NODE), F.col(_MIN_NBR)
    return (F.col(_NBR) < node) & (min_nbr != F.col(_MAX_NBR))


def _is_alone() -> Column:
    """The self-loop row of a node without other neighbours (an isolated vertex)."""
    from pyspark.sql import functions as F

    return (F.col(_MAX_NBR) == F.col(_NODE)) & (F.col(_MIN_NBR) == F.col(_NODE))


def _is_head() -> Column:
    """True on exactly one row per node of the annotated rows (its smallest neighbour)."""
    from pyspark.sql import functions as F

    return F.col(_NBR) == F.col(_MIN_NBR)


def _large_star(annotated: DataFrame) -> DataFrame:
    """Every strictly larger neighbour ``v`` of ``u`` is re-attached to ``m(u)``: rows ``(v, w)``, w < v.

    An isolated node keeps its self-loop ``(u, u)`` so that it survives to the output; every
    other self-loop disappears here, after it has put its node into the first round.
    """
    from pyspark.sql import functions as F

    keep = (F.col(_NBR) > F.col(_NODE)) | _is_alone()
    return annotated.where(keep).select(F.col(_NBR).alias(_V), _min_id().alias(_W))


def _small_star_symmetrised(ls: DataFrame) -> DataFrame:
    """Small star on the large-star output, returned symmetrised for the next annotate.

    For each ``v`` with smaller neighbours ``w``, ``m = min(w)``; every ``w != m`` and ``v``
    itself are attached to ``m``. The row whose ``w`` is the minimum emits ``(m, v)``, every other
    row emits ``(m, w)``: one row out per row in, no union, no self-loops.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    m = F.min(F.col(_W)).over(Window.partitionBy(_V))
    pairs = ls.select(m.alias("_a"), F.when(F.col(_W) == m, F.col(_V)).otherwise(F.col(_W)).alias("_b"))
    return _symmetrise(pairs, "_a", "_b")


# --------------------------------------------------------------------------- GraphFrames engine


class GraphFramesConnectedComponents:
    """``GraphFrame.connectedComponents()`` for clusters that ship the GraphFrames JVM package.

    Both the Python package (``graphframes-py``) and the JVM jar are optional, so they are
    imported and probed when the engine runs, never when cdp_spark is imported.
    """

    name = "graphframes"

    def __init__(self, *, checkpoint_interval: int = 2) -> None:
        self.checkpoint_interval = checkpoint_interval

    def __repr__(self) -> str:
        return f"GraphFramesConnectedComponents(checkpoint_interval={self.checkpoint_interval})"

    @staticmethod
    def check_available(spark: SparkSession) -> None:
        """Raise :class:`RuntimeUnavailableError` saying what is missing and how to fix it."""
        from cdp_spark.session import GRAPHFRAMES_CLASS, _jvm_has_class

        missing = []
        if not _jvm_has_class(spark, GRAPHFRAMES_CLASS):
            missing.append(
                f"the GraphFrames JVM package ({GRAPHFRAMES_CLASS}) is not on the Spark classpath; "
                "start Spark with `--packages io.graphframes:graphframes-spark4_2.13:<version>` "
                "(or `--jars` on an air-gapped cluster)"
            )
        try:
            import graphframes  # noqa: F401
        except ImportError:
            missing.append(
                "the Python package is missing: `pip install 'cdp-spark[cluster]'` (graphframes-py)"
            )
        if missing:
            raise RuntimeUnavailableError(
                "connected components engine 'graphframes' is unavailable: "
                + "; ".join(missing)
                + ". Or use the embedded engine: runtime.connected_components: native (auto falls back to it)."
            )

    def run(self, edges: DataFrame, vertices: DataFrame | None = None) -> DataFrame:
        """Delegate to GraphFrames, feeding it the same cleaned edges and vertex set as native."""
        from pyspark.sql import functions as F

        spark = edges.sparkSession
        self.check_available(spark)
        from graphframes import GraphFrame

        clean = _clean_edges(edges)
        ids = clean.select(F.col(SRC).alias(ID)).union(clean.select(F.col(DST).alias(ID)))
        if vertices is not None:
            _require_columns(vertices, "vertices", (ID,))
            ids = ids.union(vertices.select(F.col(ID).cast("long").alias(ID)).where(F.col(ID).isNotNull()))
        graph = GraphFrame(ids.distinct(), clean)
        result = graph.connectedComponents(checkpointInterval=self.checkpoint_interval)
        return result.select(F.col(ID), F.col(COMPONENT).cast("long").alias(COMPONENT))


# --------------------------------------------------------------------------- choice


def choose_engine(
    spark: SparkSession, mode: EngineMode = "auto", **native_options: Any
) -> ConnectedComponentsEngine:
    """Pick the engine once and log why: config first, then the classpath probe, then native.

    ``graphframes`` forced without the package raises; ``auto`` falls back to ``native``.
    """
    from cdp_spark.session import GRAPHFRAMES_CLASS, _jvm_has_class

    if mode == "native":
        engine: ConnectedComponentsEngine = NativeConnectedComponents(**native_options)
        log.info("connected components engine: native (forced by mode=native): %r", engine)
        return engine
    if mode == "graphframes":
        GraphFramesConnectedComponents.check_available(spark)
        log.info("connected components engine: graphframes (forced by mode=graphframes)")
        return GraphFramesConnectedComponents()
    if mode != "auto":
        raise ValueError(f"connected components mode must be 'auto', 'native' or 'graphframes', got {mode!r}")
    if _jvm_has_class(spark, GRAPHFRAMES_CLASS):
        try:
            GraphFramesConnectedComponents.check_available(spark)
        except RuntimeUnavailableError as exc:
            engine = NativeConnectedComponents(**native_options)
            log.warning("connected components engine: native (auto: %s)", exc)
            return engine
        log.info(
            "connected components engine: graphframes (auto: %s found on the classpath)", GRAPHFRAMES_CLASS
        )
        return GraphFramesConnectedComponents()
    engine = NativeConnectedComponents(**native_options)
    log.info(
        "connected components engine: native (auto: %s not on the classpath): %r", GRAPHFRAMES_CLASS, engine
    )
    return engine
