"""Drivers of the real things the tests and the benchmark run: the toolchain scripts/tools.sh
builds, a throwaway control plane (scripts/local-cluster.sh), a copy of the kit as a Pulumi
project, and the upstream reference data beside the checkout. No pytest here: the tiers turn
"missing" into a skip, the benchmark into an error.
"""

from __future__ import annotations

import json
import os
import pathlib
import shlex
import shutil
import socket
import subprocess
import sys
import time
from typing import Optional

import yaml

REPO = pathlib.Path(__file__).resolve().parents[1]
REFERENCE_VARIABLE = "AIRFLOW_KIT_REFERENCE"


class Missing(Exception):
    """A tool or reference file this run needs is not here (the test tiers skip, naming it)."""


TOOLS = pathlib.Path(os.environ.get("AIRFLOW_KIT_TOOLS", REPO / ".tools"))
# What the e2e tier's control plane with fake nodes needs.
REQUIRED_TOOLS = ("pulumi", "pulumi-language-python", "pulumi-resource-kubernetes", "etcd", "kube-apiserver",
                  "kwok", "kubectl")
PASSPHRASE = "e2e-only-passphrase"


def tool(name: str) -> Optional[str]:
    """The kit's build of a tool first (.tools/bin), then PATH."""
    candidate = TOOLS / "bin" / name
    if candidate.exists():
        return str(candidate)
    return shutil.which(name)


def missing_tools() -> list[str]:
    return [name for name in REQUIRED_TOOLS if tool(name) is None]


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


def build_versions() -> dict[str, str]:
    """The toolchain versions scripts/tools.sh builds (scripts/build-versions.sh, NAME="value" lines)."""
    found = {}
    for line in (REPO / "scripts" / "build-versions.sh").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            name, value = line.split("=", 1)
            found[name.strip()] = value.strip().strip('"')
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def reference_path() -> pathlib.Path:
    """The upstream reference data (charts, CRDs): ../shared/reference, or $AIRFLOW_KIT_REFERENCE."""
    configured = os.environ.get(REFERENCE_VARIABLE)
    return pathlib.Path(configured) if configured else REPO.parent / "shared" / "reference"


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


class PulumiProject:
    """A copy of the kit as a Pulumi project with one stack, on a local file backend."""

    def __init__(self, root: pathlib.Path, env: dict[str, str], kubeconfig: str, stack: str, config: dict):
        self.root, self.stack = root, stack
        shutil.copytree(REPO / "components", root / "airflow_kit_platform",
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(REPO / "__main__.py", root / "__main__.py")
        project = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
        project["runtime"]["options"]["virtualenv"] = sys.prefix  # the venv running the tests
        (root / "Pulumi.yaml").write_text(yaml.safe_dump(project))
        (root / "stacks").mkdir()
        self.set_config(config)
        (root / "state").mkdir()
        self.env = dict(env, KUBECONFIG=kubeconfig, PULUMI_BACKEND_URL=f"file://{root / 'state'}",
                        PULUMI_HOME=str(root / "pulumi-home"))

    def set_config(self, config: dict) -> None:
        """Rewrite the stack file (the secrets set with `pulumi config set` live in it too: kept)."""
        path = self.root / "stacks" / f"Pulumi.{self.stack}.yaml"
        kept = yaml.safe_load(path.read_text()) if path.exists() else {}
        secrets = {key: value for key, value in (kept.get("config") or {}).items() if isinstance(value, dict)
                   and "secure" in value}
        path.write_text(yaml.safe_dump({**{key: value for key, value in kept.items() if key != "config"},
                                        "config": {**secrets, **{f"airflow-kit:{key}": value
                                                                 for key, value in config.items()}}}))

    def pulumi(self, *args: str, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
        return run(["pulumi", *args, "--non-interactive"], self.env, cwd=self.root, timeout=timeout, check=check)

    def start(self, *args: str) -> subprocess.Popen:
        """`pulumi ARGS` in the background (a run a test interrupts)."""
        return subprocess.Popen(["pulumi", *args, "--non-interactive"], env=self.env, cwd=self.root,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

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
        return json.loads(self.pulumi("stack", "output", "--json", "--stack", self.stack).stdout)

    def state_text(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in (self.root / "state").rglob("*.json"))
