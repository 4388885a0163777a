"""Backup files are private: archives, manifests and ``globals.sql`` are 0600 and their folders
0700, whatever the process umask says (they hold every customer's data and role hashes)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(folder: Path, *, root: Path | None = None) -> Path:
    """Create ``folder`` (and parents) and make it, and every folder between ``root`` and it, 0700."""
    folder.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    stop = root.resolve() if root is not None else folder.resolve()
    current = folder.resolve()
    while True:
        os.chmod(current, DIR_MODE)
        if current == stop or current.parent == current:
            break
        current = current.parent
    return folder


def create_private(path: Path) -> BinaryIO:
    """Open a new file for writing, 0600 from its first byte (fails if it exists)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # the umask may have taken bits away; never adds any
    return os.fdopen(fd, "wb")


def make_private(path: Path) -> None:
    os.chmod(path, FILE_MODE)
