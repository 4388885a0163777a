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


def codes(values: pd.Series | np.ndarray, categories: Sequence) -> np.ndarray:
    """Position of each value in ``categories`` (int64; -1 when absent or null)."""
    found, uniques = pd.factorize(np.asarray(values, dtype=object))
    if not len(uniques):
        return np.full(len(found), -1, dtype=np.int64)
    position = {c: i for i, c in enumerate(categories)}
    lookup = np.array([position.get(u, -1) for u in uniques], dtype=np.int64)
    return np.where(found >= 0, lookup[found], -1)


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
    if v.dtype.kind in "iu" and v.min() >= 0 and v.max() < 1 << 40 and size < 1 << 22:
        v = np.sort((k.astype(np.int64) << 40) | v.astype(np.int64)) & ((1 << 40) - 1)  # one int sort
        v = v.astype(float)
    else:
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


def slices(sorted_codes: np.ndarray, size: int) -> list[slice]:
    """Row ranges of each code ``0..size-1`` in an array sorted by code."""
    bounds = np.searchsorted(sorted_codes, np.arange(size + 1))
    return [slice(int(bounds[i]), int(bounds[i + 1])) for i in range(size)]


__all__ = ["bincount", "codes", "distinct_count", "group_quantiles", "slices"]
