"""Versions are pinned once (components/versions.py); requirements files must agree."""

from __future__ import annotations

import re

from airflow_kit_platform import versions
from tests.support.stacks import REPO


def pinned(path) -> dict[str, str]:
    pins = {}
    for line in (REPO / path).read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s#]+)", line.strip())
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def test_requirements_match_versions_module():
    pins = {**pinned("requirements.txt"), **pinned("requirements-test.txt")}
    for package, version in versions.PYTHON_PACKAGES.items():
        assert pins.get(package) == version, f"{package}: requirements pin {pins.get(package)} != versions.py {version}"


def test_installed_sdks_are_the_pinned_ones():
    from importlib.metadata import version

    for package in ("pulumi", "pulumi-kubernetes"):
        assert version(package) == versions.PYTHON_PACKAGES[package]


def test_chart_is_the_one_the_schema_describes(reference):
    chart = (reference / "airflow-chart-1.19.0" / "Chart.yaml").read_text()
    assert re.search(rf"^version: {re.escape(versions.AIRFLOW_CHART_VERSION)}$", chart, re.M)
    app_version = re.search(r"^appVersion: (\S+)$", chart, re.M).group(1)
    # The chart's own Airflow is a tested release it installs; the pin may be a later patch of the
    # same line, which the chart installs through `airflowVersion` and the image tag.
    assert versions.TESTED_AIRFLOW_RELEASES.get(app_version) == versions.AIRFLOW_CHART_VERSION
    assert versions.AIRFLOW_VERSION.split(".")[:2] == app_version.split(".")[:2]
    assert versions.TESTED_AIRFLOW_RELEASES[versions.AIRFLOW_VERSION] == versions.AIRFLOW_CHART_VERSION


def test_the_provider_plugin_serves_the_pinned_sdk():
    """The plugin tools.sh builds reports a version at least the SDK's: the engine then stays quiet
    (it warned on every `pulumi up` while the SDK was 4.32.0 and the plugin 4.25.0-alpha)."""
    import pytest

    from repo_tools import local_cluster

    plugin = local_cluster.tool("pulumi-resource-kubernetes")
    if plugin is None:
        pytest.skip("pulumi-resource-kubernetes not built (make setup)")
    assert local_cluster.provider_mismatch() is None


def test_an_older_plugin_stops_setup_in_one_line(monkeypatch, tmp_path):
    from repo_tools import local_cluster

    plugin = tmp_path / "pulumi-resource-kubernetes"
    plugin.write_text("")
    monkeypatch.setattr(local_cluster, "tool", lambda name: str(plugin))
    monkeypatch.setattr(local_cluster, "provider_plugin_version", lambda path: "4.20.0")
    problem = local_cluster.provider_mismatch()
    assert problem is not None and "\n" not in problem
    assert f"reports 4.20.0, older than the pulumi-kubernetes SDK {versions.PYTHON_PACKAGES['pulumi-kubernetes']}" in problem
