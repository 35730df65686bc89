"""The kit as a library: typed PlatformArgs, the same errors as a stack file, explicit providers,
the outputs a program needs, passthrough chart values and airflow.cfg options, one quantity grammar."""

from __future__ import annotations

import pulumi
import pytest

from airflow_kit_platform import (
    AirflowArgs,
    ConcurrencyArgs,
    ConfigError,
    PlatformArgs,
    SchedulerArgs,
    TaskResourcesArgs,
    TeamArgs,
)
from airflow_kit_platform.airflow.values import build_values
from airflow_kit_platform.args import PlatformArgs as ArgsClass
from airflow_kit_platform.args import fields_help
from airflow_kit_platform.quantities import parse_quantity
from airflow_kit_platform.scheduling.plans import scheduling_plan
from airflow_kit_platform.settings import load_settings
from tests.support.pulumi_harness import RecordingMocks
from tests.support.stacks import stack_file_config

TEAM = TeamArgs(name="etl", min={"cpu": "2", "memory": "4Gi"}, max={"cpu": "4", "memory": "8Gi"},
                task_resources=TaskResourcesArgs(cpu="250m", memory="512Mi"), pool_slots=8)
TEAM_YAML = {"name": "etl", "min": {"cpu": "2", "memory": "4Gi"}, "max": {"cpu": "4", "memory": "8Gi"},
             "taskResources": {"cpu": "250m", "memory": "512Mi"}, "poolSlots": 8}


def error_of(load) -> str:
    with pytest.raises(ConfigError) as raised:
        load()
    return str(raised.value)


def test_args_become_the_stack_file_mapping():
    args = PlatformArgs(teams=[TEAM], airflow=AirflowArgs(concurrency=ConcurrencyArgs(max_active_tasks_per_dag=4)))
    assert args.to_config() == {"teams": [TEAM_YAML], "airflow": {"concurrency": {"maxActiveTasksPerDag": 4}}}


@pytest.mark.parametrize("python, yaml", [
    (dict(scheduler=SchedulerArgs(backend="volcanoo")), {"scheduler": {"backend": "volcanoo"}}),
    (dict(scheduler=SchedulerArgs(load_aware={"cpuThreshold": 50})), {"scheduler": {"loadAware": {"cpuThreshold": 50}}}),
    (dict(namespace="Airflow"), {"namespace": "Airflow"}),
    (dict(airflow=AirflowArgs(version="2.10.5")), {"airflow": {"version": "2.10.5"}}),
])
def test_python_args_and_stack_file_give_the_same_one_line_error(python, yaml):
    from_python = error_of(lambda: load_settings("dev", PlatformArgs(teams=[TEAM], **python).to_config()))
    from_yaml = error_of(lambda: load_settings("dev", {"teams": [TEAM_YAML], **yaml}))
    assert from_python == from_yaml and "\n" not in from_python
    assert from_python.startswith("stack 'dev': airflow-kit:")


def test_unknown_keys_get_a_did_you_mean():
    message = error_of(lambda: load_settings("dev", {"teams": [TEAM_YAML], "scheduler": {"loadAware": {"cpuThreshold": 5}}}))
    assert "airflow-kit:scheduler.loadAware.cpuThreshold" in message and "did you mean 'cpuThresholdPercent'" in message


def test_every_args_field_is_documented():
    lines = fields_help(ArgsClass)
    assert "airflow.concurrency.maxActiveTasksPerDag: `[core] max_active_tasks_per_dag` (default: `16`)" in lines
    assert all(line.split(": ", 1)[1].split(" (default")[0] for line in lines), \
        [line for line in lines if not line.split(": ", 1)[1].split(" (default")[0]]


def run_component(args, opts_of=lambda: None):
    """Platform(args) under mocks; the recorded resources, the component, or the error raised."""
    from airflow_kit_platform import Platform

    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="my-platform", stack="dev", preview=False)
    result = {}

    @pulumi.runtime.test
    def program():
        result["platform"] = Platform("airflow", args, opts=opts_of())
        return pulumi.Output.all(result["platform"].admin_password).apply(lambda values: result.update(password=values[0]))

    try:
        program()
    except pulumi.RunError as error:  # what Pulumi prints as one line, no traceback
        result["error"] = error
    return mocks.resources, result


def test_a_program_with_an_explicit_provider_gets_every_kubernetes_object_through_it():
    def opts():
        provider = pulumi.ProviderResource("kubernetes", "target-cluster", {})
        return pulumi.ResourceOptions(providers={"kubernetes": provider})

    resources, result = run_component(PlatformArgs(teams=[TEAM], secrets={"adminPassword": "from-my-vault"}), opts)
    kubernetes = [r for r in resources if r.typ.startswith("kubernetes:")]
    assert kubernetes and all(r.provider and "target-cluster" in r.provider for r in kubernetes), \
        [(r.typ, r.name, r.provider) for r in kubernetes if not (r.provider and "target-cluster" in r.provider)]
    platform = result["platform"]
    assert platform.api_server_url == "http://airflow-api-server.airflow.svc:8080"
    assert platform.admin_credentials == {"user": "admin", "namespace": "airflow",
                                          "secret": "airflow-admin-password", "passwordKey": "password"}
    assert platform.teams == ["etl"] and platform.task_namespaces == ["airflow"]
    assert result["password"] == "from-my-vault"


