"""One benchmark run's cluster: the local control plane, kwok nodes, the kit's stack, a scheduler.

The launchers are the scheduler tier's (tests/schedulers): the same control plane
(scripts/local-cluster.sh), the same `pulumi up` of the kit's stack, the same real schedulers
built by scripts/tools.sh with the configuration the real chart renders from the kit's values.
kube-controller-manager runs in every run: ResourceQuota admission needs its quota controller
(default backend) and its garbage collector removes Volcano's PodGroups of finished pods.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable, Optional

import requests
import yaml

from airflow_kit_platform import versions
from airflow_kit_platform.model.backends import BACKENDS as SCHEDULER_FACTS
from airflow_kit_platform.scheduling import koordinator, volcano
from airflow_kit_platform.scheduling.backend import PodMarks
from airflow_kit_platform.settings import load_settings
from airflow_kit_platform.workloads.pod_templates import render_pod_templates, template_file_name
from bench import workload
from repo_tools.harness import (
    TOOLS,
    LocalCluster,
    Missing,
    PulumiProject,
    free_port,
    missing_tools,
    reference_path,
    tool,
    toolchain_env,
)
from repo_tools.schedulers import (
    KOORD_PRIORITY_CLASSES,
    SECRETS,
    Scheduler,
    configmap_data,
    deployment_flags,
    dra_stub_crds,
    helm_render,
    koord_scheduler_args,
    koord_scheduler_config,
    volcano_commands,
)

BACKENDS = ("default", "koordinator", "volcano")
SCHEDULER_TOOLS = {"default": ("kube-scheduler",), "koordinator": ("koord-scheduler",),
                   "volcano": ("vc-scheduler", "vc-controller-manager")}
CRD_FOLDERS = {"default": (), "koordinator": ("koordinator",), "volcano": ("volcano",)}
# kwok ends a benchmark task after its runtime annotation (delay == jitter: exactly that long;
# kwok's shipped pod-complete stage only matches Job-owned pods).
TASK_COMPLETE_STAGE = {
    "apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Stage", "metadata": {"name": "bench-task-complete"},
    "spec": {
        "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
        "selector": {
            "matchExpressions": [
                {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
                {"key": ".status.phase", "operator": "In", "values": ["Running"]},
                {"key": f'.metadata.annotations["{workload.RUNTIME_ANNOTATION}"]', "operator": "Exists"},
            ],
        },
        "delay": {
            "durationMilliseconds": 1000,
            "durationFrom": {"expressionFrom": f'.metadata.annotations["{workload.RUNTIME_ANNOTATION}"]'},
            "jitterDurationMilliseconds": 1000,
            "jitterDurationFrom": {"expressionFrom": f'.metadata.annotations["{workload.RUNTIME_ANNOTATION}"]'},
        },
        "next": {"statusTemplate": "phase: Succeeded\n"},
    },
}


def tools_env() -> dict[str, str]:
    missing = missing_tools()
    if missing:
        raise Missing(f"tools not built: {', '.join(missing)} (run scripts/tools.sh)")
    return toolchain_env("bench-only-passphrase")


def require(backend: str) -> None:
    missing = [name for name in ("kube-controller-manager", "helm", *SCHEDULER_TOOLS[backend]) if tool(name) is None]
    if missing:
        raise Missing(f"not built: {', '.join(missing)} (run scripts/tools.sh)")
    if not (reference_path() / "charts").exists():
        raise Missing(f"{reference_path() / 'charts'} missing: the schedulers' configuration comes from the real charts")


def stages_file(directory: pathlib.Path) -> pathlib.Path:
    shipped = (TOOLS / "share" / "kwok" / "stages.yaml").read_text()
    path = directory / "kwok-stages.yaml"
    path.write_text(shipped + "\n---\n" + yaml.safe_dump(TASK_COMPLETE_STAGE))
    return path


class Api:
    """A plain HTTP client of the run's API server (the bench creates and watches thousands of
    pods: typed client models would cost more CPU than the scheduler under test)."""

    def __init__(self, kubeconfig: str):
        config = yaml.safe_load(pathlib.Path(kubeconfig).read_text())
        self.server = config["clusters"][0]["cluster"]["server"]
        self.ca = config["clusters"][0]["cluster"]["certificate-authority"]
        self.token = config["users"][0]["user"]["token"]

    def session(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the cluster CA
        session.verify = self.ca
        session.headers["Authorization"] = f"Bearer {self.token}"
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=32)
        session.mount("https://", adapter)
        return session


@dataclass
class Run:
    """Everything one run started, stopped in reverse."""

    backend: str
    kit: bool
    scale: workload.Scale
    directory: pathlib.Path
    cluster: LocalCluster
    api: Api
    namespace: str
    templates: dict[str, dict]
    schedulers: list[Scheduler]
    extra_pids: dict[str, int]
    setup_seconds: dict[str, float]

    @property
    def label(self) -> str:
        return f"{self.backend} ({'kit' if self.kit else 'stock'})"

    def pids(self) -> dict[str, int]:
        found = {}
        for path in sorted((self.directory / "cluster" / "pids").glob("*.pid")):
            try:
                found[path.stem] = int(path.read_text().strip())
            except ValueError:
                continue
        for scheduler in self.schedulers:
            found[scheduler.name] = scheduler.process.pid
        found.update(self.extra_pids)
        return found

    def stop(self) -> None:
        for scheduler in reversed(self.schedulers):
            scheduler.stop()
        self.cluster.stop()


def kubectl_apply(cluster: LocalCluster, objects: Iterable[dict], server_side: bool = False) -> None:
    items = list(objects)
    if not items:
        return
    args = ["kubectl", "--kubeconfig", cluster.kubeconfig, "apply", "-f", "-"]
    if server_side:
        args.insert(4, "--server-side")
    result = subprocess.run(args, input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}),
                            env=cluster.env, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])


def create_nodes(api: Api, nodes: list[dict]) -> None:
    session = api.session()

    def create(node: dict) -> None:
        response = session.post(f"{api.server}/api/v1/nodes", json=node, timeout=60)
        if response.status_code not in (201, 409):
            raise RuntimeError(f"node {node['metadata']['name']}: {response.status_code} {response.text[:300]}")

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(create, nodes))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        items = session.get(f"{api.server}/api/v1/nodes", timeout=60).json()["items"]
        ready = sum(1 for node in items for c in node.get("status", {}).get("conditions", [])
                    if c["type"] == "Ready" and c["status"] == "True")
        if ready >= len(nodes):
            return
        time.sleep(1)
    raise RuntimeError(f"only {ready} of {len(nodes)} kwok nodes became Ready")


def crds(backend: str) -> list[dict]:
    found = list(dra_stub_crds())
    for folder in CRD_FOLDERS[backend]:
        for path in sorted((reference_path() / "crds" / folder).glob("*.yaml")):
            found.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return found


def stock_templates(config: dict, backend: str) -> dict[str, dict]:
    """The kit's team templates with none of its scheduling marks: only the scheduler's name."""
    settings = load_settings("bench-stock", {**config, "namespace": workload.STOCK_NAMESPACE})
    marks = {team.name: PodMarks(scheduler_name=SCHEDULER_FACTS[backend].scheduler_name) for team in settings.teams.leaves()}
    files = render_pod_templates(settings, marks)
    return {team.name: yaml.safe_load(files[template_file_name(team.name)]) for team in settings.teams.leaves()}


def kit_templates(cluster: LocalCluster, namespace: str, leaves: list[str]) -> dict[str, dict]:
    configmap = json.loads(cluster.kubectl("get", "configmap", "airflow-kit-pod-templates", "-n", namespace,
                                           "-o", "json").stdout)
    return {team: yaml.safe_load(configmap["data"][template_file_name(team)]) for team in leaves}


def stock_koord_config(config: dict, directory: pathlib.Path, kubeconfig: str) -> str:
    """The chart's own koord-scheduler-config, as an install without the kit has it."""
    installed = load_settings("koord-stock", {**config, "scheduler": {
        **config["scheduler"], "install": True, "imageRegistry": "registry.example.com"}})
    spec = koordinator.chart_spec(installed)
    objects = helm_render("koordinator-1.8.0.tgz", spec.release, spec.namespace, {}, directory)
    document = yaml.safe_load(configmap_data(objects, koordinator.SCHEDULER_CONFIG, koordinator.SCHEDULER_CONFIG))
    document["leaderElection"] = {"leaderElect": False}
    document.setdefault("clientConnection", {})["kubeconfig"] = kubeconfig
    path = directory / "koord-scheduler-stock.yaml"
    path.write_text(yaml.safe_dump(document))
    return str(path)


