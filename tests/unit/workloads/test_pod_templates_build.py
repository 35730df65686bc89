"""Pod templates and teams.json: structure, scheduler marks, local disk, git-sync, catalog."""

from __future__ import annotations

import dataclasses
import json

import pytest
import yaml

from airflow_kit_platform.scheduling.backend import PodMarks
from airflow_kit_platform.workloads import pod_templates as pt
from airflow_kit_platform.airflow.chart_names import ChartNames, SecretNames
from workload_cases import LEAVES, MARK_STYLES, make_settings, marks_for


def _base(pod: dict) -> dict:
    return pod["spec"]["containers"][0]


def _env(container: dict) -> dict:
    return {item["name"]: item for item in container["env"]}


def test_one_template_per_leaf_team_and_local_disk_variant(settings, style):
    files = pt.render_pod_templates(settings, marks_for(settings, style))
    expected = ({f"{team}.yaml" for team in LEAVES} | {f"{team}-local-disk.yaml" for team in LEAVES}
                | {"teams.json", "pod_template_file.yaml"})
    assert set(files) == expected  # `platform` has children: no template


def test_no_local_disk_variant_without_local_disk(style):
    settings = make_settings(drop=("localDisk",))
    files = pt.render_pod_templates(settings, marks_for(settings, style))
    assert set(files) == {f"{team}.yaml" for team in LEAVES} | {"teams.json", "pod_template_file.yaml"}
    catalog = json.loads(files["teams.json"])
    assert all(entry["local_disk"] is None and entry["local_disk_pod_template"] is None
               for entry in catalog["teams"].values())
    with pytest.raises(ValueError, match="no localDisk"):
        pt.build_pod_template(settings, settings.teams.get("etl"), marks_for(settings, style)["etl"], True)


def test_scheduler_fields_match_pod_marks(settings, style):
    marks = marks_for(settings, style)
    for name, text in pt.render_pod_templates(settings, marks).items():
        if name in ("teams.json", "pod_template_file.yaml"):
            continue
        pod = yaml.safe_load(text)
        team = name.removesuffix(".yaml").removesuffix("-local-disk")
        mark = marks[team]
        assert pod["spec"]["schedulerName"] == mark.scheduler_name
        assert pod["spec"].get("priorityClassName") == mark.priority_class_name
        for key, value in mark.labels.items():
            assert pod["metadata"]["labels"][key] == value
        assert pod["metadata"]["labels"]["airflow-kit/team"] == team
        assert pod["metadata"].get("annotations", {}) == dict(mark.annotations)


def test_base_container_image_resources_env(settings):
    marks = marks_for(settings, "koordinator")
    etl = pt.build_pod_template(settings, settings.teams.get("etl"), marks["etl"], False)
    reporting = pt.build_pod_template(settings, settings.teams.get("reporting"), marks["reporting"], False)
    assert etl["metadata"]["name"] == "placeholder-name"
    assert [c["name"] for c in etl["spec"]["containers"]] == ["base"]
    assert _base(etl)["image"] == "registry.example.com/etl/airflow-worker:2.3.1"
    assert _base(reporting)["image"] == "registry.example.com/airflow:3.1.7-kit1"  # no team image
    assert _base(etl)["resources"] == {"requests": {"cpu": "2", "memory": "4Gi"},
                                       "limits": {"cpu": "2", "memory": "6Gi"}}
    assert _base(reporting)["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"},
                                             "limits": {"cpu": "500m", "memory": "1Gi"}}
    env = _env(_base(etl))
    assert env["AIRFLOW_KIT_TEAM"]["value"] == "etl"
    assert env["AIRFLOW__CORE__EXECUTOR"]["value"] == "CeleryExecutor,KubernetesExecutor"
    # Airflow 3 tasks use the Execution API: no database connection or Fernet key in team pods.
    assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in env and "AIRFLOW__CORE__FERNET_KEY" not in env
    assert env["AIRFLOW_KIT_POD_TEMPLATES_DIR"]["value"] == pt.POD_TEMPLATES_DIR
    # Task pods run business code: no JWT signing secret unless asked for.
    assert "AIRFLOW__API_AUTH__JWT_SECRET" not in env and "AIRFLOW__API__SECRET_KEY" not in env


