"""The four hooks. Each reads its connection through :mod:`xop.connections` and answers the
Test button (``test_connection``) with a real exchange with the peer, returning ``(ok, message)``;
a message never contains the connection's password."""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from xop.connections.ami import AmiSettings
from xop.connections.ftps import FtpsClient, FtpSettings, login_and_pwd
from xop.connections.hook import XopHookBase
from xop.connections.sip import SipTrunkSettings
from xop.connections.sysdb import PgServer, select_one
from xop.core.errors import ConfigError, ProbeError
from xop.core.specs.trunks import TlsSpec, TrunkSpec
from xop.trunks.ami import AmiClient
from xop.trunks.options import probe_options
from xop.trunks.target import DigestCredentials

T = TypeVar("T")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run an asyncio probe from the synchronous Test button.

    The API server calls ``test_connection`` in a worker thread (no event loop: ``asyncio.run``);
    should a caller already run a loop in this thread, the probe gets a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _validation_message(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())


class XopFtpsHook(XopHookBase):
    """XOP's FTP site (explicit FTPS by default); :meth:`get_conn` is a connected :class:`FtpsClient`."""

    conn_name_attr = "ftp_conn_id"
    default_conn_name = "xop_ftp"
    conn_type = "xop_ftps"
    hook_name = "XOP FTPS site"

    def settings(self) -> FtpSettings:
        return FtpSettings.from_connection(self.conn_id)

    def get_conn(self) -> FtpsClient:
        client = FtpsClient(self.conn_id, settings=self.settings())
        client.connect()
        return client

    def _test(self) -> tuple[bool, str]:
        return login_and_pwd(self.settings())


class XopSipTrunkHook(XopHookBase):
    """A SIP trunk's far end and digest credentials; the Test button is the trunk check's OPTIONS."""

    conn_name_attr = "sip_conn_id"
    default_conn_name = "xop_sip_trunk"
    conn_type = "xop_sip_trunk"
    hook_name = "XOP SIP trunk"

    def settings(self) -> SipTrunkSettings:
        return SipTrunkSettings.from_connection(self.conn_id)

    def get_conn(self) -> SipTrunkSettings:
        return self.settings()

    def trunk(self, settings: SipTrunkSettings | None = None) -> TrunkSpec:
        """The connection as the trunk check's trunk (OPTIONS only, no test call)."""
        s = settings or self.settings()
        if not s.host:
            raise ConfigError(
                f"Airflow connection {self.conn_id!r}: no host: set the far end's host to test it"
            )
        trunk_id = re.sub(r"[^A-Za-z0-9_.:-]", "-", self.conn_id)[:100] or "connection"
        try:
            return TrunkSpec(
                id=trunk_id,
                transport=s.transport,
                host=s.host,
                port=s.port,
                test_call=False,
                from_domain=s.from_domain,
                options_timeout_s=s.timeout,
                tls=TlsSpec(ca_file=s.ca_file),
            )
        except ValidationError as exc:
            raise ConfigError(f"Airflow connection {self.conn_id!r}: {_validation_message(exc)}") from None

    def _test(self) -> tuple[bool, str]:
        s = self.settings()
        trunk = self.trunk(s)
        credentials = DigestCredentials(s.login, s.password) if s.login and s.password is not None else None
        result = _run(
            probe_options(
                trunk, system="connection test", checked_at=datetime.now(UTC), credentials=credentials
            )
        )
        where = f"OPTIONS to {trunk.target}"
        if result.ok:
            return True, f"{where}: answered {result.sip_code} in {result.rtt_ms:.1f} ms"
        return False, f"{where}: {result.error}"


class XopAmiHook(XopHookBase):
    """An Asterisk Manager Interface (plain or TLS); the Test button is the trunk check's AMI login."""

    conn_name_attr = "ami_conn_id"
    default_conn_name = "xop_ami"
    conn_type = "xop_ami"
    hook_name = "XOP Asterisk AMI"

    def settings(self) -> AmiSettings:
        return AmiSettings.from_connection(self.conn_id)

    def get_conn(self) -> AmiSettings:
        return self.settings()

    def _test(self) -> tuple[bool, str]:
        s = self.settings()
        where = f"AMI {s.host}:{s.port}" + (" (TLS)" if s.tls else "")

        async def login() -> str:
            async with AmiClient.connect(
                s.host,
                s.port,
                username=s.login,
                secret=s.password,
                timeout=s.timeout,
                tls=s.tls,
                ca_file=s.ca_file,
            ) as ami:
                return ami.version

        try:
            version = _run(login())
        except ProbeError as exc:  # the client's own messages name the AMI when it was not reached
            text = str(exc)
            return False, text if text.startswith(where) else f"{where}: {text}"
        except OSError as exc:
            return False, f"{where}: {exc.strerror or exc}"
        return True, f"{where}: logged in as {s.login!r} (Asterisk Call Manager/{version})"


class XopSystemDbHook(XopHookBase):
    """A system's PostgreSQL database; :meth:`get_conn` is a psycopg connection."""

    conn_name_attr = "sysdb_conn_id"
    default_conn_name = "xop_sysdb"
    conn_type = "xop_sysdb"
    hook_name = "XOP system database (PostgreSQL)"

    def server(self) -> PgServer:
        return PgServer.from_connection(self.conn_id, default_database="postgres")

    def get_conn(self):
        return self.server().connect()

    def _test(self) -> tuple[bool, str]:
        return select_one(self.server())


__all__ = ["XopAmiHook", "XopFtpsHook", "XopSipTrunkHook", "XopSystemDbHook"]
