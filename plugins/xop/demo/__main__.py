"""``make demo``: run the pipeline's DAGs once on the embedded default; ``make ui``: the Airflow UI.

Everything lives under ``var/demo/``: Airflow's home (SQLite metadata), the SQLite ticket
database, the demo system's database with a day of call records, the emails (one ``.eml`` file
each, written by a local SMTP server), the FTPS site's folder, backups and audit reports. The
servers the DAGs talk to are started here on loopback ports: nothing to install by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from xop.demo.console import Console
from xop.demo.imap import demo_mailbox
from xop.portal.process import demo_portal

REPO = Path(__file__).resolve().parents[3]
VAR = REPO / "var" / "demo"
CONFIG = REPO / "include" / "config" / "demo.yaml"
# Fixed loopback ports: the demo config names them (configuration is data).
SMTP_PORT, FTP_PORT, SIP_PORT, WEB_PORT = 18025, 18021, 15060, 18080


def _environment() -> dict[str, str]:
    """Airflow and XOP settings of the demo; applied before Airflow is imported."""
    home = VAR / "airflow"
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "XOP_CONFIG": str(CONFIG),
        "XOP_DATA_DIR": str(VAR),
        "PYTHONPATH": str(REPO / "plugins"),
        "AIRFLOW_CONN_XOP_DB": json.dumps({"conn_type": "sqlite", "host": str(VAR / "xop.db")}),
        "AIRFLOW_CONN_DEMO_SYSTEM_DB": json.dumps(
            {"conn_type": "sqlite", "host": str(VAR / "system-demo.db")}
        ),
    }
    return env


def _peers(stack, say=print):
    from xop.demo.peers import FtpsSite, MailDrop, SipFarEnd

    mail = stack.enter_context(MailDrop(VAR / "mail", port=SMTP_PORT))
    sip = stack.enter_context(
        SipFarEnd(REPO / "include" / "sipp" / "answer_echo.xml", workdir=VAR / "sipp", port=SIP_PORT)
    )
    say(f"Local peers: SMTP 127.0.0.1:{SMTP_PORT} (emails to var/demo/mail/), FTPS 127.0.0.1:{FTP_PORT}")
    if sip.available:
        say(f"             SIPp 127.0.0.1:{SIP_PORT} answers the demo trunk")
    else:
        say("note: SIPp (Debian sip-tester) is missing: the demo trunk check fails and opens a ticket")
    ftp_password = secrets.token_urlsafe(12)
    ftp = stack.enter_context(
        FtpsSite(VAR / "ftp", user="xop-publisher", password=ftp_password, port=FTP_PORT)
    )
    demo_mailbox(stack, say)  # i14: the support mailbox the intake DAG reads
    os.environ["AIRFLOW_CONN_SMTP_DEFAULT"] = mail.connection_uri()
    os.environ["AIRFLOW_CONN_XOP_FTP"] = ftp.connection_json()
    return mail, ftp


def run_demo() -> int:
    os.environ.update(_environment())
    # dag.test() of Airflow 3.3.2 cannot finish a run of a DAG with deadlines (it looks the alerts
    # up by ids only a DAG processor assigns): the demo runs without them; `make ui` keeps them.
    os.environ["XOP_DEADLINES"] = "off"
    VAR.mkdir(parents=True, exist_ok=True)
    log_file = VAR / "demo.log"
    console = Console(log_file)
    console.say(f"XOP demo on the embedded default; Airflow's own logs go to {log_file}")
    with console.quiet(), ExitStack() as stack:
        mail, ftp = _peers(stack, console.say)
        from xop.demo.seed import Snapshot, run_all, summary
        from xop.tasks import runtime

        runtime.ticket_db()  # creates and migrates the ticket database before the first snapshot
        demo_portal(stack, VAR, say=console.say)  # i15: the customer portal the emails link to
        before = Snapshot.take(mail.directory)
        results = run_all(VAR, console.say)
        console.say(
            summary(results, mail_dir=mail.directory, ftp_dir=ftp.root, before=before, log_file=log_file)
        )
    return 0 if all(state == "success" for _, state, _ in results) else 1


def _unpause_xop_dags() -> list[str]:
    """The demo's DAGs run on their schedules in ``make ui`` (production keeps them paused)."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.dag import DagModel
    from airflow.utils.db import initdb
    from airflow.utils.session import create_session

    initdb()
    dag_ids = [d for d in DagBag(str(REPO / "dags")).dag_ids if d.startswith("xop_")]
    with create_session() as session:
        for model in session.query(DagModel).filter(DagModel.dag_id.in_(dag_ids)):
            model.is_paused = False
    return dag_ids


def run_ui() -> int:
    os.environ.update(_environment())
    # New DAGs start unpaused on the demo; the ones an earlier demo run created are unpaused below.
    os.environ["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "False"
    os.environ["AIRFLOW__CORE__TEST_CONNECTION"] = "Enabled"  # Admin -> Connections' Test button
    VAR.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        _peers(stack)
        demo_portal(stack, VAR)  # i15: the customer portal the emails link to
        _unpause_xop_dags()
        passwords = VAR / "airflow" / "simple_auth_manager_passwords.json.generated"
        print(f"Airflow UI on http://127.0.0.1:8080 ; the admin password is written to {passwords}")
        print("Ticket page: http://127.0.0.1:8080/xop/ (or Browse > XOP Tickets in the UI)")
        print("The XOP DAGs are unpaused and run on their schedules. Ctrl-C stops Airflow and every peer.")
        env = os.environ.copy()
        # standalone starts its components as `airflow ...` from PATH: put this venv's bin first.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        # Its own session: Ctrl-C reaches only us, and we stop its whole process group in order.
        proc = subprocess.Popen(
            [sys.executable, "-m", "airflow", "standalone"], env=env, start_new_session=True
        )
        # A closed terminal (SIGHUP) or a kill (SIGTERM) stops everything as Ctrl-C does.
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.default_int_handler)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            return 0
        finally:
            _stop_group(proc)  # before anything else: even a failing print must not skip it
            print("Airflow is stopped; stopping the demo peers.")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop_group(proc: subprocess.Popen, grace_s: float = 30.0) -> None:
    """SIGTERM every process of the standalone's group; SIGKILL whatever is left after the grace.

    The group outlives its leader (the components are its children), so the wait is on the
    group, reaping the leader as it goes (a zombie leader would keep the group alive).
    """
    pgid = proc.pid
    if _group_alive(pgid):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while proc.poll() is None or _group_alive(pgid):
        if time.monotonic() > deadline:
            os.killpg(pgid, signal.SIGKILL)
            proc.wait()
            break
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xop.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--ui", action="store_true", help="start the Airflow UI (airflow standalone) instead")
    args = parser.parse_args(argv)
    return run_ui() if args.ui else run_demo()


if __name__ == "__main__":
    raise SystemExit(main())
