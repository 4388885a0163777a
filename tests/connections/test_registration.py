"""Airflow's providers manager offers the pipeline's connection types, with their labelled fields.

Registration is the ``apache_airflow_provider`` entry point of the installed ``xop-ops``
distribution (``pyproject.toml``). The test writes the same ``.dist-info`` that ``pip install``
writes into a scratch folder on ``PYTHONPATH`` and asks a fresh interpreter's providers manager.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from xop.connections.forms import CONNECTION_TYPES
from xop.connections.provider import PACKAGE_NAME, get_provider_info
from xop.core.paths import REPO_ROOT

PROBE = """
import json
from airflow.providers_manager import ProvidersManager
pm = ProvidersManager()
hooks = {
    k: (v.hook_class_name, v.connection_id_attribute_name, v.hook_name) for k, v in pm.hooks.items() if v
}
print(json.dumps({
    "providers": sorted(pm.providers),
    "hooks": {k: v for k, v in hooks.items() if k.startswith("xop_")},
    "behaviours": {k: v for k, v in pm.field_behaviours.items() if k.startswith("xop_")},
    "widgets": sorted(k for k in pm.connection_form_widgets if k.startswith("extra__xop_")),
}))
"""


def entry_point() -> str:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    return project["project"]["entry-points"]["apache_airflow_provider"]["provider_info"]


def test_pyproject_declares_the_provider_entry_point():
    assert entry_point() == "xop.connections.provider:get_provider_info"
    assert get_provider_info()["package-name"] == PACKAGE_NAME == "xop-ops"


def test_providers_manager_offers_the_xop_connection_types(tmp_path: Path):
    dist = tmp_path / "xop_ops-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {PACKAGE_NAME}\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(f"[apache_airflow_provider]\nprovider_info = {entry_point()}\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(REPO_ROOT / "plugins")]))
    env["AIRFLOW_HOME"] = str(tmp_path / "airflow_home")
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True, timeout=300
    ).stdout
    found = json.loads(out.strip().splitlines()[-1])
    assert "xop-ops" in found["providers"]
    assert set(found["hooks"]) == set(CONNECTION_TYPES)
    for conn_type, (class_name, attribute, name) in found["hooks"].items():
        assert class_name == CONNECTION_TYPES[conn_type]["hook-class-name"]
        assert name == CONNECTION_TYPES[conn_type]["hook-name"]
        assert attribute.endswith("_conn_id")
    assert found["behaviours"]["xop_sip_trunk"]["relabeling"]["login"] == "Auth user"
    assert "extra__xop_ftps__ca_file" in found["widgets"]
    assert "extra__xop_ami__tls" in found["widgets"]
    assert "extra__xop_sysdb__sslmode" in found["widgets"]
