"""
### XOP restore of a system database (manual only)

Fill in the form: the `system` (its id in the config), the `backup_date` (UTC date, YYYY-MM-DD;
empty = the newest verified backup), the `target` (`scratch`: a new database
`<name>_restore_<stamp>` beside the live one; `replace`: then swap it in) and `dry_run`.
Replacing needs the typed `confirmation` `replace <system>`.

Steps, each logged: the backup's size and SHA-256 against its manifest; restore into a scratch
database; sanity checks (every table present, row counts equal to the manifest's); only for
`replace`, confirmed and not a dry run: connections to the live database are cut and, in one
transaction, the live database is renamed to `<name>_pre_restore_<stamp>` (kept) and the scratch
one takes its name. Any failure before that leaves the live database untouched; a dry run checks
the archive and reports the plan without creating anything.

Manual runs have no logical date: everything comes from the form.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from xop.tasks.dag_defaults import DEFAULT_ARGS


@dag(
    dag_id="xop_restore_database",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="America/Chicago"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=12),
    default_args={**DEFAULT_ARGS, "retries": 1},
    tags=["xop", "backup", "restore"],
    doc_md=__doc__,
    params={
        "system": Param(
            "", type="string", title="System", description="system id in the config, e.g. acme-conf1"
        ),
        "backup_date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Backup date (UTC)",
            description="empty: the newest verified backup",
        ),
        "target": Param(
            "scratch",
            type="string",
            enum=["scratch", "replace"],
            title="Target",
            description="scratch: restore beside the live database; replace: swap it in afterwards",
        ),
        "dry_run": Param(True, type="boolean", title="Dry run", description="check and plan only"),
        "confirmation": Param(
            "",
            type="string",
            title="Confirmation",
            description="to replace the live database type exactly: replace <system>",
        ),
        "now": Param(
            None, type=["null", "string"], description="instant used in names (ISO 8601); default now"
        ),
    },
)
def xop_restore_database():
    @task
    def choose_backup(params: dict | None = None) -> dict:
        from xop.tasks.backup import find_backup

        return find_backup(params or {})

    @task
    def restore_backup(chosen: dict, params: dict | None = None) -> dict:
        from xop.tasks.backup import restore

        return restore(chosen, params or {})

    restore_backup(choose_backup())


xop_restore_database()
