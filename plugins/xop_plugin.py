"""The XOP Airflow plugin: the ticket API and page, mounted into Airflow's API server at ``/xop``,
and a navigation entry that shows the page inside the Airflow UI.

The page is an ``external_view`` with a ``url_route``: the Airflow UI renders it in an iframe
under ``/plugin/xop-tickets``. Being served by the same API server, the page is same-origin with
the UI, so the browser sends the UI's ``_token`` cookie with the page's requests and Airflow's
``get_user`` authenticates them; no token is handled in JavaScript.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from xop.api.app import create_app

URL_PREFIX = "/xop"

ticket_app = create_app()


class XopPlugin(AirflowPlugin):
    name = "xop"
    fastapi_apps = [  # noqa: RUF012 (AirflowPlugin declares these as class attributes)
        {"app": ticket_app, "url_prefix": URL_PREFIX, "name": "XOP tickets"},
    ]
    external_views = [  # noqa: RUF012
        {
            "name": "XOP Tickets",
            # Relative (no leading slash) so it also works when Airflow runs under a base path.
            "href": "xop/",
            "url_route": "xop-tickets",
            "destination": "nav",
            "category": "browse",
            "icon": "xop/static/favicon.svg",
        }
    ]
