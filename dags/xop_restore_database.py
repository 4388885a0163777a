"""
### XOP restore of a system database (manual only)

Fill in the form: the `system` (a drop-down of the configured systems with a backup section,
read from the config when this file is parsed), the `backup_date` (UTC date, YYYY-MM-DD; empty =
the newest verified backup), the `target` (`scratch`: a new database `<name>_restore_<stamp>`
beside the live one; `replace`: then swap it in) and `dry_run`. An unknown system or a date
without a verified backup fails the first task at once, without retry, naming the valid systems
or the dates that have a backup.

Steps, each logged: the backup's size and SHA-256 against its manifest; restore into a scratch
database; sanity checks (every table present, row counts equal to the manifest's). For
`replace` (not a dry run) a person then approves in **Browse → Required Actions**: the request
shows the system, the backup's date and checksum, the row counts of the scratch database against
the live one, and the name the old database will keep. **Approve** swaps (crash-safe: the live
database accepts connections whatever moment a process dies; the old one is kept as
`<name>_pre_restore_<stamp>`); **Reject**, or no answer within `approval_timeout_minutes`
(default 60), drops the scratch database and changes nothing. Only the system's
`backup.restore_approvers` may answer when the config names them.

Runs started through the REST API without a person at the UI pre-approve with the typed
`confirmation` `replace <system>`; a wrong one fails at once, without retry. The confirmation
matters only for a run that will swap (`replace`, not a dry run): a dry run or a `scratch`
restore needs none and ignores one. One restore per system at a time (an advisory lock on its server).

Manual runs have no logical date: everything comes from the form.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from xop.core.formchoices import system_choices
from xop.tasks.dag_defaults import DEFAULT_ARGS
from xop.tasks.forms import id_param
from xop.tasks.restore_approval import (
    APPROVAL_TASK,
    DEFAULT_APPROVAL_TIMEOUT_MINUTES,
    RestoreApprovalOperator,
)


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
        "system": id_param(
            system_choices("restore"),
            title="System",
            description="the system whose database is restored (systems with a backup section)",
        ),
        "backup_date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Backup date (UTC)",
            description="empty: the newest verified backup; a date without one fails, naming those with one",
        ),
        "target": Param(
            "scratch",
            type="string",
            enum=["scratch", "replace"],
            title="Target",
            description="scratch: restore beside the live database; replace: swap it in once approved",
        ),
        "dry_run": Param(
            True, type="boolean", title="Dry run", description="check and plan only; needs no confirmation"
        ),
        "confirmation": Param(
            None,
            type=["null", "string"],
            title="Confirmation (API runs that replace)",
            description="only for a replace that is not a dry run: leave empty to approve in "
            "Required Actions, or type: replace <system>",
        ),
        "approval_timeout_minutes": Param(
            DEFAULT_APPROVAL_TIMEOUT_MINUTES,
            type="integer",
            minimum=1,
            title="Approval timeout (minutes)",
            description="no answer by then: rejected, scratch dropped",
        ),
        "now": Param(
            None, type=["null", "string"], description="instant used in names (ISO 8601); default now"
        ),
    },
)
def xop_restore_database():
    @task
    def choose_backup(params: dict | None = None) -> dict:
        from xop.tasks.restore import find_backup

        return find_backup(params or {})

    @task
    def prepare_restore(chosen: dict, params: dict | None = None) -> dict:
        from xop.tasks.restore import prepare

        return prepare(chosen, params or {})

    @task.branch
    def route(prepared: dict) -> list[str]:
        from xop.tasks.restore import route

        return route(prepared)

    @task(trigger_rule="none_failed_min_one_success")
    def swap_in(prepared: dict) -> dict:
        from xop.tasks.restore import swap

        return swap(prepared)

    @task(trigger_rule="all_done")
    def finish(ti=None) -> dict:
        from xop.tasks.restore import finish

        return finish(ti)

    prepared = prepare_restore(choose_backup())
    approval = RestoreApprovalOperator(task_id=APPROVAL_TASK)
    decision = route(prepared)
    swapped = swap_in(prepared)
    decision >> [approval, swapped]
    approval >> swapped
    swapped >> finish()


xop_restore_database()