def volcano_setup(config: dict, directory: pathlib.Path, kit: bool) -> tuple[str, list[str], list[str]]:
    """`volcano-scheduler.conf` and the controller's and scheduler's tuning flags as the chart
    renders them: from the kit's values, or from none (stock)."""
    installed = load_settings("volcano-bench", {**config, "scheduler": {**config["scheduler"], "install": True}})
    spec = volcano.chart_spec(installed)
    values = dict(spec.values) if kit else {}
    objects = helm_render(f"volcano-{versions.VOLCANO_CHART_VERSION}.tgz", spec.release, spec.namespace, values,
                          directory)
    path = directory / f"volcano-scheduler-{'kit' if kit else 'stock'}.conf"
    path.write_text(configmap_data(objects, "volcano-scheduler-configmap", "volcano-scheduler.conf"))
    return (str(path), deployment_flags(objects, f"{spec.release}-controllers"),
            deployment_flags(objects, f"{spec.release}-scheduler"))


def start_scheduler(run: Run, config: dict, env: dict[str, str]) -> None:
    directory, kubeconfig = run.directory, run.cluster.kubeconfig
    logs = directory / "cluster" / "logs"

    def start(name: str, args: list[str]) -> Scheduler:
        scheduler = Scheduler(name, args, env, logs / f"{name}.log")
        run.schedulers.append(scheduler)
        return scheduler

    if run.backend == "default":
        path = directory / "kube-scheduler.yaml"
        path.write_text(yaml.safe_dump({"apiVersion": "kubescheduler.config.k8s.io/v1",
                                        "kind": "KubeSchedulerConfiguration",
                                        "leaderElection": {"leaderElect": False},
                                        "clientConnection": {"kubeconfig": kubeconfig}}))
        start("kube-scheduler", [f"--config={path}", f"--authentication-kubeconfig={kubeconfig}",
                                 f"--authorization-kubeconfig={kubeconfig}", "--bind-address=127.0.0.1",
                                 f"--secure-port={free_port()}"])
        ready = lambda: True  # noqa: E731  (it binds as soon as its informers synced)
    elif run.backend == "koordinator":
        path = (koord_scheduler_config(config, directory, kubeconfig) if run.kit
                else stock_koord_config(config, directory, kubeconfig))
        start("koord-scheduler", koord_scheduler_args(path, kubeconfig, verbosity=1))

        def ready() -> bool:
            found = run.cluster.kubectl("get", "elasticquota", "-n", "koordinator-system", "-o", "name", check=False)
            return "koordinator-root-quota" in found.stdout
    else:
        conf, controller_flags, scheduler_flags = volcano_setup(config, directory, run.kit)
        for name, args in volcano_commands(kubeconfig, conf, controller_flags, scheduler_flags):
            start(name, args)

        def ready() -> bool:
            found = run.cluster.kubectl("get", "queues.scheduling.volcano.sh", "-o", "name", check=False).stdout
            return "root" in found
    deadline = time.monotonic() + 180
    while not ready():
        for scheduler in run.schedulers:
            if not scheduler.alive():
                raise RuntimeError(f"{scheduler.name} exited:\n{scheduler.tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{run.backend} scheduler not ready in 180 s")
        time.sleep(0.5)


