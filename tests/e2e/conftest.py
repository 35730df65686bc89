"""The e2e tier: the real Pulumi engine and Kubernetes provider against a real kube-apiserver.

A throwaway control plane (etcd, kube-apiserver, controllers, kwok with fake nodes) runs on
loopback (scripts/local-cluster.sh); the operators' CRDs from ../shared/reference/crds stand
in for add-ons already installed (the ACK situation); the kit's program is copied into a
temporary Pulumi project with a local file backend and a passphrase secrets provider.
Everything skips with the missing tool named when scripts/tools.sh has not built it.
"""

from __future__ import annotations

import os
import pathlib
import shlex
import shutil
import subprocess
import sys
import time
from typing import Optional

import pytest
import yaml

from tests.conftest import REPO
from tests.contract.reference import KIT_CRD_DIR, reference_dir

TOOLS = pathlib.Path(os.environ.get("AIRFLOW_KIT_TOOLS", REPO / ".tools"))
REQUIRED_TOOLS = ("pulumi", "pulumi-language-python", "pulumi-resource-kubernetes", "etcd", "kube-apiserver",
                  "kwok", "kubectl")
PASSPHRASE = "e2e-only-passphrase"


def _tool(name: str) -> Optional[str]:
    candidate = TOOLS / "bin" / name
    if candidate.exists():
        return str(candidate)
    return shutil.which(name)


def missing_tools() -> list[str]:
    return [name for name in REQUIRED_TOOLS if _tool(name) is None]


def toolchain_env(passphrase: str = PASSPHRASE) -> dict[str, str]:
    """The environment that runs the built toolchain: its tools first on PATH, Pulumi offline."""
    env = dict(os.environ)
    env["PATH"] = f"{TOOLS / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.update({
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_CONFIG_PASSPHRASE": passphrase,
        "PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS": "true",
    })
    env.pop("PULUMI_IGNORE_AMBIENT_PLUGINS", None)
    return env


@pytest.fixture(scope="session")
def tools_env() -> dict[str, str]:
    missing = missing_tools()
    if missing:
        pytest.skip(f"e2e tools not built: {', '.join(missing)} (run scripts/tools.sh; see .tools/status.txt)")
    return toolchain_env()


def run(args: list[str], env: dict[str, str], cwd: Optional[pathlib.Path] = None, timeout: int = 900,
        check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"`{shlex.join(args)}` failed ({result.returncode}):\n"
                             f"{result.stdout[-6000:]}\n{result.stderr[-6000:]}")
    return result


