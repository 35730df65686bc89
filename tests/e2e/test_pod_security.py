"""Every task pod the kit templates passes Pod Security `restricted`, judged by a real
kube-apiserver's PodSecurity admission (server-side dry run in a namespace that enforces it),
for every stack file: what a team namespace enforces (components/model/pod_security.py).
"""

from __future__ import annotations

import json
import pathlib

import pytest
import yaml

from airflow_kit_platform.model.pod_security import TEAM_NAMESPACE_LEVEL, namespace_labels
from airflow_kit_platform.scheduling.plans import scheduling_plan
from airflow_kit_platform.workloads import pod_templates as pt
from airflow_kit_platform.workloads.worker_image import load_stack_settings
from tests.support.stacks import STACKS

NAMESPACE = "pod-security-restricted"


@pytest.fixture(scope="module")
def restricted(cluster):
    """A namespace labelled as the kit labels a team namespace, with the accounts pods name."""
    manifests = [{"apiVersion": "v1", "kind": "Namespace",
                  "metadata": {"name": NAMESPACE, "labels": namespace_labels(TEAM_NAMESPACE_LEVEL)}}]
    for account in ("airflow-kit-task", "airflow-worker"):
        manifests.append({"apiVersion": "v1", "kind": "ServiceAccount",
                          "metadata": {"name": account, "namespace": NAMESPACE}})
    for manifest in manifests:
        apply(cluster, manifest)
    return cluster


def apply(cluster, manifest: dict, *extra: str):
    path = pathlib.Path(cluster.directory) / f"{manifest['kind']}-{manifest['metadata']['name']}.json"
    path.write_text(json.dumps(manifest))
    return cluster.kubectl("apply", *extra, "-f", str(path), check=False)


def dry_run(cluster, pod: dict):
    """The pod as a team namespace would admit it: PriorityClasses are the scheduling layer's
    business (a dry run would need them to exist), not Pod Security's."""
    pod = json.loads(json.dumps(pod))
    pod["metadata"]["namespace"] = NAMESPACE
    pod["metadata"]["name"] = "pod-security-probe"
    pod["spec"].pop("priorityClassName", None)
    return apply(cluster, pod, "--dry-run=server")


def test_the_api_server_enforces_restricted_in_that_namespace(restricted):
    """Negative control: a root pod with privilege escalation is refused there."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "root", "namespace": NAMESPACE},
           "spec": {"containers": [{"name": "c", "image": "busybox",
                                    "securityContext": {"allowPrivilegeEscalation": True}}]}}
    refused = dry_run(restricted, pod)
    assert refused.returncode != 0 and "violates PodSecurity" in refused.stderr, refused.stderr


@pytest.mark.parametrize("stack", STACKS)
def test_every_task_pod_template_passes_restricted(stack, restricted):
    settings = load_stack_settings(stack)
    files = pt.render_pod_templates(settings, scheduling_plan(settings).pod_marks)
    templates = {name: yaml.safe_load(text) for name, text in files.items() if name.endswith(".yaml")}
    assert templates
    for name, pod in sorted(templates.items()):
        result = dry_run(restricted, pod)
        assert result.returncode == 0, f"stack {stack}, {name}: {result.stderr.strip()}"
        assert "would violate PodSecurity" not in result.stderr, f"stack {stack}, {name}: {result.stderr.strip()}"
