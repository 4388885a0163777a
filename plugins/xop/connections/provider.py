"""What Airflow's providers manager reads to offer the pipeline's connection types.

Airflow discovers providers through the ``apache_airflow_provider`` entry point of an installed
distribution; the project declares it in ``pyproject.toml``::

    [project.entry-points.apache_airflow_provider]
    provider_info = "xop.connections.provider:get_provider_info"

and is installed into Airflow's environment (``pip install -e .`` or the image's install).
``package-name`` must equal the distribution's name (``xop-ops``): Airflow refuses a mismatch.
"""

from __future__ import annotations

from typing import Any

from xop.connections.forms import CONNECTION_TYPES

PACKAGE_NAME = "xop-ops"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": PACKAGE_NAME,
        "name": "XOP operations pipeline",
        "description": "Connection types of the XOP pipeline: FTPS site, SIP trunk, Asterisk AMI, "
        "system database (each with a Test button).",
        "versions": ["0.1.0"],
        "connection-types": [
            {"connection-type": conn_type, **spec} for conn_type, spec in CONNECTION_TYPES.items()
        ],
    }
