"""Pools as code: the pools file, the import Job's manifests, and when the Job runs again."""

from __future__ import annotations

import json

import pulumi
import pytest

from airflow_kit_platform import versions
from airflow_kit_platform.airflow.chart_names import SecretNames
from airflow_kit_platform.settings import load_settings
from airflow_kit_platform.workloads.pools import (MIGRATION_WAIT_TIMEOUT, PoolsSync, pools_file, pools_hash,
                                        pools_job_manifests)
from tests.support.stacks import STACKS, stack_file_config
from tests.support.pulumi_harness import RecordingMocks
from tests.support.queue_cases import raw_config

EXTRA = [{"name": "warehouse-writers", "slots": 8, "description": "Writers"},
         {"name": "api-calls", "slots": 4}]


def settings_with(pools=EXTRA, **overrides):
    return load_settings("test", {**raw_config("none"), "pools": pools, **overrides})


def test_pools_file_is_what_airflow_pools_import_reads():
    """Checked against `airflow pools export` of Airflow 3.1.7 (tests/dags imports it for real)."""
    assert pools_file(settings_with()) == {
        "team-etl": {"slots": 32, "description": "Tasks of team etl", "include_deferred": False},
        "team-ml": {"slots": 16, "description": "Tasks of team ml", "include_deferred": False},
        "warehouse-writers": {"slots": 8, "description": "Writers", "include_deferred": False},
        "api-calls": {"slots": 4, "description": "", "include_deferred": False},
    }


def manifests(settings=None):
    configmap, job = pools_job_manifests(settings or settings_with())
    return configmap, job


def test_manifests_validate_against_kubernetes_1_33():
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    for stack in STACKS:
        settings = load_settings(stack, stack_file_config(stack), frozenset({"dbPassword"}))
        for obj in pools_job_manifests(settings):
            kubernetes_validate.validate(obj, "1.33", strict=True)
    for obj in manifests():
        kubernetes_validate.validate(obj, "1.33", strict=True)


def test_configmap_holds_the_pools_file():
    settings = settings_with()
    configmap, job = manifests(settings)
    assert configmap["immutable"] is True
    assert json.loads(configmap["data"]["pools.json"]) == pools_file(settings)
    assert configmap["metadata"]["name"] == job["metadata"]["name"] == f"airflow-pools-{pools_hash(settings)}"
    assert configmap["metadata"]["namespace"] == job["metadata"]["namespace"] == settings.namespace


def test_job_imports_with_the_chart_database_connection_after_migrations():
    settings = settings_with()
    configmap, job = manifests(settings)
    spec = job["spec"]
    pod = spec["template"]["spec"]
    assert "ttlSecondsAfterFinished" not in spec  # Pulumi would find it gone and recreate it
    assert "pulumi.com/skipAwait" not in (job["metadata"].get("annotations") or {})  # a failed import fails up
    assert pod["serviceAccountName"] == "airflow-migrate-database-job"
    assert pod["restartPolicy"] == "OnFailure"
    [wait] = pod["initContainers"]
    assert wait["args"] == ["airflow", "db", "check-migrations", f"--migration-wait-timeout={MIGRATION_WAIT_TIMEOUT}"]
    assert MIGRATION_WAIT_TIMEOUT == 600
    [importer] = pod["containers"]
    assert importer["args"] == ["airflow", "pools", "import", "/pools/pools.json"]
    image = f"{settings.airflow.image_repository}:{settings.airflow.image_tag}"
    for container in (wait, importer):
        assert container["image"] == image == f"apache/airflow:{versions.AIRFLOW_VERSION}"
        conn = {e["name"]: e for e in container["env"]}["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert conn["valueFrom"]["secretKeyRef"] == {"name": SecretNames.metadata, "key": "connection"}
        assert SecretNames.metadata == "airflow-metadata"
        assert set(container["resources"]["limits"]) == {"cpu", "memory"}  # passes a ResourceQuota
    assert importer["volumeMounts"] == [{"name": "pools", "mountPath": "/pools", "readOnly": True}]
    assert pod["volumes"] == [{"name": "pools", "configMap": {"name": configmap["metadata"]["name"]}}]


def test_same_pool_set_same_job_changed_set_new_job():
    name = manifests()[1]["metadata"]["name"]
    assert manifests(settings_with())[1]["metadata"]["name"] == name  # deterministic
    assert manifests(settings_with(list(reversed(EXTRA))))[1]["metadata"]["name"] == name  # order is not a change
    # An image bump is not a change of the pool set: no new import.
    bumped = settings_with(airflow={"image": {"tag": "3.1.8"}})
    assert manifests(bumped)[1]["metadata"]["name"] == name
    changed = [
        settings_with([{**EXTRA[0], "slots": 9}, EXTRA[1]]),
        settings_with([{**EXTRA[0], "description": "Other"}, EXTRA[1]]),
        settings_with(EXTRA[:1]),
        settings_with(EXTRA + [{"name": "more", "slots": 1}]),
        settings_with(teams=[{"name": "solo", "min": {"cpu": "1", "memory": "1Gi"},
                              "max": {"cpu": "2", "memory": "2Gi"}}]),
    ]
    names = {manifests(s)[1]["metadata"]["name"] for s in changed}
    assert name not in names and len(names) == len(changed)


def _run_pools_sync(settings):
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="airflow-kit", stack="test", preview=False)
    holder = {}

    @pulumi.runtime.test
    def run():
        holder["sync"] = PoolsSync("pools", settings)
        return holder["sync"].urn.apply(lambda urn: urn)

    run()
    return mocks, holder["sync"]


def test_pools_sync_creates_the_configmap_then_the_job():
    settings = settings_with()
    mocks, sync = _run_pools_sync(settings)
    name = f"airflow-pools-{pools_hash(settings)}"
    created = {(r.typ, r.name): r for r in mocks.resources}
    configmap = created[("kubernetes:core/v1:ConfigMap", f"configmap:airflow/{name}")]
    job = created[("kubernetes:batch/v1:Job", f"job:airflow/{name}")]
    assert configmap.inputs["immutable"] is True
    assert job.inputs["spec"]["template"]["spec"]["containers"][0]["args"][:3] == ["airflow", "pools", "import"]
    assert sync.job_name == name


def test_pools_sync_without_airflow_install_creates_nothing():
    settings = settings_with(airflow={"chart": {"install": False}})
    mocks, sync = _run_pools_sync(settings)
    assert [r.typ for r in mocks.resources] == ["airflow-kit:workloads:PoolsSync"]
    assert sync.job_name is None and sync.resources == []


def test_pools_sync_job_options(monkeypatch):
    """Pulumi waits for the Job (long enough for the migrations wait) and never replaces it for
    fields outside the pool set."""
    from airflow_kit_platform.workloads import pools as pools_module

    calls = []
    real = pools_module.create_object

    def spy(manifest, opts=None, name=None):
        resource = real(manifest, opts=opts, name=name)
        calls.append((manifest["kind"], opts, resource))
        return resource

    monkeypatch.setattr(pools_module, "create_object", spy)
    _, sync = _run_pools_sync(settings_with())
    (_, cm_opts, configmap), (kind, job_opts, _) = calls
    assert kind == "Job"
    assert cm_opts.parent is sync and job_opts.parent is sync
    assert configmap in job_opts.depends_on
    assert job_opts.ignore_changes == ["spec"]
    assert job_opts.custom_timeouts.create == job_opts.custom_timeouts.update == "20m"
