"""Monthly SLA report figures for a month of 100,000 tickets (1,000,000 events), all customers.

Measures, in one run, on the same synthetic month (November 2026, 20 customers):
  1. the report's figures set-based (:func:`xop.reports.figures.compute`: clock outcomes with
     the vectorised calendar, urgency at decision, per customer and for XOP, breaches, MTTR,
     reopen rate, per system/source, the trend) from the clock, ticket and event frames;
  2. the baseline: a per-ticket Python loop over the same events (``tests/reports/reference.py``,
     the test suite's independent recomputation: scalar calendar calls per clock);
and checks both give the same counts per clock, urgency and outcome. Target: < 10 s, >= 20x.

Data: every ticket opens (L2 clock) and gets an L2 response; half escalate to L3 (response,
recovery with a waiting-on-customer pause, RCA); all resolve and close; notes fill each ticket
to 10 events. Times are drawn so that some clocks are met late. Loading from the database is
not in the timing (three SELECTs; the DB benchmarks live in bench_sweep.py); the frames have
the loader's dtypes (vocabulary columns as Categoricals of the codes the SELECTs return).

Usage: .venv/bin/python bench/bench_sla_report.py [--tickets 100000] [--customers 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "plugins"), str(REPO)]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from tests.reports.reference import walk  # noqa: E402
from xop.core.config import CustomerSpec, load_config  # noqa: E402
from xop.reports.figures import ALL, Month, compute  # noqa: E402
from xop.reports.frames import CODED, Frames, categorical  # noqa: E402
from xop.reports.tally import codes  # noqa: E402
from xop.sla.policy import calendar  # noqa: E402

NOV = Month(2026, 11, "America/Chicago")
AS_OF = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)
URG = np.array(["critical", "major", "minor"], dtype=object)


def as_loaded(df: pd.DataFrame) -> pd.DataFrame:
    """The vocabulary columns as ``load_frames`` returns them: Categoricals built from the
    positions the database sends (its ``CASE``), so this conversion is the loader's, untimed."""
    df = df.copy()
    for col, vocabulary in CODED.items():
        if col in df:
            df[col] = categorical(codes(df[col].to_numpy(dtype=object), vocabulary), col)
    return df


