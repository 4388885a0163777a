"""Real FTP servers for the publication tests: pyftpdlib (TLS and plain) and Debian's vsftpd.

vsftpd runs with the Debian defaults that matter here (``require_ssl_reuse=YES``, TLS forced
for logins and data), as a standalone daemon on a loopback port, for a local user created
here. It needs root (it switches to the user and chroots) and ``/var/run/vsftpd/empty``
(its ``secure_chroot_dir``), which the fixture creates if missing.
"""

from __future__ import annotations

import json
import os
import pwd
import random
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler, TLS_DTPHandler, TLS_FTPHandler
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import FTPServer

from xop.connections.ftps import FtpSettings
from xop.demo.peers import free_port, self_signed_cert, wait_for_port

VSFTPD = "/usr/sbin/vsftpd"
FTP_USER = "xop-ftp-test"


@dataclass
class FtpServer:
    """A running server: how to reach it and where its files land on disk."""

    name: str
    settings: FtpSettings
    root: Path  # the FTP root on the local disk
    drop_session: object = None  # callable(): drop the current client session from the server side

    def connection_uri(self) -> str:
        """The Airflow connection (JSON form) for ``AIRFLOW_CONN_...``."""
        s = self.settings
        extra = {"tls": s.tls, "ca_file": s.ca_file, "tls_max_version": s.tls_max_version}
        return json.dumps(
            {
                "conn_type": "ftp",
                "host": s.host,
                "port": s.port,
                "login": s.login,
                "password": s.password,
                "extra": {k: v for k, v in extra.items() if v is not None},
            }
        )


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_tls_cert(tmp_path_factory.mktemp("tls"))


