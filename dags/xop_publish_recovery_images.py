"""
### XOP publication of recovery images and backups

Runs when a new backup (asset `xop_backups`, emitted by the daily audit) or a new recovery image
(asset `xop_recovery_images`) appears, and on manual trigger. For each customer with a
`publication` section in the config (or only the `customer` given in the form): uploads the
configured recovery images (OEM images byte for byte, checked against the vendor's checksum) and,
if `publish_backups` is set, the newest verified backup of each of its systems, to the customer's
folder on the FTP site (Airflow connection `xop_ftp`; explicit FTPS unless the connection says
otherwise). Each file goes up under a temporary name, resumes after a dropped connection, is
size-checked and renamed into place; then `SHA256SUMS` and `MANIFEST.json` are rewritten and files
beyond retention pruned. Files already there with the same content are not sent again.

The customer's management contacts get an email (through the outbox) naming each file, its size
and SHA-256, never a password. Results are recorded in the `publications` table.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from xop.backup.assets import BACKUPS, RECOVERY_IMAGES
from xop.tasks.dag_defaults import DEFAULT_ARGS


@dag(
    dag_id="xop_publish_recovery_images",
    schedule=BACKUPS | RECOVERY_IMAGES,
    start_date=pendulum.datetime(2026, 1, 1, tz="America/Chicago"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=6),
    default_args=DEFAULT_ARGS,
    tags=["xop", "backup", "ftp"],
    doc_md=__doc__,
    params={
        "customer": Param(None, type=["null", "string"], description="only this customer id (default: all)"),
        "now": Param(None, type=["null", "string"], description="replay at this instant (ISO 8601)"),
    },
)
def xop_publish_recovery_images():
    @task
    def plan_customers(params: dict | None = None) -> list[str]:
        from xop.tasks.backup import customers_to_publish

        return customers_to_publish((params or {}).get("customer"))

    @task(max_active_tis_per_dagrun=4)
    def publish_customer(customer_id: str, params: dict | None = None) -> dict:
        from xop.tasks.backup import publish_for_customer

        return publish_for_customer(customer_id, (params or {}).get("now"))

    publish_customer.expand(customer_id=plan_customers())


xop_publish_recovery_images()
