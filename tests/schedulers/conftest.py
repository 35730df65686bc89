"""The real batch schedulers reading the configuration the kit produces.

For each backend: a throwaway control plane (scripts/local-cluster.sh, no kube controllers)
with kwok nodes sized so the team quotas contend; the kit's objects (namespace, quotas or
queues, priority classes, pod templates) applied by a real `pulumi up`; the scheduler's
configuration rendered from the real chart in ../shared/reference/charts with the kit's
values and the kit's own merge (airflow_kit_platform.scheduling.layer.apply_override, the function the
Pulumi transform runs); and the real scheduler, built by scripts/tools.sh, as a host process
listening on loopback. Task pods are made from the kit's team templates the way the
KubernetesExecutor makes them. Everything skips, naming what is missing, without the tools or
the reference folder.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import socket
import subprocess
import time
from typing import Any, Callable, Iterable, Optional

import pytest
import yaml

from airflow_kit_platform.settings import SECRET_KEYS
from tests.contract.reference import reference_dir
from tests.e2e.conftest import LocalCluster, PulumiProject, _tool
from tests.e2e.conftest import tools_env  # noqa: F401  (the e2e tier's fixture: tools on PATH, Pulumi offline)

SECRETS = {key: f"sched-{key}-value-5b1e" for key in SECRET_KEYS}
SECRETS["fernetKey"] = "ZmRnZGZnZGZnZGZnZGZnZGZnZGZnZGZnZGZnZGZnZGY="
NODE_CPU, NODE_MEMORY = 8, "32Gi"
TASK = {"cpu": "1", "memory": "2Gi"}
# Both backends' tiers: 3 nodes of 8 cpu (24) under a tree whose mins fit and whose maxes contend.
CONTENDED_TEAMS = [
    {"name": "data", "min": {"cpu": "12", "memory": "48Gi"}, "max": {"cpu": "20", "memory": "80Gi"}},
    {"name": "etl", "parent": "data", "min": {"cpu": "6", "memory": "24Gi"},
     "max": {"cpu": "16", "memory": "80Gi"}, "weight": 2, "priority": "batch", "taskResources": TASK},
    {"name": "analytics", "parent": "data", "min": {"cpu": "6", "memory": "24Gi"},
     "max": {"cpu": "16", "memory": "80Gi"}, "weight": 1, "taskResources": TASK},
    {"name": "research", "min": {"cpu": "8", "memory": "32Gi"}, "max": {"cpu": "12", "memory": "48Gi"},
     "priority": "prod", "taskResources": TASK},
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_tools(*names: str) -> None:
    missing = [name for name in names if _tool(name) is None]
    if missing:
        pytest.skip(f"not built: {', '.join(missing)} (run scripts/tools.sh; see .tools/status.txt)")


def kwok_node(name: str, cpu: int = NODE_CPU, memory: str = NODE_MEMORY) -> dict:
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                     "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                "kubernetes.io/arch": "amd64", "type": "kwok"}},
        "status": {"allocatable": {"cpu": str(cpu), "memory": memory, "pods": "110"},
                   "capacity": {"cpu": str(cpu), "memory": memory, "pods": "110"}},
    }


def dra_stub_crds() -> list[dict]:
    """Schedulers built on Kubernetes 1.35 clients wait for `resource.k8s.io/v1` informers that a
    1.33 API server does not serve; empty CRDs of those kinds let them start."""
    crds = []
    for kind, plural, scope in (("ResourceClaim", "resourceclaims", "Namespaced"),
                                ("ResourceSlice", "resourceslices", "Cluster"),
                                ("DeviceClass", "deviceclasses", "Cluster")):
        crds.append({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.resource.k8s.io",
                         "annotations": {"api-approved.kubernetes.io": "https://github.com/kubernetes/kubernetes/pull/1"}},
            "spec": {"group": "resource.k8s.io", "scope": scope,
                     "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": kind.lower()},
                     "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                         "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]},
        })
    return crds


class Scheduler:
    """A scheduler as a host process; stopped by its PID. `program`: what to run (default: the
    built binary called `name`; Airflow's: `python -m airflow`)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: pathlib.Path,
                 program: Optional[list[str]] = None):
        self.name, self.log = name, log
        self.process = subprocess.Popen([*(program or [_tool(name) or name]), *args], env=env, stdout=log.open("w"),
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM, then SIGKILL, to the process group it leads (its own session: the Airflow
        scheduler forks executor watchers that outlive a signal to the main process alone)."""
        group = self.process.pid
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(wait)
            except subprocess.TimeoutExpired:
                continue
            try:  # the leader is gone: anything left in its group gets the next signal
                os.killpg(group, 0)
            except ProcessLookupError:
                break


class SchedulerCluster:
    """One backend's cluster: nodes, the kit's stack, and the pods made from its templates."""

    def __init__(self, cluster: LocalCluster, project: PulumiProject, namespace: str):
        self.cluster, self.project, self.namespace = cluster, project, namespace
        self.schedulers: list[Scheduler] = []
        self.samples: list[dict[str, dict[str, int]]] = []  # every count taken while settling

    def apply(self, objects: Iterable[dict], server_side: bool = False) -> None:
        document = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
        if not document["items"]:
            return
        args = ["kubectl", "--kubeconfig", self.cluster.kubeconfig, "apply", "-f", "-"]
        if server_side:
            args.insert(4, "--server-side")
        result = subprocess.run(args, input=json.dumps(document), env=self.cluster.env, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-3000:]

    def get(self, *args: str) -> Any:
        return json.loads(self.cluster.kubectl("get", *args, "-o", "json").stdout)

    def template(self, team: str) -> dict:
        configmap = self.get("configmap", "airflow-kit-pod-templates", "-n", self.namespace)
        return yaml.safe_load(configmap["data"][f"{team}.yaml"])

    def submit(self, team: str, count: int, prefix: Optional[str] = None, **changes: Any) -> list[str]:
        """`count` task pods from the team's template, named and labelled as KubernetesExecutor does."""
        base = self.template(team)
        pods, names = [], []
        for index in range(count):
            pod = json.loads(json.dumps(base))
            name = f"{prefix or team}-task-{index}"
            pod["metadata"]["name"] = name
            pod["metadata"]["namespace"] = self.namespace
            pod["metadata"]["labels"].update({"kubernetes_executor": "True", "dag_id": "quota_probe",
                                              "task_id": name})
            # kwok keeps a deleted pod for its whole grace period (600 s in the template); a kubelet
            # removes it as soon as the task process exits.
            pod["spec"]["terminationGracePeriodSeconds"] = 5
            for key, value in changes.items():
                pod["spec"][key] = value
            pods.append(pod)
            names.append(name)
        self.apply(pods)
        return names

    def pods(self) -> list[dict]:
        return self.get("pods", "-n", self.namespace)["items"]

    def counts(self) -> dict[str, dict[str, int]]:
        """Bound and pending task pods per team."""
        result: dict[str, dict[str, int]] = {}
        for pod in self.pods():
            if pod["metadata"].get("deletionTimestamp"):
                continue
            team = pod["metadata"]["labels"].get("airflow-kit/team", "?")
            state = "bound" if pod["spec"].get("nodeName") else "pending"
            result.setdefault(team, {"bound": 0, "pending": 0})[state] += 1
        return result

    def pending_reasons(self, team: str) -> list[str]:
        reasons = []
        for pod in self.pods():
            if pod["metadata"]["labels"].get("airflow-kit/team") == team and not pod["spec"].get("nodeName"):
                for condition in pod.get("status", {}).get("conditions", []):
                    if condition.get("type") == "PodScheduled" and condition.get("message"):
                        reasons.append(condition["message"])
        return reasons

    def settle(self, done: Callable[[dict], bool], timeout: float = 90, stable: float = 4.0) -> dict:
        """Poll the counts until `done(counts)` holds and stays the same for `stable` seconds."""
        deadline = time.monotonic() + timeout
        last, since = None, time.monotonic()
        while True:
            for scheduler in self.schedulers:
                assert scheduler.alive(), f"{scheduler.name} exited:\n{scheduler.tail()}"
            counts = self.counts()
            self.samples.append(counts)
            if counts != last:
                last, since = counts, time.monotonic()
            if done(counts) and time.monotonic() - since >= stable:
                return counts
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {s.name}\n{s.tail()}" for s in self.schedulers)
                raise AssertionError(f"scheduling did not settle: {counts}\n{logs}")
            time.sleep(0.5)

    def peak(self, *teams: str) -> int:
        """The most pods these teams had bound together at any sample."""
        return max((sum(sample.get(team, {}).get("bound", 0) for team in teams) for sample in self.samples),
                   default=0)

    def delete_pods(self, selector: str) -> None:
        self.cluster.kubectl("delete", "pods", "-n", self.namespace, "-l", selector, "--wait=false",
                             "--grace-period=0", "--force")

    def start(self, name: str, args: list[str]) -> Scheduler:
        scheduler = Scheduler(name, args, self.cluster.env, self.cluster.directory / "logs" / f"{name}.log")
        self.schedulers.append(scheduler)
        return scheduler

    def stop(self) -> None:
        for scheduler in self.schedulers:
            scheduler.stop()


def helm_render(chart: str, release: str, namespace: str, values: dict, tmp: pathlib.Path) -> list[dict]:
    package = reference_dir() / "charts" / chart
    if not package.exists():
        pytest.skip(f"{package} missing")
    require_tools("helm")
    values_file = tmp / f"{release}-values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    result = subprocess.run([_tool("helm"), "template", release, str(package), "--namespace", namespace,
                             "-f", str(values_file)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


# Flags of the Volcano chart's Deployments that tune the processes (the rest are about the pod:
# certificates, health ports, log level); the tiers pass these through as the chart sets them.
VOLCANO_TUNING_FLAGS = ("--kube-api-qps", "--kube-api-burst", "--worker-threads", "--schedule-period",
                        "--node-worker-threads", "--percentage-nodes-to-find")


def deployment_flags(objects: list[dict], name: str, flags: tuple[str, ...] = VOLCANO_TUNING_FLAGS) -> list[str]:
    """The chart-rendered container args of Deployment `name` that start with one of `flags`."""
    for obj in objects:
        if obj.get("kind") == "Deployment" and obj["metadata"]["name"] == name:
            args = obj["spec"]["template"]["spec"]["containers"][0].get("args", [])
            return [arg for arg in args if arg.split("=", 1)[0].startswith(flags)]
    raise AssertionError(f"the chart renders no Deployment {name}")


def configmap_data(objects: list[dict], name: str, key: str) -> str:
    for obj in objects:
        if obj.get("kind") == "ConfigMap" and obj["metadata"]["name"] == name:
            return obj["data"][key]
    raise AssertionError(f"the chart renders no ConfigMap {name}")


@pytest.fixture(scope="module")
def scheduler_cluster_factory(tools_env, tmp_path_factory, request):
    """Start a cluster with `nodes` kwok nodes, apply CRDs, `pulumi up` the kit's stack."""
    require_tools("pulumi", "pulumi-language-python", "pulumi-resource-kubernetes", "etcd", "kube-apiserver",
                  "kwok", "kubectl")
    made: list[SchedulerCluster] = []

    def make(stack: str, config: dict, crd_folders: Iterable[str], extra_objects: Iterable[dict] = (),
             nodes: int = 3) -> SchedulerCluster:
        crd_root = reference_dir() / "crds"
        directory = tmp_path_factory.mktemp(f"{stack}-cluster")
        cluster = LocalCluster(directory, tools_env)
        try:
            cluster.start("--nodes", "0", "--no-controllers")
        except Exception:
            print(cluster.logs())
            cluster.stop()
            raise
        project = PulumiProject(tmp_path_factory.mktemp(f"{stack}-project"), tools_env, cluster.kubeconfig,
                                stack, config)
        sched = SchedulerCluster(cluster, project, config["namespace"])
        made.append(sched)
        crds = [*dra_stub_crds()]
        for folder in crd_folders:
            for path in sorted((crd_root / folder).glob("*.yaml")):
                crds.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
        sched.apply(crds, server_side=True)
        cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=120s")
        sched.apply([kwok_node(f"node-{index}") for index in range(nodes)])
        cluster.kubectl("wait", "--for=condition=Ready", "node", "--all", "--timeout=60s")
        sched.apply(list(extra_objects))
        project.init(SECRETS)
        started = time.perf_counter()
        project.up()
        sched.up_seconds = time.perf_counter() - started
        return sched

    yield make
    for sched in made:
        sched.stop()
        if request.session.testsfailed:
            print(sched.cluster.logs())
        sched.cluster.stop()


KOORD_PRIORITY_CLASSES = [{"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
                           "value": value} for name, value in (("koord-prod", 9000), ("koord-mid", 7000),
                                                               ("koord-batch", 5000), ("koord-free", 3000))]


def koord_scheduler_config(config: dict, tmp_path: pathlib.Path, kubeconfig: str) -> str:
    """The chart's koord-scheduler-config with the kit's merge, as a running install would have it."""
    from airflow_kit_platform.scheduling import koordinator
    from airflow_kit_platform.scheduling.layer import apply_override
    from airflow_kit_platform.settings import load_settings

    installed = load_settings("koord-real", {**config, "scheduler": {
        **config["scheduler"], "install": True, "imageRegistry": "registry.example.com"}})
    spec = koordinator.chart_spec(installed)
    objects = helm_render("koordinator-1.8.0.tgz", spec.release, spec.namespace, dict(spec.values), tmp_path)
    chart_text = configmap_data(objects, koordinator.SCHEDULER_CONFIG, koordinator.SCHEDULER_CONFIG)
    override = koordinator.scheduler_config_override(installed)
    merged = apply_override({"data": {koordinator.SCHEDULER_CONFIG: chart_text}, "metadata": {}}, override)
    document = yaml.safe_load(merged["data"][koordinator.SCHEDULER_CONFIG])
    # What a deployment sets, not the kit: where the API server is, no leader election.
    document["leaderElection"] = {"leaderElect": False}
    document.setdefault("clientConnection", {})["kubeconfig"] = kubeconfig
    path = tmp_path / "koord-scheduler-config.yaml"
    path.write_text(yaml.safe_dump(document))
    return str(path)


def start_koord_cluster(factory, tmp_path_factory, stack: str, config: dict) -> SchedulerCluster:
    """A cluster with the kit's Koordinator stack applied and the real koord-scheduler running."""
    from tests.measurements import MEASURED

    require_tools("koord-scheduler")
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "koordinator-system"}}
    sched = factory(stack, config, ["koordinator"], [namespace, *KOORD_PRIORITY_CLASSES])
    MEASURED[f"schedulers: pulumi up of stack {stack}"] = f"{sched.up_seconds:.1f} s"
    path = koord_scheduler_config(config, tmp_path_factory.mktemp(f"{stack}-config"), sched.cluster.kubeconfig)
    kubeconfig = sched.cluster.kubeconfig
    started = time.perf_counter()
    sched.start("koord-scheduler", [f"--config={path}", "--authentication-skip-lookup=true",
                                    f"--authentication-kubeconfig={kubeconfig}",
                                    f"--authorization-kubeconfig={kubeconfig}", "--bind-address=127.0.0.1",
                                    f"--secure-port={free_port()}", "-v=2"])
    # Ready when it has created its own root quota (it does so once its informers synced).
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = sched.cluster.kubectl("get", "elasticquota", "-n", "koordinator-system", "-o", "name", check=False)
        if "koordinator-root-quota" in found.stdout:
            break
        assert sched.schedulers[0].alive(), sched.schedulers[0].tail()
        time.sleep(0.5)
    MEASURED[f"schedulers: koord-scheduler ready ({stack})"] = f"{time.perf_counter() - started:.1f} s"
    return sched


