"""One rule for every path that comes from the config or a DAG param, so no setting can reach
outside the place it names: no ``..`` segment (nor ``.``, empty or NUL), no backslash, and an
absolute path only where one is meant.

- :data:`RemoteFolder`: a folder on a server (FTP), POSIX, normalised to ``/a/b``.
- :data:`LocalPath`: a local file or folder, absolute or relative to the repository, never
  climbing with ``..``.
- :data:`RelativePath`: a local path inside a base folder the code chooses: never absolute.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Annotated

from pydantic import AfterValidator


def _common(value: str, what: str) -> None:
    if "\x00" in value:
        raise ValueError(f"{what} {value!r} must not contain NUL characters")
    if "\\" in value:
        raise ValueError(f"{what} {value!r} must use '/' and no backslashes")
    if any(ord(c) < 32 for c in value):
        raise ValueError(f"{what} {value!r} must not contain control characters")
    if not value.strip():
        raise ValueError(f"{what} must not be empty")


def _segments(value: str, what: str) -> list[str]:
    parts = value.split("/")
    inner = parts[1:] if value.startswith("/") else parts
    if inner and inner[-1] == "":
        inner = inner[:-1]  # one trailing slash is harmless
    for part in inner:
        if part in ("", ".", ".."):
            raise ValueError(f"{what} {value!r} must be a plain path without '.', '..' or '//' segments")
    return inner


def remote_folder(value: str, what: str = "folder") -> str:
    """A folder on a remote server, as ``/a/b`` (``acme`` → ``/acme``)."""
    _common(value, what)
    inner = _segments(value.strip(), what)
    if not inner:
        raise ValueError(f"{what} {value!r} names the server's root; give the customer's own folder")
    return "/" + "/".join(inner)


def local_path(value: Path | str, what: str = "path") -> Path:
    text = str(value)
    _common(text, what)
    _segments(text, what)
    return Path(text)


def relative_path(value: Path | str, what: str = "path") -> Path:
    text = str(value)
    if text.startswith("/") or PurePosixPath(text).is_absolute():
        raise ValueError(f"{what} {text!r} must be relative (it is resolved inside its base folder)")
    return local_path(text, what)


RemoteFolder = Annotated[str, AfterValidator(remote_folder)]
LocalPath = Annotated[Path, AfterValidator(local_path)]
RelativePath = Annotated[Path, AfterValidator(relative_path)]


def inside(base: Path, path: Path) -> Path:
    """``path`` (relative to ``base`` unless absolute) resolved, refused if it leaves ``base``."""
    resolved = (base / path).resolve()
    if not resolved.is_relative_to(base.resolve()):
        raise ValueError(f"{path} resolves to {resolved}, outside {base}")
    return resolved
