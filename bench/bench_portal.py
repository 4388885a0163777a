"""Customer portal: server time per page, against the framework's floor in the same run.

Starts ``python -m xop.portal`` (uvicorn, its own process) on a fresh PostgreSQL database with
``--tickets`` tickets for one customer (each with a few public and internal events), signs a
contact in, then requests each page ``--rounds`` times and reads the portal's own
``Server-Timing`` header (time inside the app, from the first middleware to the response).
The floor is ``/healthz`` through the same middleware. Prints p50 / p95 / max in ms and the
ratio of each page's p50 to the floor's. The ticket shown carries three attachments (200 KB
each, in the database); one of them is downloaded as a page of its own.

    python bench/bench_portal.py [--tickets 2000] [--rounds 200]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "plugins"), str(REPO)]
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="xop-bench-portal-"))

import httpx  # noqa: E402
import yaml  # noqa: E402

from tests.conftest import TEST_CONFIG, create_pg_database, drop_pg_database  # noqa: E402


def server_ms(response: httpx.Response) -> float:
    m = re.match(r"app;dur=([\d.]+)", response.headers["server-timing"])
    assert m, response.headers
    return float(m.group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tickets", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()

    from xop.core.config import load_config
    from xop.db.engine import engine_from_url
    from xop.db.migrate import upgrade
    from xop.demo.peers import MailDrop, free_port
    from xop.notify.links import ticket_link
    from xop.portal.process import running_portal
    from xop.tickets import Actor, TicketService

    work = Path(tempfile.mkdtemp(prefix="xop-bench-portal-"))
    port = free_port()
    config = work / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "extends": str(TEST_CONFIG),
                "support": {"ticket_url": f"http://127.0.0.1:{port}/tickets/{{number}}"},
                "portal": {"customer_timezones": {"acme": "Asia/Kolkata"}},
            }
        )
    )
    os.environ.update(XOP_CONFIG=str(config), XOP_PORTAL_KEY="bench-portal-key-" + "b" * 24)
    url = create_pg_database("xop_bench_portal")
    engine = engine_from_url(url)
    try:
        upgrade(engine)
        cfg = load_config(config)
        svc = TicketService(engine, cfg)
        start = datetime.now(UTC) - timedelta(days=20)
        number = None
        print(f"seeding {args.tickets} tickets ...", flush=True)
        for i in range(args.tickets):
            t = svc.open(
                customer="acme",
                subject=f"Bench ticket {i}",
                description="Callers drop after ten minutes." * 3,
                reporter_name="Carl Caller",
                reporter_email="carl@acme.example",
                now=start + timedelta(minutes=i),
            )
            if i % 50 == 0:
                at = start + timedelta(minutes=i, seconds=30)
                svc.respond(t.number, actor=Actor.staff("alice", 2), body="Looking into it.", now=at)
                svc.note(t.number, actor=Actor.staff("alice", 2), body="internal", now=at)
                svc.respond(t.number, actor=Actor.customer("carl@acme.example"), body="Thanks", now=at)
                number = t.number
        from sqlalchemy import func, select

        from xop.portal.forms import Upload
        from xop.tickets import attachments
        from xop.tickets.tables import ticket_events

        with engine.begin() as conn:
            t = svc.get(number)
            event = conn.execute(
                select(func.max(ticket_events.c.id)).where(
                    ticket_events.c.ticket_id == t.id, ticket_events.c.kind == "responded"
                )
            ).scalar_one()
            files = [
                Upload(f"trace-{i}.pcap", "application/octet-stream", bytes([i]) * 200_000) for i in range(3)
            ]
            file_ids = attachments.save(
                conn, cfg, files, ticket_id=t.id, event_id=event, now=datetime.now(UTC)
            )
        with MailDrop(work / "mail") as mail:
            name = url.rsplit("/", 1)[1]
            os.environ["AIRFLOW_CONN_SMTP_DEFAULT"] = mail.connection_uri()
            os.environ["AIRFLOW_CONN_XOP_DB"] = json.dumps(
                {
                    "conn_type": "postgres",
                    "host": "127.0.0.1",
                    "port": 5432,
                    "login": "postgres",
                    "schema": name,
                }
            )
            with (
                running_portal(port, log_path=work / "portal.log"),
                httpx.Client(base_url=f"http://127.0.0.1:{port}") as c,
            ):
                link = ticket_link(cfg, "carl@acme.example", number).removeprefix(f"http://127.0.0.1:{port}")
                sid = c.get(link).cookies.get("xop_portal_session")  # a link session of that ticket
                from xop.portal import store

                full, _ = store.start_session(
                    engine,
                    email="carl@acme.example",
                    customer="acme",
                    ticket=None,
                    now=datetime.now(UTC),
                    hours=1,
                )
                pages = {
                    "floor /healthz": ("/healthz", None),
                    "sign-in page": ("/", None),
                    f"ticket page {number}": (f"/tickets/{number}", sid),
                    f"ticket list ({min(args.tickets, 200)} shown)": ("/", full),
                    "new-ticket form": ("/new", full),
                    "attachment download (200 KB)": (f"/tickets/{number}/attachments/{file_ids[0]}", full),
                }
                results = {}
                cpu0 = time.process_time()
                for label, (path, cookie) in pages.items():
                    headers = {"Cookie": f"xop_portal_session={cookie}"} if cookie else {}
                    for _ in range(10):  # warm-up
                        c.get(path, headers=headers)
                    times = []
                    for _ in range(args.rounds):
                        r = c.get(path, headers=headers)
                        assert r.status_code == 200, (label, r.status_code)
                        times.append(server_ms(r))
                    times.sort()
                    results[label] = times
                cpu = time.process_time() - cpu0
                floor = statistics.median(results["floor /healthz"])
                print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; client CPU {cpu:.2f} s")
                print(f"{'page':<34} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'p50/floor':>10}")
                for label, times in results.items():
                    p50, p95 = statistics.median(times), times[int(len(times) * 0.95) - 1]
                    print(f"{label:<34} {p50:8.2f} {p95:8.2f} {times[-1]:8.2f} {p50 / floor:10.1f}")
    finally:
        engine.dispose()
        drop_pg_database(url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
