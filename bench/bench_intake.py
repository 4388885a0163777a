"""Benchmark: the mail intake against the floor of a bare ``imaplib`` fetch of the same messages.

Starts a throwaway Dovecot (:class:`xop.demo.imap.Dovecot`, IMAPS with a verified self-signed
certificate), APPENDs ``--messages`` customer emails (60 % new problems from known contacts,
35 % replies quoting their ticket number, 5 % out-of-office replies), then:

- floor: one ``imaplib`` session, ``UID SEARCH`` + ``UID FETCH (BODY.PEEK[])`` in batches of the
  intake's ``fetch_batch``, nothing else — the cost of just getting the bytes;
- ours: :func:`xop.intake.run.run_intake` on a fresh ticket database: parse, the named steps,
  one transaction per message (record + ticket event + clocks + outbox row), move to Processed.

Prints messages per second for both, ticket events per second for ours, and the ratio.
Run from the repo root: ``.venv/bin/python bench/bench_intake.py --messages 10000`` (PostgreSQL
on 127.0.0.1:5432, user postgres, trust auth, as in the tests; ``--db sqlite`` for a SQLite file).
"""

from __future__ import annotations

import argparse
import imaplib
import os
import secrets
import ssl
import sys
import tempfile
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "plugins"))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="xop-bench-airflow-"))

import sqlalchemy as sa  # noqa: E402

from xop.core.config import load_config  # noqa: E402
from xop.db.engine import engine_from_url  # noqa: E402
from xop.db.migrate import upgrade  # noqa: E402
from xop.demo.imap import Dovecot  # noqa: E402
from xop.intake.run import run_intake  # noqa: E402
from xop.tickets.tables import ticket_events  # noqa: E402

CONFIG = REPO / "tests" / "intake" / "data" / "config.yaml"  # acme's contacts and domains
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def messages(n: int) -> list[bytes]:
    new = int(n * 0.60)
    replies = int(n * 0.35)
    out = []
    for i in range(n):
        m = EmailMessage()
        m["To"] = "support@xopnetworks.com"
        m["Message-ID"] = f"<bench-{i}-{secrets.token_hex(4)}@acme.example>"
        m["Date"] = "Tue, 01 Dec 2026 14:55:00 +0000"
        if i < new:
            m["From"] = f"NOC {i % 50} <noc{i % 50}@acme.example>"
            m["Subject"] = f"[conf1] Calls drop on bridge, case {i}"
            m.set_content(f"Since 8 am calls drop after 30 seconds (case {i}).\n" + "Details. " * 40)
        elif i < new + replies:
            number = f"XOP-{(i - new) % new + 1:06d}"
            m["From"] = f"noc{(i - new) % new % 50}@acme.example"
            m["Subject"] = f"RE: [{number}] Ticket opened"
            m.set_content(
                f"Still happening, see case {i}.\n\nOn Tue, Dec 1, 2026 at 9:00 AM XOP Networks Support "
                "<support@xopnetworks.com> wrote:\n> Your ticket has been opened.\n> " + "quoted " * 30
            )
        else:
            m["From"] = "noc1@acme.example"
            m["Subject"] = "Out of Office: Ticket opened"
            m["Auto-Submitted"] = "auto-replied"
            m.set_content("I am away until Monday.")
        out.append(m.as_bytes(policy=SMTP))
    return out


def fill(imap: Dovecot, raws: list[bytes]) -> None:
    c = imap.client()
    try:
        for raw in raws:
            typ, data = c.append("INBOX", None, imaplib.Time2Internaldate(time.time()), raw)
            if typ != "OK":
                raise RuntimeError(f"APPEND refused: {data!r}")
    finally:
        c.logout()


def bare_fetch(imap: Dovecot, batch: int) -> tuple[int, int, float]:
    """(messages, bytes, seconds) of fetching everything with plain imaplib."""
    t0 = time.perf_counter()
    c = imaplib.IMAP4_SSL(
        "127.0.0.1", imap.port, ssl_context=ssl.create_default_context(cafile=str(imap.cert))
    )
    c.login(imap.user, imap.password)
    c.select("INBOX", readonly=True)
    _, data = c.uid("SEARCH", "UNDELETED")
    uids = data[0].split()
    n = size = 0
    for i in range(0, len(uids), batch):
        _, items = c.uid("FETCH", b",".join(uids[i : i + batch]).decode(), "(UID BODY.PEEK[])")
        for item in items:
            if isinstance(item, tuple):
                n += 1
                size += len(item[1])
    c.logout()
    return n, size, time.perf_counter() - t0


def engine_for(kind: str, tmp: Path) -> tuple[sa.Engine, str | None]:
    if kind == "sqlite":
        return engine_from_url(f"sqlite:///{tmp / 'xop.db'}"), None
    name = f"xop_bench_intake_{secrets.token_hex(3)}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return engine_from_url(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"), name


def drop(name: str | None) -> None:
    if name:
        admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    args = ap.parse_args()
    cfg = load_config(CONFIG)
    cfg = cfg.model_copy(update={"intake": cfg.intake.model_copy(update={"max_per_run": args.messages})})
    raws = messages(args.messages)
    with tempfile.TemporaryDirectory(prefix="xop-bench-intake-") as tmp, Dovecot() as imap:
        os.environ["AIRFLOW_CONN_XOP_IMAP"] = imap.connection_json()
        t0 = time.perf_counter()
        fill(imap, raws)
        print(f"APPEND {len(raws)} messages: {time.perf_counter() - t0:.1f} s")
        n, size, floor_s = bare_fetch(imap, cfg.intake.fetch_batch)
        print(
            f"floor  (bare imaplib fetch): {n} messages, {size / 1e6:.1f} MB in {floor_s:.2f} s",
            f"= {n / floor_s:,.0f} msg/s",
        )
        engine, pg_name = engine_for(args.db, Path(tmp))
        try:
            upgrade(engine)
            t0 = time.perf_counter()
            stats = run_intake(engine, cfg, now=NOW)
            ours_s = time.perf_counter() - t0
            with engine.connect() as c:
                events = c.execute(sa.select(sa.func.count()).select_from(ticket_events)).scalar_one()
            engine.dispose()
        finally:
            drop(pg_name)
        print(
            f"ours   (run_intake, {args.db}): {stats.seen} messages {dict(stats.outcomes)} -> "
            f"{events} ticket events in {ours_s:.2f} s = {stats.seen / ours_s:,.0f} msg/s,",
            f"{events / ours_s:,.0f} events/s",
        )
        print(f"ratio: the intake takes {ours_s / floor_s:.1f}x the bare fetch")


if __name__ == "__main__":
    main()
