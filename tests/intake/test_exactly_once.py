"""Exactly once, nothing lost: a crash between commit and move, two runs at once, 1,000 messages."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter

import pytest

from tests.conftest import REPO
from tests.intake import samples
from tests.intake.conftest import CONFIG, NOW
from tests.intake.helpers import all_tickets, events, inbound, outbox
from xop.intake.run import run_intake


def _worker(engine, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=f"{REPO / 'plugins'}{os.pathsep}{REPO}")
    url = engine.url.render_as_string(hide_password=False)
    return subprocess.Popen(
        [sys.executable, "-m", "tests.intake.worker", url, str(CONFIG), NOW.isoformat(), *extra],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _messages(n: int) -> list[bytes]:
    return [samples.mail(subject=f"problem {i}", body=f"details of problem {i}") for i in range(n)]


def _assert_each_once(engine, n: int) -> None:
    recs = inbound(engine)
    assert len(recs) == n and len({r["message_key"] for r in recs}) == n
    tickets = all_tickets(engine)
    assert len(tickets) == n
    assert Counter(t["subject"] for t in tickets) == Counter(f"problem {i}" for i in range(n))
    assert len(events(engine)) == n  # one "opened" event each, never a second
    acks = [o for o in outbox(engine) if o["kind"] == "ticket_opened"]
    assert len(acks) == n


def test_killed_between_commit_and_move_reprocesses_without_a_second_event(db_engine, intake_config, mailbox):
    mailbox.append(*_messages(8))
    p = _worker(db_engine, "3")  # dies right after the third commit, before any move
    _, err = p.communicate(timeout=120)
    assert p.returncode == -signal.SIGKILL, err
    assert len(inbound(db_engine)) == 3
    assert mailbox.count("INBOX") == 8  # nothing was moved: the batch moves after its commits
    stats = run_intake(db_engine, intake_config, now=NOW)
    assert stats.outcomes == {"duplicate": 3, "opened": 5}
    _assert_each_once(db_engine, 8)
    assert mailbox.count("INBOX") == 0 and mailbox.count("Processed") == 8


def test_two_runs_in_parallel_never_process_a_message_twice(db_engine, intake_config, mailbox):
    n = 120
    mailbox.append(*_messages(n))
    a, b = _worker(db_engine), _worker(db_engine)
    for p in (a, b):
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    _assert_each_once(db_engine, n)
    assert mailbox.count("INBOX") == 0 and mailbox.count("Processed") == n


@pytest.mark.parametrize("db_engine", ["postgresql"], indirect=True)
def test_a_thousand_messages_in_one_run(db_engine, intake_config, mailbox):
    n = 1000
    mailbox.append(*_messages(n))
    stats = run_intake(db_engine, intake_config, now=NOW)
    assert stats.outcomes == {"opened": n} and stats.moved == n
    _assert_each_once(db_engine, n)
    assert mailbox.count("INBOX") == 0 and mailbox.count("Processed") == n


def test_the_same_message_processed_at_once_by_two_transactions_gives_one_event(db_engine, intake_config):
    """The unique message key alone (no mailbox lock) keeps a second event out."""
    import threading

    from xop.intake.apply import process

    raw = samples.mail(subject="race")
    results, barrier = [], threading.Barrier(2)

    def go():
        barrier.wait()
        results.append(process(db_engine, intake_config, raw, now=NOW).outcome)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["duplicate", "opened"]
    assert len(all_tickets(db_engine)) == 1 and len(events(db_engine)) == 1
