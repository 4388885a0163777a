"""Which backups to keep: the newest of each of the last N days, ISO weeks and months.

Same rule as restic's ``forget --keep-daily/--keep-weekly/--keep-monthly``: a bucket is a
calendar day (week, month) in UTC that HAS a verified backup; the newest backup in each of the
N most recent such buckets is kept. The newest verified backup is always kept, and unverified
backups never count towards a bucket. Pure: no files, no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from xop.backup.manifest import BackupManifest
from xop.core.specs.backup import RetentionSpec

_BUCKETS: dict[str, Callable[[datetime], tuple[int, ...]]] = {
    "daily": lambda t: (t.year, t.month, t.day),
    "weekly": lambda t: tuple(t.isocalendar())[:2],
    "monthly": lambda t: (t.year, t.month),
}


def select_kept(
    manifests: Sequence[BackupManifest], retention: RetentionSpec, *, now: datetime
) -> dict[str, list[str]]:
    """Map each kept backup's path to the reasons it is kept; missing paths are to delete.

    Backups dated after ``now`` (clock skew between hosts, or a rerun for an earlier ``now``) are
    kept untouched and do not count: the rules apply to the backups as of ``now``, so the backup
    an audit rerun has just taken is that moment's newest, not pruned for a later one.
    """
    reasons: dict[str, list[str]] = {}
    verified = sorted(
        (m for m in manifests if m.verified and m.taken_at <= now), key=lambda m: m.taken_at, reverse=True
    )
    if verified:
        reasons.setdefault(str(verified[0].path), []).append("newest verified")
    for manifest in manifests:
        if manifest.taken_at > now:
            reasons.setdefault(str(manifest.path), []).append("dated in the future")
    for rule, bucket_of in _BUCKETS.items():
        limit = getattr(retention, rule)
        seen: set[tuple[int, ...]] = set()
        for manifest in verified:
            bucket = bucket_of(manifest.taken_at.astimezone(UTC))
            if bucket in seen:
                continue
            if len(seen) >= limit:
                break
            seen.add(bucket)
            reasons.setdefault(str(manifest.path), []).append(rule)
    return reasons
