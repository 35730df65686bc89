"""Airflow's side: how fast the real Airflow scheduler turns a wide DAG into task pods.

Airflow 3's dag-processor and scheduler run as host processes with the KubernetesExecutor and
the `airflow.cfg` the kit renders for the benchmark's stack (airflow_kit_platform.airflow.values.
airflow_config), the team pools the kit sizes, and the kit's pod templates through the DAG
helper. One DAG run of `tasks` tasks spread over the teams is triggered; the API server has no
nodes, so every pod stays Pending and only the submission side is measured: tasks queued per
second (from Airflow's metadata database) and pods created per second (a watch on the
namespace). Each case changes one of the limits that bound them.

    python -m bench.airflow_side [--smoke] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from typing import Any, Mapping, Optional

from airflow_kit_platform.airflow.values import airflow_config
from airflow_kit_platform.scheduling.plans import scheduling_plan
from airflow_kit_platform.settings import load_settings
from airflow_kit_platform.workloads.pod_templates import render_pod_templates
from airflow_kit_platform.workloads.pools import pools_json
from bench import workload
from bench.cluster import Api, kubectl_apply, tools_env
from bench.drive import watch_pods
from repo_tools.harness import LocalCluster, Missing
from repo_tools.schedulers import Scheduler

ROOT = pathlib.Path(__file__).resolve().parent
DAG_ID = "bench_fanout"
FIRST_TASK_SECONDS = 180.0  # a DAG run of thousands of tasks takes a while to be created
DAG = '''
import pendulum
from airflow.sdk import DAG, task
from airflow_kit import on_kubernetes

TEAMS = {teams!r}

with DAG("{dag_id}", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False):
    for index in range({tasks}):
        @task(task_id=f"t{{index:05d}}", **on_kubernetes(TEAMS[index % len(TEAMS)]))
        def work():
            return None

        work()
'''


def cases(tasks: int) -> list[tuple[str, dict[str, dict[str, Any]]]]:
    """(name, airflow.cfg changes over the kit's) for each case: the kit's own, then one limit
    lifted or lowered at a time."""
    wide = {"core": {"max_active_tasks_per_dag": tasks}}
    return [
        ("kit's airflow.cfg", {}),
        (f"max_active_tasks_per_dag {tasks}", wide),
        (f"max_active_tasks_per_dag {tasks}, creation batch 1 (Airflow's default)",
         {**wide, "kubernetes_executor": {"worker_pods_creation_batch_size": 1}}),
        (f"max_active_tasks_per_dag {tasks}, max_tis_per_query 0 (= parallelism)",
         {**wide, "scheduler": {"max_tis_per_query": 0}}),
        (f"max_active_tasks_per_dag {tasks}, parallelism {tasks // 4}",
         {"core": {"max_active_tasks_per_dag": tasks, "parallelism": tasks // 4}}),
    ]


def settings_for(scale: workload.Scale, namespace: str):
    return load_settings("bench-airflow", workload.stack_config("default", workload.teams(scale), namespace=namespace))


def env_for(home: pathlib.Path, config: Mapping[str, Mapping[str, Any]], kubeconfig: str,
            templates: pathlib.Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    for section, entries in config.items():
        for key, value in entries.items():
            env[f"AIRFLOW__{section.upper()}__{key.upper()}"] = str(value)
    env.update({
        "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__EXECUTOR": "KubernetesExecutor", "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__KUBERNETES_EXECUTOR__IN_CLUSTER": "False",
        "AIRFLOW__KUBERNETES_EXECUTOR__CONFIG_FILE": kubeconfig,
        "AIRFLOW__KUBERNETES_EXECUTOR__POD_TEMPLATE_FILE": str(templates / "pod_template_file.yaml"),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW_KIT_POD_TEMPLATES_DIR": str(templates),
    })
    return env


class PodCounter:
    """Creation times of the namespace's pods, from one watch."""

    def __init__(self, api: Api, namespace: str, origin: float):
        self.api, self.namespace, self.origin = api, namespace, origin
        self.created: list[float] = []
        self.stopped = threading.Event()
        self.seen: set[str] = set()
        self.thread = threading.Thread(target=watch_pods, args=(api, namespace, self._event, self.stopped),
                                       daemon=True)
        self.thread.start()

    def _event(self, kind: str, pod: dict) -> None:
        name = pod["metadata"]["name"]
        if kind == "ADDED" and name not in self.seen:
            self.seen.add(name)
            self.created.append(time.monotonic() - self.origin)

    def stop(self) -> None:
        self.stopped.set()


def _count(database: pathlib.Path, sql: str) -> int:
    """One count from Airflow's metadata database, read-only (the scheduler writes it); -1 while
    it cannot be read."""
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as db:
            return db.execute(sql, (DAG_ID,)).fetchone()[0]
    except sqlite3.Error:
        return -1


def dag_known(database: pathlib.Path) -> bool:
    """The DAG is in Airflow's DagModel (before that, `dags unpause` says nothing and exits 0)."""
    return _count(database, "select count(*) from dag where dag_id=?") > 0


def queued_count(database: pathlib.Path) -> int:
    return _count(database, "select count(*) from task_instance where dag_id=? and queued_dttm is not null")


def rate(times: list[float]) -> Optional[float]:
    """Items per second over the middle 80 % of their times."""
    if len(times) < 10:
        return None
    ordered = sorted(times)
    low, high = ordered[len(ordered) // 10], ordered[(len(ordered) * 9) // 10]
    return (len(ordered) * 8 // 10) / (high - low) if high > low else None


def run_case(name: str, changes: Mapping[str, Mapping[str, Any]], tasks: int, scale: workload.Scale,
             cluster: LocalCluster, api: Api, directory: pathlib.Path, limit_seconds: float) -> dict[str, Any]:
    home = directory / f"case-{len(list(directory.glob('case-*')))}"
    namespace = f"bench-airflow-{home.name}"  # the stack's: the templates name it
    settings = settings_for(scale, namespace)
    (home / "dags").mkdir(parents=True)
    templates = home / "pod_templates"
    templates.mkdir()
    plan = scheduling_plan(settings)
    for file, text in render_pod_templates(settings, plan.pod_marks).items():
        (templates / file).write_text(text)
    config = airflow_config(settings)
    for section, entries in changes.items():
        config.setdefault(section, {}).update(entries)
    config["core"].pop("execution_api_server_url", None)  # no task process runs
    # The namespace and the PriorityClasses the templates name (the kit's other objects bound
    # scheduling, not submission: no ResourceQuota here, whose admission needs the quota controller).
    kubectl_apply(cluster, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
                            *[obj for obj in plan.core_objects if obj["kind"] == "PriorityClass"]])
    leaves = [team.name for team in settings.teams.leaves()]
    (home / "dags" / f"{DAG_ID}.py").write_text(DAG.format(teams=leaves, dag_id=DAG_ID, tasks=tasks))
    env = env_for(home, config, cluster.kubeconfig, templates)
    processes: list[Scheduler] = []

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True,
                              timeout=600)

    def start(process: str, *args: str) -> None:
        processes.append(Scheduler(process, list(args), env, home / f"{process}.log",
                                   program=[sys.executable, "-m", "airflow"]))

    try:
        # One migrated database for every case (a migration is the same for each), then the team
        # pools in one `pools import`, as the kit's PoolsSync does (one CLI call per pool cost minutes).
        migrated = directory / "migrated.db"
        if not migrated.exists():
            result = cli("db", "migrate")
            if result.returncode != 0:
                raise RuntimeError(f"airflow db migrate: {result.stderr[-500:]}")
            shutil.copy(home / "airflow.db", migrated)
        else:
            shutil.copy(migrated, home / "airflow.db")
        (home / "pools.json").write_text(pools_json(settings))
        result = cli("pools", "import", str(home / "pools.json"))
        if result.returncode != 0:
            raise RuntimeError(f"airflow pools import: {result.stderr[-500:]}")
        start("dag-processor", "dag-processor")
        start("scheduler", "scheduler")
        deadline = time.monotonic() + 600  # thousands of tasks take a while to parse and serialize
        while not dag_known(home / "airflow.db"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"DAG never parsed: {(home / 'dag-processor.log').read_text()[-1000:]}")
            time.sleep(2)
        result = cli("dags", "unpause", DAG_ID)
        if result.returncode != 0:
            raise RuntimeError(f"airflow dags unpause: {result.stderr[-1000:]}")
        origin = time.monotonic()
        counter = PodCounter(api, namespace, origin)
        result = cli("dags", "trigger", DAG_ID, "--run-id", "bench")
        if result.returncode != 0:
            raise RuntimeError(f"airflow dags trigger: {result.stderr[-1000:]}")
        queued: list[tuple[float, int]] = []
        last_change, last = time.monotonic(), 0
        while time.monotonic() - origin < limit_seconds + FIRST_TASK_SECONDS:
            count = queued_count(home / "airflow.db")
            queued.append((time.monotonic() - origin, count))
            if count != last or len(counter.created) < count:
                last, last_change = count, time.monotonic()
            if len(counter.created) >= tasks:
                break  # all submitted
            if (count and time.monotonic() - last_change > 20) or time.monotonic() - origin > FIRST_TASK_SECONDS and \
                    not count:
                break  # held by a limit (or nothing ever started: reported as such)
            if count and time.monotonic() - origin > limit_seconds + queued[0][0]:
                break
            time.sleep(1)
        counter.stop()
    finally:
        for process in processes:
            process.stop()
    queued_times = []
    previous = 0
    for t, count in queued:
        queued_times += [t] * max(0, count - previous)
        previous = max(previous, count)
    created = counter.created
    return {
        "case": name, "changes": changes, "tasks": tasks,
        "parallelism": config["core"]["parallelism"],
        "max_active_tasks_per_dag": config["core"]["max_active_tasks_per_dag"],
        "batch": config["kubernetes_executor"]["worker_pods_creation_batch_size"],
        "max_tis_per_query": config.get("scheduler", {}).get("max_tis_per_query", 16),
        "queued": previous, "pods_created": len(created),
        "queued_per_second": rate(queued_times), "created_per_second": rate(created),
        "seconds_to_last_pod": max(created) if created else None,
    }


def markdown(rows: list[dict[str, Any]], header: str) -> str:
    lines = [header, "", "| case | parallelism | max_active_tasks_per_dag | creation batch | max_tis_per_query | "
             "tasks queued | pods created | queued/s | created/s | last pod after |",
             "|---|---|---|---|---|---|---|---|---|---|"]

    def f(value: Optional[float], suffix: str = "") -> str:
        return "n/a" if value is None else f"{value:.1f}{suffix}"

    def per_second(value: Optional[float], count: int) -> str:
        return "all at once" if value is None and count >= 10 else f(value)

    for row in rows:
        lines.append(f"| {row['case']} | {row['parallelism']} | {row['max_active_tasks_per_dag']} | {row['batch']} | "
                     f"{row['max_tis_per_query']} | {row['queued']}/{row['tasks']} | {row['pods_created']} | "
                     f"{per_second(row['queued_per_second'], row['queued'])} | "
                     f"{per_second(row['created_per_second'], row['pods_created'])} | "
                     f"{f(row['seconds_to_last_pod'], ' s')} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.airflow_side", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", type=pathlib.Path, default=None)
    parser.add_argument("--work", type=pathlib.Path, default=ROOT / "work")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stops Airflow and the cluster too
    size = "smoke" if args.smoke else "full"
    scale = workload.SMOKE if args.smoke else workload.FULL
    tasks, limit = (200, 90.0) if args.smoke else (2000, 180.0)
    out = args.out or ROOT / "results" / size
    out.mkdir(parents=True, exist_ok=True)
    try:
        import airflow.providers.cncf.kubernetes  # noqa: F401
        env = tools_env()
    except (ImportError, Missing) as missing:
        print(f"bench: airflow side skipped: {missing}", file=sys.stderr)
        return 2
    directory = args.work / size / "airflow"
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    cluster = LocalCluster(directory / "cluster", env)
    cluster.start("--nodes", "0", "--no-controllers")
    rows = []
    started = time.perf_counter()
    try:
        api = Api(cluster.kubeconfig)
        for name, changes in cases(tasks):
            row = run_case(name, changes, tasks, scale, cluster, api, directory, limit)
            rows.append(row)
            print(f"bench: airflow: {name}: {row['queued']} queued, {row['pods_created']} pods, "
                  f"{row['created_per_second']} pods/s", flush=True)
    finally:
        cluster.stop()
    import airflow

    header = (f"# Airflow's side: one DAG run of {tasks} tasks (Airflow {airflow.__version__}, KubernetesExecutor, "
              f"sqlite metadata database, one scheduler)\n\nGenerated by `python -m bench.airflow_side"
              f"{' --smoke' if args.smoke else ''}` in {time.perf_counter() - started:.0f} s.")
    (out / "airflow.md").write_text(markdown(rows, header))
    (out / "airflow.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
