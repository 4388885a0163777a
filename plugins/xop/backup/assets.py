"""The Airflow Assets of backups and recovery images.

The daily audit lists :data:`BACKUPS` in the ``outlets`` of its backup task (one event per run,
``extra={"systems": [...]}`` is welcome but not required); whoever drops a new recovery image
(an operator, a build job through the REST API) emits :data:`RECOVERY_IMAGES`. The publication
DAG is scheduled on either (``BACKUPS | RECOVERY_IMAGES``). Cheap to import: DAG files use it
at parse time.
"""

from __future__ import annotations

from airflow.sdk import Asset

BACKUPS = Asset(name="xop_backups", uri="xop://backups/", group="xop")
RECOVERY_IMAGES = Asset(name="xop_recovery_images", uri="xop://recovery-images/", group="xop")

__all__ = ["BACKUPS", "RECOVERY_IMAGES"]
