"""Pattern: one KubernetesExecutor task per team, plus a task with a local disk.

`on_kubernetes(team, cpu=, memory=, local_disk=)` returns the operator kwargs that put a task in
its own pod, as the team: the team's pod template and fused image, the scheduler marks of the
stack (schedulerName, quota/queue labels, priority class), full requests AND limits (Airflow
replaces `resources` whole), and the team's pool. The task itself is ordinary Python.

The tasks are made from the team catalog the kit mounts (teams.json), so the DAG follows the
stack's teams. Where it is not mounted (a laptop, a DAG CI) the file still loads, with one task
for a stand-in team `no-catalog` that fails when run, naming the missing file. A stack without KubernetesExecutor in its executor list cannot run this DAG:
Airflow refuses it at parse time with one import error for this file (UnknownExecutorException
naming the task and the executor); the other DAGs still load.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

from airflow_kit import load_catalog, on_kubernetes

catalog = load_catalog()


def crunch(team: str) -> str:
    import os
    import platform

    print(f"team {team} on {platform.node()} ({os.cpu_count()} cpus visible)")
    return team


def scratch_io(path: str, megabytes: int = 64) -> int:
    """Write and read back a file on the pod's local disk (a node-local volume, gone with the pod)."""
    import os

    target = os.path.join(path, "kit-io-check.bin")
    block = os.urandom(1024 * 1024)
    with open(target, "wb") as f:
        for _ in range(megabytes):
            f.write(block)
    with open(target, "rb") as f:
        read = sum(len(chunk) for chunk in iter(lambda: f.read(1024 * 1024), b""))
    os.remove(target)
    return read


with DAG(
    dag_id="kit_kubernetes_teams",
    description="One KubernetesExecutor task per team of the stack, and a local-disk IO task",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["airflow-kit", "example", "kubernetes-executor"],
):
    for name in sorted(catalog.teams):
        # Team defaults (the stack's taskResources); pass cpu=/memory= to size one task.
        task(crunch, task_id=f"crunch_{name.replace('-', '_')}", **on_kubernetes(name))(name)

    # Local disk: a generic ephemeral volume of the stack's local StorageClass, sized per task
    # and mounted at the stack's mount path (teams.json). Only stacks with localDisk have one.
    disk_teams = catalog.teams_with_local_disk
    if disk_teams:
        team = catalog.team(disk_teams[0])
        task(scratch_io, task_id="local_disk_io",
             **on_kubernetes(team.name, cpu="500m", memory="1Gi", local_disk="5Gi"))(team.local_disk.mount_path)
