"""Bring the XOP ticket database to the newest schema: ``python scripts/migrate_xop_db.py``.

The production stack's ``airflow-init`` service runs it once before anything else starts (tasks
would also migrate on first use, but a deployment should fail at init, not in its first task).
The database is the one of the Airflow connection ``xop_db`` (``AIRFLOW_CONN_XOP_DB``).
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conn-id", default="xop_db", help="Airflow connection of the ticket DB")
    args = parser.parse_args(argv)

    # The domain package lives in Airflow's plugins folder, which Airflow puts on sys.path for its
    # own processes only: do the same here.
    from airflow.configuration import conf

    sys.path.insert(0, conf.get("core", "plugins_folder"))
    from xop.connections.ticket_db import ticket_db_url
    from xop.db.engine import engine_from_url
    from xop.db.migrate import current, head, upgrade

    engine = engine_from_url(ticket_db_url(args.conn_id))
    before = current(engine)
    upgrade(engine)
    print(f"{args.conn_id}: schema {before or '(empty)'} -> {head()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
