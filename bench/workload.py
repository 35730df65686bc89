"""What every benchmark run is given: the nodes, the team tree, the kit's stack and the tasks.

Pure values only: the same seed gives every backend the same nodes, the same hot nodes and the
same tasks in the same order, so the runs differ only in the scheduler and its configuration.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Optional

NAMESPACE = "bench"  # the kit's stack namespace; the stock runs use their own
STOCK_NAMESPACE = "bench-stock"
TEAM_LABEL = "airflow-kit/team"
RUNTIME_ANNOTATION = "airflow-kit.bench/runtime"  # kwok ends the pod after this long (bench stage)
SIZE_LABEL = "airflow-kit.bench/size"


@dataclass(frozen=True)
class NodeShape:
    name: str
    cpu: int
    memory_gi: int
    share: float  # of the node count


# Two common ECS sizes of a batch pool (g7: 4 GiB per vCPU).
NODE_SHAPES = (NodeShape("ecs.g7.4xlarge", 16, 64, 0.7), NodeShape("ecs.g7.8xlarge", 32, 128, 0.3))


@dataclass(frozen=True)
class TaskSize:
    name: str
    cpu: str
    memory: str
    share: float
    runtime_seconds: tuple[int, int]  # uniform between


# Together they ask for ~1.7x the cluster, so capacity and quotas contend and late pods wait for
# earlier ones to finish.
TASK_SIZES = (TaskSize("small", "2", "8Gi", 0.75, (60, 120)), TaskSize("large", "8", "32Gi", 0.25, (90, 180)))


@dataclass(frozen=True)
class Scale:
    nodes: int
    pods: int
    submitters: int  # Airflow schedulers creating pods at once (HA replicas)
    batch: int  # pods each creates per loop: [kubernetes_executor] worker_pods_creation_batch_size
    loop_seconds: float
    runtime_factor: float = 1.0  # scales TaskSize.runtime_seconds
    hot_share: float = 0.1  # nodes whose agents report them hot
    late_team_at: float = 0.5  # the quiet team's burst starts at this share of the arrivals
    seed: int = 20261203

    def describe(self) -> str:
        return (f"{self.nodes} nodes, {self.pods} pods, {self.submitters} submitters x batch {self.batch} "
                f"every {self.loop_seconds:g} s")


FULL = Scale(nodes=1000, pods=10_000, submitters=8, batch=16, loop_seconds=1.0)
SMOKE = Scale(nodes=50, pods=500, submitters=2, batch=16, loop_seconds=1.0, runtime_factor=0.2)


def node_names(scale: Scale) -> list[str]:
    return [f"node-{index:04d}" for index in range(scale.nodes)]


def node_shape(scale: Scale, index: int) -> NodeShape:
    """Shapes by share, interleaved (node 0..9: 7 small, 3 large)."""
    position = (index % 10) / 10
    cumulative = 0.0
    for shape in NODE_SHAPES:
        cumulative += shape.share
        if position < cumulative - 1e-9:
            return shape
    return NODE_SHAPES[-1]


def kwok_nodes(scale: Scale) -> list[dict[str, Any]]:
    nodes = []
    for index, name in enumerate(node_names(scale)):
        shape = node_shape(scale, index)
        resources = {"cpu": str(shape.cpu), "memory": f"{shape.memory_gi}Gi", "pods": "110"}
        nodes.append({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name,
                         "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                         "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                    "kubernetes.io/arch": "amd64", "type": "kwok",
                                    "node.kubernetes.io/instance-type": shape.name}},
            "status": {"allocatable": dict(resources), "capacity": dict(resources)},
        })
    return nodes


def capacity_cpu(scale: Scale) -> int:
    return sum(node_shape(scale, index).cpu for index in range(scale.nodes))


def hot_nodes(scale: Scale) -> set[str]:
    names = node_names(scale)
    return set(random.Random(scale.seed + 1).sample(names, round(len(names) * scale.hot_share)))


def _cpu(value: float) -> dict[str, str]:
    cores = max(1, int(value))
    return {"cpu": str(cores), "memory": f"{cores * 4}Gi"}


# Two divisions -> three departments each -> two teams each: 20 teams, 12 of them run tasks.
# Division mins add up to the cluster (each is guaranteed half); every level's max is below what
# its busiest members ask for, so each level of the tree is held at some point of the run.
LEAF_WEIGHTS = (3, 1)
LEAF_PRIORITIES = ("prod", "batch")


def teams(scale: Scale) -> list[dict[str, Any]]:
    capacity = capacity_cpu(scale)
    result: list[dict[str, Any]] = []
    for division in range(2):
        division_name = f"div{division}"
        division_min = capacity * 0.5
        result.append({"name": division_name, "min": _cpu(division_min), "max": _cpu(capacity * 0.6)})
        for department in range(3):
            department_name = f"{division_name}-dep{department}"
            department_min = division_min / 3
            result.append({"name": department_name, "parent": division_name, "min": _cpu(department_min),
                           "max": _cpu(capacity * 0.25)})
            for leaf in range(2):
                result.append({"name": f"{department_name}-t{leaf}", "parent": department_name,
                               "min": _cpu(department_min / 2), "max": _cpu(capacity * 0.15),
                               "weight": LEAF_WEIGHTS[leaf], "priority": LEAF_PRIORITIES[leaf],
                               "taskResources": {"cpu": TASK_SIZES[0].cpu, "memory": TASK_SIZES[0].memory}})
    return result


def leaf_names(tree: list[dict[str, Any]]) -> list[str]:
    parents = {team.get("parent") for team in tree}
    return [team["name"] for team in tree if team["name"] not in parents]


def late_team(tree: list[dict[str, Any]]) -> str:
    """The team that is quiet until `late_team_at`: its min is borrowed by then and must come back."""
    return leaf_names(tree)[-1]


def stack_config(backend: str, tree: list[dict[str, Any]], prometheus_address: Optional[str] = None,
                 namespace: str = NAMESPACE) -> dict[str, Any]:
    """The kit's stack for `backend` with this tree (the Airflow chart itself is not part of it)."""
    scheduler: dict[str, Any] = {"backend": backend}
    if backend in ("koordinator", "volcano"):
        scheduler["install"] = False  # the bench runs the scheduler itself, from the kit's rendered config
        scheduler["loadAware"] = {"enabled": True, "cpuThresholdPercent": 65, "memoryThresholdPercent": 80}
        if backend == "volcano":
            scheduler["loadAware"]["prometheusAddress"] = prometheus_address or "http://127.0.0.1:9090"
        if backend == "koordinator":
            scheduler["reclaimDelay"] = "30s"
    return {
        "namespace": namespace,
        "airflow": {"chart": {"install": False}, "executors": ["KubernetesExecutor"]},
        "scheduler": scheduler,
        "teams": tree,
    }


