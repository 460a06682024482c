"""Small-sample statistics for `eval compare`, in plain Python (no scipy: four short formulas do not
justify a 40 MB dependency, and each is checked against published reference values in the tests).

    wilson(x, n)                       score interval of one proportion (Wilson 1927)
    paired_difference(table)           Newcombe's square-and-add interval for the difference of two
                                       paired proportions (Newcombe 1998, method 10)
    mcnemar_exact(b, c)                two-sided exact McNemar test (binomial on discordant pairs)
    mann_whitney(x, y)                 Mann-Whitney U: is y stochastically larger than x? (exact when
                                       small and without ties, else normal with tie correction)
    hodges_lehmann(x, y)               the median shift y − x and its distribution-free interval
    bootstrap(statistic)               a seeded percentile bootstrap interval
    percentile(values, q)              nearest rank, as the SLO windows compute p95

Intervals are two-sided at `confidence` (default 95 %). Everything is deterministic: the bootstrap
draws from a seeded generator, so the same two runs always give the same verdict.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20261201
#: Exact Mann-Whitney distribution up to this many pairs (counting is O((n·m)²) in pure Python).
EXACT_PAIRS = 400

_NORMAL = NormalDist()


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class PairedTable:
    """Paired outcomes of the same cases (counts, or weighted effective counts):
    `both` passed twice, `only_candidate` passed only in the candidate, and so on."""

    both: float
    only_candidate: float
    only_baseline: float
    neither: float

    @property
    def n(self) -> float:
        return self.both + self.only_candidate + self.only_baseline + self.neither

    @property
    def difference(self) -> float:
        """Candidate's pass rate minus the baseline's."""
        return (self.only_candidate - self.only_baseline) / self.n if self.n else 0.0


@dataclass(frozen=True)
class MannWhitney:
    """U of the candidate sample y (pairs y > x, ties ½), and the one-sided p that y is larger."""

    u: float
    p_greater: float
    exact: bool


def z_for(confidence: float) -> float:
    return _NORMAL.inv_cdf(0.5 + confidence / 2)


def wilson(x: float, n: float, confidence: float = CONFIDENCE) -> Interval:
    """Wilson's score interval for x successes in n trials (n > 0)."""
    z = z_for(confidence)
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


def paired_difference(t: PairedTable, confidence: float = CONFIDENCE) -> Interval:
    """Newcombe's square-and-add interval (method 10) for candidate − baseline pass rate.

    Each pass rate gets its Wilson interval; the two are combined with the estimated correlation
    between the paired rates (φ, shrunk towards 0 by n/2 when positive, as Newcombe does).
    """
    n = t.n
    candidate, baseline = (t.both + t.only_candidate) / n, (t.both + t.only_baseline) / n
    c, b = wilson(candidate * n, n, confidence), wilson(baseline * n, n, confidence)
    margins = (t.both + t.only_candidate) * (t.only_baseline + t.neither)
    margins *= (t.both + t.only_baseline) * (t.only_candidate + t.neither)
    phi = 0.0
    if margins > 0:
        a = t.both * t.neither - t.only_candidate * t.only_baseline
        phi = (a - n / 2) / math.sqrt(margins) if a > n / 2 else min(a, 0.0) / math.sqrt(margins)
    d = t.difference
    below = (candidate - c.low) ** 2 + (b.high - baseline) ** 2 - 2 * phi * (candidate - c.low) * (b.high - baseline)
    above = (baseline - b.low) ** 2 + (c.high - candidate) ** 2 - 2 * phi * (baseline - b.low) * (c.high - candidate)
    return Interval(max(-1.0, d - math.sqrt(max(below, 0.0))), min(1.0, d + math.sqrt(max(above, 0.0))))


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p: under no change, each of the b + c discordant pairs is a coin flip."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def mann_whitney(x: Sequence[float], y: Sequence[float], *, exact: bool | None = None) -> MannWhitney:
    """Mann-Whitney U for "y is stochastically larger than x" (x the baseline, y the candidate).

    `exact`: None chooses (exact without ties up to `EXACT_PAIRS` pairs), False forces the normal
    approximation; the exact distribution assumes no ties."""
    m, n = len(x), len(y)
    if not m or not n:
        return MannWhitney(0.0, 1.0, exact=False)
    ranks = _ranks([*x, *y])
    u = sum(ranks[m:]) - n * (n + 1) / 2
    tied = len(set(ranks)) < m + n
    if exact if exact is not None else (not tied and m * n <= EXACT_PAIRS):
        counts = _u_counts(m, n)
        at_least = sum(counts[math.ceil(u) :])
        return MannWhitney(u, at_least / math.comb(m + n, n), exact=True)
    total = m + n
    ties = sum(t**3 - t for t in _tie_sizes(ranks))
    variance = m * n / 12 * ((total + 1) - ties / (total * (total - 1)))
    if variance <= 0:
        return MannWhitney(u, 1.0 if u <= m * n / 2 else 0.0, exact=False)
    z = (u - m * n / 2 - 0.5) / math.sqrt(variance)  # continuity-corrected, one-sided
    return MannWhitney(u, 1 - _NORMAL.cdf(z), exact=False)


