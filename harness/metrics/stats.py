"""Confidence intervals for per-instance metric values.

Kept numpy-only (no scipy) so that `harness` stays import-light.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: `harness run` loads numpy in the background while requests are in flight
    import numpy as np
# Upper bound on the number of elements of one chunk of the resampling index matrix.
# 2M int32 indices + their gathered float64 values is ~24 MB, so 100k values x 1000
# resamples never needs the full 100M-element matrix (~1.2 GB) at once; chunks this size
# are still large enough that numpy's per-call overhead is negligible.
_MAX_CHUNK_ELEMENTS = 2_000_000

# Most metrics (exact match, accuracy) take only a handful of distinct values. Resampling n
# instances with replacement is then equivalent *in distribution* to drawing how many times
# each distinct value is picked, i.e. Multinomial(n, counts / n), which costs O(k) per
# resample instead of O(n).
# Used when k is small in absolute terms and relative to n (a multinomial draw costs more
# per category than a gathered index does).
_MAX_DISTINCT_FOR_MULTINOMIAL = 256


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Mean of `values` with a percentile-bootstrap confidence interval: `(mean, low, high)`.

    Method (nonparametric percentile bootstrap over instances):

    1. NaN values are dropped first: NaN means "metric not applicable to this instance",
       so it must neither count as a value nor poison the mean. Let n be what is left.
    2. Draw `resamples` bootstrap samples, each n instances drawn uniformly *with
       replacement* from the n values (instances are the unit of resampling, since they are
       the i.i.d. draws from the scenario's distribution), and take each sample's mean.
    3. `low`/`high` are the (1 - confidence)/2 and (1 + confidence)/2 quantiles of those
       bootstrap means (numpy's default linear interpolation); `mean` is the plain mean of
       the n values (not the mean of the bootstrap means).
    4. The interval is widened, if needed, to contain `mean`. With a sensible number of
       resamples the percentile interval always does; this only guards degenerate inputs
       (tiny n, very skewed values, few resamples) so callers can rely on low <= mean <= high.

    The draws come from `numpy.random.default_rng(seed)`, so the result is a deterministic
    function of (values, confidence, resamples, seed). The index matrix is drawn in chunks
    of resamples to bound memory (about 24 MB per chunk whatever n is). When the values
    take few distinct values (e.g. 0/1 correctness) each resample is drawn instead as the
    multinomial counts of the distinct values, which is the same distribution as step 2,
    only much cheaper.

    Edge cases: no values (or all NaN) -> (nan, nan, nan); one value v -> (v, v, v).
    """
    import numpy as np
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")

    data = np.asarray(values, dtype=np.float64).ravel()
    data = data[~np.isnan(data)]
    n = data.size
    if n == 0:
        return (math.nan, math.nan, math.nan)
    mean = float(data.mean())
    if n == 1:
        v = float(data[0])
        return (v, v, v)

    boot_means = bootstrap_means(data, resamples, np.random.default_rng(seed))

    alpha = 1.0 - confidence
    low, high = np.quantile(boot_means, [alpha / 2.0, 1.0 - alpha / 2.0])
    return (mean, min(float(low), mean), max(float(high), mean))


def bootstrap_means(data: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """The means of `resamples` bootstrap resamples of `data` (float64, no NaN, at least one value), drawn as
    `bootstrap_ci` draws them; for callers that combine resamples (harness.compare's suite-level interval)."""
    means = _bootstrap_means_by_counts(data, resamples, rng)
    return means if means is not None else _bootstrap_means_by_indices(data, resamples, rng)


def _bootstrap_means_by_counts(data: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray | None:
    """Bootstrap means via multinomial counts of distinct values; None when there are too many."""
    import numpy as np
    n = data.size
    distinct, counts = np.unique(data, return_counts=True)
    k = distinct.size
    if k > _MAX_DISTINCT_FOR_MULTINOMIAL or k * 12 > n:
        return None
    if not np.isfinite(distinct).all():  # 0 picks x inf would give nan, not the right +-inf
        return None
    picks = rng.multinomial(n, counts / n, size=resamples)  # (resamples, k)
    return (picks @ distinct) / n


def _bootstrap_means_by_indices(data: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap means by drawing instance indices with replacement, in bounded-memory chunks."""
    import numpy as np
    n = data.size
    # int32 indices: half the memory traffic of int64 and faster to generate; n never
    # approaches 2**31 instances.
    index_dtype = np.int32 if n < 2**31 - 1 else np.int64
    chunk = max(1, min(resamples, _MAX_CHUNK_ELEMENTS // n))
    boot_means = np.empty(resamples, dtype=np.float64)
    for start in range(0, resamples, chunk):
        rows = min(chunk, resamples - start)
        idx = rng.integers(0, n, size=(rows, n), dtype=index_dtype)
        # data[idx] gathers a (rows, n) matrix; summing along axis 1 is one pass over it.
        boot_means[start : start + rows] = data[idx].sum(axis=1) / n
    return boot_means


def bootstrap_corpus_ci(
    fn: Callable[[dict[str, np.ndarray]], float],
    columns: dict[str, np.ndarray],
    *,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """A corpus-level value (e.g. ECE) with a percentile-bootstrap interval: `fn` on all instances, then on
    `resamples` resamples of the instances drawn with replacement (every column resampled by the same indices, so
    each instance keeps its stats together). Resamples where `fn` is NaN are left out; the interval is widened to
    contain the value, as in `bootstrap_ci`."""
    import numpy as np

    value = float(fn(columns))
    n = len(next(iter(columns.values()))) if columns else 0
    if math.isnan(value) or n < 2:
        return (value, value, value)
    rng = np.random.default_rng(seed)
    draws = np.empty(resamples, dtype=np.float64)
    for i in range(resamples):
        idx = rng.integers(0, n, size=n)
        draws[i] = fn({name: col[idx] for name, col in columns.items()})
    draws = draws[~np.isnan(draws)]
    if draws.size == 0:
        return (value, value, value)
    alpha = 1.0 - confidence
    low, high = np.quantile(draws, [alpha / 2.0, 1.0 - alpha / 2.0])
    return (value, min(float(low), value), max(float(high), value))
