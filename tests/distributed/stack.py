"""The docker-compose topology without Docker: real Airflow processes on this machine.

:class:`AirflowStack` runs what ``docker-compose.yaml`` runs, each as its own process group:
``api-server``, ``scheduler``, ``dag-processor``, ``triggerer`` and N ``celery worker`` s, on the
CeleryExecutor with Redis as broker and PostgreSQL as metadata DB and result backend. Every
process writes its output to ``<artifacts>/<name>.log``; task logs go to ``<artifacts>/task-logs``.

Where containers differ from processes on one host, the stack gives each worker what its
container would have: its own hostname (``XOP_WORKER_HOSTNAME``, read by :func:`worker_hostname`
as Airflow's ``hostname_callable``, so task instances show which worker ran them). Ports are
free ones and the Celery queue is the stack's own, so parallel runs on one machine never mix.

:class:`AirflowApi` is a small client of Airflow's public REST API (``/api/v2``) with a JWT from
``/auth/token`` (SimpleAuthManager user).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx

REPO = Path(__file__).resolve().parents[2]
AIRFLOW_BIN = Path(sys.executable).with_name("airflow")

#: Celery delivery settings, the same as docker-compose.yaml's (tests/distributed/test_compose.py checks):
#: a task message is acknowledged when the task ended, not when a worker took it (acks_late), and
#: given back to the queue when the pool process running it died (task_reject_on_worker_lost,
#: through the provider's ``[celery] extra_celery_config``); one that a dead worker took and never
#: acknowledged goes back to the queue after the visibility timeout. A task instance that was
#: already running when its worker died is retried by Airflow (heartbeat timeout, ``retries``).
CELERY_DELIVERY = {
    "AIRFLOW__CELERY__TASK_ACKS_LATE": "True",
    "AIRFLOW__CELERY__EXTRA_CELERY_CONFIG": '{"task_reject_on_worker_lost": true}',
    "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "21600",
}

#: Task states after which a run can no longer succeed without a person; the test stops waiting.
_BAD_TI_STATES = {"failed", "up_for_retry", "upstream_failed"}


def worker_hostname() -> str:
    """``[core] hostname_callable`` of the workers: the name their container would have."""
    return os.environ["XOP_WORKER_HOSTNAME"]


class StackError(AssertionError):
    """The stack did not come up, or a DAG run did not succeed (message says which and why)."""


@dataclass
class ManagedProcess:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log_file: TextIO

    def tail(self, lines: int = 40) -> str:
        self.log_file.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


@dataclass
class AirflowStack:
    """Airflow's components as local processes; ``with stack:`` always stops them."""

    artifacts: Path
    home: Path
    metadata_url: str  # SQLAlchemy URL of an empty PostgreSQL database (psycopg2 driver)
    broker_url: str  # redis://127.0.0.1:6379/<db>
    api_port: int
    trigger_log_port: int
    admin_user: str = "admin"
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    workers: tuple[str, ...] = ("worker-a", "worker-b")
    worker_concurrency: int = 2
    extra_env: Mapping[str, str] = field(default_factory=dict)
    run_token: str = field(default_factory=lambda: secrets.token_hex(4))
    processes: list[ManagedProcess] = field(default_factory=list)
    #: Do what compose's ``restart: always`` does for the components in :data:`RESTARTED` when
    #: one exits (the benchmark's long runs); off, an exit fails the test at once.
    restart_crashed: bool = False
    #: Each restart: which component, its exit status, when (its old log is kept beside the new).
    restarts: list[str] = field(default_factory=list)
    _commands: dict[str, tuple[list[str], dict[str, str] | None]] = field(default_factory=dict, repr=False)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def queue(self) -> str:
        # A queue of its own: two test runs sharing one Redis database never take each other's tasks.
        return f"xop-e2e-{self.run_token}"

    def env(self, **more: str) -> dict[str, str]:
        """The environment of every component: compose's ``x-airflow-common`` environment."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "XOP_", "_AIRFLOW"))}
        result_backend = "db+" + self.metadata_url.replace("postgresql+psycopg2://", "postgresql://")
        base.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__AUTH_MANAGER": (
                    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
                ),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.admin_user}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_url,
                "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": result_backend,
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
                **CELERY_DELIVERY,
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
                "AIRFLOW__CORE__FERNET_KEY": _fernet_key(self.home),
                "AIRFLOW__API_AUTH__JWT_SECRET": _secret(self.home, "jwt"),
                "AIRFLOW__API__SECRET_KEY": _secret(self.home, "api"),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                # The Test button of Admin -> Connections, as compose enables it.
                "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.artifacts / "task-logs"),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.trigger_log_port),
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
                # Test pace: look for new DAG files and for work often.
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
                "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "plugins")]),
                "PYTHONUNBUFFERED": "1",
                # A component that crashes in C (the API server segfaulted once in libpython under
                # the 200-system audit) leaves its Python stack in its log.
                "PYTHONFAULTHANDLER": "1",
            }
        )
        base.update(self.extra_env)
        base.update(more)
        return base

    # --- life cycle -------------------------------------------------------------------------------

    def __enter__(self) -> AirflowStack:
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        try:
            self.start()
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Compose's order, overlapped where it is safe to save minutes on a 2-core machine.

        ``airflow-init`` (both migrations, the admin password) comes first for the components
        that check or use the metadata DB when they start (API server, scheduler, DAG processor,
        triggerer). Celery workers touch no database: they start alongside the migrations.
        """
        airflow = str(AIRFLOW_BIN)
        (self.home / "passwords.json").write_text(json.dumps({self.admin_user: self.admin_password}))
        migrations = [
            self.spawn("db-migrate", [airflow, "db", "migrate"]),
            self.spawn("xop-db-migrate", [sys.executable, str(REPO / "scripts" / "migrate_xop_db.py")]),
        ]
        for name in self.workers:
            self.start_worker(name)
        for job in migrations:
            try:
                code: int | str = job.popen.wait(timeout=300)
            except subprocess.TimeoutExpired:
                code = "nothing (timed out)"
            self.processes.remove(job)
            job.log_file.close()
            if code != 0:
                raise StackError(f"{job.name} exited {code}:\n{job.tail()}")
        self.spawn("api-server", [airflow, "api-server", "--port", str(self.api_port), "--host", "127.0.0.1"])
        self.spawn("scheduler", [airflow, "scheduler"])
        self.spawn("dag-processor", [airflow, "dag-processor"])
        self.spawn("triggerer", [airflow, "triggerer"])

    def start_worker(self, name: str) -> ManagedProcess:
        """One Celery worker (also a new one in place of a killed worker, as compose restarts it)."""
        return self.spawn(
            name,
            [
                str(AIRFLOW_BIN),
                "celery",
                "worker",
                "--celery-hostname",
                f"{name}@%h",
                "--queues",
                self.queue,
                "--skip-serve-logs",  # task logs are files in the one log folder the API reads
            ],
            env=self.env(
                XOP_WORKER_HOSTNAME=name,
                AIRFLOW__CORE__HOSTNAME_CALLABLE="tests.distributed.stack.worker_hostname",
            ),
        )

    def wait_worker_ready(self, name: str, timeout: float = 120) -> None:
        proc = next(p for p in self.processes if p.name == name)
        deadline = time.monotonic() + timeout
        while " ready." not in proc.log_path.read_text(errors="replace"):
            self.check_alive()
            if time.monotonic() > deadline:
                raise StackError(f"{name} not ready after {timeout:.0f} s:\n{proc.tail()}")
            time.sleep(0.5)

    def spawn(self, name: str, args: list[str], *, env: dict[str, str] | None = None) -> ManagedProcess:
        """Start ``args`` (a full command line) in a process group of its own, output to its log
        (a component started again moves its predecessor's log aside)."""
        log_path = self.artifacts / f"{name}.log"
        if log_path.exists():
            log_path.rename(log_path.with_suffix(f".{int(time.time())}.log"))
        log_file = log_path.open("w")
        popen = subprocess.Popen(
            args,
            env=env or self.env(),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.home,
            start_new_session=True,  # its own process group: stop() ends it with all its children
        )
        proc = ManagedProcess(name, popen, log_path, log_file)
        self.processes.append(proc)
        self._commands[name] = (args, env)
        return proc

    def check_alive(self) -> None:
        """Fail on a component that exited; with ``restart_crashed``, start one of
        :data:`RESTARTED` again instead (and wait for the API server to answer)."""
        for proc in list(self.processes):
            if proc.popen.poll() is None:
                continue
            if not (self.restart_crashed and proc.name in RESTARTED):
                raise StackError(f"{proc.name} exited {proc.popen.returncode}:\n{proc.tail()}")
            when = time.strftime("%H:%M:%S UTC", time.gmtime())
            self.restarts.append(f"{proc.name} exited {proc.popen.returncode} at {when}")
            _signal_group(proc.popen, signal.SIGKILL)  # what is left of its group
            self.processes.remove(proc)
            proc.log_file.close()
            args, env = self._commands[proc.name]
            self.spawn(proc.name, args, env=env)
            if proc.name == "api-server":
                self.wait_ready(components=("api-server",))

    def wait_ready(self, timeout: float = 240, components: Iterable[str] | None = None) -> None:
        """Until the API answers and every worker has connected to the broker.

        The API counts as up when the task execution API answers: Airflow builds its versioned
        routes on the first request (tens of CPU seconds), which must not eat into a task's
        time-out."""
        deadline = time.monotonic() + timeout
        waiting = set(components or ("api-server", *self.workers))
        while waiting:
            self.check_alive()
            if "api-server" in waiting:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{self.api_url}/execution/health", timeout=120).status_code == 200:
                        waiting.discard("api-server")
            for proc in self.processes:
                if proc.name in waiting and " ready." in proc.log_path.read_text(errors="replace"):
                    waiting.discard(proc.name)
            if time.monotonic() > deadline:
                raise StackError(f"not ready after {timeout:.0f} s: {sorted(waiting)}")
            time.sleep(0.5)

    def kill(self, name: str) -> list[int]:
        """SIGKILL component ``name`` with every process it started, at once: what the death of
        its container does. Returns the pids killed.

        Its process group alone is not enough: Airflow's supervisor starts each task in a process
        group of its own (``os.setpgid``), which would go on running. So the whole tree is frozen
        (SIGSTOP: nothing can react, fork or send another byte), listed again until no new
        process shows up, then killed. The component is no longer checked by :meth:`check_alive`.
        """
        import psutil

        proc = next(p for p in self.processes if p.name == name)
        root = psutil.Process(proc.popen.pid)
        frozen: dict[int, psutil.Process] = {}
        while True:
            with contextlib.suppress(psutil.NoSuchProcess):
                tree = [root, *root.children(recursive=True)]
            new = [p for p in tree if p.pid not in frozen]
            if not new:
                break
            for member in new:
                with contextlib.suppress(psutil.NoSuchProcess):
                    member.send_signal(signal.SIGSTOP)
                frozen[member.pid] = member
        for member in frozen.values():
            with contextlib.suppress(psutil.NoSuchProcess):
                member.send_signal(signal.SIGKILL)
        proc.popen.wait(timeout=30)
        psutil.wait_procs([p for p in frozen.values() if p.pid != root.pid], timeout=30)
        self.processes.remove(proc)
        proc.log_file.close()
        return sorted(frozen)

    def stop(self, grace: float = 8) -> None:
        """SIGTERM every process group (warm shutdown), then SIGKILL what is left."""
        for proc in self.processes:
            _signal_group(proc.popen, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in self.processes:
            # Also the group's children (task supervisors, gunicorn/uvicorn workers) that outlive it.
            _signal_group(proc.popen, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=5)
            proc.log_file.close()
        self.processes.clear()


#: What compose restarts (``restart: always``) and :attr:`AirflowStack.restart_crashed` restarts
#: here. Not the Celery workers: the fault tests kill one on purpose (and start its successor).
RESTARTED = ("api-server", "scheduler", "dag-processor", "triggerer")


def _signal_group(popen: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, sig)


def _secret(home: Path, name: str) -> str:
    """One random secret per stack, the same for every component (as compose's .env gives)."""
    path = home / f".{name}-secret"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
    return path.read_text()


def _fernet_key(home: Path) -> str:
    path = home / ".fernet-key"
    if not path.exists():
        from cryptography.fernet import Fernet

        path.write_text(Fernet.generate_key().decode())
    return path.read_text()


# --- REST API -------------------------------------------------------------------------------------


class AirflowApi:
    """The few calls of Airflow's public REST API (v2) the end-to-end test makes."""

    def __init__(self, base_url: str, *, username: str, password: str) -> None:
        self.base_url = base_url
        token = httpx.post(
            f"{base_url}/auth/token", json={"username": username, "password": password}, timeout=30
        )
        token.raise_for_status()
        self.client = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            timeout=30,
        )

    def close(self) -> None:
        self.client.close()

    def _ok(self, response: httpx.Response) -> Any:
        if response.is_error:
            raise StackError(
                f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
            )
        return response.json() if response.content else None

    def call(self, method: str, path: str, *, json: Any = None) -> Any:
        """Any call of the API server (also a plugin's routes), JSON in and out."""
        return self._ok(self.client.request(method, path, json=json))

    def dag_ids(self) -> set[str]:
        return {
            d["dag_id"] for d in self._ok(self.client.get("/api/v2/dags", params={"limit": 1000}))["dags"]
        }

    def import_errors(self) -> list[dict[str, Any]]:
        return self._ok(self.client.get("/api/v2/importErrors"))["import_errors"]

    def wait_for_dags(self, dag_ids: Iterable[str], *, timeout: float, stack: AirflowStack) -> None:
        wanted = set(dag_ids)
        deadline = time.monotonic() + timeout
        while not wanted <= (seen := self.dag_ids()):
            stack.check_alive()
            if errors := self.import_errors():
                raise StackError(f"DAG import errors: {errors}")
            if time.monotonic() > deadline:
                raise StackError(f"DAGs not parsed after {timeout:.0f} s: {sorted(wanted - seen)}")
            time.sleep(1)

    def unpause(self, dag_id: str) -> None:
        self._ok(self.client.patch(f"/api/v2/dags/{dag_id}", json={"is_paused": False}))

    def trigger(
        self, dag_id: str, conf: Mapping[str, Any] | None = None, *, logical_date: str | None = None
    ) -> str:
        body = {"logical_date": logical_date, "conf": dict(conf or {})}
        run = self._ok(self.client.post(f"/api/v2/dags/{dag_id}/dagRuns", json=body))
        return run["dag_run_id"]

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self._ok(self.client.get(f"/api/v2/dags/{dag_id}/dagRuns", params={"limit": 100}))["dag_runs"]

    def wait_for_run_of_type(self, dag_id: str, run_type: str, *, timeout: float, stack: AirflowStack) -> str:
        """The id of the first run of ``run_type`` (e.g. ``asset_triggered``) once the scheduler made one."""
        deadline = time.monotonic() + timeout
        while not (found := [r for r in self.runs(dag_id) if r["run_type"] == run_type]):
            stack.check_alive()
            if time.monotonic() > deadline:
                raise StackError(f"no {run_type} run of {dag_id} after {timeout:.0f} s")
            time.sleep(1)
        return found[0]["dag_run_id"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of the run, page by page: the API gives at most ``[api]
        maximum_page_limit`` (100) per call, whatever ``limit`` asks (200 mapped audits)."""
        url = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances"
        found: dict[tuple[str, int], dict[str, Any]] = {}
        offset = 0
        while True:
            page = self._ok(self.client.get(url, params={"limit": 100, "offset": offset}))
            rows = page["task_instances"]
            offset += len(rows)
            found |= {(t["task_id"], t["map_index"]): t for t in rows}
            if not rows or offset >= page["total_entries"]:
                return list(found.values())

    def tries(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[dict[str, Any]]:
        """Every try of one task instance (the earlier ones from its history), oldest first."""
        url = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}/tries"
        return self._ok(self.client.get(url))["task_instances"]

    def wait_for_run(
        self, dag_id: str, run_id: str, *, timeout: float, stack: AirflowStack, retries: bool = False
    ) -> dict[str, Any]:
        """Poll until the run ends; fail at once when a task fails or (unless ``retries``, for a
        test that kills a worker: its tasks come back by retry) waits for a retry. A stack that
        restarts crashed components (``restart_crashed``) is asked again when the API is away."""
        deadline = time.monotonic() + timeout
        bad_states = _BAD_TI_STATES - {"up_for_retry"} if retries else _BAD_TI_STATES
        while True:
            try:
                run = self._ok(self.client.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}"))
                tis = [] if run["state"] == "success" else self.task_instances(dag_id, run_id)
            except httpx.TransportError:
                if not stack.restart_crashed or time.monotonic() > deadline:
                    raise
                stack.check_alive()
                time.sleep(1)
                continue
            if run["state"] == "success":
                return run
            bad = [t for t in tis if t["state"] in bad_states]
            if run["state"] == "failed" or bad:
                raise StackError(
                    f"{dag_id} {run_id} is {run['state']}; tasks: {_ti_summary(tis)}\n"
                    + _task_logs(stack, dag_id, run_id)
                )
            stack.check_alive()
            if time.monotonic() > deadline:
                raise StackError(
                    f"{dag_id} {run_id} still {run['state']} after {timeout:.0f} s: {_ti_summary(tis)}"
                )
            time.sleep(1)


def _ti_summary(tis: list[dict[str, Any]]) -> str:
    return ", ".join(f"{t['task_id']}={t['state']}@{t.get('hostname') or '-'}" for t in tis)


def _task_logs(stack: AirflowStack, dag_id: str, run_id: str, chars: int = 6000) -> str:
    """The end of each task log of the run (kept under the artifacts) for the failure message."""
    folder = stack.artifacts / "task-logs" / f"dag_id={dag_id}" / f"run_id={run_id}"
    out = []
    for path in sorted(folder.rglob("*.log")) if folder.exists() else []:
        out.append(f"--- {path.relative_to(stack.artifacts)}\n{path.read_text(errors='replace')[-chars:]}")
    return "\n".join(out) or f"(no task logs under {folder})"
