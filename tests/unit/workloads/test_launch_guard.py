"""Which requests the Celery launch guard judges (components/workloads/launch_guard.py).

What it refuses and lets through is judged by a real kube-apiserver (tests/e2e/
test_celery_launch_guard.py) and from a Celery task on the real node (kit_least_privilege);
here, that every stack with Celery workers gets it, aimed at its own worker account and namespace.
"""

from __future__ import annotations

from workload_cases import FULL_STACK, make_settings

from airflow_kit_platform.airflow.chart_names import ChartNames
from airflow_kit_platform.workloads.launch_guard import celery_launch_guard


def test_each_stack_guards_its_own_worker_account_in_its_own_namespace():
    policy, binding = celery_launch_guard(make_settings())
    (condition,) = policy["spec"]["matchConditions"]
    assert condition["expression"] == "request.userInfo.username == 'system:serviceaccount:data-airflow:airflow-worker'"
    assert binding["spec"]["policyName"] == policy["metadata"]["name"] == "airflow-kit-celery-launches-data-airflow"
    assert binding["spec"]["matchResources"]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "data-airflow"}}
    assert binding["spec"]["validationActions"] == ["Deny"] and policy["spec"]["failurePolicy"] == "Fail"


def test_the_chart_names_of_the_release_are_the_ones_guarded():
    policy, _ = celery_launch_guard(make_settings(), ChartNames(release="etl", use_standard_naming=True))
    assert "system:serviceaccount:data-airflow:etl-airflow-worker" in policy["spec"]["matchConditions"][0]["expression"]
    connect = next(rule["expression"] for rule in policy["spec"]["validations"] if "CONNECT" in rule["expression"])
    assert "startsWith('etl-')" in connect and "startsWith('etl-airflow-')" in connect


def test_without_celery_workers_there_is_nothing_to_guard():
    settings = make_settings({"airflow": {**FULL_STACK["airflow"], "executors": ["KubernetesExecutor"]}})
    assert celery_launch_guard(settings) == []
