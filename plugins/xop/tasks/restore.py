"""Task bodies of the restore DAG: check the form, prepare, ask a person, swap, clean up.

``choose_backup`` checks the form and refuses a wrong system, backup date or typed confirmation
without retry (a second try reads the same form); ``prepare_restore`` restores into the scratch
database and writes the text the approver reads; ``route`` picks the path (nothing more for a
dry run or a scratch restore, the swap at once when the typed confirmation pre-approved it,
else the approval); ``swap_in`` is the crash-safe swap; ``finish`` (the DAG's teardown) drops
the scratch database of a replace that was refused, timed out or failed.
"""

from __future__ import annotations

import logging
from datetime import UTC, date
from pathlib import Path
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk.exceptions import AirflowFailException

from xop.backup.api import latest_verified, list_backups
from xop.backup.manifest import read_manifest
from xop.backup.restore import (
    ConfirmationRefused,
    RestoreResult,
    check_confirmation,
    confirmation_phrase,
    discard_scratch,
    prepare_restore,
    swap_restored,
    was_swapped,
)
from xop.core.errors import ConfigError
from xop.core.formchoices import system_choices
from xop.core.specs.backup import backup_root
from xop.tasks import runtime
from xop.tasks.forms import check_choice, refuse
from xop.tasks.restore_approval import APPROVAL_TASK, SWAP_TASK

log = logging.getLogger(__name__)


def _system(system_id: str):
    _, system = runtime.config().system(system_id)
    if system.backup is None:
        raise ConfigError(f"system {system_id!r} has no backup section in the config")
    return system


def find_backup(params: dict[str, Any]) -> dict[str, Any]:
    """Check the restore form and pick the backup; fails before anything is touched.

    Every mistake in the form fails the task for good (:class:`AirflowFailException`, no retry:
    a second try reads the same form) and names the field: a system that is not configured with
    a backup (the valid ids listed), a malformed date or one without a verified backup (the
    dates that have one listed), a confirmation that is given but wrong. The confirmation is
    looked at only when the run will swap (``replace``, not a dry run); empty means: ask a
    person in Airflow before the swap.
    """
    cfg = runtime.config()
    system_id = check_choice(
        "system",
        params.get("system"),
        system_choices("restore", cfg.model_dump()),
        what="a system with a backup section in the configuration",
        why=_why_not(cfg, params.get("system")),
    )
    target = params.get("target") or "scratch"
    dry_run = bool(params.get("dry_run", True))
    confirmation = (params.get("confirmation") or "").strip()
    preapproved = False
    if target == "replace" and not dry_run and confirmation:
        try:
            check_confirmation(system_id, confirmation)
        except ConfirmationRefused as exc:
            raise AirflowFailException(str(exc)) from exc
        preapproved = True
    system = _system(system_id)
    root = backup_root(cfg, system)
    on = _parse_date(params.get("backup_date"))
    manifest = latest_verified(root, system=system_id, on=on)
    if manifest is None:
        dates = verified_dates(root, system_id)
        refuse(
            "backup_date" if on else "system",
            f"no verified backup of {system_id!r} under {root}"
            + (f" taken on {on.isoformat()} (UTC)" if on else "")
            + (f"; verified backups exist for {', '.join(dates)} (UTC)" if dates else "; there is none yet"),
        )
    log.info(
        "restore %s from %s (taken %s, %d bytes, sha256 %s), target %s%s",
        system_id,
        manifest.path.name,
        manifest.taken_at.isoformat(),
        manifest.size,
        manifest.sha256,
        target,
        " (dry run)" if dry_run else "",
    )
    return {
        "system": system_id,
        "manifest": str(manifest.manifest_path),
        "taken_at": manifest.taken_at.isoformat(),
        "target": target,
        "dry_run": dry_run,
        "preapproved": preapproved,
    }


def verified_dates(root: Path, system_id: str) -> list[str]:
    """UTC dates (ISO) of ``system_id``'s verified backups whose file is there, oldest first."""
    return sorted(
        {
            m.taken_at.astimezone(UTC).date().isoformat()
            for m in list_backups(root, system=system_id)
            if m.verified and m.path.is_file()
        }
    )


def _why_not(cfg: Any, value: Any) -> str:
    # Says why a configured system is not offered: it exists but has no backup section.
    try:
        _, system = cfg.system(str(value or "").strip())
    except ConfigError:
        return ""
    return "it has no backup section" if system.backup is None else ""