def test_pod_spec_matches_what_the_chart_template_gives_a_worker(settings):
    pod = pt.build_pod_template(settings, settings.teams.get("etl"), marks_for(settings, "default")["etl"], False)
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never"
    # In the stack's namespace: an account with no Role and no token (a task has no API access).
    assert spec["serviceAccountName"] == "airflow-kit-task" and spec["automountServiceAccountToken"] is False
    assert spec["securityContext"] == {"runAsNonRoot": True, "runAsUser": 50000, "fsGroup": 0,
                                       "seccompProfile": {"type": "RuntimeDefault"}}
    assert spec["nodeSelector"] == {"node-pool": "batch"}
    assert spec["tolerations"] == [{"key": "batch", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["metadata"]["labels"]["component"] == "worker"
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    assert volumes["config"] == {"name": "config", "configMap": {"name": "airflow-config"}}  # the chart's name
    assert volumes["logs"] == {"name": "logs", "emptyDir": {}}
    assert volumes["airflow-kit-pod-templates"]["configMap"] == {"name": pt.CONFIGMAP_NAME}
    mounts = {mount["mountPath"]: mount for mount in _base(pod)["volumeMounts"]}
    assert mounts["/opt/airflow/airflow.cfg"] == {"name": "config", "mountPath": "/opt/airflow/airflow.cfg",
                                                  "subPath": "airflow.cfg", "readOnly": True}
    assert mounts["/opt/airflow/logs"]["name"] == "logs"
    assert mounts[pt.POD_TEMPLATES_DIR]["name"] == "airflow-kit-pod-templates"
    assert {mount["name"] for mount in _base(pod)["volumeMounts"]} <= set(volumes)


def test_chart_names_and_exposed_api_secrets_are_parameters(settings):
    names = ChartNames(release="data")
    secrets = pt.TaskSecrets(expose_api_secrets_to_tasks=True)
    ml = dataclasses.replace(settings.teams.get("ml"), metadata_access=True)
    pod = pt.build_pod_template(settings, ml, marks_for(settings, "volcano")["ml"], False,
                                names, secrets=secrets)
    assert pod["spec"]["serviceAccountName"] == "airflow-kit-task"  # the kit's own, not the chart's
    assert pod["metadata"]["labels"]["release"] == "data"
    assert {"name": "config", "configMap": {"name": "data-config"}} in pod["spec"]["volumes"]
    env = _env(_base(pod))
    assert env["AIRFLOW__CORE__FERNET_KEY"]["valueFrom"]["secretKeyRef"]["name"] == SecretNames.fernet_key
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]["valueFrom"]["secretKeyRef"]["name"] == SecretNames.metadata
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "airflow-jwt-secret", "key": "jwt-secret"}
    assert env["AIRFLOW__API__SECRET_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "airflow-api-secret-key", "key": "api-secret-key"}
    standard = pt.build_pod_template(settings, settings.teams.get("ml"), marks_for(settings, "volcano")["ml"], False,
                                     ChartNames(release="data", use_standard_naming=True))
    assert {"name": "config", "configMap": {"name": "data-airflow-config"}} in standard["spec"]["volumes"]


def test_git_sync_init_container_fills_the_dags_volume(settings):
    pod = pt.build_pod_template(settings, settings.teams.get("etl"), marks_for(settings, "default")["etl"], False)
    (init,) = pod["spec"]["initContainers"]
    assert init["name"] == "git-sync-init" and init["image"] == pt.GIT_SYNC_IMAGE
    env = _env(init)
    assert env["GITSYNC_REPO"]["value"] == "https://git.example.com/dags.git"
    assert env["GITSYNC_REF"]["value"] == "release"
    assert env["GITSYNC_ONE_TIME"]["value"] == "true"
    assert env["GITSYNC_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "git-credentials"
    assert init["volumeMounts"] == [{"name": "dags", "mountPath": "/git"}]
    assert init["resources"]["requests"] and init["resources"]["limits"]  # passes a ResourceQuota
    assert {"name": "dags", "emptyDir": {}} in pod["spec"]["volumes"]
    dags = [m for m in _base(pod)["volumeMounts"] if m["name"] == "dags"]
    assert dags == [{"name": "dags", "mountPath": "/opt/airflow/dags", "readOnly": True}]


def test_dags_from_image_have_no_dags_volume():
    settings = make_settings({"airflow": {"dagSource": "image"}})
    pod = pt.build_pod_template(settings, settings.teams.get("etl"), marks_for(settings, "default")["etl"], False)
    assert "initContainers" not in pod["spec"]
    assert "dags" not in {volume["name"] for volume in pod["spec"]["volumes"]}


def test_local_disk_variant_has_one_ephemeral_volume(settings, style):
    marks = marks_for(settings, style)
    for team in LEAVES:
        pod = yaml.safe_load(pt.render_pod_templates(settings, marks)[f"{team}-local-disk.yaml"])
        disks = [volume for volume in pod["spec"]["volumes"] if volume["name"] == "local-disk"]
        assert len(disks) == 1
        claim = disks[0]["ephemeral"]["volumeClaimTemplate"]
        assert claim["spec"]["storageClassName"] == "open-local-lvm"
        assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
        assert claim["spec"]["resources"]["requests"]["storage"] == pt.DEFAULT_LOCAL_DISK_SIZE
        assert claim["metadata"]["labels"] == {"airflow-kit/team": team}
        mounts = [m for m in _base(pod)["volumeMounts"] if m["name"] == "local-disk"]
        assert mounts == [{"name": "local-disk", "mountPath": "/scratch"}]
        plain = yaml.safe_load(pt.render_pod_templates(settings, marks)[f"{team}.yaml"])
        assert "local-disk" not in {volume["name"] for volume in plain["spec"]["volumes"]}


def test_catalog_matches_templates(settings, style):
    marks = marks_for(settings, style)
    files = pt.render_pod_templates(settings, marks)
    catalog = json.loads(files["teams.json"])
    assert {key: catalog[key] for key in ("stack", "scheduler", "queue", "namespace")} == {
        "stack": "unit", "scheduler": "default", "queue": "none", "namespace": "data-airflow"}
    assert set(catalog["teams"]) == set(LEAVES)
    for team, entry in catalog["teams"].items():
        assert entry["pod_template"] == f"/opt/airflow/kit-pod-templates/{team}.yaml"
        assert entry["local_disk_pod_template"] == f"/opt/airflow/kit-pod-templates/{team}-local-disk.yaml"
        assert entry["local_disk"] == {"mount_path": "/scratch", "storage_class": "open-local-lvm",
                                       "max_size": "200Gi"}
        assert entry["pool"] == f"team-{team}"
        for path in (entry["pod_template"], entry["local_disk_pod_template"]):
            pod = yaml.safe_load(files[path.rsplit("/", 1)[1]])
            base = _base(pod)
            assert entry["image"] == base["image"]
            assert entry["default_resources"] == base["resources"]
            assert entry["scheduler_name"] == pod["spec"]["schedulerName"]
            assert entry["priority_class_name"] == pod["spec"].get("priorityClassName")
            assert entry["annotations"] == pod["metadata"].get("annotations", {})
            assert all(pod["metadata"]["labels"][k] == v for k, v in entry["labels"].items())


def test_catalog_is_read_by_the_dag_helper(tmp_path, settings, style):
    """The DAG helper's own reader (the installed airflow-kit-dags) accepts what the kit renders."""
    catalog_module = pytest.importorskip("airflow_kit.catalog")

    for name, text in pt.render_pod_templates(settings, marks_for(settings, style)).items():
        (tmp_path / name).write_text(text)
    catalog = catalog_module.load_catalog(str(tmp_path))
    assert sorted(catalog.teams) == sorted(LEAVES)
    etl = catalog.team("etl")
    assert etl.pod_template == str(tmp_path / "etl.yaml")
    assert etl.local_disk is not None and etl.local_disk.storage_class == "open-local-lvm"
    assert etl.scheduler_name == MARK_STYLES[style]("etl").scheduler_name


def test_missing_pod_marks_name_the_team(settings):
    marks = marks_for(settings, "default")
    del marks["ml"]
    with pytest.raises(ValueError, match="no pod marks for team.*ml"):
        pt.render_pod_templates(settings, marks)


def test_parent_team_has_no_template(settings):
    with pytest.raises(ValueError, match="child teams"):
        pt.build_pod_template(settings, settings.teams.get("platform"), PodMarks("default-scheduler"), False)


def test_configmap_manifest(settings):
    files = pt.render_pod_templates(settings, marks_for(settings, "volcano"))
    manifest = pt.pod_templates_configmap(settings, files)
    assert manifest["metadata"]["name"] == "airflow-kit-pod-templates"
    assert manifest["metadata"]["namespace"] == "data-airflow"
    assert manifest["data"] == files


def test_configmap_refuses_oversized_files(settings):
    with pytest.raises(ValueError, match="1 MiB"):
        pt.pod_templates_configmap(settings, {"big.yaml": "x" * (1024 * 1024)})


def test_default_pod_template_text_is_the_default_team_and_tpl_safe(settings, style):
    marks = marks_for(settings, style)
    text = pt.default_pod_template_text(settings, marks)
    files = pt.render_pod_templates(settings, marks)
    assert text == files["reporting.yaml"]
    # The chart mounts its pod_template_file.yaml by subPath inside the kit's ConfigMap directory:
    # the file exists there (a mount point in a read-only volume cannot be created) with the same text.
    assert files["pod_template_file.yaml"] == text
    assert "{{" not in text


def test_with_team_namespaces_a_task_naming_no_team_gets_no_token_in_the_stack_namespace():
    """The chart's default template starts pods in the stack's namespace, beside Airflow's
    Secrets, whatever `teamNamespaces` says: never as the worker account, whose launcher Role
    there could start a pod mounting them. A team's own template keeps the worker account (its
    Role reaches the team's namespace only)."""
    settings = make_settings({"teamNamespaces": True})
    marks = marks_for(settings, "default")
    default = yaml.safe_load(pt.default_pod_template_text(settings, marks))
    assert default["spec"]["serviceAccountName"] == "airflow-kit-task"
    assert default["spec"]["automountServiceAccountToken"] is False
    assert "namespace" not in default["metadata"]
    team = pt.build_pod_template(settings, settings.teams.get("etl"), marks["etl"], False)
    assert team["spec"]["serviceAccountName"] == "airflow-worker" and team["spec"]["automountServiceAccountToken"]


def test_default_pod_template_text_refuses_go_template_braces(settings):
    marks = marks_for(settings, "default")
    marks["reporting"] = PodMarks("default-scheduler", annotations={"note": "{{ .Release.Name }}"})
    with pytest.raises(ValueError, match="tpl"):
        pt.default_pod_template_text(settings, marks)


def test_rendering_is_deterministic(settings):
    marks = marks_for(settings, "koordinator")
    assert pt.render_pod_templates(settings, marks) == pt.render_pod_templates(settings, marks)
