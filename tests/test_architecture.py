"""The structure the design promises, checked: layers, imports at module level, packaging.

- The import-linter contract in pyproject.toml (DESIGN section 2's layers) holds.
- No module of the package imports another ``xop`` module inside a function (that is how the
  old layering hid its cycles). The exceptions are modules that run before Airflow may be
  imported (the demo sets Airflow's environment first) or at DAG parse time.
- The public API (``xop.__all__``) resolves and is documented in docs/api.md.
- The runtime lock (what the production image installs) holds no test or lint tool, and both
  locks pin every dependency pyproject.toml declares.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "plugins" / "xop"

#: Modules allowed to import xop modules inside functions, and why.
DEFERRED_IMPORTS_ALLOWED = {
    "demo/": "the quickstart sets Airflow's environment before anything imports Airflow",
    "tasks/dag_defaults.py": "imported by every DAG file at parse time; the alert loads on failure",
    "tasks/deadline_alerts.py": "Airflow imports a deadline's callback module when it parses the DAG",
}


def test_import_contracts_hold() -> None:
    run = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports")],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO / "plugins"), "PATH": str(Path(sys.executable).parent)},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def _deferred_xop_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for sub in ast.walk(node):
                if isinstance(sub, ast.ImportFrom) and (sub.module or "").split(".")[0] == "xop":
                    found.append(f"{sub.lineno}: from {sub.module} import ...")
                elif isinstance(sub, ast.Import) and any(a.name.split(".")[0] == "xop" for a in sub.names):
                    found.append(f"{sub.lineno}: import {', '.join(a.name for a in sub.names)}")
    return found


def test_no_xop_import_inside_a_function() -> None:
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        allowed = rel in DEFERRED_IMPORTS_ALLOWED or rel.startswith(("demo/", "db/migrations/"))
        if allowed:
            continue
        if found := _deferred_xop_imports(path):
            offenders[rel] = found
    assert offenders == {}, "import these at module level (or fix the layering):\n" + "\n".join(
        f"  {k}: {v}" for k, v in offenders.items()
    )


def test_public_api_resolves_and_is_documented() -> None:
    import xop

    docs = (REPO / "docs" / "api.md").read_text()
    for name in xop.__all__:
        assert getattr(xop, name) is not None
        assert re.search(rf"`{name}\b", docs), f"docs/api.md does not document xop.{name}"


def _pins(lock: Path) -> dict[str, str]:
    pins = {}
    for line in lock.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        name, _, version = line.partition("==")
        assert version, f"{lock.name}: {line!r} is not pinned"
        pins[re.sub(r"\[.*\]", "", name).lower().replace("_", "-")] = version
    return pins


def _names(requirements: list[str]) -> set[str]:
    return {
        re.split(r"[\[<>=!~ ;]", r, maxsplit=1)[0].lower().replace("_", "-")
        for r in requirements
        if not r.startswith("xop-ops")
    }


@pytest.fixture(scope="module")
def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def test_runtime_lock_pins_the_runtime_and_holds_no_dev_tool(project: dict) -> None:
    runtime = _pins(REPO / "requirements.txt")
    assert _names(project["dependencies"]) <= set(runtime)
    dev_only = {"pytest", "pytest-timeout", "hypothesis", "schemathesis", "selenium", "ruff"}
    dev_only |= {"import-linter", "businesstimedelta", "aiosmtpd", "pyftpdlib"}
    assert dev_only.isdisjoint(runtime), sorted(dev_only & set(runtime))


def test_dev_lock_pins_every_extra_at_the_runtime_lock_versions(project: dict) -> None:
    runtime, dev = _pins(REPO / "requirements.txt"), _pins(REPO / "requirements-dev.txt")
    for extra, requirements in project["optional-dependencies"].items():
        missing = _names(requirements) - set(dev)
        assert not missing, f"extra {extra!r}: not in requirements-dev.txt: {sorted(missing)}"
    differ = {n: (v, dev[n]) for n, v in runtime.items() if n in dev and dev[n] != v}
    assert differ == {}, f"the two locks disagree: {differ}"


def test_dockerfile_installs_the_runtime_lock_only() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "requirements.txt" in dockerfile
    assert "requirements-dev" not in dockerfile


def test_code_cites_no_file_outside_the_repository() -> None:
    """DESIGN.md and STYLE.md are the team's, not the repository's: docs/ holds what a reader needs."""
    cited = []
    for path in [*PACKAGE.rglob("*.py"), *(REPO / "dags").glob("*.py"), *(REPO / "include").rglob("*.*")]:
        if path.is_file() and re.search(r"\b(DESIGN|STYLE)\.md\b", path.read_text(errors="ignore")):
            cited.append(str(path.relative_to(REPO)))
    assert cited == []