def hodges_lehmann(x: Sequence[float], y: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, Interval]:
    """The median of all differences y_j − x_i, and its interval (Conover's order statistics)."""
    diffs = sorted(b - a for a in x for b in y)
    total, m, n = len(diffs), len(x), len(y)
    estimate = (diffs[(total - 1) // 2] + diffs[total // 2]) / 2
    k = math.floor(total / 2 - z_for(confidence) * math.sqrt(m * n * (m + n + 1) / 12))
    k = min(max(k, 1), total)
    return estimate, Interval(diffs[k - 1], diffs[total - k])


def bootstrap(
    statistic: Callable[[random.Random], float | None],
    confidence: float = CONFIDENCE,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> Interval | None:
    """Percentile interval of `statistic(rng)`, which computes the statistic on one resample it draws
    with `rng`; resamples where it is undefined (None) are dropped. None when none is defined."""
    rng = random.Random(seed)
    values = sorted(v for v in (statistic(rng) for _ in range(resamples)) if v is not None)
    if not values:
        return None
    tail = (1 - confidence) / 2
    low = values[max(0, math.floor(tail * len(values)))]
    high = values[min(len(values) - 1, math.ceil((1 - tail) * len(values)) - 1)]
    return Interval(low, high)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in (0, 1]) of the values, in any order; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def _ranks(values: Sequence[float]) -> list[float]:
    """Ranks from 1, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _tie_sizes(ranks: Sequence[float]) -> list[int]:
    sizes: dict[float, int] = {}
    for r in ranks:
        sizes[r] = sizes.get(r, 0) + 1
    return [s for s in sizes.values() if s > 1]


def _u_counts(m: int, n: int) -> list[int]:
    """How many of the C(m+n, n) orderings give each U = 0 … m·n (no ties)."""
    # f[j][u]: orderings of i x's and j y's with U = u; adding an x or a y to the largest end.
    f = [[1] + [0] * (m * n) for _ in range(n + 1)]  # i = 0: U = 0 whatever j
    for _i in range(1, m + 1):
        g = [[0] * (m * n + 1) for _ in range(n + 1)]
        g[0][0] = 1
        for j in range(1, n + 1):
            for u in range(m * n + 1):
                g[j][u] = f[j][u] + (g[j - 1][u - _i] if u >= _i else 0)
        f = g
    return f[n]


__all__ = [
    "CONFIDENCE",
    "Interval",
    "MannWhitney",
    "PairedTable",
    "bootstrap",
    "hodges_lehmann",
    "mann_whitney",
    "mcnemar_exact",
    "paired_difference",
    "percentile",
    "wilson",
]