def make_tls_cert(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost: (cert+key pem, cert pem for clients)."""
    cert, key = self_signed_cert(folder)
    both, public = folder / "server.pem", folder / "ca.pem"
    both.write_bytes(cert.read_bytes() + key.read_bytes())
    both.chmod(0o600)
    public.write_bytes(cert.read_bytes())
    return both, public


# -- pyftpdlib -----------------------------------------------------------------------------------


class DroppingDTPHandler(TLS_DTPHandler):
    """Data handler that, once armed, kills the whole session after ``drop_after`` bytes."""

    drop_after: int | None = None

    def handle_read_event(self) -> None:
        super().handle_read_event()
        limit = type(self).drop_after
        if limit is not None and self.tot_bytes_received >= limit:
            type(self).drop_after = None  # once
            self.cmd_channel.close()


def _start_pyftpdlib(handler: type[FTPHandler], root: Path, password: str) -> tuple[FTPServer, int]:
    authorizer = DummyAuthorizer()
    authorizer.add_user("xop", password, str(root), perm="elradfmwMT")
    handler.authorizer = authorizer
    handler.banner = "pyftpdlib test server"
    port = free_port()
    # Each server on its own IOLoop: pyftpdlib's default is one loop per process.
    server = FTPServer(("127.0.0.1", port), handler, ioloop=IOLoop())
    thread = threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.05}, daemon=True)
    thread.start()
    wait_for_port(port)
    return server, port


@pytest.fixture(scope="session")
def pyftpdlib_tls(tls_cert, tmp_path_factory) -> Iterator[FtpServer]:
    root = tmp_path_factory.mktemp("pyftpdlib-root")
    password = secrets.token_urlsafe(12)

    class Handler(TLS_FTPHandler):
        certfile = str(tls_cert[0])
        tls_control_required = True
        tls_data_required = True
        dtp_handler = DroppingDTPHandler

    server, port = _start_pyftpdlib(Handler, root, password)

    def drop_session() -> None:
        DroppingDTPHandler.drop_after = 0  # the next bytes received end the session

    settings = FtpSettings(
        host="127.0.0.1", port=port, login="xop", password=password, ca_file=str(tls_cert[1])
    )
    try:
        yield FtpServer("pyftpdlib", settings, root, drop_session)
    finally:
        server.close_all()


@pytest.fixture(scope="session")
def pyftpdlib_plain(tmp_path_factory) -> Iterator[FtpServer]:
    root = tmp_path_factory.mktemp("pyftpdlib-plain-root")
    password = secrets.token_urlsafe(12)

    class Handler(FTPHandler):
        pass

    server, port = _start_pyftpdlib(Handler, root, password)
    settings = FtpSettings(host="127.0.0.1", port=port, login="xop", password=password, tls=False)
    try:
        yield FtpServer("pyftpdlib-plain", settings, root)
    finally:
        server.close_all()


# -- vsftpd --------------------------------------------------------------------------------------

VSFTPD_CONF = """\
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port={port}
background=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
local_root={root}
chroot_local_user=YES
allow_writeable_chroot=YES
secure_chroot_dir=/var/run/vsftpd/empty
pam_service_name=vsftpd
userlist_enable=NO
pasv_enable=YES
pasv_address=127.0.0.1
pasv_min_port={pasv_min}
pasv_max_port={pasv_max}
ssl_enable=YES
rsa_cert_file={cert}
rsa_private_key_file={cert}
force_local_logins_ssl={force}
force_local_data_ssl={force}
require_ssl_reuse=YES
ssl_ciphers=HIGH
xferlog_enable=YES
vsftpd_log_file={log}
log_ftp_protocol=YES
"""


def ensure_ftp_user(password: str, home: Path) -> pwd.struct_passwd:
    """A local login user for vsftpd whose home is the FTP root (vsftpd chdirs there first).

    Its shell must be listed in /etc/shells: Debian's PAM stack for vsftpd checks it.
    """
    try:
        pwd.getpwnam(FTP_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--home-dir",
                str(home),
                "--shell",
                "/bin/sh",
                FTP_USER,
            ],
            check=True,
        )
    subprocess.run(["usermod", "--home", str(home), FTP_USER], check=True)
    subprocess.run(["chpasswd"], input=f"{FTP_USER}:{password}\n", text=True, check=True)
    return pwd.getpwnam(FTP_USER)


def start_vsftpd(
    tls_cert: tuple[Path, Path], *, force_tls: bool = True
) -> tuple[subprocess.Popen, FtpServer, Path]:
    """Start vsftpd on a free loopback port; returns (process, server, scratch dir to remove)."""
    if os.geteuid() != 0:
        pytest.fail("the vsftpd tests need root (vsftpd switches to the FTP user and chroots)")
    if not Path(VSFTPD).exists():
        pytest.fail(f"{VSFTPD} missing: apt-get install vsftpd")
    Path("/var/run/vsftpd/empty").mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(12)
    scratch = Path(tempfile.mkdtemp(prefix="xop-vsftpd-"))
    root = scratch / "root"
    root.mkdir()
    user = ensure_ftp_user(password, root)
    os.chown(root, user.pw_uid, user.pw_gid)
    scratch.chmod(0o755)
    port = free_port()
    pasv_min = random.randrange(41000, 49000, 50)
    conf = scratch / "vsftpd.conf"
    conf.write_text(
        VSFTPD_CONF.format(
            port=port,
            root=root,
            pasv_min=pasv_min,
            pasv_max=pasv_min + 40,
            cert=tls_cert[0],
            log=scratch / "vsftpd.log",
            force="YES" if force_tls else "NO",
        )
    )
    conf.chmod(0o600)  # vsftpd refuses config files others may write
    proc = subprocess.Popen([VSFTPD, str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port)
    except RuntimeError:
        proc.kill()
        output = proc.communicate()[0].decode(errors="replace")
        pytest.fail(f"vsftpd did not start: {output}")

    def drop_session() -> None:
        """Kill every session process of this vsftpd: the client's connection dies mid-transfer."""
        for child in psutil.Process(proc.pid).children(recursive=True):
            child.send_signal(signal.SIGKILL)

    settings = FtpSettings(
        host="127.0.0.1", port=port, login=FTP_USER, password=password, ca_file=str(tls_cert[1])
    )
    return proc, FtpServer("vsftpd", settings, root, drop_session), scratch


@pytest.fixture(scope="session")
def vsftpd(tls_cert) -> Iterator[FtpServer]:
    proc, server, scratch = start_vsftpd(tls_cert)
    try:
        yield server
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(params=["pyftpdlib", "vsftpd"])
def ftp_server(request) -> FtpServer:
    """Each test using this runs against both servers."""
    server: FtpServer = request.getfixturevalue("pyftpdlib_tls" if request.param == "pyftpdlib" else "vsftpd")
    for item in server.root.iterdir():  # a clean root for each test
        if item.is_dir():
            shutil.rmtree(item)
        else:
            item.unlink()
    return server