def prepare(chosen: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Verify, restore into the scratch database and check it; the text the approver will read."""
    system = _system(chosen["system"])
    manifest = read_manifest(Path(chosen["manifest"]))
    result = prepare_restore(
        system.backup,
        manifest,
        target=chosen["target"],
        now=runtime.resolve_now(params.get("now")),
        dry_run=chosen["dry_run"],
    )
    return {
        "chosen": chosen,
        "result": result.as_dict(),
        "approval_text": approval_text(result),
        "approvers": list(system.backup.restore_approvers),
    }


def approval_text(result: RestoreResult) -> str:
    """What the person approving sees: what will happen, from what, and the counts side by side."""
    tables = sorted(set(result.row_counts) | set(result.live_row_counts))
    rows = "\n".join(
        f"| `{t}` | {result.row_counts.get(t, '—')} | {result.live_row_counts.get(t, '—')} |" for t in tables
    )
    return (
        f"**Replace the live database of `{result.system}`** with the backup taken "
        f"**{result.taken_at}** (UTC).\n\n"
        f"- backup file: `{Path(result.backup).name}`, SHA-256 `{result.sha256}` (verified, full read)\n"
        f"- restored and checked in the scratch database `{result.scratch}`\n"
        f"- on **Approve**: `{result.live}` becomes the restored data; the current database is kept "
        f"as **`{result.previous}`**\n"
        f"- on **Reject** or no answer in time: the scratch database is dropped; nothing else changes\n\n"
        f"| table | rows restored (scratch) | rows now (live) |\n|---|---:|---:|\n{rows}\n"
    )


def route(prepared: dict[str, Any]) -> list[str]:
    """The branch: [] (nothing to swap), the swap at once (pre-approved), or the approval first."""
    chosen = prepared["chosen"]
    if chosen["dry_run"] or chosen["target"] != "replace":
        return []
    return [SWAP_TASK] if chosen["preapproved"] else [APPROVAL_TASK]


def swap(prepared: dict[str, Any]) -> dict[str, Any]:
    system = _system(prepared["chosen"]["system"])
    result = swap_restored(system.backup, RestoreResult.from_dict(prepared["result"]))
    return result.as_dict()


def finish(ti: Any) -> dict[str, Any]:
    """Always runs last: a replace that did not swap loses its scratch database.

    The run fails when nothing was prepared (an earlier step failed) or when a swap that was
    approved did not happen; a rejection or a timeout is a successful run that changed nothing.
    """
    prepared = ti.xcom_pull(task_ids="prepare_restore")
    if not prepared:
        raise AirflowFailException(
            "the restore stopped before its scratch database was ready; nothing changed"
        )
    chosen, result = prepared["chosen"], RestoreResult.from_dict(prepared["result"])
    if chosen["dry_run"]:
        return {"outcome": "dry run: nothing created", "steps": result.steps}
    if chosen["target"] != "replace":
        return {"outcome": f"restored into {result.scratch}", "steps": result.steps}
    system = _system(chosen["system"])
    if was_swapped(system.backup, result):
        return {"outcome": f"swapped; the old database is {result.previous}"}
    answer = ti.xcom_pull(task_ids=APPROVAL_TASK) or {}
    approved = chosen["preapproved"] or answer.get("chosen_options") == [ApprovalOperator.APPROVE]
    discard_scratch(system.backup, result, why="not swapped")
    if approved:
        raise AirflowFailException(
            f"the approved swap of {result.system!r} did not happen (see {SWAP_TASK}); "
            f"scratch database {result.scratch!r} dropped, live database unchanged"
        )
    who = answer.get("responded_by_user") or {}
    how = f"rejected by {who.get('name')}" if who else "rejected or not answered in time"
    log.info("restore of %s %s: scratch dropped, live database unchanged", result.system, how)
    return {"outcome": f"{how}; scratch dropped; live database unchanged", "steps": result.steps}


def _parse_date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        refuse("backup_date", f"expected YYYY-MM-DD, got {value!r}")


__all__ = [
    "approval_text",
    "confirmation_phrase",
    "find_backup",
    "finish",
    "prepare",
    "route",
    "swap",
    "verified_dates",
]
