"""Every stack key is declared once (components/args.py): the README's table and
Pulumi.yaml's config block are generated from it, every stack file's keys are in it, and every
default it shows is the default the validator applies."""

from __future__ import annotations

import copy

import pytest

from airflow_kit_platform.args import PlatformArgs, declared_defaults
from airflow_kit_platform.settings import SECRET_KEYS, load_settings
from repo_tools import stack_docs
from tests.support.stacks import STACKS, stack_file_config

TEAM = {"name": "etl", "min": {"cpu": "2", "memory": "4Gi"}, "max": {"cpu": "4", "memory": "8Gi"}}


def test_the_readme_table_and_pulumi_yaml_are_generated_from_the_declaration():
    readme = stack_docs.README.read_text(encoding="utf-8")
    assert stack_docs.with_table(readme) == readme, "README's Stack switches table drifted: run `make docs`"
    project = stack_docs.PULUMI_YAML.read_text(encoding="utf-8")
    assert stack_docs.with_config(project) == project, "Pulumi.yaml's config block drifted: run `make docs`"


@pytest.mark.parametrize("stack", STACKS)
def test_every_key_of_every_stack_file_is_declared(stack):
    raw = {key: value for key, value in stack_file_config(stack).items() if key not in SECRET_KEYS}
    assert PlatformArgs.from_config(raw).to_config() == raw


def with_key(config: dict, key: str, value) -> dict:
    config = copy.deepcopy(config)
    target = config
    parts = key.split(".")
    for part in parts[:-1]:
        if part.endswith("[]"):
            target = target[part[:-2]][0]
        else:
            target = target.setdefault(part, {})
    target[parts[-1]] = value
    return config


@pytest.mark.parametrize("key,value", declared_defaults(), ids=[key for key, _ in declared_defaults()])
def test_the_default_the_table_shows_is_the_one_applied(key, value):
    base = {"teams": [dict(TEAM)]}
    if key.startswith("localDisk."):
        base["localDisk"] = {"storageClass": "local"}
    if key.startswith("airflow.gitSync."):
        base["airflow"] = {"dagSource": "gitSync", "gitSync": {"repo": "https://example.com/dags.git"}}
    if key.startswith("airflow.logsVolume."):
        base["airflow"] = {"logsVolume": {"storageClass": "standard"}}
    if key.startswith("scheduler.quotaTree."):
        base["scheduler"] = {"backend": "ack"}
    if key.startswith("pools[]."):
        base["pools"] = [{"name": "extra", "slots": 4}]
    if key.startswith("database.") and key != "database.mode":
        base["database"] = {"mode": "external", "host": "db.example.com"}
    secrets = frozenset({"dbPassword"}) if "database" in base else frozenset()
    assert load_settings("dev", with_key(base, key, value), secrets) == load_settings("dev", base, secrets)
