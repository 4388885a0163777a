"""Every path from the config (and the folder a caller passes) follows one rule: no '..', no
absolute path where a relative one is meant. A customer's ftp_folder of '../other' once
published into another customer's folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO
from xop.backup.publication import publish
from xop.core.config import load_config
from xop.core.errors import BackupError, ConfigError
from xop.core.specs.backup import BackupSpec, FtpSpec, ImageSpec, PublicationSpec
from xop.core.specs.safepaths import inside, relative_path, remote_folder

BAD_FOLDERS = ["../other", "/acme/../other", "/acme/./x", "acme//x", "/", "a\\..\\b", "/acme\x00", "/a\nb"]


def config_with_folder(tmp_path: Path, folder: str) -> Path:
    p = tmp_path / "xop.yaml"
    p.write_text(
        f"extends: {REPO / 'include/config/xop.yaml'}\n"
        "customers:\n"
        "  - id: acme\n"
        "    name: Acme\n"
        f"    ftp_folder: {folder!r}\n"
    )
    return p


@pytest.mark.parametrize("folder", BAD_FOLDERS)
def test_a_customers_ftp_folder_cannot_climb(tmp_path, folder):
    with pytest.raises(ConfigError, match=r"customers\[0\]\.ftp_folder"):
        load_config(config_with_folder(tmp_path, folder))


@pytest.mark.parametrize(
    ("folder", "normal"), [("/acme", "/acme"), ("acme", "/acme"), ("/acme/images/", "/acme/images")]
)
def test_plain_folders_are_normalised(tmp_path, folder, normal):
    cfg = load_config(config_with_folder(tmp_path, folder))
    assert cfg.customers[0].ftp_folder == normal
    assert remote_folder(folder) == normal


@pytest.mark.parametrize("folder", BAD_FOLDERS)
def test_the_publication_folder_follows_the_same_rule(folder):
    with pytest.raises(ValueError, match="folder"):
        FtpSpec(folder=folder)


def test_publish_refuses_a_climbing_folder_before_connecting(tmp_path):
    """``publish`` takes the customer's folder from its caller; the same rule applies there, and
    nothing is sent (no FTP connection is even opened: the connection id does not exist)."""
    spec = PublicationSpec(ftp=FtpSpec(conn_id="no_such_connection"))
    with pytest.raises(BackupError, match=r"'\.\.'"):
        publish(spec, customer="acme", folder="../other", files=[], now=None)


@pytest.mark.parametrize("value", ["../x.sqlite", "/var/../etc/passwd", "db/../../x", "a\x00b"])
def test_local_paths_cannot_climb(value):
    with pytest.raises(ValueError, match="path"):
        BackupSpec(kind="sqlite", path=value)
    with pytest.raises(ValueError, match="directory"):
        BackupSpec(kind="sqlite", path="/ok.sqlite", directory=value)
    with pytest.raises(ValueError, match="path"):
        ImageSpec(path=value)


def test_absolute_local_paths_are_fine_where_meant_and_relative_ones_stay_inside(tmp_path):
    assert BackupSpec(kind="sqlite", path="/srv/x.sqlite", directory="var/bk").directory == Path("var/bk")
    with pytest.raises(ValueError, match="must be relative"):
        relative_path("/etc/passwd")
    assert inside(tmp_path, Path("a/b")) == (tmp_path / "a" / "b").resolve()
    (tmp_path / "link").symlink_to("/etc")
    with pytest.raises(ValueError, match="outside"):
        inside(tmp_path, Path("link/passwd"))


def test_the_intake_attachments_dir_cannot_climb():
    from xop.core.specs.intake import IntakeSpec

    with pytest.raises(ValueError, match="attachments_dir"):
        IntakeSpec(attachments_dir="/srv/xop/../../etc")
