"""The whole program under Pulumi mocks, for every stack: what a `pulumi up` would register."""

from __future__ import annotations

import pytest

from airflow_kit_platform import versions
from airflow_kit_platform.airflow.values import SecretNames
from tests.support.stacks import STACKS, required_secrets, stack_file_config
from tests.support.measurements import MEASURED
from tests.support.pulumi_harness import GENERATED_SECRET, SECRET_VALUE, evaluate, resolve

CHART = "kubernetes:helm.sh/v4:Chart"
SECRET = "kubernetes:core/v1:Secret"
EXTERNAL_DB_STACKS = [s for s in STACKS if required_secrets(s)]


def run(stack: str, **overrides):
    config = {**stack_file_config(stack), **overrides}
    result = evaluate(stack, config, required_secrets(stack))
    assert result.error is None, f"{stack}: {result.error!r}"
    return result


@pytest.fixture(scope="module")
def evaluations():
    results = {stack: run(stack) for stack in STACKS}
    for index, (stack, result) in enumerate(results.items()):
        note = " (includes importing the program)" if index == 0 else ""
        MEASURED[f"program under mocks, stack {stack}"] = (
            f"{len(result.resources)} resources, {result.seconds:.3f} s{note}")
    return results


def airflow_chart(result):
    return result.named(CHART, "airflow")


@pytest.mark.parametrize("stack", STACKS)
def test_airflow_chart_pinned_with_executor_list(stack, evaluations):
    chart = airflow_chart(evaluations[stack]).inputs
    path = stack_file_config(stack)["airflow"].get("chart", {}).get("path")
    if path:  # a packaged copy of the pinned chart (air-gapped stacks)
        assert chart["chart"] == f"{path}/airflow-{versions.AIRFLOW_CHART_VERSION}.tgz"
    else:
        assert chart["chart"] == "airflow"
        assert chart["version"] == versions.AIRFLOW_CHART_VERSION == "1.19.0"
        assert chart["repositoryOpts"]["repo"] == "https://airflow.apache.org"
    assert chart["values"]["executor"] == "CeleryExecutor,KubernetesExecutor"
    assert chart["values"]["migrateDatabaseJob"]["useHelmHooks"] is False
    assert chart["values"]["createUserJob"]["useHelmHooks"] is False


@pytest.mark.parametrize("stack", STACKS)
def test_concurrency_comes_from_the_stack(stack, evaluations):
    concurrency = stack_file_config(stack)["airflow"]["concurrency"]
    config = airflow_chart(evaluations[stack]).inputs["values"]["config"]
    assert config["core"]["parallelism"] == concurrency["parallelism"]
    assert config["core"]["max_active_tasks_per_dag"] == concurrency["maxActiveTasksPerDag"]
    assert config["core"]["max_active_runs_per_dag"] == concurrency["maxActiveRunsPerDag"]
    assert config["celery"]["worker_concurrency"] == concurrency["workerConcurrency"]
    assert config["kubernetes_executor"]["worker_pods_creation_batch_size"] == concurrency["workerPodsCreationBatchSize"]


@pytest.mark.parametrize("stack", STACKS)
def test_keda_switch(stack, evaluations):
    keda = stack_file_config(stack).get("keda", {})
    result = evaluations[stack]
    worker_keda = airflow_chart(result).inputs["values"]["workers"].get("keda", {})
    keda_charts = [r for r in result.of_type(CHART) if r.inputs["chart"] == "keda"]
    if keda.get("enabled"):
        assert worker_keda["enabled"] is True
        assert worker_keda["minReplicaCount"] == keda.get("minReplicas", 0)
        assert worker_keda["maxReplicaCount"] == keda.get("maxReplicas", 10)
        assert len(keda_charts) == (1 if keda.get("install", True) else 0)
    else:
        assert worker_keda.get("enabled") is not True
        assert keda_charts == []


