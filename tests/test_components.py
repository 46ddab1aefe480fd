"""Connected-components engines against networkx, on random graphs and adversarial shapes.

The expensive part of a Spark test is the number of jobs, not the data, so the shapes are
drawn into one "zoo" graph per seed (a disjoint union with unrelated random ids) and each
engine mode runs once per zoo: distributed rounds only (threshold 0), distributed rounds then
the driver finish (threshold chosen from the distributed run so that the finish happens after
exactly two rounds), and the driver only. A failure names the shapes whose nodes disagree.
The scipy helper that the driver finish and the benchmark share is checked on many more
graphs, without Spark.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator

import networkx as nx
import numpy as np
import pytest
from chispa import assert_df_equality

from cdp_spark.errors import CdpSparkError, RuntimeUnavailableError, SchemaContractError
from cdp_spark.identity import (
    ConnectedComponentsEngine,
    GraphFramesConnectedComponents,
    NativeConnectedComponents,
    choose_engine,
)
from cdp_spark.identity.bench import make_identity_edges, run_cc_benchmark
from cdp_spark.identity.components import min_label_components
from cdp_spark.session import GRAPHFRAMES_CLASS, _jvm_has_class

EDGE_SCHEMA = "src long, dst long"
VERTEX_SCHEMA = "id long"
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1

Edge = tuple[int, int]


# --------------------------------------------------------------------------- graph zoo


def _id_pool(rng: np.random.Generator, size: int) -> Iterator[int]:
    """Distinct random ids over (almost) the whole long range, negatives included."""
    ids = np.unique(rng.integers(-(2**62), 2**62, size=size * 2, dtype=np.int64))
    rng.shuffle(ids)
    return iter(int(x) for x in ids[:size])


def _path(nodes: list[int]) -> list[Edge]:
    return list(itertools.pairwise(nodes))


def _random_tree(rng: np.random.Generator, nodes: list[int]) -> list[Edge]:
    return [(nodes[int(rng.integers(0, j))], nodes[j]) for j in range(1, len(nodes))]


def make_zoo(seed: int) -> tuple[dict[str, list[Edge]], dict[str, list[int]]]:
    """Named shapes with disjoint random ids: edges per shape, and vertex-only ids per shape."""
    rng = np.random.default_rng(seed)
    pool = _id_pool(rng, 4000)

    def take(n: int) -> list[int]:
        return [next(pool) for _ in range(n)]

    shapes: dict[str, list[Edge]] = {}
    vertices: dict[str, list[int]] = {}
    nodes = take(90)
    shapes["sparse_random"] = [
        (nodes[int(a)], nodes[int(b)]) for a, b in rng.integers(0, len(nodes), size=(70, 2))
    ]
    shapes["path_32"] = _path(take(32))
    shapes["path_33"] = _path(take(33))
    shapes["path_64"] = _path(take(64))
    shapes["path_200"] = _path(take(200))
    increasing = sorted(take(60))
    shapes["path_increasing_ids"] = _path(increasing)
    shapes["path_decreasing_ids"] = _path(sorted(take(60), reverse=True))
    star = sorted(take(150))
    shapes["star_hub_is_max"] = [(star[-1], leaf) for leaf in star[:-1]]
    star = sorted(take(150))
    shapes["star_hub_is_min"] = [(leaf, star[0]) for leaf in star[1:]]
    nodes = take(12)
    loops = [(n, n) for n in nodes[:4]] + [(nodes[4], nodes[4])]  # nodes[4] only has a self-loop
    base = _path(nodes[5:])
    shapes["self_loops_and_duplicates"] = loops + base + base[:3] + [(b, a) for a, b in base[:4]]
    shapes["many_small"] = []
    for _ in range(40):
        shapes["many_small"] += _random_tree(rng, take(int(rng.integers(2, 5))))
    shapes["big_random_tree"] = _random_tree(rng, take(150))
    ring = take(50)
    shapes["cycle_50"] = [*_path(ring), (ring[-1], ring[0])]
    dense = take(8)
    shapes["complete_8"] = [(a, b) for i, a in enumerate(dense) for b in dense[i + 1 :]]
    shapes["extreme_ids"] = [(LONG_MIN, LONG_MAX), (LONG_MAX, -1), (0, 1)]
    vertices["isolated_vertices"] = take(10)
    # vertices that also have edges, and one duplicate: both must be harmless
    vertices["vertices_with_edges"] = [shapes["path_33"][0][0], shapes["path_33"][0][0], 0]
    return shapes, vertices


def expected_labels(edges: list[Edge], vertices: list[int]) -> dict[int, int]:
    """networkx oracle: node → smallest id of its component."""
    graph = nx.Graph()
    graph.add_nodes_from(vertices)
    graph.add_edges_from(edges)
    return {node: min(component) for component in nx.connected_components(graph) for node in component}


def owners(shapes: dict[str, list[Edge]], vertices: dict[str, list[int]]) -> dict[int, str]:
    names: dict[int, str] = {}
    for name, edges in shapes.items():
        for a, b in edges:
            names.setdefault(a, name)
            names.setdefault(b, name)
    for name, ids in vertices.items():
        for i in ids:
            names.setdefault(i, name)
    return names


def assert_labels(got: dict[int, int], expected: dict[int, int], names: dict[int, str]) -> None:
    missing = expected.keys() - got.keys()
    extra = got.keys() - expected.keys()
    wrong = {n for n in expected.keys() & got.keys() if got[n] != expected[n]}
    if missing or extra or wrong:
        bad_shapes = sorted({names.get(n, "?") for n in missing | extra | wrong})
        pytest.fail(
            f"{len(missing)} missing, {len(extra)} unexpected, {len(wrong)} wrong labels; shapes: {bad_shapes}"
        )


def collect_labels(df) -> dict[int, int]:  # type: ignore[no-untyped-def]
    rows = df.collect()
    labels = {r["id"]: r["component"] for r in rows}
    assert len(labels) == len(rows), "an id appears more than once in the output"
    return labels


@pytest.fixture(scope="module", params=[0, 1], ids=["seed0", "seed1"])
def zoo(request, spark):  # type: ignore[no-untyped-def]
    shapes, vertices = make_zoo(request.param)
    all_edges = [e for edges in shapes.values() for e in edges]
    all_vertices = [v for ids in vertices.values() for v in ids]
    rng = np.random.default_rng(100 + request.param)
    order = rng.permutation(len(all_edges))
    edges_df = spark.createDataFrame([all_edges[i] for i in order], EDGE_SCHEMA).repartition(3)
    vertices_df = spark.createDataFrame([(v,) for v in all_vertices], VERTEX_SCHEMA)
    return {
        "edges": edges_df,
        "vertices": vertices_df,
        "expected": expected_labels(all_edges, all_vertices),
        "names": owners(shapes, vertices),
    }


# --------------------------------------------------------------------------- native engine


def test_distributed_rounds_alone_then_with_driver_finish_match_networkx(zoo):  # type: ignore[no-untyped-def]
    distributed, stats = NativeConnectedComponents(driver_finish_threshold=0).run_with_stats(
        zoo["edges"], zoo["vertices"]
    )
    assert stats.finish == "distributed"
    assert stats.driver_rows == 0
    assert stats.iterations >= 4  # the 200-node path cannot converge faster
    assert stats.open_edges_per_iteration[-1] == 0
    assert_labels(collect_labels(distributed), zoo["expected"], zoo["names"])

    # Finish on the driver after exactly two distributed rounds.
    threshold = stats.open_edges_per_iteration[2]
    assert threshold > 0
    hybrid, hstats = NativeConnectedComponents(driver_finish_threshold=threshold).run_with_stats(
        zoo["edges"], zoo["vertices"]
    )
    assert (hstats.finish, hstats.iterations, hstats.driver_rows) == ("hybrid", 2, threshold)
    assert_labels(collect_labels(hybrid), zoo["expected"], zoo["names"])
    assert_df_equality(hybrid, distributed, ignore_row_order=True, ignore_nullable=True)


def test_whole_graph_on_the_driver_matches_networkx(zoo):  # type: ignore[no-untyped-def]
    result, stats = NativeConnectedComponents().run_with_stats(zoo["edges"], zoo["vertices"])
    assert (stats.finish, stats.iterations) == ("driver", 0)
    assert_labels(collect_labels(result), zoo["expected"], zoo["names"])


def test_isolated_vertices_self_loops_and_duplicates(spark):  # type: ignore[no-untyped-def]
    edges = spark.createDataFrame([(5, 3), (3, 5), (3, 5), (7, 7), (9, 9), (9, 8), (4, 4)], EDGE_SCHEMA)
    vertices = spark.createDataFrame([(1,), (3,), (100,), (100,)], VERTEX_SCHEMA)
    expected = spark.createDataFrame(
        [(1, 1), (3, 3), (5, 3), (4, 4), (7, 7), (8, 8), (9, 8), (100, 100)], "id long, component long"
    )
    for threshold in (0, 1_000):
        result = NativeConnectedComponents(driver_finish_threshold=threshold).run(edges, vertices)
        assert_df_equality(
            result, expected, ignore_row_order=True, ignore_nullable=True, ignore_column_order=True
        )


def test_labels_do_not_depend_on_partitioning_or_row_order(spark):  # type: ignore[no-untyped-def]
    shapes, _ = make_zoo(7)
    edges = [e for name in ("path_33", "star_hub_is_max", "many_small") for e in shapes[name]]
    engine = NativeConnectedComponents(driver_finish_threshold=0, checkpoint_interval=1)
    one = engine.run(spark.createDataFrame(edges, EDGE_SCHEMA).coalesce(1))
    reversed_many = engine.run(spark.createDataFrame(edges[::-1], EDGE_SCHEMA).repartition(5))
    assert_df_equality(one, reversed_many, ignore_row_order=True, ignore_nullable=True)
    assert collect_labels(one) == expected_labels(edges, [])


def test_reliable_checkpoints_and_integer_ids(spark):  # type: ignore[no-untyped-def]
    edges = spark.createDataFrame([(i, i + 1) for i in range(12)] + [(100, 101)], "src int, dst int")
    engine = NativeConnectedComponents(
        driver_finish_threshold=0, checkpoint="reliable", checkpoint_interval=1
    )
    result = engine.run(edges)
    assert dict(result.dtypes) == {"id": "bigint", "component": "bigint"}
    assert collect_labels(result) == {**{i: 0 for i in range(13)}, 100: 100, 101: 100}


def test_empty_edges(spark):  # type: ignore[no-untyped-def]
    edges = spark.createDataFrame([], EDGE_SCHEMA)
    assert NativeConnectedComponents().run(edges).count() == 0
    vertices = spark.createDataFrame([(2,), (1,)], VERTEX_SCHEMA)
    assert collect_labels(NativeConnectedComponents().run(edges, vertices)) == {1: 1, 2: 2}


def test_too_few_rounds_is_an_error_not_a_wrong_answer(spark):  # type: ignore[no-untyped-def]
    edges = spark.createDataFrame(_path(list(range(64))), EDGE_SCHEMA)
    with pytest.raises(CdpSparkError, match="did not converge in 2 rounds"):
        NativeConnectedComponents(driver_finish_threshold=0, max_iterations=2).run(edges)


def test_bad_input_is_reported_with_the_columns_found(spark):  # type: ignore[no-untyped-def]
    strings = spark.createDataFrame([("a", "b")], "src string, dst string")
    with pytest.raises(SchemaContractError, match=r"'src' has type string.*src:string, dst:string"):
        NativeConnectedComponents().run(strings)
    with pytest.raises(SchemaContractError, match="missing column 'dst'"):
        NativeConnectedComponents().run(spark.createDataFrame([(1,)], "src long"))
    with pytest.raises(ValueError, match="driver_finish_threshold must be >= 0"):
        NativeConnectedComponents(driver_finish_threshold=-1)


# --------------------------------------------------------------------------- engine choice


def _engine(name: str, spark) -> ConnectedComponentsEngine:  # type: ignore[no-untyped-def]
    if name == "graphframes" and not _jvm_has_class(spark, GRAPHFRAMES_CLASS):
        pytest.skip(f"GraphFrames JVM package ({GRAPHFRAMES_CLASS}) is not on the classpath")
    return NativeConnectedComponents() if name == "native" else GraphFramesConnectedComponents()


@pytest.mark.parametrize("name", ["native", "graphframes"])
def test_engine_contract(name, spark):  # type: ignore[no-untyped-def]
    engine = _engine(name, spark)
    assert isinstance(engine, ConnectedComponentsEngine)
    assert engine.name == name
    edges = spark.createDataFrame([(3, 1), (1, 2), (2, 2), (10, 11)], EDGE_SCHEMA)
    vertices = spark.createDataFrame([(1,), (42,)], VERTEX_SCHEMA)
    result = engine.run(edges, vertices).select("id", "component")
    assert collect_labels(result) == {1: 1, 2: 1, 3: 1, 10: 10, 11: 10, 42: 42}


def test_auto_falls_back_to_native_and_says_why(spark, caplog):  # type: ignore[no-untyped-def]
    if _jvm_has_class(spark, GRAPHFRAMES_CLASS):
        pytest.skip("GraphFrames is on the classpath here; auto would pick it")
    with caplog.at_level(logging.INFO, logger="cdp_spark.identity.components"):
        engine = choose_engine(spark, "auto", driver_finish_threshold=5)
    assert isinstance(engine, NativeConnectedComponents)
    assert engine.driver_finish_threshold == 5
    assert "native (auto: org.graphframes.GraphFrame not on the classpath)" in caplog.text


def test_forcing_graphframes_without_it_explains_the_fix(spark):  # type: ignore[no-untyped-def]
    if _jvm_has_class(spark, GRAPHFRAMES_CLASS):
        pytest.skip("GraphFrames is on the classpath here")
    with pytest.raises(RuntimeUnavailableError, match="--packages") as info:
        choose_engine(spark, "graphframes")
    assert "native" in str(info.value)
    with pytest.raises(RuntimeUnavailableError):
        GraphFramesConnectedComponents().run(spark.createDataFrame([(1, 2)], EDGE_SCHEMA))
    assert isinstance(choose_engine(spark, "native"), NativeConnectedComponents)


# --------------------------------------------------------------------------- driver helper


@pytest.mark.parametrize("seed", range(40))
def test_min_label_components_matches_networkx(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    m = int(rng.integers(0, 2 * n))
    ids = np.unique(rng.integers(LONG_MIN, LONG_MAX, size=n, dtype=np.int64))
    edges = ids[rng.integers(0, len(ids), size=(m, 2))] if m else np.empty((0, 2), dtype=np.int64)
    if seed % 4 == 0:  # a long chain in id order, the adversarial case for label propagation
        edges = np.concatenate([edges, np.stack([ids[:-1], ids[1:]], axis=1)])
    got_ids, got_labels = min_label_components(edges[:, 0], edges[:, 1])
    expected = expected_labels([(int(a), int(b)) for a, b in edges], [])
    assert dict(zip(got_ids.tolist(), got_labels.tolist(), strict=True)) == expected


def test_min_label_components_counts_no_edge_away() -> None:
    # 300 copies of one edge must not sum to an entry that reads as "no edge"
    src = np.array([5] * 300 + [7, 2**40], dtype=np.int64)
    dst = np.array([9] * 300 + [8, 2**40], dtype=np.int64)
    ids, labels = min_label_components(src, dst)
    assert dict(zip(ids.tolist(), labels.tolist(), strict=True)) == {5: 5, 9: 5, 7: 7, 8: 7, 2**40: 2**40}


# --------------------------------------------------------------------------- benchmark module


def test_identity_edges_are_deterministic_and_identity_like(spark):  # type: ignore[no-untyped-def]
    one = make_identity_edges(spark, edges=3000, seed=11, partitions=1)
    three = make_identity_edges(spark, edges=3000, seed=11, partitions=3)
    assert_df_equality(one, three, ignore_row_order=True)
    other = make_identity_edges(spark, edges=3000, seed=12, partitions=1)
    assert sorted(one.collect()) != sorted(other.collect())

    rows = one.collect()
    assert 2700 < len(rows) < 3300
    src = np.array([r["src"] for r in rows])
    dst = np.array([r["dst"] for r in rows])
    assert (src >= 0).all() and (dst >= 0).all()
    _, labels = min_label_components(src, dst)
    sizes = np.unique(labels, return_counts=True)[1]
    assert sizes.max() >= 20  # some people own long chains
    assert np.median(sizes) <= 3  # most own a handful of identifiers
    assert (src == dst).sum() > 0  # single-identifier people appear as self-loops


def test_benchmark_engines_agree(spark, tmp_path):  # type: ignore[no-untyped-def]
    out = tmp_path / "cc.json"
    result = run_cc_benchmark(
        spark,
        edges=1500,
        seed=3,
        engines=("native", "native_distributed_only", "graphx", "scipy"),
        chain_min=5,
        chain_max=12,
        out=out,
        workdir=tmp_path / "work",
    )
    assert result["all_agree"] is True
    assert result["engines"]["native"]["finish"] == "driver"
    assert result["engines"]["native_distributed_only"]["finish"] == "distributed"
    assert result["engines"]["native_distributed_only"]["iterations"] >= 1
    assert set(result["ratios"]) >= {"native/graphx", "native/scipy"}
    assert out.read_text().startswith("{")
