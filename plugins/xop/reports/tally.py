"""Counting and percentiles over integer-coded groups, for all scopes in one pass (numpy).

A report has a few dozen scopes (customers and XOP), five clocks, three urgencies and six
outcomes: every figure is a ``bincount`` over a combined integer key, and the percentiles are
one ``lexsort`` plus gathers at each group's offsets. A pandas group-by per scope costs a few
milliseconds each in overhead alone; this costs microseconds per group.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def codes(values: pd.Series | pd.Categorical | np.ndarray, categories: Sequence) -> np.ndarray:
    """Position of each value in ``categories`` (int64; -1 when absent or null).

    A Categorical (what :mod:`xop.reports.frames` loads vocabulary columns as) maps its few
    categories and takes its codes: no string is hashed per row. Anything else is factorized.
    """
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        values = values.array
    if isinstance(values, pd.Categorical):
        position = {c: i for i, c in enumerate(categories)}
        lookup = np.array([position.get(c, -1) for c in values.categories] + [-1], dtype=np.int64)
        return lookup[values.codes]  # code -1 (missing) takes the trailing -1
    found, uniques = pd.factorize(np.asarray(values, dtype=object))
    if not len(uniques):
        return np.full(len(found), -1, dtype=np.int64)
    position = {c: i for i, c in enumerate(categories)}
    lookup = np.array([position.get(u, -1) for u in uniques], dtype=np.int64)
    return np.where(found >= 0, lookup[found], -1)


def factorize(values: pd.Series | pd.Categorical | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, uniques)`` with ``uniques[codes] == values``; a null is a value of its own
    (None). A Categorical gives its codes as they are (hashing nothing)."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        values = values.array
    if isinstance(values, pd.Categorical):
        found = values.codes.astype(np.int64)
        uniques = np.asarray(values.categories, dtype=object)
        if (found < 0).any():
            found = np.where(found < 0, len(uniques), found)
            uniques = np.append(uniques, None)
        return found, uniques
    found, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=False)
    uniques = np.asarray(uniques, dtype=object)
    uniques[pd.isna(uniques)] = None
    return found.astype(np.int64), uniques


def dense(ids: np.ndarray, *others: np.ndarray) -> bool:
    """Whether ticket ids are small enough to index a table directly (a few entries per row):
    then a per-ticket minimum is ``np.minimum.at``, no sort."""
    n = len(ids) + sum(len(o) for o in others)
    return not len(ids) or (int(ids.min()) >= 0 and int(ids.max()) < 8 * n + 1024)


def bincount(key: np.ndarray, size: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Counts (or weighted sums) per key in ``range(size)``; keys outside are ignored."""
    ok = (key >= 0) & (key < size)
    w = None if weights is None else weights[ok]
    return np.bincount(key[ok], weights=w, minlength=size)[:size]


def distinct_count(key: np.ndarray, member: np.ndarray, size: int) -> np.ndarray:
    """Number of distinct ``member`` values per key (e.g. tickets per clock and urgency)."""
    ok = (key >= 0) & (key < size)
    if not ok.any():
        return np.zeros(size, dtype=np.int64)
    k, m = key[ok], member[ok].astype(np.int64)
    m = m - m.min()
    first = ~pd.Index(k * (int(m.max()) + 1) + m).duplicated()  # hashing, no sort
    return np.bincount(k[first], minlength=size)[:size]


def group_quantiles(key: np.ndarray, values: np.ndarray, size: int, qs: Sequence[float]) -> np.ndarray:
    """``(size, len(qs))`` quantiles of ``values`` per key, linear interpolation (pandas' default);
    NaN for empty groups."""
    out = np.full((size, len(qs)), np.nan)
    ok = (key >= 0) & (key < size)
    if not ok.any():
        return out
    k, v = key[ok], values[ok]
    if packable(v, size):
        return sorted_quantiles(np.sort(pack(k, v)), size, qs)  # one int sort
    order = np.lexsort((v, k))
    v = v[order].astype(float)
    counts = np.bincount(k, minlength=size)[:size]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    has = counts > 0
    for j, q in enumerate(qs):
        pos = q * (counts[has] - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.ceil(pos).astype(np.int64)
        frac = pos - lo
        base = starts[has]
        out[has, j] = v[base + lo] * (1 - frac) + v[base + hi] * frac
    return out


#: Bits of a packed sort key left for the value (seconds: up to 34,000 years).
VALUE_BITS = 40
_VALUE_MASK = (1 << VALUE_BITS) - 1


def pack(group: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``group`` and a non-negative integer ``value`` in one int64, ordered by group then value."""
    return (group.astype(np.int64) << VALUE_BITS) | values.astype(np.int64)


def packable(values: np.ndarray, size: int) -> bool:
    return (
        values.dtype.kind in "iu"
        and (not len(values) or (int(values.min()) >= 0 and int(values.max()) <= _VALUE_MASK))
        and size < 1 << (62 - VALUE_BITS)
    )


def sorted_quantiles(packed: np.ndarray, size: int, qs: Sequence[float]) -> np.ndarray:
    """:func:`group_quantiles` of keys already packed and sorted (:func:`pack`, ``np.sort``)."""
    out = np.full((size, len(qs)), np.nan)
    if not len(packed):
        return out
    # Group boundaries by binary search in the sorted keys (no pass over every row), then
    # only the two neighbours of each quantile are read.
    starts = np.searchsorted(packed, np.arange(size + 1, dtype=np.int64) << VALUE_BITS)
    counts = np.diff(starts)
    has = counts > 0
    base = starts[:-1][has]
    for j, q in enumerate(qs):
        pos = q * (counts[has] - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.ceil(pos).astype(np.int64)
        frac = pos - lo
        v_lo = (packed[base + lo] & _VALUE_MASK).astype(float)
        v_hi = (packed[base + hi] & _VALUE_MASK).astype(float)
        out[has, j] = v_lo * (1 - frac) + v_hi * frac
    return out


def slices(sorted_codes: np.ndarray, size: int) -> list[slice]:
    """Row ranges of each code ``0..size-1`` in an array sorted by code."""
    bounds = np.searchsorted(sorted_codes, np.arange(size + 1))
    return [slice(int(bounds[i]), int(bounds[i + 1])) for i in range(size)]


__all__ = [
    "bincount",
    "codes",
    "dense",
    "distinct_count",
    "factorize",
    "group_quantiles",
    "pack",
    "packable",
    "slices",
    "sorted_quantiles",
]