@pytest.mark.parametrize("stack", STACKS)
def test_database_choice(stack, evaluations):
    values = airflow_chart(evaluations[stack]).inputs["values"]
    external = stack in EXTERNAL_DB_STACKS
    assert values["postgresql"]["enabled"] is (not external)
    assert values["pgbouncer"]["enabled"] is external
    assert values["data"]["metadataSecretName"] == SecretNames.metadata
    platform = evaluations[stack].platform
    secret = next(s for s in platform.airflow.secrets.secrets
                  if s._name == SecretNames.metadata)  # noqa: SLF001 - test reads the Pulumi name
    connection, is_secret = resolve(secret.string_data)
    assert is_secret
    if external:
        assert f"airflow-pgbouncer.{platform.outputs['namespace']}:6543" in connection["connection"]
        assert SECRET_VALUE in connection["connection"]
    else:
        assert f"airflow-postgresql.{platform.outputs['namespace']}:5432" in connection["connection"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_airflow_secret_is_a_pulumi_secret(stack, evaluations):
    platform = evaluations[stack].platform
    names = {s._name for s in platform.airflow.secrets.secrets}  # noqa: SLF001
    assert {SecretNames.fernet_key, SecretNames.api_secret_key, SecretNames.jwt_secret, SecretNames.metadata} <= names
    for secret in platform.airflow.secrets.secrets:
        _, is_secret = resolve(secret.string_data)
        assert is_secret, f"{stack}: Secret {secret._name} would be stored in plain text"  # noqa: SLF001
    values = airflow_chart(evaluations[stack]).inputs["values"]
    assert values["fernetKeySecretName"] == SecretNames.fernet_key
    assert "fernetKey" not in values and "jwtSecret" not in values and "apiSecretKey" not in values


def test_fernet_key_is_url_safe_32_bytes(evaluations):
    import base64

    platform = evaluations["local"].platform
    secret = next(s for s in platform.airflow.secrets.secrets if s._name == SecretNames.fernet_key)  # noqa: SLF001
    data, _ = resolve(secret.string_data)
    assert "+" not in data["fernet-key"] and "/" not in data["fernet-key"]
    assert len(base64.urlsafe_b64decode(data["fernet-key"])) == 32


def test_given_fernet_key_wins_over_generated(evaluations):
    config = stack_file_config("local")
    result = evaluate("local", config, secrets=["fernetKey"])
    assert result.error is None
    assert "fernet-key" not in [r.name for r in result.of_type(GENERATED_SECRET)]
    secret = next(s for s in result.platform.airflow.secrets.secrets if s._name == SecretNames.fernet_key)  # noqa: SLF001
    data, is_secret = resolve(secret.string_data)
    assert data["fernet-key"] == SECRET_VALUE and is_secret


@pytest.mark.parametrize("stack", STACKS)
def test_stack_outputs(stack, evaluations):
    outputs = evaluations[stack].platform.outputs
    config = stack_file_config(stack)
    assert outputs["namespace"] == config.get("namespace", "airflow")
    assert outputs["executors"] == "CeleryExecutor,KubernetesExecutor"
    assert outputs["scheduler"] == config["scheduler"]["backend"]
    assert outputs["apiServerService"] == f"airflow-api-server.{outputs['namespace']}.svc:8080"
    assert "airflow" in outputs["installedCharts"]


def test_chart_install_can_be_switched_off_for_clusters_without_the_chart():
    config = stack_file_config("local")
    config["airflow"] = {**config["airflow"], "chart": {"install": False}}
    result = run("local", **{"airflow": config["airflow"]})
    assert not [r for r in result.of_type(CHART) if r.inputs["chart"] == "airflow"]
    assert result.of_type(SECRET), "secrets are still created for a later chart install"


def test_local_chart_path_is_used_verbatim():
    config = stack_file_config("local")
    airflow = {**config["airflow"], "chart": {"path": "/charts/airflow-1.19.0.tgz"}}
    result = run("local", airflow=airflow)
    chart = airflow_chart(result).inputs
    assert chart["chart"] == "/charts/airflow-1.19.0.tgz"
    assert "repositoryOpts" not in chart


def test_all_secrets_given_means_nothing_generated():
    from airflow_kit_platform.settings import SECRET_KEYS

    result = evaluate("local", stack_file_config("local"), secrets=list(SECRET_KEYS))
    assert result.error is None
    assert not result.of_type(GENERATED_SECRET)


def test_missing_secrets_are_generated_without_a_provider_plugin(evaluations):
    """No `pulumi-resource-random` to install: one dynamic resource per secret, its value a Pulumi secret."""
    generated = evaluations["local"].of_type(GENERATED_SECRET)
    assert sorted(r.name for r in generated) == sorted(
        ["admin-password", "api-secret-key", "fernet-key", "jwt-secret", "postgres-password",
         "postgres-superuser-password", "redis-password"])
    assert not [r for r in evaluations["local"].resources if r.typ.startswith("random:")]
    for resource in generated:
        assert resource.inputs.get("value") is None, "the value is made by the provider, never by the program"
    platform = evaluations["local"].platform
    secret = next(s for s in platform.airflow.secrets.secrets if s._name == SecretNames.admin_password)  # noqa: SLF001
    data, is_secret = resolve(secret.string_data)
    assert is_secret and len(data["password"]) == 20 and data["password"].isalnum()


@pytest.mark.parametrize("stack", STACKS)
def test_celery_workers_request_what_their_task_processes_use(stack, evaluations):
    concurrency = stack_file_config(stack)["airflow"]["concurrency"]["workerConcurrency"]
    resources = airflow_chart(evaluations[stack]).inputs["values"]["workers"]["resources"]
    assert resources["requests"]["memory"] == f"{300 * concurrency + 512}Mi"
    assert resources["limits"]["memory"] == resources["requests"]["memory"]


def test_celery_worker_resources_from_config():
    config = stack_file_config("local")
    airflow = {**config["airflow"], "celeryWorkerResources": {"cpu": "2", "memory": "6Gi"}}
    result = run("local", airflow=airflow)
    resources = airflow_chart(result).inputs["values"]["workers"]["resources"]
    assert resources == {"requests": {"cpu": "2", "memory": "6Gi"}, "limits": {"memory": "6Gi"}}


@pytest.mark.parametrize("retain", [True, False])
def test_namespace_is_retained_with_the_quotas_it_holds(retain, monkeypatch):
    import pulumi_kubernetes as k8s

    seen = []

    class RecordingNamespace(k8s.core.v1.Namespace):
        def __init__(self, name, opts=None, **kwargs):
            seen.append(opts)
            super().__init__(name, opts=opts, **kwargs)

    monkeypatch.setattr(k8s.core.v1, "Namespace", RecordingNamespace)
    config = stack_file_config("prod")
    result = run("prod", scheduler={**config["scheduler"], "retainQueues": retain})
    airflow_namespace = [opts for opts in seen if opts is not None and opts.retain_on_delete is not None]
    assert len(airflow_namespace) == 1 and airflow_namespace[0].retain_on_delete is retain
    quotas = result.of_type("kubernetes:scheduling.sigs.k8s.io/v1alpha1:ElasticQuota")
    assert quotas and all(q.inputs["metadata"]["namespace"] == config["namespace"] for q in quotas)


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_fifty_team_stack_evaluates_quickly(stack):
    """The largest stacks with a generated 50-team, 3-level tree: whole program under mocks."""
    from tests.support.scheduling_stacks import generated_teams

    teams = generated_teams()
    config = {**stack_file_config(stack), "teams": teams, "defaultTeam": teams[-1]["name"]}
    # The stack's parallelism fits its own teams; with 50 teams the kit sizes it from the tree.
    config["airflow"] = {**config["airflow"],
                         "concurrency": {k: v for k, v in config["airflow"]["concurrency"].items()
                                         if k != "parallelism"}}
    result = evaluate(stack, config, required_secrets(stack))
    assert result.error is None, repr(result.error)
    kinds = {}
    for resource in result.resources:
        kinds[resource.typ.rsplit(":", 1)[-1]] = kinds.get(resource.typ.rsplit(":", 1)[-1], 0) + 1
    MEASURED[f"program under mocks, stack {stack} with 50 teams"] = (
        f"{len(result.resources)} resources, {result.seconds:.2f} s; {kinds}")
    quota_kind = "ElasticQuota" if stack == "prod" else "Queue"
    assert kinds[quota_kind] == 50
    templates = result.platform.outputs["podTemplates"]
    assert len([name for name in templates if name.endswith(".yaml") and not name.endswith("-local-disk.yaml")
                and name != "pod_template_file.yaml"]) == 40
    assert result.seconds < 30, "evaluation of a 50-team stack must stay interactive"