def priority_order_probe(sched: SchedulerCluster, filler_priority_class: str, early: tuple[str, dict],
                         late: tuple[str, dict]) -> dict:
    """Which waiting tasks get capacity first when it frees up in a full cluster.

    24 fillers (1 cpu, top priority so nobody preempts them) are put straight on the nodes
    (`nodeName`: outside every scheduler and quota) and fill them. Then 4 `early` tasks and,
    once the scheduler has refused them, 4 `late` ones of higher priority wait for nodes, well
    inside their quotas (`early`/`late`: a team and the pod spec changes). When the scheduler
    has refused the late ones too, four fillers end at once: the scheduler
    should give the 4 cpu to the late, higher-priority tasks. Returns the pods bound per prefix.
    """
    sched.delete_pods("airflow-kit/team")
    sched.cluster.kubectl("delete", "pods", "-n", sched.namespace, "-l", "role=filler", "--wait=false")
    sched.settle(lambda c: not c, timeout=60, stable=1)
    # Volcano's PodGroups of deleted pods hold their queue reservations until the garbage
    # collector (kube-controller-manager, not run here) removes them: do its work.
    sched.cluster.kubectl("delete", "podgroups.scheduling.volcano.sh", "--all", "-n", sched.namespace, check=False)
    fillers = []
    for index in range(NODE_CPU * 3):
        fillers.append({"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": f"filler-{index}", "namespace": sched.namespace,
                                     "labels": {"role": "filler"}},
                        "spec": {"nodeName": f"node-{index % 3}", "priorityClassName": filler_priority_class,
                                 "terminationGracePeriodSeconds": 1,
                                 "containers": [{"name": "c", "image": "busybox",
                                                 "resources": {"requests": {"cpu": "1", "memory": "1Gi"},
                                                               "limits": {"cpu": "1", "memory": "1Gi"}}}]}})
    sched.apply(fillers)

    def probe_pods(prefix: str) -> list[dict]:
        return [pod for pod in sched.pods() if pod["metadata"]["name"].startswith(f"{prefix}-")]

    def wait_until_refused(prefix: str) -> None:
        # The scheduler has tried each pod and found no room: only then is it waiting in the
        # scheduler's queue (Volcano: only once its PodGroup exists, which the controller makes,
        # seconds later under load).
        deadline = time.monotonic() + 90
        while True:
            pods = probe_pods(prefix)
            refused = [pod for pod in pods if any(
                condition["type"] == "PodScheduled" and condition["status"] == "False"
                for condition in pod.get("status", {}).get("conditions", []))]
            if pods and len(refused) == len(pods):
                return
            assert time.monotonic() < deadline, f"{prefix} pods never tried by the scheduler: {len(refused)}/{len(pods)}"
            time.sleep(0.5)

    sched.submit(early[0], 4, prefix="early", **early[1])
    wait_until_refused("early")
    time.sleep(2)  # the early tasks have clearly waited longer
    sched.submit(late[0], 4, prefix="late", **late[1])
    wait_until_refused("late")

    def bound_by_prefix() -> dict[str, int]:
        found = {"early": 0, "late": 0}
        for prefix in found:
            found[prefix] = sum(1 for pod in probe_pods(prefix)
                                if pod["spec"].get("nodeName") and not pod["metadata"].get("deletionTimestamp"))
        return found

    before = bound_by_prefix()
    # Released at once, as a finished task's pod: a graceful delete only marks the pod first, the
    # scheduler retries while its cpu is still taken, and the retried pods sit out a backoff.
    sched.cluster.kubectl("delete", "pod", *[f"filler-{index}" for index in range(4)], "-n", sched.namespace,
                          "--grace-period=0", "--force", "--wait=false")
    # All 4 within 90 s, or at least 3: a pod kube-scheduler's framework (koord-scheduler) refused
    # again just after the last filler went waits for its unschedulable-queue flush (5 min), and
    # the callers assert on what they accept.
    deadline = time.monotonic() + 90
    while sum(bound_by_prefix().values()) < 4 and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(3)
    after = bound_by_prefix()
    assert sum(after.values()) >= 3, f"freed capacity was not used: {after}"
    return {"before": before, "after": after}
