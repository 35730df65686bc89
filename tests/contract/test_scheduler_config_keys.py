"""Every key the kit writes into a scheduler's configuration exists in that scheduler's own types.

Volcano decodes its configuration leniently: an unknown key (`enabledHierarchy` for
`enableHierarchy`) is dropped without a word and the feature is silently off. So the keys are
checked against the Go source of the scheduler the tests build (the module scripts/tools.sh
downloads): plugin options against the `yaml` tags of `conf.PluginOption`, top-level keys
against `conf.SchedulerConfiguration`, plugin `arguments` against the string literals the plugin
reads. Koordinator's plugin args are checked against the `json` tags of its args types (the
real koord-scheduler also decodes strictly: tests/schedulers runs it with this configuration).
"""

from __future__ import annotations

import os
import pathlib
import re
from typing import Any, Iterable

import pytest
import yaml

from airflow_kit_platform import versions
from airflow_kit_platform.scheduling import koordinator, volcano
from repo_tools.harness import build_versions
from tests.support.scheduling_stacks import flat_teams, settings_for, three_level_teams

MODULES = pathlib.Path(os.environ.get("AIRFLOW_KIT_CACHE", pathlib.Path.home() / ".cache" / "airflow-kit")) \
    / "go" / "pkg" / "mod"


def stack_settings(style: str, tree: str):
    return settings_for(style, teams=three_level_teams() if tree == "three-level" else flat_teams())


def module_dir(path: str) -> pathlib.Path:
    directory = MODULES / path
    if not directory.is_dir():
        pytest.skip(f"Go module source {path} not downloaded (scripts/tools.sh fetches it into {MODULES})")
    return directory


def struct_tags(source: pathlib.Path, struct: str, kind: str) -> set[str]:
    text = source.read_text()
    match = re.search(rf"type {struct} struct {{(.*?)\n}}", text, re.S)
    assert match, f"no struct {struct} in {source}"
    return set(re.findall(rf'{kind}:"([^",]+)', match.group(1)))


def go_literals(directory: pathlib.Path) -> set[str]:
    found: set[str] = set()
    for path in directory.rglob("*.go"):
        if not path.name.endswith("_test.go"):
            found.update(re.findall(r'"([^"\\\n]+)"', path.read_text()))
    return found


def keys(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from keys(item)


@pytest.fixture(scope="module")
def volcano_source() -> pathlib.Path:
    return module_dir(f"volcano.sh/volcano@v{build_versions()['VOLCANO_BUILD_VERSION']}")


@pytest.mark.parametrize("tree", ["three-level", "flat"])
def test_volcano_scheduler_keys_exist_in_volcanos_types(volcano_source, tree):
    settings = stack_settings("volcano", tree)
    config = yaml.safe_load(volcano.scheduler_config_text(settings))
    conf_go = volcano_source / "pkg" / "scheduler" / "conf" / "scheduler_conf.go"
    top = struct_tags(conf_go, "SchedulerConfiguration", "yaml")
    option_keys = struct_tags(conf_go, "PluginOption", "yaml")
    assert set(config) <= top, f"unknown top-level keys {set(config) - top}"
    literals_everywhere = go_literals(volcano_source / "pkg" / "scheduler")
    assert set(config.get("metrics", {})) <= literals_everywhere
    for tier in config["tiers"]:
        for plugin in tier["plugins"]:
            unknown = set(plugin) - option_keys
            assert not unknown, f"plugin {plugin['name']}: Volcano ignores {sorted(unknown)} (known: {sorted(option_keys)})"
            plugin_dir = volcano_source / "pkg" / "scheduler" / "plugins" / plugin["name"]
            assert plugin_dir.is_dir(), f"Volcano has no plugin {plugin['name']!r}"
            if "arguments" in plugin:
                read = go_literals(plugin_dir)
                unread = [key for key in keys(plugin["arguments"]) if key not in read]
                assert not unread, f"plugin {plugin['name']} never reads arguments {unread}"


def test_the_hierarchy_switch_is_the_one_volcano_reads(volcano_source):
    settings = stack_settings("volcano", "three-level")
    capacity = [plugin for tier in volcano.scheduler_config(settings)["tiers"] for plugin in tier["plugins"]
                if plugin["name"] == "capacity"]
    assert capacity == [{"name": "capacity", "enableHierarchy": True}]
    conf_go = volcano_source / "pkg" / "scheduler" / "conf" / "scheduler_conf.go"
    assert "enableHierarchy" in struct_tags(conf_go, "PluginOption", "yaml")
    assert "enabledHierarchy" not in struct_tags(conf_go, "PluginOption", "yaml")


def test_koordinator_plugin_args_exist_in_koordinators_types():
    source = module_dir(f"github.com/koordinator-sh/koordinator@v{versions.KOORDINATOR_VERSION}")
    types_go = source / "pkg" / "scheduler" / "apis" / "config" / "v1" / "types.go"
    settings = stack_settings("koordinator", "three-level")
    (override,) = [m for m in koordinator.chart_overrides(settings) if m["metadata"]["name"] == koordinator.SCHEDULER_CONFIG]
    document = yaml.safe_load(override["data"][koordinator.SCHEDULER_CONFIG])
    checked = set()
    for profile in document["profiles"]:
        for plugin in profile["pluginConfig"]:
            args = plugin["args"]
            known = struct_tags(types_go, args["kind"], "json")
            unknown = set(args) - known - {"apiVersion", "kind"}
            assert not unknown, f"{args['kind']}: koord-scheduler rejects {sorted(unknown)}"
            checked.add(args["kind"])
    assert {"ElasticQuotaArgs", "LoadAwareSchedulingArgs"} <= checked


def test_koordinator_quota_tree_is_enforced_as_written():
    args = koordinator.elastic_quota_args(stack_settings("koordinator", "three-level"))
    assert args["enableCheckParentQuota"] is True and args["monitorAllQuotas"] is True
    assert args["delayEvictTime"] == "120s"