def test_bad_args_stop_the_component_before_any_resource():
    resources, result = run_component(PlatformArgs(teams=[TEAM], airflow=AirflowArgs(executors=["CeleryExecuter"])))
    assert "did you mean 'CeleryExecutor'" in str(result["error"]) and resources == []
    assert "\n" not in str(result["error"])
    resources, result = run_component(PlatformArgs(teams=[TEAM], secrets={"adminPasword": "x"}))
    assert "secrets.adminPasword" in str(result["error"]) and "did you mean 'adminPassword'" in str(result["error"])
    assert resources == []


def local(**overrides):
    config = stack_file_config("local")
    for key, value in overrides.items():
        config[key] = {**config.get(key, {}), **value}
    return load_settings("local", config)


def test_chart_values_and_airflow_cfg_options_merge_under_the_kit():
    settings = local(airflow={"chartValues": {"ingress": {"apiServer": {"enabled": True}},
                                              "scheduler": {"resources": {"requests": {"cpu": "1"}}}},
                              "config": {"logging": {"remote_logging": "True"}, "core": {"dagbag_import_timeout": 60}}})
    values = build_values(settings)
    assert values["ingress"] == {"apiServer": {"enabled": True}}
    assert values["scheduler"] == {"resources": {"requests": {"cpu": "1"}}}
    assert values["config"]["logging"] == {"remote_logging": "True"}
    assert values["config"]["core"]["dagbag_import_timeout"] == 60
    assert values["config"]["core"]["parallelism"] == 16  # the kit's own stay


@pytest.mark.parametrize("airflow, key", [
    ({"chartValues": {"executor": "LocalExecutor"}}, "airflow.chartValues.executor"),
    ({"chartValues": {"workers": {"replicas": 3}}}, "airflow.chartValues.workers.replicas"),
    ({"config": {"core": {"parallelism": 64}}}, "airflow.config.core.parallelism"),
])
def test_a_passthrough_key_the_kit_owns_is_refused_naming_it(airflow, key):
    message = error_of(lambda: build_values(local(airflow=airflow)))
    assert message.startswith(f"stack 'local': airflow-kit:{key} = ") and "the kit sets this value" in message


def test_scheduler_chart_values_reach_the_installed_chart_and_only_an_installed_one():
    staging = stack_file_config("staging")
    staging["scheduler"] = {**staging["scheduler"], "chartValues": {"scheduler": {"replicas": 2}}}
    chart, = scheduling_plan(load_settings("staging", staging)).charts
    assert chart.values["scheduler"] == {"replicas": 2} and "custom" in chart.values
    message = error_of(lambda: local(scheduler={"chartValues": {"x": 1}}))
    assert "airflow-kit:scheduler.chartValues" in message and "only when the kit installs the chart" in message


@pytest.mark.parametrize("text, amount", [("1e3", 1000), (".5", 0.5), ("250m", 0.25), ("1.5Gi", 1.5 * 2**30),
                                          ("2", 2), (2, 2)])
def test_quantities_follow_kubernetes_grammar(text, amount):
    assert float(parse_quantity(text)) == amount


@pytest.mark.parametrize("text", ["-1", "4x", "NaN", "1_000", "1 Gi", "", "Infinity"])
def test_quantities_kubernetes_refuses_or_no_stack_means_are_refused(text):
    with pytest.raises(ValueError):
        parse_quantity(text)


def test_a_fraction_of_a_byte_is_refused_with_the_likely_meaning():
    with pytest.raises(ValueError, match="did you mean 8Mi"):
        parse_quantity("8m", "memory")
    message = error_of(lambda: load_settings("dev", {"teams": [{**TEAM_YAML, "taskResources": {"memory": "512m"}}]}))
    assert "teams[etl].taskResources.memory = '512m'" in message and "did you mean 512Mi" in message


def test_the_keys_pulumi_yaml_declares_are_stack_keys_and_their_defaults_load():
    import yaml

    from airflow_kit_platform.settings import TOP_LEVEL_KEYS
    from tests.support.stacks import REPO

    declared = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]
    keys = {key.split(":", 1)[1]: spec for key, spec in declared.items()}
    assert set(keys) <= set(TOP_LEVEL_KEYS), set(keys) - set(TOP_LEVEL_KEYS)
    defaults = {key: spec["default"] for key, spec in keys.items() if "default" in spec}
    settings = load_settings("dev", {**defaults, "teams": [TEAM_YAML]})  # what Pulumi fills in for a bare stack
    assert settings.namespace == "airflow" and settings.local_disk is None
    assert "teams" in keys and "default" not in keys["teams"]  # required: Pulumi names it when missing
