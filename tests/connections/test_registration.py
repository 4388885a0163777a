"""Airflow's providers manager offers the pipeline's connection types, with their labelled fields.

Registration is the ``apache_airflow_provider`` entry point of the small ``xop-provider-info``
distribution (``providers/xop-provider-info``, installed by ``make install``). The checks run real
``airflow`` commands in fresh processes, with and without the plugins folder: Airflow must start
either way, and only with the plugins folder do the hook classes resolve.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tomllib
from importlib.metadata import distribution
from pathlib import Path

import xop_provider_info
from xop_provider_info import CONNECTION_TYPES, PACKAGE_NAME, get_provider_info

from tests.conftest import REPO

SOURCE = REPO / "providers" / "xop-provider-info"
AIRFLOW = Path(sys.executable).with_name("airflow")
XOP_TYPES = {"xop_ftps", "xop_sip_trunk", "xop_ami", "xop_sysdb"}


def airflow(tmp_path: Path, *args: str, plugins: Path) -> subprocess.CompletedProcess[str]:
    """An ``airflow`` command as a fresh process: its own home, nothing of ours on ``PYTHONPATH``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "XOP_", "PYTHONPATH"))}
    env |= {
        "AIRFLOW_HOME": str(tmp_path / "airflow_home"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    return subprocess.run(
        [str(AIRFLOW), *args], env=env, capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path
    )


def test_the_installed_declaration_is_the_checkout_s():
    """A stale copy in the venv would offer yesterday's fields: ``make install`` reinstalls it."""
    installed = Path(xop_provider_info.__file__).resolve()
    source = SOURCE / "xop_provider_info" / "__init__.py"
    assert installed != source.resolve(), "xop_provider_info must come from the installed distribution"
    digest = hashlib.sha256
    assert digest(installed.read_bytes()).digest() == digest(source.read_bytes()).digest(), (
        "the installed xop-provider-info is not the checkout's: run `make install`"
    )
    project = tomllib.loads((SOURCE / "pyproject.toml").read_text())["project"]
    assert project["name"] == PACKAGE_NAME == get_provider_info()["package-name"]
    assert project["entry-points"]["apache_airflow_provider"]["provider_info"] == (
        "xop_provider_info:get_provider_info"
    )
    assert distribution(PACKAGE_NAME).version == project["version"] == get_provider_info()["versions"][0]


def test_the_declaration_imports_nothing_of_xop():
    code = "import sys, xop_provider_info; sys.exit(any(m.split('.')[0] == 'xop' for m in sys.modules))"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    assert subprocess.run([sys.executable, "-c", code], env=env, timeout=60, check=False).returncode == 0


def test_the_project_declares_no_provider_entry_point():
    """Installing the project itself once made every Airflow process import ``xop`` (issue 20)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "apache_airflow_provider" not in project.get("entry-points", {})


def test_airflow_starts_without_xop_and_lists_the_types(tmp_path: Path):
    """No plugins folder: every command still runs; the types are there, their hooks are not."""
    nowhere = tmp_path / "no-plugins"
    nowhere.mkdir()
    done = airflow(tmp_path, "providers", "get", PACKAGE_NAME, plugins=nowhere)
    assert done.returncode == 0, done.stderr
    assert PACKAGE_NAME in done.stdout
    done = airflow(tmp_path, "providers", "hooks", "-o", "json", plugins=nowhere)
    assert done.returncode == 0, done.stderr
    hooks = {h["connection_type"]: h for h in json.loads(done.stdout) if h["connection_type"] in XOP_TYPES}
    assert set(hooks) == XOP_TYPES
    assert {h["class"] for h in hooks.values()} == {"Error when importing hook!"}
    done = airflow(tmp_path, "db", "migrate", plugins=nowhere)  # SQLite in the scratch home
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def test_with_the_plugins_folder_the_hooks_resolve(tmp_path: Path):
    done = airflow(tmp_path, "providers", "hooks", "-o", "json", plugins=REPO / "plugins")
    assert done.returncode == 0, done.stderr
    hooks = {h["connection_type"]: h for h in json.loads(done.stdout) if h["connection_type"] in XOP_TYPES}
    assert set(hooks) == XOP_TYPES
    for conn_type, hook in hooks.items():
        assert hook["class"] == CONNECTION_TYPES[conn_type]["hook-class-name"]
        assert hook["hook_name"] == CONNECTION_TYPES[conn_type]["hook-name"]
        assert hook["package_name"] == PACKAGE_NAME
        assert hook["conn_id_attribute_name"].endswith("_conn_id")


def test_every_type_labels_its_standard_and_extra_fields():
    for conn_type, spec in CONNECTION_TYPES.items():
        assert spec["ui-field-behaviour"]["relabeling"], conn_type
        assert spec["conn-fields"], conn_type
        for name, field in spec["conn-fields"].items():
            assert field["label"] and "null" in field["schema"]["type"], (conn_type, name)


def test_the_image_and_make_install_install_the_declaration():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "pip install --no-cache-dir --no-deps /opt/xop/providers/xop-provider-info" in dockerfile
    assert "airflow providers get xop-provider-info" in dockerfile
    kept = [line[1:] for line in (REPO / ".dockerignore").read_text().splitlines() if line.startswith("!")]
    for path in ("pyproject.toml", "xop_provider_info/__init__.py"):
        assert f"providers/xop-provider-info/{path}" in kept, f".dockerignore must let {path} in"
    makefile = (REPO / "Makefile").read_text()
    assert "install: $(VENV)/.installed $(VENV)/.provider-info" in makefile
