"""The kit as an installed library and across an upgrade, with `pulumi up` on a local API server.

- examples/team-platform, a Pulumi program outside the repo's stacks, imports the package built
  and installed from this checkout (not the repo folder) and deploys through an explicit provider.
- The repo's program goes from one pinned set to the next (an Airflow patch bump and a chart
  values change) on one stack; what changed is shown (`pulumi preview --diff`) and checked.

Both install the real Airflow chart (the packaged copy beside the checkout). Nothing provisions
volumes on this cluster, so the chart's volume claims are turned off through chart values.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import yaml

from airflow_kit_platform import versions
from tests.support.stacks import REPO
from repo_tools.harness import PulumiProject, run
from tests.support.measurements import MEASURED


NO_VOLUMES = {"postgresql": {"primary": {"persistence": {"enabled": False}}},
              "triggerer": {"persistence": {"enabled": False}}}


def charts_folder():
    for folder in (REPO / ".charts", REPO.parent / "shared" / "reference" / "charts"):
        if all((folder / f"airflow-{chart}.tgz").exists() for chart in versions.TESTED_AIRFLOW_RELEASES.values()):
            return folder
    pytest.skip(f"no packaged Airflow chart {sorted(set(versions.TESTED_AIRFLOW_RELEASES.values()))} in .charts/ "
                "(`make setup`) or ../shared/reference/charts")


def installed_kit(tmp_path) -> str:
    """The two distributions built from this checkout and installed into a folder of their own."""
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
                    str(REPO / "packages" / "airflow-kit-dags"), str(REPO)], check=True, timeout=600,
                   capture_output=True, text=True)
    return str(site)


def test_example_program_imports_the_installed_package_and_deploys(cluster, tools_env, tmp_path):
    charts = charts_folder()
    site = installed_kit(tmp_path)
    project = tmp_path / "team-platform"
    shutil.copytree(REPO / "examples" / "team-platform", project)
    document = yaml.safe_load((project / "Pulumi.yaml").read_text())
    document["runtime"]["options"]["virtualenv"] = sys.prefix  # the test venv: pulumi and its SDKs
    (project / "Pulumi.yaml").write_text(yaml.safe_dump(document))
    (project / "state").mkdir()
    env = dict(tools_env, PYTHONPATH=site, PULUMI_BACKEND_URL=f"file://{project / 'state'}",
               PULUMI_HOME=str(project / "pulumi-home"), KUBECONFIG="/nonexistent")  # only the explicit provider
    where = subprocess.run([sys.executable, "-c", "import airflow_kit_platform, airflow_kit; "
                            "print(airflow_kit_platform.__file__); print(airflow_kit.__file__)"],
                           env=env, cwd=project, capture_output=True, text=True, check=True).stdout.split()
    assert all(path.startswith(site) for path in where), where

    def pulumi(*args, check=True):
        return run(["pulumi", *args, "--non-interactive", "--stack", "dev"], env, cwd=project, check=check)

    run(["pulumi", "stack", "init", "dev", "--secrets-provider", "passphrase", "--non-interactive"], env, cwd=project)
    pulumi("config", "set", "kubeconfig", cluster.kubeconfig)
    pulumi("config", "set", "airflowChart", str(charts))
    pulumi("config", "set", "--path", "chartValues.postgresql.primary.persistence.enabled", "false")
    pulumi("config", "set", "--path", "chartValues.triggerer.persistence.enabled", "false")
    try:
        pulumi("up", "--yes", "--skip-preview")
        outputs = json.loads(pulumi("stack", "output", "--json").stdout)
        assert outputs["apiServerUrl"] == "http://airflow-api-server.analytics.svc:8080"
        assert outputs["teams"] == ["etl", "bi"] and outputs["taskNamespaces"] == ["analytics"]
        assert outputs["adminCredentials"]["secret"] == "airflow-admin-password"
        assert outputs["adminPassword"] == "[secret]"
        scheduler = json.loads(cluster.kubectl("get", "deployment", "airflow-scheduler", "-n", "analytics",
                                               "-o", "json").stdout)
        assert scheduler["metadata"]["labels"]["cost-center"] == "analytics"  # the passthrough chart value
        assert scheduler["spec"]["template"]["spec"]["containers"][0]["image"] == \
            f"apache/airflow:{versions.AIRFLOW_VERSION}"
        cfg = cluster.kubectl("get", "configmap", "airflow-config", "-n", "analytics",
                              "-o", "jsonpath={.data.airflow\\.cfg}").stdout
        assert "logging_level = INFO" in cfg  # the passthrough airflow.cfg option
        quotas = cluster.kubectl("get", "resourcequota", "-n", "analytics", "-o", "name").stdout
        assert quotas.strip()
    finally:
        pulumi("destroy", "--yes", "--skip-preview", check=False)


def deployment(cluster, namespace: str, name: str) -> dict:
    return json.loads(cluster.kubectl("get", "deployment", name, "-n", namespace, "-o", "json").stdout)


def test_upgrade_from_one_pinned_set_to_the_next(cluster, tools_env, tmp_path):
    """`airflow.version` 3.1.7 -> the pin (3.1.8) and a chart values change, on one stack."""
    charts = charts_folder()
    older, newer = list(versions.TESTED_AIRFLOW_RELEASES)[1], versions.AIRFLOW_VERSION
    namespace = "upgrade"
    config = {"namespace": namespace,
              "airflow": {"version": older, "chart": {"path": str(charts)}, "executors": ["KubernetesExecutor"],
                          "authManager": "simple", "chartValues": NO_VOLUMES},
              "teams": [{"name": "etl", "min": {"cpu": "2", "memory": "4Gi"}, "max": {"cpu": "4", "memory": "8Gi"},
                         "taskResources": {"cpu": "250m", "memory": "512Mi"}}]}
    project = PulumiProject(tmp_path / "kit", tools_env, cluster.kubeconfig, "e2e-upgrade", config)
    project.init({})
    try:
        project.up()
        before = deployment(cluster, namespace, "airflow-scheduler")
        namespace_uid = json.loads(cluster.kubectl("get", "namespace", namespace, "-o", "json").stdout)["metadata"]["uid"]
        assert before["spec"]["template"]["spec"]["containers"][0]["image"] == f"apache/airflow:{older}"
        assert project.outputs()["airflowVersion"] == older

        config["airflow"] = {**config["airflow"], "version": newer,
                             "chartValues": {**NO_VOLUMES, "scheduler": {"labels": {"upgraded": "yes"}}}}
        path = project.root / "stacks" / f"Pulumi.{project.stack}.yaml"
        path.write_text(yaml.safe_dump({"config": {f"airflow-kit:{key}": value for key, value in config.items()}}))
        diff = project.pulumi("preview", "--diff", "--stack", project.stack).stdout
        steps = json.loads(project.pulumi("preview", "--json", "--stack", project.stack).stdout)["steps"]
        changes, kinds = {}, {}
        for step in steps:
            if step["op"] != "same":
                changes.setdefault(step["op"], []).append(step["urn"].split("::")[-1])
                kinds.setdefault(step["op"], set()).add(step["urn"].split("::")[-2].split("$")[-1])
        version_lines = sorted({line.strip() for line in diff.splitlines() if older in line or newer in line})
        print(f"upgrade {older} -> {newer} + chart values: pulumi preview", json.dumps(changes, indent=1),
              "lines naming a version:", *version_lines, sep="\n")
        MEASURED[f"upgrade {older} -> {newer} + chart values change (pulumi preview)"] = ", ".join(
            f"{len(names)} {op}" for op, names in sorted(changes.items()))
        assert {f"airflow:{namespace}/airflow-{part}" for part in ("scheduler", "api-server", "dag-processor",
                                                                   "triggerer")} <= set(changes.get("update", [])), changes
        # ConfigMaps (Pulumi replaces one whose data changes) and Jobs (immutable templates: the
        # migration Job runs again) are replaced; nothing else, and nothing is deleted.
        replaced = {kind for op, found in kinds.items() if op not in ("update", "create") for kind in found}
        assert replaced <= {"kubernetes:core/v1:ConfigMap", "kubernetes:batch/v1:Job"}, changes
        project.up()
        after = deployment(cluster, namespace, "airflow-scheduler")
        assert after["spec"]["template"]["spec"]["containers"][0]["image"] == f"apache/airflow:{newer}"
        assert after["spec"]["template"]["metadata"]["labels"]["upgraded"] == "yes"  # the chart puts it on the pods
        assert project.outputs()["airflowVersion"] == newer
        assert json.loads(cluster.kubectl("get", "namespace", namespace, "-o", "json").stdout)["metadata"]["uid"] \
            == namespace_uid
        assert project.preview_expect_no_changes().returncode == 0
    finally:
        project.destroy()


