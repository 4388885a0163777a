"""CSV cells that a spreadsheet would run as a formula are neutralised (OWASP "CSV injection").

CDR values (dialled numbers, conference names, dispositions) come from the systems and, through
them, from callers. A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is prefixed with a single quote, which spreadsheets show but do not evaluate. Numbers
stay numbers: only text cells are touched (a negative count is not a formula).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(TRIGGERS):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells, index labels and column names cannot be formulas."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(neutralise)
    out.columns = [neutralise(c) for c in out.columns]
    if out.index.dtype == object:
        out.index = out.index.map(neutralise)
    return out
