"""The cost of a batch of trajectories: its mean, and the confidence interval of that mean.

A trajectory that meets a non-finite value has lost the task (docs/design.md, "Expressions mean
the same everywhere"), so a mean over trajectories is infinite as soon as one of them is: no
average of the others hides it. Every method, the choice, the screen and validation score a batch
with `finite_mean`; the CLI and the Monte Carlo comparison report `mean_ci`.
"""

from __future__ import annotations

import math

import numpy as np


def finite_mean(cost, axis: int | None = None):
    """Mean of `cost` over `axis` (all of it when None: a float), inf where any of its entries is
    not finite. The mean is taken in the array's own dtype, as `numpy.mean` takes it."""
    c = np.asarray(cost)
    with np.errstate(invalid="ignore"):  # (inf - inf inside a mean that is discarded anyway)
        mean = np.where(np.all(np.isfinite(c), axis=axis), c.mean(axis=axis), np.inf)
    return float(mean) if axis is None else mean


def mean_ci(cost, confidence: float = 0.95) -> tuple[float, float, float]:
    """The mean of `cost` and its Student-t interval at `confidence`: (mean, low, high); inf for all
    three when a cost is not finite, nan when there are none, the mean for all three from one."""
    c = np.asarray(cost, float)
    if c.size == 0:
        return (math.nan, math.nan, math.nan)
    m = finite_mean(c)
    if not math.isfinite(m) or c.size < 2:
        return (m, m, m)
    from scipy import stats  # (scipy.stats takes seconds to import: only where an interval is asked for)

    half = float(stats.t.ppf(0.5 + confidence / 2, c.size - 1) * np.std(c, ddof=1) / math.sqrt(c.size))
    return (m, m - half, m + half)
