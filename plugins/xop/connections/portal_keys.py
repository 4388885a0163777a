"""The customer portal's signing keys (links in emails, CSRF tokens), rotatable.

Read from the Airflow connection ``xop_portal`` (any type; ``password`` = the current key;
``extra`` = ``{"previous_keys": [{"key": "...", "retired_at": "2026-12-01T00:00:00Z"}]}``), or,
when that connection does not exist, from the environment: ``XOP_PORTAL_KEY`` (the current key)
and ``XOP_PORTAL_PREVIOUS_KEYS`` (the same JSON list). The names come from ``portal:`` in the
config.

Rotation: put the new key in ``password`` and move the old one to ``previous_keys`` with the
time it was retired. New links are signed with the current key; links signed with a retired key
keep verifying for ``portal.key_grace_days`` after ``retired_at``, then stop.

Keys are cached for a minute per process (the email renderer asks for every email).
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from xop.connections.read import extra_of
from xop.core.errors import ConfigError

#: A key shorter than this is refused: it could be guessed.
MIN_KEY_LENGTH = 24
_TTL = 60.0


@dataclass(frozen=True)
class RetiredKey:
    secret: str = field(repr=False)
    retired_at: datetime


@dataclass(frozen=True)
class SigningKeys:
    """The current key and the retired ones (secrets never in repr)."""

    current: str = field(repr=False)
    previous: tuple[RetiredKey, ...] = ()
    source: str = ""

    def verifying(self, now: datetime, grace: timedelta) -> list[str]:
        """Keys that verify at ``now``, oldest first, current last (itsdangerous' order)."""
        old = [k for k in sorted(self.previous, key=lambda k: k.retired_at) if now < k.retired_at + grace]
        return [k.secret for k in old] + [self.current]


def _parse_previous(raw: Any, where: str) -> tuple[RetiredKey, ...]:
    if raw in (None, "", []):
        return ()
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: previous keys must be a JSON list: {exc}") from None
    if not isinstance(raw, list):
        raise ConfigError(
            f"{where}: previous keys must be a list of {{key, retired_at}}, got {type(raw).__name__}"
        )
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not item.get("key") or not item.get("retired_at"):
            raise ConfigError(f"{where}: previous_keys[{i}] needs 'key' and 'retired_at'")
        try:
            at = datetime.fromisoformat(str(item["retired_at"]).replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(
                f"{where}: previous_keys[{i}].retired_at must be an ISO 8601 instant, "
                f"got {item['retired_at']!r}"
            ) from None
        if at.tzinfo is None:
            raise ConfigError(f"{where}: previous_keys[{i}].retired_at needs a UTC offset")
        out.append(RetiredKey(str(item["key"]), at.astimezone(UTC)))
    return tuple(out)


def _check(key: str, where: str) -> str:
    if len(key) < MIN_KEY_LENGTH:
        raise ConfigError(
            f"{where}: the portal signing key is {len(key)} characters long; use at least "
            f"{MIN_KEY_LENGTH} random characters "
            "(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return key


def _from_connection(conn_id: str) -> SigningKeys | None:
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None
    where = f"Airflow connection {conn_id!r}"
    if not conn.password:
        raise ConfigError(f"{where}: put the portal's current signing key in its password")
    extra = extra_of(conn, allowed={"previous_keys"})
    return SigningKeys(
        _check(conn.password, where), _parse_previous(extra.get("previous_keys"), where), where
    )


def _from_environment(key_env: str, previous_env: str) -> SigningKeys | None:
    key = os.environ.get(key_env)
    if not key:
        return None
    where = f"environment variable {key_env}"
    previous = _parse_previous(os.environ.get(previous_env), f"environment variable {previous_env}")
    return SigningKeys(_check(key, where), previous, where)


_cache: dict[tuple[str, str, str], tuple[float, SigningKeys | None]] = {}
_lock = threading.Lock()


def signing_keys(
    conn_id: str = "xop_portal",
    key_env: str = "XOP_PORTAL_KEY",
    previous_env: str = "XOP_PORTAL_PREVIOUS_KEYS",
) -> SigningKeys | None:
    """The portal's keys, or None when neither the connection nor the variable is set."""
    cache_key = (conn_id, key_env, previous_env)
    with _lock:
        hit = _cache.get(cache_key)
        if hit and time.monotonic() - hit[0] < _TTL:
            return hit[1]
    keys = _from_connection(conn_id) or _from_environment(key_env, previous_env)
    with _lock:
        _cache[cache_key] = (time.monotonic(), keys)
    return keys


def forget_keys() -> None:
    """Drop the cache (after a rotation in a long-running process, and in tests)."""
    with _lock:
        _cache.clear()
