"""Every DAG file imports cleanly, is documented and tagged, has an owner and retries, and
parses cheaply: no DB, network or config reads at import time and no heavy library imported by
the file itself (checked as a property, not by the clock)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

DAG_FILES = sorted((REPO / "dags").glob("*.py"))
EXPECTED = {
    "xop_sla_sweep",
    "xop_trunk_check",
    "xop_daily_audit",
    "xop_publish_recovery_images",
    "xop_restore_database",
    "xop_mail_intake",
    "xop_sla_report",
}
#: Libraries a DAG file must leave to its tasks: importing them at parse time is what makes a
#: DAG processor slow (pandas alone takes about a second), whatever the machine.
HEAVY = ("pandas", "numpy", "matplotlib", "scipy", "psycopg", "psycopg2", "paramiko", "selenium")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_expected_dags_present(dagbag):
    present = set(dagbag.dag_ids)
    assert present == EXPECTED
    assert len(DAG_FILES) == len(present), "one DAG per file"


def test_dags_documented_tagged_owned_and_retried(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags and "xop" in dag.tags, dag_id
        assert dag.doc_md and len(dag.doc_md) > 40, dag_id
        for t in dag.tasks:
            assert t.owner and t.owner != "airflow", f"{dag_id}.{t.task_id} has no owner"
            assert t.retries >= 1, f"{dag_id}.{t.task_id} has no retries"


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_parses_without_side_effects_or_heavy_imports(path: Path, tmp_path):
    """Import the file in a fresh interpreter with no config and no connections at all: it
    must still parse (so nothing is read at import time), and the modules it adds beyond
    ``airflow.sdk`` must include none of :data:`HEAVY` nor the xop modules that reach a database."""
    code = (
        "import sys, importlib.util, json\n"
        "import airflow.sdk\n"
        "before = set(sys.modules)\n"
        f"spec = importlib.util.spec_from_file_location('d', {str(path)!r})\n"
        "m = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(m)\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO / "plugins"),
        "AIRFLOW_HOME": str(tmp_path),
        "XOP_CONFIG": str(tmp_path / "does-not-exist.yaml"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    added = json.loads(out.stdout.strip().splitlines()[-1])
    heavy = sorted({m.split(".")[0] for m in added} & set(HEAVY))
    assert heavy == [], f"{path.name} imports {heavy} at parse time: import them inside the tasks"
    db_modules = [m for m in added if m.startswith(("xop.tickets", "xop.connections", "xop.db"))]
    assert db_modules == [], f"{path.name} imports {db_modules} at parse time"
