"""Finding and reading the configuration's YAML files, without validating them.

Import-light on purpose (``yaml`` only, no pydantic models): :mod:`xop.core.config` validates
what this returns, and :mod:`xop.core.formchoices` peeks at it when a DAG file is parsed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from xop.core.errors import ConfigError
from xop.core.paths import CONFIG_DIR

DEFAULT_CONFIG = CONFIG_DIR / "xop.yaml"


def config_path() -> Path:
    """The configuration file: ``XOP_CONFIG`` if set, else the shipped ``include/config/xop.yaml``."""
    return Path(os.environ.get("XOP_CONFIG") or DEFAULT_CONFIG).resolve()


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``: mappings merge, lists and scalars replace."""
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> tuple[dict[str, Any], tuple[Path, ...]]:
    """The merged data of ``path`` and its ``extends:`` chain, and the files it was read from."""
    if path in seen:
        raise ConfigError(f"{path}: 'extends' loops back to itself")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist (set XOP_CONFIG to the right path)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
    files: tuple[Path, ...] = (path,)
    parent = data.pop("extends", None)
    if parent:
        base, parents = read_yaml((path.parent / parent).resolve(), (*seen, path))
        data, files = deep_merge(base, data), (path, *parents)
    return data, files


__all__ = ["DEFAULT_CONFIG", "config_path", "deep_merge", "read_yaml"]
