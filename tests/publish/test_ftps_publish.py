"""Publication over FTPS against real servers: pyftpdlib with TLS and Debian's vsftpd."""

from __future__ import annotations

import ftplib
import hashlib
import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from xop.backup import FtpSpec, ImageSpec, PublicationSpec, publish
from xop.backup.publication import PublicationError
from xop.backup.tables import publications
from xop.connections.ftps import FtpsClient, FtpSettings
from xop.core.errors import FtpError
from xop.db.meta import metadata

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def make_file(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def spec(*images: ImageSpec, retention: int = 3) -> PublicationSpec:
    return PublicationSpec(ftp=FtpSpec(retention=retention), images=list(images))


def test_vsftpd_refuses_stock_ftp_tls_and_accepts_ours(vsftpd, tmp_path: Path) -> None:
    s = vsftpd.settings
    stock = ftplib.FTP_TLS(context=s.ssl_context(), timeout=10)
    stock.connect(s.host, s.port)
    stock.login(s.login, s.password)
    stock.prot_p()
    with pytest.raises(ftplib.error_perm, match="522 SSL connection failed: session reuse required"):
        stock.nlst()
    stock.close()

    source = make_file(tmp_path / "probe.bin", 300_000)
    with FtpsClient(settings=s) as ftp:
        assert ftp.ftp.sock.version() in ("TLSv1.2", "TLSv1.3")
        for _ in range(3):  # several data connections, each resuming the control session
            ftp.upload(source, folder="/", name="probe.bin")
        assert "probe.bin" in ftp.names("/")
    assert (vsftpd.root / "probe.bin").read_bytes() == source.read_bytes()


def test_publish_writes_sums_and_labels_and_downloads_identical(ftp_server, tmp_path: Path) -> None:
    image = make_file(tmp_path / "conf1-recovery-2026.11.img", 2_500_000)
    oem = make_file(tmp_path / "NEC-SV9100-R9.iso", 1_200_000)
    oem_md5 = hashlib.md5(oem.read_bytes()).hexdigest()
    client = FtpsClient(settings=ftp_server.settings)
    engine = create_engine(f"sqlite:///{tmp_path / 'xop.db'}")
    metadata.create_all(engine, tables=[publications])

    result = publish(
        spec(
            ImageSpec(path=image),
            ImageSpec(path=oem, vendor="NEC", vendor_checksum=oem_md5, vendor_checksum_algorithm="md5"),
        ),
        customer="acme",
        now=NOW,
        client=client,
        engine=engine,
    )

    folder = ftp_server.root / "acme"
    assert sorted(p.name for p in folder.iterdir()) == [
        "MANIFEST.json",
        "NEC-SV9100-R9.iso",
        "SHA256SUMS",
        "conf1-recovery-2026.11.img",
    ]
    assert (folder / "SHA256SUMS").read_text() == (
        f"{sha256(oem)}  NEC-SV9100-R9.iso\n{sha256(image)}  conf1-recovery-2026.11.img\n"
    )
    check = subprocess.run(
        ["sha256sum", "--check", "--strict", "SHA256SUMS"], cwd=folder, capture_output=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    labels = {f["name"]: f for f in json.loads((folder / "MANIFEST.json").read_text())["files"]}
    assert labels["NEC-SV9100-R9.iso"]["vendor"] == "NEC"
    assert labels["NEC-SV9100-R9.iso"]["vendor_checksum"] == oem_md5
    assert labels["NEC-SV9100-R9.iso"]["vendor_checksum_algorithm"] == "md5"
    assert labels["conf1-recovery-2026.11.img"]["vendor"] is None
    assert [f.sha256 for f in result.files] == [sha256(image), sha256(oem)]

    with FtpsClient(settings=ftp_server.settings) as ftp:
        for local in (image, oem):
            back = tmp_path / f"back-{local.name}"
            ftp.download(f"/acme/{local.name}", back)
            assert back.read_bytes() == local.read_bytes()

    again = publish(
        spec(ImageSpec(path=image)),
        customer="acme",
        now=NOW + timedelta(hours=1),
        client=client,
        engine=engine,
    )
    assert [f.uploaded for f in again.files] == [False]
    with engine.connect() as conn:
        rows = conn.execute(select(publications.c.name, publications.c.vendor, publications.c.size)).all()
    assert sorted(rows) == [
        ("NEC-SV9100-R9.iso", "NEC", 1_200_000),
        ("conf1-recovery-2026.11.img", None, 2_500_000),
    ]


def test_resume_after_the_server_drops_the_connection(ftp_server, tmp_path: Path) -> None:
    source = make_file(tmp_path / "big.img", 24 * 1024 * 1024)
    final = ftp_server.root / "acme" / "big.img"
    part = ftp_server.root / "acme" / ".big.img.part"
    seen = {"dropped": False, "final_seen_early": False, "max_part": 0}

    def watch(offset: int) -> None:
        if final.exists():
            seen["final_seen_early"] = True
        if part.exists():
            seen["max_part"] = max(seen["max_part"], part.stat().st_size)
        if not seen["dropped"] and offset >= 6 * 1024 * 1024:
            seen["dropped"] = True
            ftp_server.drop_session()

    with FtpsClient(settings=ftp_server.settings, backoff=0.05) as ftp:
        ftp.ensure_folder("/acme")
        result = ftp.upload(source, folder="/acme", name="big.img", on_progress=watch)

    assert seen["dropped"] and result.reconnects >= 1
    assert not seen["final_seen_early"] and seen["max_part"] > 0
    assert result.sha256 == sha256(source) and result.size == source.stat().st_size
    assert final.read_bytes() == source.read_bytes()
    assert not part.exists()


def test_resume_a_part_file_left_by_an_earlier_run(ftp_server, tmp_path: Path) -> None:
    source = make_file(tmp_path / "img.bin", 3_000_000)
    with FtpsClient(settings=ftp_server.settings) as ftp:
        ftp.ensure_folder("/acme")
        ftp.write_bytes(source.read_bytes()[:1_000_000], folder="/acme", name=".img.bin.part")
        result = ftp.upload(source, folder="/acme", name="img.bin")
    assert result.sha256 == sha256(source)  # the digest covers the part already on the server
    assert (ftp_server.root / "acme" / "img.bin").read_bytes() == source.read_bytes()


def test_prune_keeps_the_newest_per_series_and_leaves_foreign_files(pyftpdlib_tls, tmp_path: Path) -> None:
    client = FtpsClient(settings=pyftpdlib_tls.settings)
    folder = pyftpdlib_tls.root / "acme"
    for item in folder.glob("*") if folder.exists() else []:
        item.unlink()
    folder.mkdir(exist_ok=True)
    (folder / "README.txt").write_text("put here by a person")
    other = make_file(tmp_path / "tools-1.zip", 1000)
    publish(spec(ImageSpec(path=other, series="tools"), retention=2), customer="acme", now=NOW, client=client)
    for day in range(1, 5):
        image = make_file(tmp_path / f"conf1-2026-11-0{day}.img", 10_000 + day)
        result = publish(
            spec(ImageSpec(path=image), retention=2),
            customer="acme",
            now=NOW + timedelta(days=day),
            client=client,
        )

    assert result.pruned == ["conf1-2026-11-02.img"]
    assert sorted(p.name for p in folder.iterdir()) == [
        "MANIFEST.json",
        "README.txt",
        "SHA256SUMS",
        "conf1-2026-11-03.img",
        "conf1-2026-11-04.img",
        "tools-1.zip",
    ]
    listed = sorted(line.split("  ")[1] for line in (folder / "SHA256SUMS").read_text().splitlines())
    assert listed == ["conf1-2026-11-03.img", "conf1-2026-11-04.img", "tools-1.zip"]


def test_oem_image_with_wrong_vendor_checksum_is_not_published(ftp_server, tmp_path: Path) -> None:
    oem = make_file(tmp_path / "cisco.bin", 5000)
    bad = ImageSpec(path=oem, vendor="Cisco", vendor_checksum="0" * 64)
    with pytest.raises(PublicationError, match="the vendor Cisco says 0000"):
        publish(spec(bad), customer="acme", now=NOW, client=FtpsClient(settings=ftp_server.settings))
    assert not (ftp_server.root / "acme").exists()


def test_plain_ftp_only_when_the_connection_says_so(pyftpdlib_plain, tmp_path: Path, monkeypatch) -> None:
    plain = pyftpdlib_plain.settings
    tls_by_default = FtpSettings(host=plain.host, port=plain.port, login=plain.login, password=plain.password)
    with pytest.raises(FtpError, match="AUTH"):
        FtpsClient(settings=tls_by_default).connect()

    uri = pyftpdlib_plain.connection_uri()
    assert json.loads(uri)["extra"] == {"tls": False}
    monkeypatch.setenv("AIRFLOW_CONN_XOP_FTP", uri)
    source = make_file(tmp_path / "x.img", 70_000)
    result = publish(spec(ImageSpec(path=source)), customer="acme", now=NOW)  # default conn_id xop_ftp
    assert result.files[0].sha256 == sha256(source)
    assert (pyftpdlib_plain.root / "acme" / "x.img").read_bytes() == source.read_bytes()


def test_connection_settings_are_validated(monkeypatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_XOP_FTP_BAD",
        json.dumps({"conn_type": "ftp", "host": "h", "password": "s3cret!", "extra": {"tsl": False}}),
    )
    with pytest.raises(Exception, match=r"unknown extra keys \['tsl'\]"):
        FtpSettings.from_connection("xop_ftp_bad")
    monkeypatch.setenv(
        "AIRFLOW_CONN_XOP_FTP_OK", json.dumps({"conn_type": "ftp", "host": "h", "password": "s3cret!"})
    )
    settings = FtpSettings.from_connection("xop_ftp_ok")
    assert settings.tls and settings.port == 21 and "s3cret" not in repr(settings)


def test_upload_gives_up_after_max_reconnects_without_a_final_file(ftp_server, tmp_path: Path) -> None:
    source = make_file(tmp_path / "big.img", 12 * 1024 * 1024)
    dropped = []

    def drop_once(offset: int) -> None:
        if not dropped and offset >= 2 * 1024 * 1024:
            dropped.append(offset)
            ftp_server.drop_session()

    with FtpsClient(settings=ftp_server.settings, max_reconnects=0) as ftp:
        ftp.ensure_folder("/acme")
        with pytest.raises(FtpError, match="failed after 0 reconnects"):
            ftp.upload(source, folder="/acme", name="big.img", on_progress=drop_once)
    assert dropped and not (ftp_server.root / "acme" / "big.img").exists()
