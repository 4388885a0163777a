"""The ticket API under concurrent load, beside the bare-query floor.

Airflow's API server app (the XOP plugin mounted, simple auth manager, a real JWT) runs on
uvicorn in a process of its own against PostgreSQL filled with ``--tickets`` tickets; an httpx
load generator (asyncio, keep-alive connections, one per client) in this process drives:

  list     GET /xop/api/tickets?state=open&limit=50   (open tickets, 50 a page, most urgent first)
  detail   GET /xop/api/tickets/{number}              (history, clocks, the user's actions)
  respond  POST /xop/api/tickets/{number}/respond     (a public reply: event, clock, outbox row)

at 1, 10 and 50 concurrent clients, and reports requests/s, p50 and p99. The floor is the same
work as bare psycopg queries (one connection per client, no HTTP, no Python per row), so
"api / floor" says what the API adds. Nothing is asserted: benchmarks are not tests.

Usage: .venv/bin/python bench/bench_api.py [--tickets 1000000] [--open 100000] [--seconds 10]
       [--clients 1,10,50] [--profile detail]   (cProfile of the server process, top functions)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "plugins"), str(REPO)]
os.environ.setdefault("XOP_CONFIG", str(REPO / "tests" / "data" / "config.yaml"))

import httpx  # noqa: E402
import psycopg  # noqa: E402

from bench.bench_sweep import NOW, populate  # noqa: E402
from tests.conftest import create_pg_database, drop_pg_database  # noqa: E402
from xop.db.engine import engine_from_url  # noqa: E402
from xop.db.migrate import upgrade  # noqa: E402
from xop.demo.peers import free_port, wait_for_port  # noqa: E402

SERVER = """
import cProfile, json, logging, os, pstats, signal, sys
from pathlib import Path
home = Path(sys.argv[3])
os.environ.update(AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False",
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
    AIRFLOW__CORE__PLUGINS_FOLDER=sys.argv[4] + "/plugins", AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING")
sys.path[:0] = [sys.argv[4] + "/plugins", sys.argv[4]]
from airflow.utils.db import initdb
initdb()
from tests.api import harness
from xop.core.config import load_config
from xop.db.engine import engine_from_url
from datetime import datetime
app = harness.airflow_app(home)
now = datetime.fromisoformat(sys.argv[5])
harness.attach(harness.ticket_app_of(app), engine_from_url(sys.argv[2]), load_config(), clock=lambda: now)
for name in ("airflow", "http.access", "uvicorn.access", "sqlalchemy"):
    logging.getLogger(name).setLevel(logging.WARNING)
import uvicorn
server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                                       access_log=False, lifespan="off"))
profile = cProfile.Profile() if sys.argv[6] == "1" else None
def stop(*_):
    server.should_exit = True
signal.signal(signal.SIGTERM, stop)
if profile: profile.enable()
server.run()
if profile:
    profile.disable()
    pstats.Stats(profile).sort_stats("cumulative").print_stats(35)
    pstats.Stats(profile).sort_stats("tottime").print_stats(25)