@dataclass(frozen=True)
class Task:
    name: str
    team: str
    size: TaskSize
    runtime_seconds: int


def tasks(scale: Scale, tree: list[dict[str, Any]]) -> list[Task]:
    """`scale.pods` tasks in submission order. Teams are picked with skew (the first team of each
    department asks twice as much as the second, one team far more) so quotas contend; the late
    team submits only from `late_team_at` on, all at once, as a DAG run fanning out."""
    rng = random.Random(scale.seed)
    leaves = leaf_names(tree)
    quiet = late_team(tree)
    busy = [name for name in leaves if name != quiet]
    # One greedy team asks for ~30 % of everything: more than its max, its department's and (with
    # its division's other teams) its division's, so every level of the tree is held.
    greedy = busy[0]
    weights = [6 if name == greedy else 2 if name.endswith("-t0") else 1 for name in busy]
    late_start = int(scale.pods * scale.late_team_at)
    late_count = max(1, scale.pods // 20)
    result: list[Task] = []
    for index in range(scale.pods):
        if late_start <= index < late_start + late_count:
            team = quiet
        else:
            team = rng.choices(busy, weights)[0]
        size = rng.choices(TASK_SIZES, [s.share for s in TASK_SIZES])[0]
        low, high = size.runtime_seconds
        runtime = max(5, round(rng.uniform(low, high) * scale.runtime_factor))
        result.append(Task(f"{team}-{index:05d}", team, size, runtime))
    return result


def loops(scale: Scale, items: list[Task]) -> list[list[list[Task]]]:
    """Per loop, per submitter, the tasks it creates (one after another, as the executor does)."""
    per_loop = scale.submitters * scale.batch
    result = []
    for start in range(0, len(items), per_loop):
        chunk = items[start:start + per_loop]
        result.append([chunk[offset::scale.submitters] for offset in range(scale.submitters)])
    return result


def task_pod(template: dict[str, Any], task: Task, namespace: str) -> dict[str, Any]:
    """The team's template as KubernetesExecutor fills it, with the task's own requests (a
    `pod_override` for large tasks) and how long it runs."""
    import copy

    pod = copy.deepcopy(template)
    metadata = pod.setdefault("metadata", {})
    metadata["name"] = task.name.replace("_", "-")
    metadata["namespace"] = namespace
    labels = metadata.setdefault("labels", {})
    labels.update({"kubernetes_executor": "True", "dag_id": "bench", "task_id": task.name,
                   TEAM_LABEL: task.team, SIZE_LABEL: task.size.name})
    metadata.setdefault("annotations", {})[RUNTIME_ANNOTATION] = f"{task.runtime_seconds}s"
    spec = pod["spec"]
    spec["terminationGracePeriodSeconds"] = 0
    base = next((c for c in spec["containers"] if c["name"] == "base"), spec["containers"][0])
    requests = {"cpu": task.size.cpu, "memory": task.size.memory}
    resources = base.setdefault("resources", {})
    resources["requests"] = dict(requests)
    resources["limits"] = dict(requests)
    return pod
