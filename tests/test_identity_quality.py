"""Identity quality against the generator's truth: the pair-counting metric on a hand-made
contingency table and the guards-off config (the Antarctic story end to end is in
tests/test_story_e2e.py)."""

from __future__ import annotations

from itertools import combinations

import pytest
from pyspark.sql import SparkSession

from cdp_spark.identity.config import IdentityConfig
from cdp_spark.identity.quality import (
    PairCounts,
    check_targets,
    pair_counts,
    without_guards,
)

# (resolved person, true person, records): A holds 3 of x and 1 of y, B holds 2 of y, C 1 of z.
CELLS = [("A", "x", 3), ("A", "y", 1), ("B", "y", 2), ("C", "z", 1)]


def brute_force(cells: list[tuple[str, str, int]]) -> PairCounts:
    records = [(r, t) for r, t, n in cells for _ in range(n)]
    pairs = list(combinations(records, 2))
    return PairCounts(
        true_positive=sum(a == b for a, b in pairs),
        predicted=sum(a[0] == b[0] for a, b in pairs),
        actual=sum(a[1] == b[1] for a, b in pairs),
    )


def test_pair_counts_from_contingency_equal_brute_force(spark: SparkSession) -> None:
    got = pair_counts(spark.createDataFrame(CELLS, "resolved string, true_person string, n long"))
    # TP = C(3,2) + C(2,2) = 4; predicted = C(4,2) + C(2,2) = 7; actual = C(3,2) + C(3,2) = 6
    assert got == PairCounts(true_positive=4, predicted=7, actual=6) == brute_force(CELLS)
    assert got.precision == pytest.approx(4 / 7) and got.recall == pytest.approx(4 / 6)
    assert got.f1 == pytest.approx(2 * (4 / 7) * (4 / 6) / (4 / 7 + 4 / 6))
    renamed = spark.createDataFrame(CELLS, "p string, t string, k long")
    assert pair_counts(renamed, resolved="p", truth="t", count="k") == got
    # no pairs claimed and none missed: both scores are perfect, not undefined
    assert PairCounts(0, 0, 0).precision == PairCounts(0, 0, 0).recall == 1.0
    targets = check_targets({"precision": 0.996, "recall": 0.9, "over_merged_share": 0.001})
    assert [(k, v["met"]) for k, v in targets.items()] == [
        ("precision", True),
        ("recall", False),
        ("over_merged_share", True),
    ]


def test_without_guards_switches_off_every_guard_but_keeps_the_links() -> None:
    cfg = IdentityConfig.model_validate({"exclusions": [{"id_type": "email", "id_value": "a@b.c"}]})
    off = without_guards(cfg)
    assert not off.blocklist.builtin and not off.blocklist.values and not off.blocklist.patterns
    assert off.frequency.rules == [] and off.limits.max_per_person == {}
    assert off.gate.max_component_size > 10**12 and off.gate.max_merge_share == 1.0
    assert off.links == cfg.links and off.exclusions == cfg.exclusions
    assert off.priority_rank() == cfg.priority_rank()
    assert IdentityConfig.model_validate(off.model_dump()) == off  # still a valid config
    assert cfg.limits.max_per_person  # the original is untouched


# The story's resolution on generated data is checked in tests/test_story_e2e.py (one pipeline run
# shared by the identity, profile and tag assertions).
