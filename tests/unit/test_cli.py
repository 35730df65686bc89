"""`make up` and friends: every missing prerequisite is one line naming it and the fix."""

from __future__ import annotations

import socket

import pytest
import yaml

from repo_tools import cli, local_cluster
from repo_tools.local_cluster import SetupError


def run_cli(capsys, *argv: str) -> tuple[int, list[str]]:
    code = cli.main(list(argv))
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if line]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def kubeconfig(tmp_path, server: str, context: str = "kind-dev") -> str:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": context, "context": {"cluster": "c", "user": "u"}}]}))
    return str(path)


@pytest.fixture
def no_tools(monkeypatch):
    monkeypatch.setattr(local_cluster, "tool", lambda name: None)


@pytest.fixture
def toolchain(monkeypatch):
    monkeypatch.setattr(local_cluster, "pulumi_missing", lambda: None)
    monkeypatch.setattr(local_cluster, "node_running", lambda: False)


def test_no_pulumi_cli_is_one_line(capsys, no_tools):
    code, lines = run_cli(capsys, "up")
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith("airflow-kit: the Pulumi CLI is not installed: `make setup` builds it")


def test_no_kubernetes_plugin_is_one_line(capsys, monkeypatch, tmp_path):
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in ("pulumi", "pulumi-language-python"):
        (folder / name).write_text("#!/bin/sh\necho '[]'\n")
        (folder / name).chmod(0o755)
    monkeypatch.setattr(local_cluster, "tool", lambda name: str(folder / name) if (folder / name).exists() else None)
    code, lines = run_cli(capsys, "up")
    assert code == 2 and len(lines) == 1
    assert "the Pulumi Kubernetes provider plugin (pulumi-resource-kubernetes) is not installed" in lines[0]


def test_unreachable_kube_context_is_an_error_not_a_silent_switch(capsys, monkeypatch, tmp_path, toolchain):
    monkeypatch.setenv("KUBECONFIG", kubeconfig(tmp_path, f"https://127.0.0.1:{closed_port()}"))
    code, lines = run_cli(capsys, "up")
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith("airflow-kit: kube context 'kind-dev' (https://127.0.0.1:")
    assert "is not reachable: connection refused" in lines[0] and "`make up CLUSTER=kit`" in lines[0]


def test_no_cluster_and_no_root_names_what_the_local_node_needs(capsys, monkeypatch, tmp_path, toolchain):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    monkeypatch.setattr(cli, "check_stack", lambda stack: None)  # the stack and its chart are fine
    monkeypatch.setattr(local_cluster.os, "geteuid", lambda: 1000)
    code, lines = run_cli(capsys, "up")
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith("airflow-kit: no cluster is reachable and the kit's local node cannot start here; "
                               "it needs root")
    assert "sudo make setup && sudo make up" in lines[0]


def test_unknown_cluster_choice(capsys, toolchain):
    code, lines = run_cli(capsys, "up", "--cluster", "kind")
    assert code == 2 and lines == ["airflow-kit: CLUSTER=kind: allowed: auto (default), kit (the kit's local node), "
                                   "current (the kubeconfig's current context)"]


def test_current_without_a_context(monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    monkeypatch.setattr(local_cluster, "node_running", lambda: False)
    with pytest.raises(SetupError, match="no kube context"):
        local_cluster.choose("current")
    assert local_cluster.choose("auto") is None, "no context at all: the kit's node"


def test_dag_before_up(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(cli, "DEPLOYMENT_RECORD", tmp_path / "none.json")
    code, lines = run_cli(capsys, "dag")
    assert code == 2 and lines == ["airflow-kit: nothing deployed from this checkout yet: `make up` first "
                                   "(or pass STACK=NAME)"]


def test_unknown_stack_names_the_known_ones(capsys, toolchain, monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    code, lines = run_cli(capsys, "up", "--stack", "foo")
    assert code == 2 and lines == ["airflow-kit: STACK=foo: no stacks/Pulumi.foo.yaml; known stacks: "
                                   "ack, local, local-node, prod, staging"]


def test_missing_chart_stops_before_the_node_starts(capsys, toolchain, monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    monkeypatch.chdir(tmp_path)  # no .charts/ here
    monkeypatch.setattr(local_cluster, "start_node", lambda stack: pytest.fail("the node must not start"))
    code, lines = run_cli(capsys, "up")
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith("airflow-kit: stack 'local-node': airflow-kit:airflow.chart.path = "
                               "'.charts': no such chart file or folder")


def test_a_kit_bug_is_one_line_too(capsys, monkeypatch):
    monkeypatch.delenv("AIRFLOW_KIT_DEBUG", raising=False)
    monkeypatch.setattr(local_cluster, "pulumi_missing", lambda: 1 / 0)
    code, lines = run_cli(capsys, "up")
    assert code == 1 and lines == ["airflow-kit: unexpected ZeroDivisionError: division by zero "
                                   "(AIRFLOW_KIT_DEBUG=1 shows where)"]