"""

FLOOR_LIST = (
    "SELECT count(*) FROM tickets WHERE state = 'open'",
    "SELECT * FROM tickets WHERE state = 'open' ORDER BY next_due_at ASC NULLS LAST, id LIMIT 50",
    "SELECT * FROM ticket_clocks WHERE ticket_id = ANY(%s) AND met_at IS NULL AND stopped_at IS NULL",
)
FLOOR_DETAIL = (
    "SELECT * FROM tickets WHERE number = %s",
    "SELECT * FROM ticket_clocks WHERE ticket_id = %s ORDER BY id",
    "SELECT * FROM ticket_events WHERE ticket_id = %s ORDER BY id",
)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Result:
    def __init__(self, latencies: list[float], seconds: float, errors: int = 0) -> None:
        self.n, self.seconds, self.errors = len(latencies), seconds, errors
        self.rps = self.n / seconds if seconds else 0.0
        self.p50 = statistics.median(latencies) * 1000 if latencies else float("nan")
        self.p99 = percentile(latencies, 99) * 1000 if latencies else float("nan")


async def load(base: str, token: str, kind: str, clients: int, seconds: float, numbers: list[str]) -> Result:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as http:

        async def client(i: int) -> None:
            nonlocal errors
            k = i
            while time.perf_counter() < deadline:
                number = numbers[k % len(numbers)]
                k += clients
                started = time.perf_counter()
                if kind == "list":
                    r = await http.get("/xop/api/tickets", params={"state": "open", "limit": 50})
                elif kind == "detail":
                    r = await http.get(f"/xop/api/tickets/{number}")
                else:
                    r = await http.post(f"/xop/api/tickets/{number}/respond", json={"body": "On it."})
                latencies.append(time.perf_counter() - started)
                if r.status_code != 200:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(clients)))
        return Result(latencies, time.perf_counter() - started, errors)


def floor(url: str, kind: str, clients: int, seconds: float, numbers: list[str]) -> Result:
    """The same reads (or the respond's writes) as bare queries, one connection per thread."""
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def run(i: int) -> None:
        mine: list[float] = []
        with psycopg.connect(dsn, autocommit=False) as conn:
            k = i
            while time.perf_counter() < deadline:
                number = numbers[k % len(numbers)]
                k += clients
                started = time.perf_counter()
                with conn.cursor() as cur:
                    if kind == "list":
                        cur.execute(FLOOR_LIST[0])
                        cur.fetchone()
                        cur.execute(FLOOR_LIST[1])
                        ids = [row[0] for row in cur.fetchall()]
                        cur.execute(FLOOR_LIST[2], (ids,))
                        cur.fetchall()
                    elif kind == "detail":
                        cur.execute(FLOOR_DETAIL[0], (number,))
                        tid = cur.fetchone()[0]
                        for q in FLOOR_DETAIL[1:]:
                            cur.execute(q, (tid,))
                            cur.fetchall()
                    else:
                        cur.execute("SELECT id FROM tickets WHERE number = %s FOR UPDATE", (number,))
                        tid = cur.fetchone()[0]
                        cur.execute(
                            "INSERT INTO ticket_events (ticket_id, at, actor, kind, public, body, payload) "
                            "VALUES (%s, now(), 'bench', 'responded', true, 'On it.', '{}')",
                            (tid,),
                        )
                        cur.execute("UPDATE tickets SET updated_at = now() WHERE id = %s", (tid,))
                conn.commit()
                mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Result(latencies, time.perf_counter() - started)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--open", type=int, default=100_000)
    ap.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    ap.add_argument("--clients", default="1,10,50")
    ap.add_argument("--kinds", default="list,detail,respond")
    ap.add_argument("--profile", default="", help="one kind: profile the server during it (1 client)")
    args = ap.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    kinds = args.kinds.split(",")
    if args.profile:
        kinds, clients = [args.profile], [1]

    url = create_pg_database("xop_bench_api")
    home = Path(tempfile.mkdtemp(prefix="xop-bench-api-"))
    server = None
    try:
        engine = engine_from_url(url)
        upgrade(engine)
        secs = populate(engine, args.tickets, args.open, 0)
        print(f"populated {args.tickets:,} tickets ({args.open:,} open) in {secs:.1f} s", flush=True)
        with engine.connect() as c:
            numbers = [
                r[0] for r in c.exec_driver_sql("SELECT number FROM tickets WHERE state = 'open' LIMIT 5000")
            ]
        engine.dispose()

        port = free_port()
        code = "1" if args.profile else "0"
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(port), url, str(home), str(REPO), NOW.isoformat(), code],
            stdout=subprocess.PIPE if args.profile else subprocess.DEVNULL,
            text=True,
        )
        wait_for_port(port, timeout=180)
        base = f"http://127.0.0.1:{port}"
        from tests.api.harness import USERS

        token = httpx.post(
            f"{base}/auth/token", json={"username": "alice", "password": USERS["alice"][1]}
        ).json()["access_token"]
        asyncio.run(load(base, token, "detail", 2, 1.0, numbers))  # warm up the app and the pool

        rows = []
        for kind in kinds:
            for n in clients:
                api = asyncio.run(load(base, token, kind, n, args.seconds, numbers))
                bare = floor(url, kind, n, min(args.seconds, 5.0), numbers)
                rows.append((kind, n, api, bare))
                print(
                    f"{kind:8s} {n:3d} clients: api {api.rps:7.1f} req/s p50 {api.p50:7.1f} ms"
                    f" p99 {api.p99:7.1f} ms ({api.errors} errors)"
                    f" | floor {bare.rps:7.1f} req/s p50 {bare.p50:6.2f} ms"
                    f" p99 {bare.p99:6.2f} ms | p50 ratio {api.p50 / bare.p50:5.1f} x",
                    flush=True,
                )
        print(
            "\n| request | clients | API req/s | API p50 ms | API p99 ms | floor req/s | floor p50 ms", end=""
        )
        print(" | p50 api/floor |")
        print("|---|---|---|---|---|---|---|---|")
        for kind, n, api, bare in rows:
            print(
                f"| {kind} | {n} | {api.rps:.1f} | {api.p50:.1f} | {api.p99:.1f} | {bare.rps:.1f} | "
                f"{bare.p50:.2f} | {api.p50 / bare.p50:.1f} x |"
            )
        print(json.dumps({"cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0]}))
    finally:
        if server is not None:
            server.terminate()
            try:
                out, _ = server.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
                out, _ = server.communicate()
            if args.profile and out:
                print(out[-12000:])
        drop_pg_database(url)


if __name__ == "__main__":
    main()
