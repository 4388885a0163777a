"""The customer portal: a FastAPI app of server-rendered pages for the
customer's own staff (the seed's Level 1), run by uvicorn as its own process.

``python -m xop.portal --port 8090`` serves it; :func:`create_app` builds it for tests.
"""

from __future__ import annotations

from xop.portal.app import create_app

__all__ = ["create_app"]
