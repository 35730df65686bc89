"""The real schedulers as the tiers and the benchmark run them: host processes reading the
configuration rendered from the real charts in the reference data, over a throwaway control
plane with kwok nodes, and task pods made from the kit's team templates the way the
KubernetesExecutor makes them.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import time
from typing import Any, Callable, Iterable, Optional

import yaml

from airflow_kit_platform.settings import SECRET_KEYS
from repo_tools.harness import LocalCluster, Missing, PulumiProject, free_port, reference_path, tool

# Every secret the kit reads, fixed: the scheduler stacks need no generated ones.
SECRETS = {key: f"sched-{key}-value-5b1e" for key in SECRET_KEYS}
SECRETS["fernetKey"] = "ZmRnZGZnZGZnZGZnZGZnZGZnZGZnZGZnZGZnZGZnZGY="
NODE_CPU, NODE_MEMORY = 8, "32Gi"
NODE_CPU, NODE_MEMORY = 8, "32Gi"


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
        self.process = subprocess.Popen([*(program or [tool(name) or name]), *args], env=env, stdout=log.open("w"),
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
    package = reference_path() / "charts" / chart
    if not package.exists():
        raise Missing(f"{package} missing")
    if tool("helm") is None:
        raise Missing("not built: helm (run scripts/tools.sh; see .tools/status.txt)")
    values_file = tmp / f"{release}-values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    result = subprocess.run([tool("helm"), "template", release, str(package), "--namespace", namespace,
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


KOORD_PRIORITY_CLASSES = [{"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
                           "value": value} for name, value in (("koord-prod", 9000), ("koord-mid", 7000),
                                                               ("koord-batch", 5000), ("koord-free", 3000))]


def koord_scheduler_args(config_path: str, kubeconfig: str, verbosity: int) -> list[str]:
    """koord-scheduler's command line on a test or bench cluster: every listener on loopback and a
    free port (its deprecated insecure server defaults to 0.0.0.0:10251, which two schedulers
    running side by side, in `make test`'s lanes, would both claim)."""
    return [f"--config={config_path}", "--authentication-skip-lookup=true",
            f"--authentication-kubeconfig={kubeconfig}", f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
            "--address=127.0.0.1", f"--port={free_port()}", f"-v={verbosity}"]


def volcano_commands(kubeconfig: str, conf: str, controller_flags: list[str],
                     scheduler_flags: list[str]) -> list[tuple[str, list[str]]]:
    """vc-controller-manager (PodGroups for bare pods, queue status) and vc-scheduler on a test or
    bench cluster, their listeners on loopback and free ports."""
    common = [f"--kubeconfig={kubeconfig}", "--leader-elect=false", "--scheduler-name=volcano"]
    return [("vc-controller-manager", [*common, "--controllers=pg-controller,queue-controller",
                                       f"--listen-address=127.0.0.1:{free_port()}",
                                       f"--healthz-address=127.0.0.1:{free_port()}", *controller_flags]),
            ("vc-scheduler", [*common, f"--scheduler-conf={conf}", f"--listen-address=127.0.0.1:{free_port()}",
                              f"--healthz-address=127.0.0.1:{free_port()}", *scheduler_flags])]


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
