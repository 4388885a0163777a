"""The interval table of a business calendar and its O(1) sorted-array lookup."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class SortedIndex:
    """``np.searchsorted(values, q, side="right") - 1`` in O(1) per query.

    ``values`` is strictly increasing. Queries fall into buckets of width ``2**shift`` no wider
    than the smallest gap between values, so a bucket holds at most one value: the answer is
    the bucket's precomputed index, plus one if the query reaches that value. A shift and two
    gathers instead of a ~10-step binary search per row (several times faster on 1M rows).
    Falls back to ``searchsorted`` when the gaps are too uneven for a small bucket table.
    """

    _MAX_BUCKETS = 1 << 22

    def __init__(self, values: np.ndarray) -> None:
        self.values = values
        self.fast = False
        if len(values) < 2 or int(values[-1]) - int(values[0]) > 1 << 61:
            return  # (the second case: keep query - base far from int64 overflow)
        shift = int(np.diff(values).min()).bit_length() - 1
        base = int(values[0]) - (1 << shift)  # bucket 0 lies wholly before values[0]
        buckets = ((int(values[-1]) - base) >> shift) + 2
        if shift < 0 or buckets > self._MAX_BUCKETS:
            return
        edges = base + (np.arange(buckets, dtype=np.int64) << shift)
        index = np.searchsorted(values, edges, side="right") - 1
        following = np.append(values, np.iinfo(np.int64).max)[index + 1]
        self.fast, self.shift, self.base, self.last = True, shift, base, buckets - 1
        self.index, self.following = index, following

    def __call__(self, queries: np.ndarray) -> np.ndarray:
        if not self.fast:
            return np.searchsorted(self.values, queries, side="right") - 1
        bucket = queries - self.base
        bucket >>= self.shift
        np.maximum(bucket, 0, out=bucket)
        np.minimum(bucket, self.last, out=bucket)
        found = self.index[bucket]
        found += queries >= self.following[bucket]
        return found


@dataclass(frozen=True)
class IntervalTable:
    """Business intervals [opens[i], closes[i]) in UTC ns, sorted; cum[i] = business ns before i."""

    first_year: int
    last_year: int
    start_ns: int  # the table is valid for instants >= start_ns ...
    end_ns: int  # ... and < end_ns
    opens: np.ndarray
    closes: np.ndarray
    cum: np.ndarray
    total: int
    interval_at: SortedIndex  # instant -> index of the last interval opening at or before it
    interval_of: SortedIndex  # business position -> index of the last interval starting at or before it
    lead_ext: np.ndarray  # opens - cum, then a sentinel (start_ns - 1) for "before the first interval"
    cum_end_ext: np.ndarray  # cum + length, then a sentinel 0
    # The same as Python lists, for the one-instant path (bisect beats numpy call overhead).
    opens_list: list[int]
    cum_list: list[int]
    lead_list: list[int]
    cum_end_list: list[int]
