"""Every rendered pod template is a valid Kubernetes 1.33 Pod, and the ConfigMap is a valid ConfigMap.

Validated with `kubernetes-validate` (the Kubernetes OpenAPI schemas, strict: unknown fields fail),
for pod marks of each scheduler backend, for the kit's stack files and for a stack that switches
on every feature (git-sync, local disk, node selectors, tolerations, team images).
"""

from __future__ import annotations

import json
import pathlib
import sys

import pytest
import yaml

kubernetes_validate = pytest.importorskip("kubernetes_validate")

from airflow_kit_platform.workloads import pod_templates as pt  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]
# The hand-written pod marks of each backend are shared with the unit tests.
sys.path.insert(0, str(REPO / "tests" / "unit" / "workloads"))
from workload_cases import MARK_STYLES, make_settings, marks_for  # noqa: E402

from airflow_kit_platform.workloads.worker_image import load_stack_settings  # noqa: E402

K8S_VERSION = "1.33"
STACKS = sorted(path.name[len("Pulumi."):-len(".yaml")] for path in (REPO / "stacks").glob("Pulumi.*.yaml"))


def _validate(obj: dict) -> None:
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def _check_files(settings, marks) -> None:
    files = pt.render_pod_templates(settings, marks)
    for name, text in files.items():
        if name == pt.CATALOG_FILE:
            json.loads(text)
            continue
        pod = yaml.safe_load(text)
        _validate(pod)
        assert pod["spec"]["containers"][0]["name"] == "base", name
        assert pod["spec"]["containers"][0]["image"], name
        assert pod["metadata"]["name"], name
    _validate(pt.pod_templates_configmap(settings, files))


@pytest.mark.parametrize("style", sorted(MARK_STYLES))
def test_full_stack_templates_are_valid_pods(style):
    settings = make_settings()
    _check_files(settings, marks_for(settings, style))


@pytest.mark.parametrize("style", sorted(MARK_STYLES))
def test_minimal_stack_templates_are_valid_pods(style):
    settings = make_settings({"airflow": {"dagSource": "image"}}, drop=("localDisk",))
    _check_files(settings, marks_for(settings, style))


@pytest.mark.parametrize("stack", STACKS)
def test_stack_file_templates_are_valid_pods(stack):
    settings = load_stack_settings(stack)
    style = settings.scheduler.backend if settings.scheduler.backend in MARK_STYLES else "default"
    _check_files(settings, marks_for(settings, style))
    text = pt.default_pod_template_text(settings, marks_for(settings, style))
    _validate(yaml.safe_load(text))


def test_invalid_pod_is_rejected():
    """The validator is strict: a field the Pod schema lacks fails (guards against a no-op check)."""
    settings = make_settings()
    pod = pt.build_pod_template(settings, settings.teams.get("etl"), marks_for(settings, "default")["etl"], True)
    pod["spec"]["containers"][0]["resourcez"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(pod)
