"""Random draws the stdlib lacks (Poisson, over-dispersed counts), on an explicit stream."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson count: Knuth's product method for small means, a rounded normal above 30."""
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, product, count = math.exp(-lam), rng.random(), 0
    while product > limit:
        product *= rng.random()
        count += 1
    return count


def overdispersed(rng: random.Random, mean: float, shape: float = 4.0) -> int:
    """A gamma-Poisson (negative binomial) count: real daily add counts vary more than Poisson,
    with good and bad days, so detectors must not be tuned on a plain Poisson world."""
    if mean <= 0:
        return 0
    return poisson(rng, rng.gammavariate(shape, mean / shape))


def weighted(rng: random.Random, options: Sequence[tuple[T, float]]) -> T:
    """One option drawn with the given weights."""
    items = [item for item, _ in options]
    weights = [weight for _, weight in options]
    return rng.choices(items, weights=weights, k=1)[0]


def lognormal_seconds(rng: random.Random, median: float, sigma: float = 1.0) -> float:
    """A delay with a long right tail (reply times), given its median in seconds."""
    return median * math.exp(rng.gauss(0.0, sigma))


def chance(rng: random.Random, p: float) -> bool:
    return rng.random() < p