def synthesize(cfg, n: int, customers: list[str], seed: int = 17):
    rng = np.random.default_rng(seed)
    cal = calendar(cfg, "business")
    s = 10**9
    start_ns = pd.Timestamp(NOV.start).value
    span = pd.Timestamp(NOV.end).value - start_ns - 20 * 86400 * s
    t0 = (start_ns + rng.integers(0, span, n)) // s * s
    ids = np.arange(1, n + 1)
    cust = np.array(customers, dtype=object)[rng.integers(0, len(customers), n)]
    urg = URG[rng.integers(0, 3, n)]
    esc = rng.random(n) < 0.5

    def add(t, secs):
        return cal.add_many(t.view("datetime64[ns]"), (secs * s).view("timedelta64[ns]")).view(np.int64)

    r2 = rng.integers(60, 3 * 3600, n)  # business seconds to the L2 response (some > 2 h: late)
    t_r2 = add(t0, r2)
    t_esc = add(t_r2, rng.integers(60, 3600, n))
    r3 = rng.integers(60, 10 * 3600, n)
    t_r3 = add(t_esc, r3)
    t_p0 = add(t_r3, rng.integers(60, 3600, n))
    t_p1 = add(t_p0, rng.integers(60, 4 * 3600, n))
    t_rec = add(t_p1, rng.integers(60, 10 * 3600, n))
    t_rca = add(t_rec, rng.integers(60, 30 * 3600, n))
    t_res = add(np.where(esc, t_rca, t_r2), rng.integers(60, 20 * 3600, n))
    t_cls = add(t_res, rng.integers(60, 5 * 3600, n))

    order = np.argsort(URG.astype(str))
    code = order[np.searchsorted(URG.astype(str)[order], urg.astype(str))]

    def tgt(name):
        return np.array([cfg.target_seconds(None, name, u) for u in URG], dtype=np.int64)[code]

    paused = cal.elapsed_many(t_p0.view("datetime64[ns]"), t_p1.view("datetime64[ns]")).view(np.int64) // s
    e = np.nonzero(esc)[0]
    clocks = []

    def clock(rows, name, start, end, tsec, pause):
        due = add(start, tsec + pause)
        clocks.append(
            pd.DataFrame(
                {
                    "ticket_id": ids[rows],
                    "name": name,
                    "cycle": 0,
                    "calendar": "business",
                    "started_at": start,
                    "target_seconds": tsec,
                    "paused_seconds": pause,
                    "due_at": due,
                    "met_at": end,
                }
            )
        )

    everyone = np.arange(n)
    clock(everyone, "l2_response", t0, t_r2, tgt("l2_response"), np.zeros(n, dtype=np.int64))
    clock(e, "l3_response", t_esc[e], t_r3[e], tgt("l3_response")[e], np.zeros(len(e), dtype=np.int64))
    clock(e, "l3_recovery", t_esc[e], t_rec[e], tgt("l3_recovery")[e], paused[e])
    clock(e, "l3_rca", t_rec[e], t_rca[e], tgt("l3_rca")[e], np.zeros(len(e), dtype=np.int64))
    c = pd.concat(clocks, ignore_index=True)
    for col in ("started_at", "due_at", "met_at"):
        c[col] = pd.to_datetime(c[col], utc=True)
    for col in ("paused_at", "breached_at", "stopped_at"):
        c[col] = pd.Series(pd.NaT, index=c.index, dtype="datetime64[ns, UTC]")
    c["id"] = np.arange(1, len(c) + 1)
    meta = pd.DataFrame(
        {
            "ticket_id": ids,
            "number": [f"XOP-{i:07d}" for i in ids],
            "customer": cust,
            "system": cust + "-conf1",
            "source": np.where(rng.random(n) < 0.3, "monitoring", "customer"),
            "subject": "Bench ticket",
            "state": "closed",
            "opened_at": pd.to_datetime(t0, utc=True),
            "ticket_level": np.where(esc, 3, 2),
            "ticket_urgency": urg,
            "proposed_urgency": None,
        }
    )
    c = c.merge(meta, on="ticket_id", how="left")
    tickets = meta.rename(columns={"ticket_id": "id", "ticket_level": "level", "ticket_urgency": "urgency"})
    tickets["reopen_count"] = 0

    # Events: 10 per ticket.
    kinds_esc = ["opened", "responded", "escalated", "responded", "paused", "resumed", "recovered",
                 "rca_sent", "resolved", "closed"]  # fmt: skip
    times_esc = [t0, t_r2, t_esc, t_r3, t_p0, t_p1, t_rec, t_rca, t_res, t_cls]
    kinds_l2 = ["opened", "responded", "note", "note", "note", "note", "note", "note", "resolved", "closed"]
    note_t = [add(t_r2, np.full(n, k * 60)) for k in range(1, 7)]
    times_l2 = [t0, t_r2, *note_t, t_res, t_cls]
    kind = np.where(esc[:, None], np.array(kinds_esc)[None, :], np.array(kinds_l2)[None, :])
    at = np.where(esc[:, None], np.stack(times_esc, 1), np.stack(times_l2, 1))
    ev = pd.DataFrame(
        {
            "ticket_id": np.repeat(ids, 10),
            "at": pd.to_datetime(at.ravel(), utc=True),
            "kind": kind.ravel(),
        }
    )
    ev["urgency"] = np.where(ev["kind"].isin(["opened", "escalated"]), np.repeat(urg, 10), None)
    report_events = ev[ev["kind"].isin(["opened", "escalated", "recovered", "resolved", "closed"])]
    frames = Frames(*(as_loaded(f) for f in (c, tickets, report_events.reset_index(drop=True))))

    # The same events as Python objects, one list per ticket (what a per-ticket loop reads).
    py_at = [ts.to_pydatetime() for ts in ev["at"]]
    kinds = ev["kind"].tolist()
    per_ticket = []
    for i in range(n):
        u = urg[i]
        evs = []
        for j in range(i * 10, i * 10 + 10):
            k = kinds[j]
            payload = (
                {"level": 2, "urgency": u}
                if k == "opened"
                else {"from_level": 2, "to_level": 3, "urgency": u}
                if k == "escalated"
                else {}
            )
            evs.append(
                SimpleNamespace(
                    at=py_at[j],
                    kind=k,
                    payload=payload,
                    customer=cust[i],
                    proposed_urgency=None,
                    number=f"XOP-{i + 1:07d}",
                )
            )
        per_ticket.append(evs)
    return frames, per_ticket, len(ev)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=20)
    args = parser.parse_args()

    base = load_config(REPO / "tests" / "data" / "config.yaml")
    names = [f"cust{i:02d}" for i in range(args.customers)]
    cfg = base.model_copy(update={"customers": tuple(CustomerSpec(id=c, name=c.upper()) for c in names)})
    t = time.perf_counter()
    frames, per_ticket, n_events = synthesize(cfg, args.tickets, names)
    print(f"synthesized {args.tickets:,} tickets, {len(frames.clocks):,} clocks, {n_events:,} events "
          f"in {time.perf_counter() - t:.1f} s")  # fmt: skip

    compute(cfg, frames, NOV, as_of=AS_OF)  # warm the calendar table and pandas
    runs, cpu = [], []
    for _ in range(3):
        t, c = time.perf_counter(), time.process_time()
        figures = compute(cfg, frames, NOV, as_of=AS_OF)
        runs.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    fast, fast_cpu = min(runs), min(cpu)
    each = ", ".join(f"{r:.2f}" for r in runs)
    print(
        f"set-based, {args.customers} customers + XOP: {fast:.2f} s wall, {fast_cpu:.2f} s CPU "
        f"(best of 3: {each})"
    )

    t, c = time.perf_counter(), time.process_time()
    ref = walk(cfg, per_ticket, NOV.start, NOV.end, AS_OF)
    slow, slow_cpu = time.perf_counter() - t, time.process_time() - c
    print(f"per-ticket Python loop over the events: {slow:.2f} s wall, {slow_cpu:.2f} s CPU")
    print(f"ratio: {slow / fast:.1f}x wall, {slow_cpu / fast_cpu:.1f}x CPU")
    print(f"load average while measuring: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")

    table = figures[ALL].by_clock
    got = Counter()
    for r in table[table["urgency"] != "all"].itertuples():
        for status in ("met", "met_late", "missed", "skipped"):
            if getattr(r, status):
                got[(r.name, r.urgency, status)] = getattr(r, status)
    same = got == ref["counts"]
    print(f"same counts per clock/urgency/outcome: {same} ({sum(got.values()):,} clocks decided)")
    if not same:
        extra, missing = sorted((got - ref["counts"]).items()), sorted((ref["counts"] - got).items())
        raise SystemExit(f"mismatch: report has {extra[:5]}, loop has {missing[:5]}")


if __name__ == "__main__":
    main()
