"""The real API app's fixtures (Airflow's API server in-process, real tokens) and the browser
fixtures (a live API server, headless Chromium) and the customer portal (its own process) for the
routes and pages of the reports feature."""

from tests.api.conftest import (  # noqa: F401
    airflow_app,
    api_db_url,
    api_engine,
    client,
    clock,
    session_client,
    tokens,
)
from tests.browser.conftest import browser, browser_db, live_server, server, token  # noqa: F401
from tests.portal.conftest import portal  # noqa: F401
