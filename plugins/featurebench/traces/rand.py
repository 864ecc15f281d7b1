"""Seeded draws built only on `random.Random.random()`.

Python guarantees that `random()` yields the same sequence for a seed across versions, but not the
other methods (gauss, choices ...). Building every distribution on `random()` keeps a trace byte-identical
from one Python or numpy release to the next.
"""

from __future__ import annotations

import math
import random


def rng(seed: int, stream: str = "") -> random.Random:
    """An independent generator per (seed, stream), so adding draws to one part never shifts another."""
    return random.Random(f"{seed}:{stream}")


def exponential(r: random.Random, mean: float) -> float:
    return -mean * math.log(1.0 - r.random())


def normal(r: random.Random) -> float:
    # Box-Muller; 1 - random() is in (0, 1], so the log is finite
    return math.sqrt(-2.0 * math.log(1.0 - r.random())) * math.cos(2.0 * math.pi * r.random())


def lognormal(r: random.Random, mean: float, sigma: float) -> float:
    """A log-normal draw whose expectation is `mean` (sigma is the log-space spread)."""
    return mean * math.exp(sigma * normal(r) - sigma * sigma / 2.0)


def allocate(r: random.Random, total: int, buckets: int) -> list[int]:
    """Split `total` into `buckets` positive integers with exponential-like spread (sum is exact)."""
    if buckets <= 0 or total < buckets:
        raise ValueError(f"cannot split {total} into {buckets} positive parts")
    weights = [exponential(r, 1.0) for _ in range(buckets)]
    extra = total - buckets
    shares = [extra * w / sum(weights) for w in weights]
    counts = [1 + int(s) for s in shares]
    # largest remainders get the leftover units, ties broken by index (deterministic)
    order = sorted(range(buckets), key=lambda i: (int(shares[i]) - shares[i], i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def lognormal_mm(r: random.Random, mean: float, median: float, cap: float | None = None) -> float:
    """A log-normal draw given its mean and median (mean >= median), optionally capped."""
    sigma = math.sqrt(2.0 * math.log(mean / median)) if mean > median else 0.0
    value = median * math.exp(sigma * normal(r))
    return min(value, cap) if cap is not None else value


def zipf_index(r: random.Random, n: int, alpha: float) -> int:
    """An index in [0, n) with P(i) proportional to 1 / (i + 1) ** alpha."""
    weights = [1.0 / (i + 1) ** alpha for i in range(n)]
    x = r.random() * sum(weights)
    for i, w in enumerate(weights):
        x -= w
        if x < 0:
            return i
    return n - 1
