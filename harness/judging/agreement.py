"""Agreement between raters (people, judges, classifiers): accuracy, Cohen's kappa, Krippendorff's alpha, confusion
matrices. Pure functions over label sequences; labels are any hashable values, compared with ==.

Kappa and alpha correct raw agreement for the agreement expected by chance from how often each rater uses each label:
1 is perfect agreement, 0 is no better than chance, below 0 worse than chance.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from itertools import permutations

Label = Hashable


def _paired(a: Sequence[Label], b: Sequence[Label]) -> None:
    if len(a) != len(b):
        raise ValueError(f"the two raters label different numbers of items ({len(a)} and {len(b)})")
    if not a:
        raise ValueError("no items to compare")


def accuracy(truth: Sequence[Label], predicted: Sequence[Label]) -> float:
    """The fraction of items on which the two sequences give the same label."""
    _paired(truth, predicted)
    return sum(t == p for t, p in zip(truth, predicted)) / len(truth)


def cohen_kappa(a: Sequence[Label], b: Sequence[Label]) -> float:
    """Cohen's kappa of two raters over the same items: (p_o - p_e) / (1 - p_e), with p_o the observed agreement and
    p_e the agreement expected if each rater drew labels independently at their own marginal rates. NaN when p_e is 1
    (both raters gave every item one and the same label: chance explains everything, and kappa is undefined)."""
    _paired(a, b)
    n = len(a)
    observed = sum(x == y for x, y in zip(a, b)) / n
    count_a, count_b = Counter(a), Counter(b)
    expected = sum(count_a[label] * count_b[label] for label in count_a) / (n * n)
    if expected == 1.0:
        return math.nan
    return (observed - expected) / (1.0 - expected)


def confusion_matrix(truth: Sequence[Label], predicted: Sequence[Label], labels: Sequence[Label]) -> list[list[int]]:
    """Counts: row i = items whose true label is labels[i], column j = items predicted labels[j]. A label outside
    `labels` is an error, not silently dropped."""
    _paired(truth, predicted)
    index = {label: i for i, label in enumerate(labels)}
    if len(index) != len(labels):
        raise ValueError("labels repeat")
    matrix = [[0] * len(labels) for _ in labels]
    for t, p in zip(truth, predicted):
        for value in (t, p):
            if value not in index:
                raise ValueError(f"label {value!r} is not one of {list(labels)}")
        matrix[index[t]][index[p]] += 1
    return matrix


def krippendorff_alpha(ratings: Sequence[Sequence[Label | None]]) -> float:
    """Krippendorff's alpha for nominal data, any number of raters, missing ratings allowed.

    `ratings` is the reliability data matrix: one sequence per rater, one position per unit (item), None where that
    rater did not rate that unit. Units with fewer than two ratings are not pairable and are left out. Computed from
    the coincidence matrix (Krippendorff, *Computing Krippendorff's Alpha-Reliability*, 2011):

        o_ck = sum over units u of (number of ordered pairs (c, k) of values from different raters in u) / (m_u - 1)
        n_c = sum_k o_ck,  n = sum_c n_c
        alpha = 1 - (n - 1) * sum_{c != k} o_ck / sum_{c != k} n_c * n_k

    NaN when fewer than two values are pairable or every pairable value is the same (no variation to agree on).
    """
    if not ratings:
        raise ValueError("no raters")
    units = len(ratings[0])
    if any(len(rater) != units for rater in ratings):
        raise ValueError("raters rate different numbers of units")
    coincidence: Counter[tuple[Label, Label]] = Counter()
    for u in range(units):
        values = [rater[u] for rater in ratings if rater[u] is not None]
        m = len(values)
        if m < 2:
            continue
        for c, k in permutations(values, 2):
            coincidence[(c, k)] += 1.0 / (m - 1)
    totals: Counter[Label] = Counter()
    for (c, _), weight in coincidence.items():
        totals[c] += weight
    n = sum(totals.values())
    disagree_observed = sum(w for (c, k), w in coincidence.items() if c != k)
    disagree_expected = n * n - sum(v * v for v in totals.values())  # sum over c != k of n_c * n_k
    if n < 2 or disagree_expected <= 1e-12:
        return math.nan
    return 1.0 - (n - 1) * disagree_observed / disagree_expected
