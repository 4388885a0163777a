"""``python -m xop.portal [--host 127.0.0.1] [--port 8090]``: serve the customer portal with uvicorn.

Reads the XOP config (``XOP_CONFIG``), the ticket database from the Airflow connection
``xop_db`` (e.g. ``AIRFLOW_CONN_XOP_DB``), the signing key (connection ``xop_portal`` or
``XOP_PORTAL_KEY``), and sends its emails through ``smtp_default``. Its own process, never
inside Airflow's API server. Behind a TLS proxy, pass ``--forwarded-allow-ips`` with the proxy's
address so the rate limits see the real client.
"""

from __future__ import annotations

import argparse
import logging
import os

import uvicorn

from xop.connections.ticket_db import DEFAULT_CONN_ID, ticket_db
from xop.core.config import load_config
from xop.portal.app import create_app


def build_app():
    """The app over the (migrated) ticket database of ``xop_db`` and the config of ``XOP_CONFIG``."""
    return create_app(load_config(), ticket_db(os.environ.get("XOP_PORTAL_DB_CONN_ID", DEFAULT_CONN_ID)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xop.portal", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("XOP_PORTAL_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("XOP_PORTAL_PORT", "8090")))
    parser.add_argument("--forwarded-allow-ips", default=os.environ.get("XOP_PORTAL_FORWARDED_ALLOW_IPS"))
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = build_app()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        proxy_headers=bool(args.forwarded_allow_ips),
        forwarded_allow_ips=args.forwarded_allow_ips,
        server_header=False,
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
