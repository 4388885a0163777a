"""The production stack runs the portal as its own service: its own port and process over the
same PostgreSQL ticket database, never inside Airflow's API server; the workers that render the
customer emails share its signing key."""

from __future__ import annotations

import secrets

import yaml

from tests.conftest import REPO
from tests.distributed.test_compose import REQUIRED, compose_config, example_env, project


def test_the_portal_is_its_own_compose_service(tmp_path):
    required = REQUIRED.findall((REPO / "docker-compose.yaml").read_text())
    secrets_filled = example_env(**{name: secrets.token_urlsafe(16) for name in required})
    done = compose_config(project(tmp_path, secrets_filled))
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    portal, api, worker = services["xop-portal"], services["airflow-apiserver"], services["airflow-worker"]
    command = portal["command"] if isinstance(portal["command"], list) else portal["command"].split()
    assert command[:3] == ["python", "-m", "xop.portal"]
    published = {str(p["published"]) if isinstance(p, dict) else p.split(":")[0] for p in portal["ports"]}
    api_ports = {str(p["published"]) if isinstance(p, dict) else p.split(":")[0] for p in api["ports"]}
    assert published and not published & api_ports
    env = portal["environment"]
    assert env["AIRFLOW_CONN_XOP_DB"] == api["environment"]["AIRFLOW_CONN_XOP_DB"]
    assert env["AIRFLOW_CONN_XOP_DB"].startswith("postgres://xop:")
    assert (
        env["XOP_PORTAL_KEY"] == worker["environment"]["XOP_PORTAL_KEY"] == secrets_filled["XOP_PORTAL_KEY"]
    )
    assert "/healthz" in " ".join(portal["healthcheck"]["test"])

    # Attachment files in intake.attachments_dir: the portal shares the workers' volume.
    def mounts(service) -> set[tuple[str, str]]:
        out = set()
        for v in service["volumes"]:
            source, target = (v["source"], v["target"]) if isinstance(v, dict) else v.split(":")[:2]
            out.add((source, target))
        return out

    assert ("xop-var", "/opt/airflow/var") in mounts(portal) & mounts(worker) & mounts(api)
