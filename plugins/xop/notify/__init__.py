"""Notifications: email rendering, the ``notifications`` outbox and SMTP delivery.

Public names are re-exported here; the modules are ``render`` (templates), ``mime`` (the RFC
5322 message), ``outbox`` (enqueue), ``delivery`` (deliver pending rows), ``smtp`` (the SMTP
transport) and ``alerts`` (DAG failure notifier, imported on its own because it needs the Airflow
SMTP provider's notifier).
"""

from __future__ import annotations

from xop.notify.delivery import DeliveryStats, backoff_delay, deliver_pending
from xop.notify.mime import Attachment, InlineImage, build_message, make_message_id, message_bytes
from xop.notify.outbox import enqueue, failed_notifications, outbox_counts, render_and_enqueue
from xop.notify.render import KINDS, RenderedEmail, central_time, environment, render_email, templates_dir
from xop.notify.smtp import MailServerUnavailable, SmtpTransport

__all__ = [
    "KINDS",
    "Attachment",
    "DeliveryStats",
    "InlineImage",
    "MailServerUnavailable",
    "RenderedEmail",
    "SmtpTransport",
    "backoff_delay",
    "build_message",
    "central_time",
    "deliver_pending",
    "enqueue",
    "environment",
    "failed_notifications",
    "make_message_id",
    "message_bytes",
    "outbox_counts",
    "render_and_enqueue",
    "render_email",
    "templates_dir",
]
