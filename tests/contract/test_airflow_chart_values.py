"""Every values dict the kit passes to the Airflow chart passes the chart's own schema."""

from __future__ import annotations

import json

import jsonschema
import pytest

from airflow_kit_platform.airflow.values import build_values
from airflow_kit_platform.scheduling.plans import scheduling_plan
from airflow_kit_platform.settings import load_settings
from airflow_kit_platform.workloads.pod_templates import CONFIGMAP_NAME, default_pod_template_text
from tests.support.reference import reference_dir
from tests.support.stacks import STACKS, required_secrets, stack_file_config


@pytest.fixture(scope="module")
def chart_schema():
    path = reference_dir() / "airflow-chart-1.19.0" / "values.schema.json"
    schema = json.loads(path.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return schema


def stack_values(stack: str) -> dict:
    settings = load_settings(stack, stack_file_config(stack), frozenset(required_secrets(stack)))
    plan = scheduling_plan(settings)
    return build_values(settings, pod_template=default_pod_template_text(settings, plan.pod_marks),
                        extra_config=plan.airflow_config, pod_templates_configmap=CONFIGMAP_NAME)


@pytest.mark.parametrize("stack", STACKS)
def test_stack_values_pass_chart_schema(stack, chart_schema):
    values = stack_values(stack)
    errors = sorted(jsonschema.Draft7Validator(chart_schema).iter_errors(values), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_schema_catches_a_misplaced_key(chart_schema):
    """Guard against a schema that accepts anything: a typo under workers must fail."""
    values = stack_values(STACKS[0])
    values["workers"]["kedaa"] = {"enabled": True}
    assert list(jsonschema.Draft7Validator(chart_schema).iter_errors(values))


@pytest.mark.parametrize("stack", STACKS)
def test_executor_is_the_multi_executor_list(stack):
    values = stack_values(stack)
    assert values["executor"] == "CeleryExecutor,KubernetesExecutor"
    assert "executor" not in values["config"].get("core", {}), "chart fails when config.core.executor differs"
