"""Task bodies of the publication and restore DAGs: one call each, config read at run time.

The DAG files stay thin: they import this module inside their tasks.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from xop.backup.api import latest_verified
from xop.backup.notify import enqueue_publication_email
from xop.backup.publication import backup_as_image, publish, record_publication
from xop.core.errors import ConfigError
from xop.core.specs.backup import backup_root
from xop.tasks import metrics, runtime

log = logging.getLogger(__name__)


# -- publication ------------------------------------------------------------------------------


def customers_to_publish(customer_id: str | None) -> list[str]:
    """The customers with a ``publication`` section (or just ``customer_id``, which must have one)."""

    cfg = runtime.config()
    if customer_id:
        customer = cfg.customer(customer_id)
        if customer.publication is None:
            raise ConfigError(f"customers[{customer_id}].publication: not configured; nothing to publish")
        return [customer.id]
    return [c.id for c in cfg.customers if c.publication is not None]


def publish_for_customer(customer_id: str, now_param: Any = None) -> dict[str, Any]:
    """Publish one customer's images (and newest verified backups if asked), record, email."""

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
    started = time.monotonic()
    result = publish(spec, customer=customer.id, folder=customer.ftp_folder, files=files, now=now)
    metrics.after_publication(sum(f.size for f in result.uploaded), time.monotonic() - started)
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