class LocalCluster:
    def __init__(self, directory: pathlib.Path, env: dict[str, str]):
        self.directory, self.env = directory, env
        self.ports: dict[str, str] = {}
        self.start_seconds = 0.0

    @property
    def kubeconfig(self) -> str:
        return str(self.directory / "kubeconfig")

    def start(self, *args: str) -> None:
        """`scripts/local-cluster.sh start` with `args` (default: 3 fake nodes and the controllers)."""
        started = time.perf_counter()
        run([str(REPO / "scripts" / "local-cluster.sh"), "start", str(self.directory), *(args or ("--nodes", "3"))],
            self.env, timeout=300)
        self.start_seconds = time.perf_counter() - started
        for line in (self.directory / "ports.env").read_text().splitlines():
            key, _, value = line.partition("=")
            self.ports[key] = value

    def stop(self) -> None:
        subprocess.run([str(REPO / "scripts" / "local-cluster.sh"), "stop", str(self.directory)],
                       env=self.env, capture_output=True, text=True, timeout=120)

    def logs(self) -> str:
        parts = []
        for log in sorted((self.directory / "logs").glob("*.log")):
            parts.append(f"--- {log.name} (last lines)\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))
        return "\n".join(parts)

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run(["kubectl", "--kubeconfig", self.kubeconfig, *args], self.env, timeout=120, check=check)


@pytest.fixture(scope="session")
def cluster(tools_env, tmp_path_factory, request):
    directory = tmp_path_factory.mktemp("local-cluster")
    local = LocalCluster(directory, tools_env)
    try:
        local.start()
    except Exception:
        print(local.logs())
        local.stop()
        raise
    yield local
    if request.session.testsfailed:
        print(local.logs())
    local.stop()


@pytest.fixture(scope="session")
def addon_crds(cluster):
    """The CRDs of add-ons a managed cluster already has (Koordinator, kube-queue, Volcano, KEDA)."""
    crds = reference_dir() / "crds"
    for folder in ("koordinator", "kube-queue", "volcano", "keda"):
        for path in sorted((crds / folder).glob("*.yaml")):
            if "kube-queue-v0.1.0" in path.name:
                continue  # the abandoned kube-queue's QueueUnit has the same name as koord-queue's
            cluster.kubectl("apply", "--server-side", "-f", str(path))
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=120s")
    # ACK's ElasticQuotaTree (the kit's schema: ACK publishes none), and ack-kube-queue as its add-on
    # leaves it: a Deployment in kube-queue whose flags enable the batch/v1 Job extension.
    cluster.kubectl("apply", "--server-side", "-f", str(KIT_CRD_DIR))
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=120s")
    for manifest in ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-queue"}},
                     {"apiVersion": "apps/v1", "kind": "Deployment",
                      "metadata": {"name": "kube-queue-controller", "namespace": "kube-queue"},
                      "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "kube-queue"}},
                               "template": {"metadata": {"labels": {"app": "kube-queue"}},
                                            "spec": {"containers": [{
                                                "name": "kube-queue", "image": "kube-queue:managed",
                                                "args": ["--enabled-extensions=job,tfjob,pytorchjob"]}]}}}}):
        subprocess.run(["kubectl", "--kubeconfig", cluster.kubeconfig, "apply", "-f", "-"],
                       input=yaml.safe_dump(manifest), env=cluster.env, capture_output=True, text=True,
                       check=True, timeout=60)
    # PriorityClasses Koordinator's install creates (the koordinator backend references them).
    for name, value in (("koord-prod", 9000), ("koord-mid", 7000), ("koord-batch", 5000), ("koord-free", 3000)):
        manifest = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                    "metadata": {"name": name}, "value": value}
        subprocess.run(["kubectl", "--kubeconfig", cluster.kubeconfig, "apply", "-f", "-"],
                       input=yaml.safe_dump(manifest), env=cluster.env, capture_output=True, text=True,
                       check=True, timeout=60)
    return crds


class PulumiProject:
    """A copy of the kit as a Pulumi project with one stack, on a local file backend."""

    def __init__(self, root: pathlib.Path, env: dict[str, str], kubeconfig: str, stack: str, config: dict):
        self.root, self.stack = root, stack
        shutil.copytree(REPO / "airflow_kit_platform", root / "airflow_kit_platform",
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(REPO / "__main__.py", root / "__main__.py")
        project = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
        project["runtime"]["options"]["virtualenv"] = sys.prefix  # the venv running the tests
        (root / "Pulumi.yaml").write_text(yaml.safe_dump(project))
        (root / "stacks").mkdir()
        (root / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(
            {"config": {f"airflow-kit:{key}": value for key, value in config.items()}}))
        (root / "state").mkdir()
        self.env = dict(env, KUBECONFIG=kubeconfig, PULUMI_BACKEND_URL=f"file://{root / 'state'}",
                        PULUMI_HOME=str(root / "pulumi-home"))

    def pulumi(self, *args: str, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
        return run(["pulumi", *args, "--non-interactive"], self.env, cwd=self.root, timeout=timeout, check=check)

    def init(self, secrets: dict[str, str]) -> None:
        self.pulumi("stack", "init", self.stack, "--secrets-provider", "passphrase")
        for key, value in secrets.items():
            # `--` first: a generated value may start with '-'.
            run(["pulumi", "config", "set", "--secret", "--stack", self.stack, "--non-interactive", "--",
                 f"airflow-kit:{key}", value], self.env, cwd=self.root)

    def up(self) -> subprocess.CompletedProcess:
        return self.pulumi("up", "--yes", "--skip-preview", "--stack", self.stack)

    def preview_expect_no_changes(self) -> subprocess.CompletedProcess:
        return self.pulumi("preview", "--expect-no-changes", "--stack", self.stack, check=False)

    def destroy(self) -> subprocess.CompletedProcess:
        return self.pulumi("destroy", "--yes", "--skip-preview", "--stack", self.stack)

    def outputs(self) -> dict:
        import json

        return json.loads(self.pulumi("stack", "output", "--json", "--stack", self.stack).stdout)

    def state_text(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in (self.root / "state").rglob("*.json"))
