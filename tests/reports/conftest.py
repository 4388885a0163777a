"""The real API app's fixtures (Airflow's API server in-process, real tokens) for the routes of
the reports feature."""

from tests.api.conftest import (  # noqa: F401
    airflow_app,
    api_db_url,
    api_engine,
    client,
    clock,
    session_client,
    tokens,
)
