"""Airflow hooks of the pipeline's own connection types, so that Admin → Connections offers them.

Each hook reads its connection through the settings class of its module and answers the UI's
Test button with a real exchange with the peer:

=================  ===================  ===========================================
conn_type          hook                 Test button
=================  ===================  ===========================================
``xop_ftps``       :class:`XopFtpsHook`      login (AUTH TLS, PROT P) and ``PWD``
``xop_sip_trunk``  :class:`XopSipTrunkHook`  ``OPTIONS`` (digest retry when challenged)
``xop_ami``        :class:`XopAmiHook`       AMI ``Login`` with ``Events: off``, ``Logoff``
``xop_sysdb``      :class:`XopSystemDbHook`  ``SELECT 1``
=================  ===================  ===========================================

The fields and labels come from :mod:`xop.connections.forms`; the registration from
:mod:`xop.connections.provider`. This module imports Airflow's SDK: import it only where a hook
is wanted (the domain code uses the light settings classes directly).
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.sdk import BaseHook

from xop.connections import forms
from xop.connections.ami import AmiSettings, login_probe
from xop.connections.ftps import FtpsClient, FtpSettings, login_and_pwd
from xop.connections.sip import SipTrunkSettings, check_trunk
from xop.connections.sysdb import PgServer, select_one
from xop.core.errors import ConfigError


class _XopHook(BaseHook):
    conn_name_attr: ClassVar[str]
    default_conn_name: ClassVar[str]
    conn_type: ClassVar[str]
    hook_name: ClassVar[str]

    def __init__(self, conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__()
        self.conn_id = kwargs.pop(self.conn_name_attr, None) or conn_id or self.default_conn_name
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected arguments {sorted(kwargs)}")

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return forms.ui_field_behaviour(cls.conn_type)

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        return forms.form_widgets(cls.conn_type)

    def test_connection(self) -> tuple[bool, str]:
        try:
            return self._test()
        except ConfigError as exc:
            return False, str(exc)

    def _test(self) -> tuple[bool, str]:
        raise NotImplementedError


class XopFtpsHook(_XopHook):
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


class XopSipTrunkHook(_XopHook):
    """A SIP trunk's far end and digest credentials."""

    conn_name_attr = "sip_conn_id"
    default_conn_name = "xop_sip_trunk"
    conn_type = "xop_sip_trunk"
    hook_name = "XOP SIP trunk"

    def settings(self) -> SipTrunkSettings:
        return SipTrunkSettings.from_connection(self.conn_id)

    def get_conn(self) -> SipTrunkSettings:
        return self.settings()

    def _test(self) -> tuple[bool, str]:
        return check_trunk(self.settings())


class XopAmiHook(_XopHook):
    """An Asterisk Manager Interface (plain or TLS)."""

    conn_name_attr = "ami_conn_id"
    default_conn_name = "xop_ami"
    conn_type = "xop_ami"
    hook_name = "XOP Asterisk AMI"

    def settings(self) -> AmiSettings:
        return AmiSettings.from_connection(self.conn_id)

    def get_conn(self) -> AmiSettings:
        return self.settings()

    def _test(self) -> tuple[bool, str]:
        return login_probe(self.settings())


class XopSystemDbHook(_XopHook):
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