def bring_up(backend: str, kit: bool, scale: workload.Scale, directory: pathlib.Path,
             prometheus_address: Optional[str], env: dict[str, str]) -> Run:
    """A fresh control plane with the run's nodes, objects and scheduler; the caller stops it."""
    require(backend)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    tree = workload.teams(scale)
    config = workload.stack_config(backend, tree, prometheus_address)
    timings: dict[str, float] = {}
    cluster = LocalCluster(directory / "cluster", dict(env, KWOK_STAGES=str(stages_file(directory))))
    started = time.perf_counter()
    cluster.start("--nodes", "0", "--no-scheduler")
    timings["control plane"] = time.perf_counter() - started
    api = Api(cluster.kubeconfig)
    namespace = workload.NAMESPACE if kit else workload.STOCK_NAMESPACE
    run = Run(backend, kit, scale, directory, cluster, api, namespace, {}, [], {}, timings)
    try:
        started = time.perf_counter()
        kubectl_apply(cluster, crds(backend), server_side=True)
        cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=120s")
        extra: list[dict] = []
        if backend == "koordinator":
            extra += [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "koordinator-system"}},
                      *KOORD_PRIORITY_CLASSES]
        if backend == "volcano" and not kit:  # the chart's own queue, where unmarked pods go
            extra.append({"apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "Queue",
                          "metadata": {"name": "default"}, "spec": {"weight": 1, "reclaimable": True}})
        if not kit:
            extra.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        kubectl_apply(cluster, extra)
        create_nodes(api, workload.kwok_nodes(scale))
        timings["nodes"] = time.perf_counter() - started
        leaves = workload.leaf_names(tree)
        if kit:
            started = time.perf_counter()
            project = PulumiProject(directory / "project", env, cluster.kubeconfig, f"bench-{backend}", config)
            project.init(SECRETS)
            project.up()
            timings["pulumi up"] = time.perf_counter() - started
            run.templates = kit_templates(cluster, namespace, leaves)
        else:
            run.templates = stock_templates(config, backend)
        # The Airflow chart makes the workers' ServiceAccount; it is not installed here.
        accounts = {template["spec"].get("serviceAccountName") for template in run.templates.values()} - {None}
        kubectl_apply(cluster, [{"apiVersion": "v1", "kind": "ServiceAccount",
                                 "metadata": {"name": name, "namespace": namespace}} for name in accounts])
        started = time.perf_counter()
        start_scheduler(run, config, env)
        timings["scheduler ready"] = time.perf_counter() - started
    except BaseException:
        run.stop()
        raise
    return run
