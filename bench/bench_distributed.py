"""Many systems over one and two Celery workers: the trunk check and the audit, end to end.

For each worker count (``--workers 1,2``) a fresh stack of the real Airflow processes
(:func:`tests.distributed.conftest.deploy`: API server, scheduler, DAG processor, triggerer, N
Celery workers on the machine's PostgreSQL and Redis) with the fleet of
:mod:`tests.distributed.fleet`: ``--systems`` monitored systems in customers of ten, one SIP trunk
each answered by ``--sipp`` SIPp instances (several trunks per instance), ``--calls`` CDRs of one
day per system, two or three health probes, a backup each. It unpauses ``xop_trunk_check``, waits for
the run the scheduler makes (catchup=False: the latest interval), then the same for
``xop_daily_audit`` (the audit of the day before its latest 04:00; the publication DAG stays
paused: it would compete for the slots), and prints, per run:

* wall time (run start to end, from Airflow's metadata through the REST API);
* its split from the task instances' start/end times: ``busy`` (some task running), ``idle``
  (none running: the scheduler creating and queueing task instances, mapping the audit's
  systems, a worker starting a task process), the parallelism reached, the mean wait from
  ``queued`` to ``running``, and per task its count and mean duration;
* CPU seconds in each component's process tree during the run (the workers' include their task
  processes, pg_dump and pg_restore) and in PostgreSQL's processes (the database: Airflow's
  metadata, the ticket DB, the dumps; other users of the machine's PostgreSQL count too);
* the machine's load average and this script's own CPU time (``time.process_time``).

Then the speed-up of two workers over one (wall time ratio) per DAG.

Usage (wrap in the lock shared with the distributed tests):
  flock /tmp/xop-distributed.lock .venv/bin/python bench/bench_distributed.py [--systems 200]
      [--workers 1,2] [--sipp 10] [--calls 500] [--concurrency 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "plugins"), str(REPO)]

import psutil  # noqa: E402

from tests.distributed.conftest import deploy  # noqa: E402
from tests.distributed.fleet import RunSplit, fleet, task_split  # noqa: E402

DAGS = ("xop_trunk_check", "xop_daily_audit")
TIMEOUT_S = 3600


def _tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its live descendants, with the children each has reaped."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        members = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    for member in members:
        try:
            t = member.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def _postgres_cpu() -> float:
    """CPU seconds of the machine's PostgreSQL: the postmaster with every backend it has reaped,
    plus the live backends (a backend that ends between two readings moves into the first)."""
    total = 0.0
    for proc in psutil.process_iter(["name", "ppid", "cpu_times"]):
        t = proc.info["cpu_times"]
        if proc.info["name"] != "postgres" or t is None:
            continue
        total += t.user + t.system
        try:
            is_postmaster = psutil.Process(proc.info["ppid"]).name() != "postgres"
        except psutil.NoSuchProcess:
            is_postmaster = False
        if is_postmaster:
            total += t.children_user + t.children_system
    return total


def _cpu_by_component(stack) -> dict[str, float]:
    found: dict[str, float] = {}
    for proc in stack.processes:
        key = "workers" if proc.name.startswith("worker-") else proc.name
        found[key] = found.get(key, 0.0) + _tree_cpu(proc.popen.pid)
    found["postgres"] = _postgres_cpu()
    return found


@dataclass
class Measured:
    dag_id: str
    workers: int
    split: RunSplit
    cpu: dict[str, float]
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    restarts: list[str]  # components that exited during the run and were started again
    retried: int  # task instances that needed more than one try


def _measure(deployment, dag_id: str, workers: int) -> Measured:
    """Unpause ``dag_id`` and measure the run the scheduler makes for its latest interval (the
    DAGs have catchup=False): a scheduled run as production has it, one DAG at a time."""
    api, stack = deployment.api, deployment.stack
    load_before = os.getloadavg()
    cpu_before = _cpu_by_component(stack)
    api.unpause(dag_id)
    run_id = api.wait_for_run_of_type(dag_id, "scheduled", timeout=300, stack=stack)
    crashes = len(stack.restarts)
    run = api.wait_for_run(dag_id, run_id, timeout=TIMEOUT_S, stack=stack, retries=stack.restart_crashed)
    cpu_after = _cpu_by_component(stack)
    tis = api.task_instances(dag_id, run_id)
    split = task_split(run, tis)
    cpu = {k: cpu_after.get(k, 0.0) - cpu_before.get(k, 0.0) for k in cpu_after}
    retried = sum(1 for t in tis if (t.get("try_number") or 1) > 1)
    return Measured(
        dag_id, workers, split, cpu, load_before, os.getloadavg(), stack.restarts[crashes:], retried
    )


def _print(m: Measured) -> None:
    s = m.split
    print(
        f"\n{m.dag_id}, {m.workers} worker(s): wall {s.wall:.1f} s = busy {s.busy:.1f} s"
        f" + idle {s.idle:.1f} s (no task running); task time {s.task_seconds:.1f} s,"
        f" parallelism {s.parallelism:.2f};"
        f" mean queued->running {s.queued_mean:.2f} s"
    )
    for task_id, (count, total) in sorted(s.by_task.items()):
        print(f"    {task_id:<16} {count:>4} x {total / count:7.2f} s")
    print("    tasks per worker: " + ", ".join(f"{h}={n}" for h, n in sorted(s.hostnames.items())))
    print("    CPU s during the run: " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(m.cpu.items())))
    print(
        "    load average before {:.2f} {:.2f} {:.2f}, after {:.2f} {:.2f} {:.2f}".format(
            *m.load_before, *m.load_after
        )
    )
    if m.restarts or m.retried:
        # A restarted component's CPU before its exit is not in the figures above.
        print(f"    restarted: {'; '.join(m.restarts) or 'nothing'}; task instances retried: {m.retried}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", type=int, default=200)
    parser.add_argument("--workers", default="1,2", help="worker counts to compare, e.g. 1,2")
    parser.add_argument("--sipp", type=int, default=10, help="SIPp instances answering the trunks")
    parser.add_argument("--calls", type=int, default=500, help="CDRs per system for the audited day")
    parser.add_argument("--concurrency", type=int, default=2, help="Celery worker_concurrency")
    parser.add_argument(
        "--restart-crashed",
        action="store_true",
        help="start a crashed API server, scheduler, DAG processor or triggerer again, as compose's"
        " restart: always does, and report it (default: a crash ends the run)",
    )
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    print(
        f"{args.systems} systems, {args.sipp} SIPp instances ({args.systems / args.sipp:.0f} trunks each),"
        f" {args.calls} CDRs per system, worker concurrency {args.concurrency}; {os.cpu_count()} CPUs"
    )
    results: list[Measured] = []
    cpu_started = time.process_time()
    for workers in counts:
        names = tuple(f"worker-{chr(ord('a') + i)}" for i in range(workers))
        started = time.monotonic()
        with deploy(
            REPO / "test-artifacts" / "bench-distributed",
            fleet(args.systems, calls_per_day=args.calls),
            workers=names,
            sipp_hosts=args.sipp,
            extra_env={"AIRFLOW__CELERY__WORKER_CONCURRENCY": str(args.concurrency)},
            restart_crashed=args.restart_crashed,
        ) as deployment:
            deployment.api.wait_for_dags(DAGS, timeout=300, stack=deployment.stack)
            print(f"\n-- {workers} worker(s): stack up and DAGs parsed in {time.monotonic() - started:.0f} s")
            for dag_id in DAGS:
                measured = _measure(deployment, dag_id, workers)
                _print(measured)
                results.append(measured)
    print("\nspeed-up (wall time ratio against the first worker count):")
    for dag_id in DAGS:
        runs = [r for r in results if r.dag_id == dag_id]
        base = runs[0]
        for r in runs[1:]:
            print(
                f"    {dag_id}: {base.workers} -> {r.workers} workers: {base.split.wall:.1f} s -> "
                f"{r.split.wall:.1f} s, x{base.split.wall / r.split.wall:.2f}"
                f" (busy x{base.split.busy / r.split.busy:.2f},"
                f" idle {base.split.idle:.1f} -> {r.split.idle:.1f} s)"
            )
    print(f"\nthis script's CPU time: {time.process_time() - cpu_started:.1f} s")


if __name__ == "__main__":
    main()
