"""The statistics `eval compare` decides with, against published reference values."""

from __future__ import annotations

import random

import pytest

from drillkit.evals.stats import (
    PairedTable,
    bootstrap,
    hodges_lehmann,
    mann_whitney,
    mcnemar_exact,
    paired_difference,
    percentile,
    wilson,
)


@pytest.mark.parametrize(
    ("x", "n", "low", "high"),
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I, method 3
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_wilson_matches_newcombe_table(x: int, n: int, low: float, high: float) -> None:
    interval = wilson(x, n)
    assert interval.low == pytest.approx(low, abs=5e-5) and interval.high == pytest.approx(high, abs=5e-5)


def test_paired_difference_matches_the_reference_implementation() -> None:
    # Cavo et al. (2012) in Fagerland, Lydersen & Laake, "Statistical analysis of contingency tables"
    # (R package contingencytables, Newcombe_square_and_add_CI_paired_2x2): -0.0621 (-0.1186 to -0.0046)
    table = PairedTable(both=59, only_candidate=6, only_baseline=16, neither=80)
    interval = paired_difference(table)
    assert table.difference == pytest.approx(-0.0621, abs=5e-5)
    assert interval.low == pytest.approx(-0.1186, abs=5e-5) and interval.high == pytest.approx(-0.0046, abs=5e-5)


def test_paired_difference_of_identical_runs_is_centred_and_not_a_point() -> None:
    interval = paired_difference(PairedTable(46, 0, 0, 0))
    assert interval.low == pytest.approx(-interval.high) and 0.05 < interval.high < 0.1


def test_mcnemar_exact() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 5) == pytest.approx(2 / 32)
    assert mcnemar_exact(2, 8) == pytest.approx(2 * (1 + 10 + 45) / 1024)
    assert mcnemar_exact(8, 2) == mcnemar_exact(2, 8)


def test_mann_whitney_matches_scipy_documentation() -> None:
    # scipy.stats.mannwhitneyu docs: males vs females, U1 = 17, two-sided p = 0.1111 exact,
    # 0.11134688653314041 asymptotic (continuity-corrected); one-sided is half of each.
    females, males = [20, 11, 17, 12], [19, 22, 16, 29, 24]
    exact = mann_whitney(females, males)
    assert exact.exact and exact.u == 17 and exact.p_greater == pytest.approx(0.1111111 / 2)
    normal = mann_whitney(females, males, exact=False)
    assert normal.p_greater == pytest.approx(0.11134688653314041 / 2)


def test_mann_whitney_exact_extremes_and_ties() -> None:
    assert mann_whitney([1, 2, 3], [4, 5, 6]).p_greater == pytest.approx(1 / 20)
    assert mann_whitney([4, 5, 6], [1, 2, 3]).p_greater == pytest.approx(1.0)
    tied = mann_whitney([1.0] * 12, [1.0] * 12)
    assert not tied.exact and tied.p_greater == 1.0  # no spread at all: nothing is larger


def test_mann_whitney_finds_a_real_shift_and_not_noise() -> None:
    rng = random.Random(7)
    base = [rng.gauss(300, 30) for _ in range(46)]
    same = [rng.gauss(300, 30) for _ in range(46)]
    slower = [rng.gauss(360, 30) for _ in range(46)]
    assert mann_whitney(base, same).p_greater > 0.05
    assert mann_whitney(base, slower).p_greater < 0.001


def test_hodges_lehmann_shift_and_interval() -> None:
    shift, interval = hodges_lehmann([1, 2, 3, 4], [3, 4, 5, 6])
    assert shift == 2.0 and interval.contains(2.0)
    rng = random.Random(1)
    x = [rng.gauss(100, 10) for _ in range(40)]
    shift, interval = hodges_lehmann(x, [v + 25 for v in x])
    assert shift == pytest.approx(25) and interval.low < 25 < interval.high


def test_bootstrap_is_deterministic_and_drops_undefined_resamples() -> None:
    values = [float(v) for v in range(1, 47)]

    def mean(rng: random.Random) -> float:
        drawn = rng.choices(values, k=len(values))
        return sum(drawn) / len(drawn)

    first, second = bootstrap(mean), bootstrap(mean)
    assert first == second and first is not None and first.low < 23.5 < first.high
    assert bootstrap(lambda rng: None) is None


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.95) is None
    assert percentile([float(v) for v in range(100, 0, -1)], 0.95) == 95.0
    assert percentile([5.0, 1.0], 0.95) == 5.0
