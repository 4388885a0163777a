"""The production stack's files: docker-compose.yaml, Dockerfile, .env.example, the DB init script.

``docker-compose config`` (Debian's ``docker-compose`` package) parses the compose file, checks it
against the Compose specification's schema and resolves every variable, without a Docker engine.
What it resolves is then checked against what docs/production.md promises.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from tests.conftest import PG_ADMIN_URL, REPO
from tests.distributed.stack import CELERY_DELIVERY

AIRFLOW_SERVICES = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-init",
}
#: Required settings: compose refuses to start without them (``${VAR:?...}``).
REQUIRED = re.compile(r"\$\{(\w+):\?")


def docker_compose() -> str:
    found = shutil.which("docker-compose")
    if found is None:
        pytest.fail("docker-compose is not installed (Debian package docker-compose)")
    return found


def project(tmp_path: Path, env: dict[str, str]) -> Path:
    """A copy of the stack's files with ``env`` as its ``.env`` (the compose project folder)."""
    for name in ("docker-compose.yaml", "Dockerfile"):
        shutil.copy(REPO / name, tmp_path / name)
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    return tmp_path


def example_env(**overrides: str) -> dict[str, str]:
    env = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    env.update(overrides)
    return env


def compose_config(folder: Path) -> subprocess.CompletedProcess[str]:
    # Project folder, no engine: `config` only reads files. XOP_PROJECT_DIR stays unset (".").
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XOP_", "AIRFLOW", "COMPOSE_"))}
    return subprocess.run(
        [
            docker_compose(),
            "--project-directory",
            str(folder),
            "-f",
            str(folder / "docker-compose.yaml"),
            "config",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def mounts(service: dict) -> dict[str, str]:
    """target -> source of a service's volumes (``config`` may print the short or the long form)."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source", ""), volume["target"]
        found[target] = source
    return found


@pytest.fixture
def secrets_filled() -> dict[str, str]:
    required = set(REQUIRED.findall((REPO / "docker-compose.yaml").read_text()))
    return example_env(**{name: secrets.token_urlsafe(16) for name in required})


def test_compose_file_is_valid_and_resolves(tmp_path: Path, secrets_filled: dict[str, str]) -> None:
    done = compose_config(project(tmp_path, secrets_filled))
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    services = config["services"]
    assert AIRFLOW_SERVICES | {"postgres", "redis"} <= set(services)

    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        # Every component must share the keys, or tasks cannot talk to the API server.
        for key in ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY"):
            assert env[key] == services["airflow-scheduler"]["environment"][key] != "", (name, key)
        assert env["AIRFLOW_CONN_XOP_DB"].startswith("postgres://xop:"), name
        # A killed worker's tasks are redelivered, and the test stack runs with the same settings.
        assert {k: str(env[k]) for k in CELERY_DELIVERY} == CELERY_DELIVERY, name

    targets_of = {
        name: set(mounts(services[name]))
        for name in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker")
    }
    for name, targets in targets_of.items():
        assert {"/opt/airflow/dags", "/opt/airflow/plugins", "/opt/airflow/include"} <= targets, name
    # Backups and reports are written by one worker and read by another.
    assert "/opt/airflow/var" in targets_of["airflow-worker"]

    worker = services["airflow-worker"]
    assert worker["command"] == ["celery", "worker"] or worker["command"] == "celery worker"
    # Scalable (`--scale airflow-worker=N`): nothing that only one container can have.
    assert "container_name" not in worker and "ports" not in worker

    init_script = "\n".join(services["airflow-init"]["command"])
    assert "airflow db migrate" in init_script and "migrate_xop_db.py" in init_script
    assert "passwords.json" in init_script

    postgres_init = mounts(services["postgres"])
    assert Path(postgres_init["/docker-entrypoint-initdb.d"]).name == "postgres-init"


def test_compose_refuses_to_start_without_the_secrets(tmp_path: Path) -> None:
    done = compose_config(project(tmp_path, example_env()))
    assert done.returncode != 0
    assert "in .env" in done.stderr, done.stderr


def test_env_example_documents_every_setting_and_holds_no_secret() -> None:
    compose = (REPO / "docker-compose.yaml").read_text()
    documented = example_env()
    used = set(re.findall(r"\$\{(\w+)", compose)) - {"XOP_PROJECT_DIR", "HOSTNAME"}
    assert used <= set(documented), f"not in .env.example: {sorted(used - set(documented))}"
    for name in REQUIRED.findall(compose):
        assert documented[name] == "", f"{name} must be empty in .env.example (a secret)"
    for name, value in documented.items():
        if name.startswith("AIRFLOW_CONN_"):
            assert "CHANGE_ME" in value, f"{name}: use CHANGE_ME for the password"


def test_dockerfile_builds_on_the_pinned_airflow() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    pinned = re.search(r"^apache-airflow==(\S+)$", (REPO / "requirements.txt").read_text(), re.M)
    assert pinned, "requirements.txt must pin apache-airflow"
    image = re.search(r"^ARG AIRFLOW_IMAGE=apache/airflow:(\S+)-python(\S+)$", dockerfile, re.M)
    assert image, "Dockerfile: ARG AIRFLOW_IMAGE=apache/airflow:<version>-python<version>"
    assert image.group(1) == pinned.group(1)
    assert image.group(2) == f"{sys.version_info.major}.{sys.version_info.minor}"
    for package in ("sip-tester", "postgresql-client", "openssh-client"):
        assert package in dockerfile
    assert "-r /opt/xop/requirements.txt -c /tmp/airflow-version.txt" in dockerfile


def test_postgres_init_script_creates_a_ticket_db_its_owner_can_migrate(tmp_path: Path) -> None:
    """The script of the postgres container, run against the machine's PostgreSQL; then the init
    service's migration, as that (non-superuser) role."""
    name = f"xop_init_{os.getpid()}_{secrets.token_hex(3)}"
    admin = sa.make_url(PG_ADMIN_URL)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "XOP_"))},
        "PGHOST": admin.host,
        "PGPORT": str(admin.port),
        "POSTGRES_USER": admin.username,
        "POSTGRES_DB": admin.database,
        "XOP_DB_NAME": name,
        "XOP_DB_USER": name,
        "XOP_DB_PASSWORD": secrets.token_urlsafe(12),
    }
    try:
        done = subprocess.run(
            ["bash", str(REPO / "scripts" / "postgres-init" / "10-create-xop-db.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        conn = {
            "conn_type": "postgres",
            "host": admin.host,
            "port": admin.port,
            "login": name,
            "schema": name,
        }
        migrate_env = {
            **env,
            "AIRFLOW_HOME": str(tmp_path),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_CONN_XOP_DB": json.dumps(conn),
        }
        done = subprocess.run(
            [sys.executable, str(REPO / "scripts" / "migrate_xop_db.py")],
            env=migrate_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "-> " in done.stdout
        engine = sa.create_engine(admin.set(database=name))
        with engine.connect() as c:
            owner = c.exec_driver_sql("SELECT tableowner FROM pg_tables WHERE tablename = 'tickets'").scalar()
        engine.dispose()
        assert owner == name
    finally:
        eng = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            c.exec_driver_sql(f'DROP ROLE IF EXISTS "{name}"')
        eng.dispose()


def test_production_example_config_is_valid() -> None:
    from xop.core.config import load_config

    cfg = load_config(REPO / "include" / "config" / "production.example.yaml")
    customer, system = cfg.system("acme-conf1")
    assert customer.monitoring and system.backup is not None and customer.publication is not None
