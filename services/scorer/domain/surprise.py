"""How surprising a count is, under over-dispersed models (pure, no I/O).

Adds are not Poisson: people have busy and quiet days, so a plain Poisson test calls every busy
day a miracle. Counts are judged against a negative binomial (variance mu + mu^2 / size), shares
against a beta-binomial whose spread is the peers' own spread, and peer baselines are robust
(median and MAD), so the gamers among the peers do not move them. A surprise is
-log10 of a one-sided tail probability: 2 is one in a hundred, 4 one in ten thousand."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MAD_TO_SD = 1.4826
MAX_SURPRISE = 30.0


def median(values: Sequence[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def mad_sd(values: Sequence[float]) -> float:
    """The standard deviation a normal sample with this median absolute deviation has."""
    m = median(values)
    return MAD_TO_SD * median([abs(v - m) for v in values])


@dataclass(frozen=True)
class Spread:
    """A peer statistic's robust centre and spread (e.g. the share of hollow adds)."""

    centre: float
    sd: float
    peers: int = 0

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        return cls(median(values), mad_sd(values), len(values))


def _log10_tail(log_pmf: Sequence[float]) -> float:
    top = max(log_pmf)
    return (top + math.log(sum(math.exp(v - top) for v in log_pmf))) / math.log(10)


def negative_binomial_surprise(observed: int, mean: float, size: float) -> float:
    """-log10 P(X >= observed) for X negative binomial with this mean and size (dispersion;
    variance = mean + mean^2 / size)."""
    if observed <= 0:
        return 0.0
    mean = max(mean, 1e-3)
    p = size / (size + mean)
    # P(X >= x) = 1 - P(X <= x - 1); summed directly over the lower part when it is small
    # relative to the tail would lose precision, so sum the tail up to where it vanishes.
    log_terms: list[float] = []
    x = observed
    base = math.lgamma(size) + 0.0
    while True:
        term = (
            math.lgamma(x + size)
            - base
            - math.lgamma(x + 1)
            + size * math.log(p)
            + x * math.log1p(-p)
        )
        log_terms.append(term)
        if (x > observed + 10 and term < log_terms[0] - 40) or x > observed + 5000:
            break
        x += 1
    return min(MAX_SURPRISE, max(0.0, -_log10_tail(log_terms)))


def beta_binomial_surprise(hits: int, n: int, share: Spread) -> float:
    """-log10 P(X >= hits) for X beta-binomial over n trials whose success share varies between
    people as the peers' shares do (centre and sd of `share`)."""
    if n <= 0 or hits <= 0:
        return 0.0
    p = min(max(share.centre, 0.01), 0.99)
    var = max(share.sd**2, 1e-4)
    # method of moments: var = p (1 - p) / (a + b + 1)
    total = max(p * (1 - p) / var - 1, 0.5)
    a, b = p * total, (1 - p) * total
    log_beta_ab = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)

    def log_pmf(k: int) -> float:
        return (
            math.lgamma(n + 1)
            - math.lgamma(k + 1)
            - math.lgamma(n - k + 1)
            + math.lgamma(k + a)
            + math.lgamma(n - k + b)
            - math.lgamma(n + a + b)
            - log_beta_ab
        )

    return min(MAX_SURPRISE, max(0.0, -_log10_tail([log_pmf(k) for k in range(hits, n + 1)])))


def binomial_surprise(hits: int, n: int, p: float) -> float:
    """-log10 P(X >= hits) for X binomial over n trials of probability p: how surprising that
    many contacts pass a test each real contact passes with probability p."""
    if n <= 0 or hits <= 0:
        return 0.0
    p = min(max(p, 1e-12), 1 - 1e-12)

    def log_pmf(k: int) -> float:
        return (
            math.lgamma(n + 1)
            - math.lgamma(k + 1)
            - math.lgamma(n - k + 1)
            + k * math.log(p)
            + (n - k) * math.log1p(-p)
        )

    return min(MAX_SURPRISE, max(0.0, -_log10_tail([log_pmf(k) for k in range(hits, n + 1)])))
