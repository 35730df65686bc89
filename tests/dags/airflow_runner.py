"""Runs one Airflow operation in a fresh process and prints its result as JSON (last line).

The tests start it with a prepared environment (AIRFLOW_HOME, executor list, dags folder,
team catalog): Airflow reads its config and executor list once per process, so every stack
style gets its own process and the pytest process never imports Airflow.

    python airflow_runner.py parse <dags_folder>
    python airflow_runner.py dag-test <dags_folder> <dag_id> [<run conf as JSON>]
    python airflow_runner.py rss -- <command...>     # peak RSS of a child process tree
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def emit(result: dict[str, Any]) -> None:
    sys.stdout.write("\n" + json.dumps(result, default=str) + "\n")


def _task_summary(task) -> dict[str, Any]:
    return {
        "operator": type(task).__name__,
        "executor": task.executor,
        "pool": task.pool,
        "pool_slots": task.pool_slots,
        "priority_weight": task.priority_weight,
        "max_active_tis_per_dag": task.max_active_tis_per_dag,
        "deferrable": getattr(task, "deferrable", None),
        "trigger_dag_id": getattr(task, "trigger_dag_id", None),
    }


def dagbag(dags_folder: str):
    """Parse the folder as the dag processor does: a BundleDagBag (the bundle, i.e. the dags
    folder, on sys.path); DAG files import `airflow_kit` from the installed airflow-kit-dags."""
    from airflow.models.dagbag import BundleDagBag

    return BundleDagBag(dags_folder, bundle_path=Path(dags_folder), include_examples=False)


def parse(dags_folder: str) -> dict[str, Any]:
    started = time.perf_counter()
    import airflow.models.dagbag  # noqa: F401  (Airflow's own import time, measured apart)

    imported = time.perf_counter()
    bag = dagbag(dags_folder)
    parsed = time.perf_counter()
    dags = {}
    for dag_id, dag in bag.dags.items():
        dags[dag_id] = {
            "fileloc": dag.fileloc,
            "max_active_runs": dag.max_active_runs,
            "max_active_tasks": dag.max_active_tasks,
            "max_consecutive_failed_dag_runs": dag.max_consecutive_failed_dag_runs,
            "tasks": {task.task_id: _task_summary(task) for task in dag.tasks},
        }
    jobs = {}  # the Job each queued-Job task would create (built offline, never sent)
    for dag_id, dag in bag.dags.items():
        for task in dag.tasks:
            if hasattr(task, "build_job_request_obj"):
                jobs[f"{dag_id}.{task.task_id}"] = _plain(task.build_job_request_obj({}))
    return {
        "dags": dags,
        "jobs": jobs,
        "import_errors": bag.import_errors,
        "airflow_import_seconds": imported - started,
        "dagbag_seconds": parsed - imported,
        "file_seconds": {stat.file: stat.duration.total_seconds() for stat in bag.dagbag_stats},
    }


def _plain(obj: Any) -> Any:
    from kubernetes.client import ApiClient

    return ApiClient().sanitize_for_serialization(obj)


def dag_test(dags_folder: str, dag_id: str, conf: str = "{}") -> dict[str, Any]:
    bag = dagbag(dags_folder)
    dag = bag.dags[dag_id]
    started = time.perf_counter()
    run = dag.test(run_conf=json.loads(conf) or None)
    seconds = time.perf_counter() - started
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id,
                                                 TaskInstance.run_id == run.run_id).all()
        states = {}
        for ti in tis:
            key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
            states[key] = {"state": str(ti.state), "pool": ti.pool, "pool_slots": ti.pool_slots}
        runs = [{"run_id": r.run_id, "conf": r.conf, "state": str(r.state)}
                for r in session.query(DagRun).filter(DagRun.dag_id == dag_id).all()]
    return {"run_state": str(run.state), "tasks": states, "seconds": seconds, "runs": runs}


def rss(command: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # max over every waited-for descendant
    return {"returncode": proc.returncode, "peak_rss_mib": usage.ru_maxrss / 1024, "seconds": seconds,
            "stdout": proc.stdout[-3000:], "stderr": proc.stderr[-3000:]}


def main(argv: list[str]) -> None:
    command, args = argv[0], argv[1:]
    if command == "parse":
        emit(parse(*args))
    elif command == "dag-test":
        emit(dag_test(*args))
    elif command == "rss":
        emit(rss(args[1:] if args and args[0] == "--" else args))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
