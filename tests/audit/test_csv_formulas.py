"""The audit's CSV attachments never carry a spreadsheet formula from a CDR value."""

from __future__ import annotations

import csv
import io
from datetime import date

import pandas as pd
from sqlalchemy.engine import Engine

from tests.audit.test_usage import busy, load, local
from tests.audit.test_usage import engine as engine  # the fixture, on both databases
from xop.audit.csvsafe import TRIGGERS, neutralise, safe_frame
from xop.audit.days import AuditDay
from xop.audit.usage import compute_usage
from xop.demo.sample_cdr import cdr_row

EVIL = ['=HYPERLINK("http://evil.example","x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx"]


def test_every_trigger_is_quoted_and_plain_values_stay():
    assert [neutralise(v) for v in EVIL] == ["'" + v for v in EVIL]
    for plain in ("7001", "ANSWERED", "a=b", "", 5, -3, 2.5, None):
        assert neutralise(plain) == plain
    assert {v[0] for v in EVIL} == set(TRIGGERS)
    frame = safe_frame(pd.DataFrame({"=col": ["=1", "ok"], "n": [-1, 2]}))
    assert frame.columns.tolist() == ["'=col", "n"] and frame["=col" if False else "'=col"].tolist() == [
        "'=1",
        "ok",
    ]
    assert frame["n"].tolist() == [-1, 2]  # numbers are not formulas


def test_cdr_values_in_the_attachments_are_neutralised(engine: Engine) -> None:
    rows = [
        cdr_row(local(2026, 6, 15, 9, i), 60, answered_after_s=1, dst=evil) for i, evil in enumerate(EVIL)
    ]
    rows.append(busy(local(2026, 6, 15, 10, 0), 10, "7001") | {"disposition": "=1+1"})
    usage = compute_usage(engine, load(engine, rows), AuditDay.of(date(2026, 6, 15)), system="acme-conf1")
    files = usage.csv_files()
    cells = [
        cell
        for content in files.values()
        for row in csv.reader(io.StringIO(content.decode(), newline=""))
        for cell in row
    ]
    assert cells, files
    assert not [c for c in cells if c.startswith(TRIGGERS)], [c for c in cells if c.startswith(TRIGGERS)]
    assert "'=1+1" in cells  # the disposition is there, as text
