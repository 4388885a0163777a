"""The ticket REST API and page, as a FastAPI app that the Airflow plugin mounts at ``/xop``.

The app is :func:`xop.api.app.create_app`. Importing this package loads nothing else, so a task
that only needs :mod:`xop.api.idempotency` (the sweep's key expiry) does not load FastAPI routes
or Airflow's API server.
"""
