"""Task bodies of the publication and restore DAGs: one call each, config read at run time.

The DAG files stay thin: they import this module inside their tasks.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

from xop.core.errors import BackupError, ConfigError
from xop.core.specs.backup import backup_root

log = logging.getLogger(__name__)


# -- publication ------------------------------------------------------------------------------


def customers_to_publish(customer_id: str | None) -> list[str]:
    """The customers with a ``publication`` section (or just ``customer_id``, which must have one)."""
    from xop.tasks import runtime

    cfg = runtime.config()
    if customer_id:
        customer = cfg.customer(customer_id)
        if customer.publication is None:
            raise ConfigError(f"customers[{customer_id}].publication: not configured; nothing to publish")
        return [customer.id]
    return [c.id for c in cfg.customers if c.publication is not None]


def publish_for_customer(customer_id: str, now_param: Any = None) -> dict[str, Any]:
    """Publish one customer's images (and newest verified backups if asked), record, email."""
    from xop.backup.api import latest_verified
    from xop.backup.notify import enqueue_publication_email
    from xop.backup.publication import backup_as_image, publish, record_publication
    from xop.tasks import runtime

    cfg = runtime.config()
    now = runtime.resolve_now(now_param)
    customer = cfg.customer(customer_id)
    spec = customer.publication
    if spec is None:
        raise ConfigError(f"customers[{customer_id}].publication: not configured")
    files = []
    if spec.publish_backups:
        for system in customer.systems:
            if system.backup is None:
                continue
            root = backup_root(cfg, system)
            manifest = latest_verified(root, system=system.id)
            if manifest is None:
                log.warning("system %s has no verified backup under %s to publish", system.id, root)
                continue
            files.append(backup_as_image(manifest))
    result = publish(spec, customer=customer.id, folder=customer.ftp_folder, files=files, now=now)
    engine = runtime.ticket_db()
    recipients = [contact.email for contact in customer.management_contacts]
    with engine.begin() as conn:  # the record and the customer's email commit together
        record_publication(conn, spec, result, now=now)
        queued = enqueue_publication_email(
            conn,
            result,
            customer_name=customer.name,
            recipients=recipients,
            now=now,
            sender=cfg.support.sender,
        )
    if result.uploaded and not recipients:
        log.warning("customer %s has no management contact: nobody was told about the upload", customer.id)
    for f in result.files:
        log.info(
            "%s %s/%s: %d bytes, sha256 %s%s",
            "published" if f.uploaded else "unchanged",
            result.folder,
            f.name,
            f.size,
            f.sha256,
            f" (vendor {f.vendor})" if f.vendor else "",
        )
    return {
        "customer": customer.id,
        "folder": result.folder,
        "files": [
            {"name": f.name, "size": f.size, "sha256": f.sha256, "uploaded": f.uploaded, "vendor": f.vendor}
            for f in result.files
        ],
        "pruned": result.pruned,
        "emails_queued": queued,
    }


# -- restore ----------------------------------------------------------------------------------


def find_backup(params: dict[str, Any]) -> dict[str, Any]:
    """Check the restore form and pick the backup; fails before anything is touched."""
    from xop.backup.api import latest_verified, list_backups
    from xop.backup.restore import confirmation_phrase
    from xop.tasks import runtime

    system_id = (params.get("system") or "").strip()
    if not system_id:
        raise ConfigError("params.system: name the system to restore (its id in the config)")
    target = params.get("target") or "scratch"
    dry_run = bool(params.get("dry_run", True))
    confirmation = (params.get("confirmation") or "").strip()
    if target == "replace" and not dry_run and confirmation != confirmation_phrase(system_id):
        raise BackupError(
            f"replacing the live database needs params.confirmation = {confirmation_phrase(system_id)!r}; "
            f"got {confirmation!r}. Nothing was changed."
        )
    cfg = runtime.config()
    _, system = cfg.system(system_id)
    if system.backup is None:
        raise ConfigError(f"system {system_id!r} has no backup section in the config")
    root = backup_root(cfg, system)
    on = _parse_date(params.get("backup_date"))
    manifest = latest_verified(root, system=system_id, on=on)
    if manifest is None:
        available = sorted({m.taken_at.date().isoformat() for m in list_backups(root, system=system_id)})
        raise BackupError(
            f"no verified backup of {system_id!r} under {root}"
            + (f" taken on {on.isoformat()} (UTC)" if on else "")
            + f"; backups exist for {available or 'no date'}"
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
    }


def restore(chosen: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Verify, restore into scratch, check, and (confirmed) swap; see :mod:`xop.backup.restore`."""
    from xop.backup.manifest import read_manifest
    from xop.backup.restore import restore_backup
    from xop.tasks import runtime

    _, system = runtime.config().system(chosen["system"])
    assert system.backup is not None  # checked by find_backup
    manifest = read_manifest(Path(chosen["manifest"]))
    result = restore_backup(
        system.backup,
        manifest,
        target=chosen["target"],
        now=runtime.resolve_now(params.get("now")),
        dry_run=chosen["dry_run"],
        confirmation=params.get("confirmation"),
    )
    return asdict(result)


def _parse_date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"params.backup_date: expected YYYY-MM-DD, got {value!r}") from None
