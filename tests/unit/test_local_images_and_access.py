"""The switches that point a stack at images it built itself (air-gapped clusters, the real-node
tier), the SimpleAuthManager admin, the shared logs volume, and what a team's task pod may read."""

from __future__ import annotations

import json

import pytest
import yaml

from airflow_kit_platform.airflow import values as chart_values
from airflow_kit_platform.airflow.chart_names import LOGS_VOLUME_CLAIM, SecretNames
from airflow_kit_platform.settings import SECRET_KEYS, load_settings
from airflow_kit_platform.workloads import pod_templates as pt
from tests.support.stacks import REPO, STACKS, stack_file_config


@pytest.fixture(scope="module")
def local_node():
    return load_settings("local-node", stack_file_config("local-node"), frozenset(SECRET_KEYS))


@pytest.mark.parametrize("reference, expected", [
    ("localhost/airflow-kit/redis:7", ("localhost/airflow-kit/redis", "7")),
    ("registry.example.com:5000/team/img:1.2", ("registry.example.com:5000/team/img", "1.2")),
    ("registry.example.com:5000/team/img", ("registry.example.com:5000/team/img", "latest")),
    ("redis@sha256:" + "a" * 64, ("redis", "latest@sha256:" + "a" * 64)),
])
def test_split_image(reference, expected):
    assert chart_values.split_image(reference) == expected


def test_local_images_reach_every_chart_image(local_node):
    values = chart_values.build_values(local_node)
    assert values["defaultAirflowRepository"] == "localhost/airflow-kit/airflow"
    assert values["images"]["redis"] == {"repository": "localhost/airflow-kit/redis", "tag": "7",
                                         "pullPolicy": "IfNotPresent"}
    assert values["images"]["airflow"] == {"pullPolicy": "IfNotPresent"}
    # The Bitnami subchart joins registry/repository:tag itself.
    assert values["postgresql"]["image"] == {"registry": "localhost", "repository": "airflow-kit/postgres",
                                             "tag": "15", "pullPolicy": "IfNotPresent"}
    assert values["statsd"] == {"enabled": False}


def test_airflow_uses_its_own_database_user_on_the_bundled_database(local_node):
    """Not the superuser: the subchart creates user and database `airflow` (the kit's image reads
    its env) and Airflow's connection names them; the superuser's password stays in its Secret."""
    auth = chart_values.build_values(local_node)["postgresql"]["auth"]
    assert auth == {"existingSecret": SecretNames.postgresql_auth, "username": "airflow", "database": "airflow"}
    connection = chart_values.metadata_connection(local_node, "pw")
    assert connection.startswith("postgresql://airflow:pw@") and connection.split("/")[-1].startswith("airflow?")


def test_a_registry_less_postgres_image_keeps_docker_hub(local_node):
    import dataclasses

    settings = dataclasses.replace(local_node, images=dataclasses.replace(local_node.images, postgres="bitnami/postgresql:16"))
    image = chart_values.build_values(settings)["postgresql"]["image"]
    assert (image["registry"], image["repository"]) == ("docker.io", "bitnami/postgresql")


def test_simple_auth_manager_has_no_user_job_and_no_literal_password(local_node):
    values = chart_values.build_values(local_node)
    core = values["config"]["core"]
    assert core["auth_manager"] == chart_values.SIMPLE_AUTH_MANAGER
    assert core["simple_auth_manager_users"] == "admin:admin"
    assert values["createUserJob"]["enabled"] is False
    api = values["apiServer"]
    secret_volume = next(v for v in api["extraVolumes"] if "secret" in v)
    assert secret_volume["secret"]["secretName"] == SecretNames.admin_password
    (init,) = api["extraInitContainers"]
    assert init["command"][-1] == core["simple_auth_manager_passwords_file"]
    assert "defaultUser" not in values["createUserJob"]  # the password is only in the Secret
    assert json.loads(chart_values.simple_auth_passwords("s3cret")) == {"admin": "s3cret"}


def test_logs_volume_is_shared_by_the_chart_and_every_team_pod(local_node):
    values = chart_values.build_values(local_node)
    assert values["logs"] == {"persistence": {"enabled": True, "existingClaim": LOGS_VOLUME_CLAIM}}
    files = pt.render_pod_templates(local_node, pt_marks(local_node))
    for name, text in files.items():
        if name.endswith(".yaml"):
            volumes = {v["name"]: v for v in yaml.safe_load(text)["spec"]["volumes"]}
            assert volumes["logs"] == {"name": "logs", "persistentVolumeClaim": {"claimName": LOGS_VOLUME_CLAIM}}


def pt_marks(settings):
    from airflow_kit_platform.scheduling.plans import scheduling_plan

    return scheduling_plan(settings).pod_marks


def test_team_pods_get_no_database_or_fernet_key_unless_the_team_asks(local_node):
    import dataclasses

    team = local_node.teams.leaves()[0]
    marks = pt_marks(local_node)[team.name]
    env = {e["name"] for e in pt.build_pod_template(local_node, team, marks, False)["spec"]["containers"][0]["env"]}
    assert not env & {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CORE__FERNET_KEY",
                      "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY"}
    assert "AIRFLOW_CONN_KUBERNETES_DEFAULT" in env  # deferrable pod operators resume in-cluster
    opted_in = dataclasses.replace(team, metadata_access=True)
    env = {e["name"] for e in pt.build_pod_template(local_node, opted_in, marks, False)["spec"]["containers"][0]["env"]}
    assert {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CORE__FERNET_KEY"} <= env


@pytest.mark.parametrize("stack", STACKS)
def test_the_image_script_reads_each_stacks_references(stack):
    """scripts/images.sh asks the kit which images a stack runs (Python inside the script): a
    renamed helper broke `make up` at the node's start while every Python test passed."""
    import os
    import subprocess
    import sys

    from airflow_kit_platform.workloads.worker_image import load_stack_settings

    result = subprocess.run([str(REPO / "scripts" / "images.sh"), "refs", "--stack", stack], capture_output=True,
                            text=True, timeout=120, env={**os.environ, "AIRFLOW_KIT_PYTHON": sys.executable})
    assert result.returncode == 0, result.stderr[-2000:]
    refs = dict(line.split("=", 1) for line in result.stdout.splitlines())
    settings = load_stack_settings(stack)
    assert refs["AIRFLOW_REF"] == settings.airflow.image
    assert refs["STACK_AIRFLOW_VERSION"] == settings.airflow.version
