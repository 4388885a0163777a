"""AMI over TLS: the test AMI server behind TLS with a certificate issued by a test CA; the
client verifies chain and name, and refuses an untrusted or misnamed server before logging in."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.trunks.ami_server import AmiServer
from tests.trunks.test_trunks_ami import NOW, PRI_TRUNKS
from xop.core.specs.trunks import AmiSpec
from xop.trunks.ami import AmiError, check_pri_spans, read_pri_spans


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def issue_ca_and_server_cert(directory: Path, *, ca_name: str = "XOP test CA") -> tuple[Path, Path, Path]:
    """A CA (CA:TRUE, key cert sign) and a server certificate it signed for 127.0.0.1 and
    ami.test (CA:FALSE, serverAuth): the shape of a real deployment. Returns (ca, cert, key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name(ca_name))
        .issuer_name(_name(ca_name))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("ami.test"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("ami.test"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    paths = directory / "ca.pem", directory / "ami.pem", directory / "ami.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


@pytest.fixture
def pki(tmp_path) -> tuple[Path, Path, Path]:
    return issue_ca_and_server_cert(tmp_path / "pki")


@pytest.fixture
def tls_server(pki) -> Iterator[AmiServer]:
    _, cert, key = pki
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = AmiServer(ssl_context=context).start()
    try:
        yield server
    finally:
        server.stop()


def spec(server: AmiServer, **kw) -> AmiSpec:
    return AmiSpec.model_validate({"host": server.host, "port": server.port, "conn_id": "ami", **kw})


def test_spans_are_read_over_verified_tls(tls_server, pki):
    ca = pki[0]
    statuses = asyncio.run(
        read_pri_spans(spec(tls_server, tls=True, ca_file=str(ca)), username="monitor", secret="amipass")
    )
    assert [(s.span, s.ok) for s in statuses] == [(1, True), (2, True)]
    assert tls_server.actions_seen == ["Login", "PRIShowSpans", "Logoff"]
    # The certificate's other name works when the host is given by name.
    tls_server.actions_seen.clear()
    named = spec(tls_server, tls=True, ca_file=str(ca), server_name="ami.test")
    assert len(asyncio.run(read_pri_spans(named, username="monitor", secret="amipass"))) == 2
    results = asyncio.run(
        check_pri_spans(
            system="acme-conf1",
            ami=named,
            trunks=PRI_TRUNKS,
            username="monitor",
            secret="amipass",
            checked_at=NOW,
        )
    )
    assert [(r.ok, r.target) for r in results] == [
        (True, f"amis:127.0.0.1:{tls_server.port}/span 1"),
        (True, f"amis:127.0.0.1:{tls_server.port}/span 2"),
    ]


def test_an_untrusted_certificate_is_refused_before_the_login(tls_server, tmp_path):
    other_ca = issue_ca_and_server_cert(tmp_path / "other", ca_name="Someone else's CA")[0]
    for ca in (str(other_ca), None):  # another CA; the system CAs
        with pytest.raises(AmiError, match=r"\(TLS\): certificate not trusted"):
            asyncio.run(
                read_pri_spans(spec(tls_server, tls=True, ca_file=ca), username="monitor", secret="amipass")
            )
    assert tls_server.actions_seen == []  # the secret was never sent


def test_a_certificate_for_another_name_is_refused(tls_server, pki):
    wrong = spec(tls_server, tls=True, ca_file=str(pki[0]), server_name="pbx.other.test")
    with pytest.raises(AmiError, match="certificate not trusted"):
        asyncio.run(read_pri_spans(wrong, username="monitor", secret="amipass"))
    assert tls_server.actions_seen == []


def test_a_clear_text_client_gets_nothing_from_a_tls_ami(tls_server):
    results = asyncio.run(
        check_pri_spans(
            system="acme-conf1",
            ami=spec(tls_server, timeout_s=3),
            trunks=PRI_TRUNKS,
            username="monitor",
            secret="amipass",
            checked_at=NOW,
        )
    )
    assert [r.ok for r in results] == [False, False] and all(r.error for r in results)
    assert tls_server.actions_seen == []


def test_tls_settings_without_tls_are_a_config_error():
    with pytest.raises(ValueError, match="for tls: true"):
        AmiSpec(host="127.0.0.1", conn_id="ami", ca_file="/etc/ssl/ca.pem")
    with pytest.raises(ValueError, match=r"'\.\.'"):
        AmiSpec(host="127.0.0.1", conn_id="ami", tls=True, ca_file="../ca.pem")
