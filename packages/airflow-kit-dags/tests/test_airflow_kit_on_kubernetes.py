"""on_kubernetes(): results, merge semantics against the real PodGenerator, parse-time errors."""

from __future__ import annotations

import importlib.metadata
import json

import pytest

pytest.importorskip("airflow")
pytest.importorskip("airflow.providers.cncf.kubernetes")

from kubernetes.client import models as k8s  # noqa: E402

from airflow_kit import (  # noqa: E402
    AirflowKitError,
    CatalogError,
    InvalidQuantityError,
    LocalDiskNotAvailableError,
    UnknownTeamError,
    load_catalog,
    on_kubernetes,
)
from airflow_kit.catalog import parse_quantity  # noqa: E402

AIRFLOW_VERSION = importlib.metadata.version("apache-airflow")


class FakeTask:
    def __init__(self, kw):
        self.task_id = "t"
        self.executor_config = kw["executor_config"]


def _base(pod: dict) -> dict:
    return pod["spec"]["containers"][0]


def test_result_shape_defaults(kit_catalog_dir):
    kw = on_kubernetes("etl")
    assert set(kw) == {"executor", "executor_config", "pool", "pre_execute"}
    assert kw["pre_execute"]({}) is None  # the catalog check: a no-op where teams.json is mounted
    assert kw["executor"] == "KubernetesExecutor"  # the short name (the chart's KEDA query matches it)
    assert kw["pool"] == "team-etl"
    cfg = kw["executor_config"]
    assert cfg["pod_template_file"] == str(kit_catalog_dir / "etl.yaml")
    override = cfg["pod_override"]
    assert isinstance(override, k8s.V1Pod)
    c = override.spec.containers[0]
    assert c.name == "base"
    assert c.image == "registry.example/etl-airflow:1.0"
    assert c.resources.requests == {"cpu": "1", "memory": "2Gi"}
    assert c.resources.limits == {"cpu": "1", "memory": "2Gi"}
    assert override.spec.volumes is None
    assert override.spec.scheduler_name == "koord-scheduler"
    assert override.spec.priority_class_name == "koord-batch"
    assert override.metadata.labels["quota.scheduling.koordinator.sh/name"] == "etl"


def test_cpu_only_override_keeps_memory_and_limits():
    kw = on_kubernetes("etl", cpu="2")
    res = kw["executor_config"]["pod_override"].spec.containers[0].resources
    assert res.requests == {"cpu": "2", "memory": "2Gi"}
    assert res.limits == {"cpu": "2", "memory": "2Gi"}  # limit follows a raised request


def test_full_resources_survive_real_reconciliation(build_executor_pod):
    pod = build_executor_pod(FakeTask(on_kubernetes("etl", memory="8Gi")))
    assert _base(pod)["resources"] == {
        "requests": {"cpu": "1", "memory": "8Gi"},
        "limits": {"cpu": "1", "memory": "8Gi"},
    }


def test_team_without_default_limit_gets_none():
    kw = on_kubernetes("ml", cpu="2", memory="3Gi")
    res = kw["executor_config"]["pod_override"].spec.containers[0].resources
    assert res.requests == {"cpu": "2", "memory": "3Gi", "ephemeral-storage": "1Gi"}
    assert res.limits == {"memory": "3Gi"}  # ml has no cpu limit by default: none is added


def test_explicit_limits():
    res = on_kubernetes("etl", cpu="500m", cpu_limit="2", memory="1Gi", memory_limit="4Gi")[
        "executor_config"
    ]["pod_override"].spec.containers[0].resources
    assert res.requests == {"cpu": "500m", "memory": "1Gi"}
    assert res.limits == {"cpu": "2", "memory": "4Gi"}


def test_numbers_are_accepted_for_cpu():
    res = on_kubernetes("etl", cpu=2)["executor_config"]["pod_override"].spec.containers[0].resources
    assert res.requests["cpu"] == "2"
    res = on_kubernetes("etl", cpu=0.5)["executor_config"]["pod_override"].spec.containers[0].resources
    assert res.requests["cpu"] == "0.5"


def test_image_override_and_pool_choices():
    kw = on_kubernetes("etl", image="registry.example/other:9", pool=False)
    assert "pool" not in kw
    assert kw["executor_config"]["pod_override"].spec.containers[0].image == "registry.example/other:9"
    assert on_kubernetes("etl", pool="big")["pool"] == "big"


def test_image_wins_over_worker_container_repository(monkeypatch, build_executor_pod):
    # The official chart sets worker_container_repository/tag; the executor then sets that image on the
    # dynamic pod, which beats the template's. The override's image must win.
    monkeypatch.setenv("AIRFLOW__KUBERNETES_EXECUTOR__WORKER_CONTAINER_REPOSITORY", "apache/airflow")
    monkeypatch.setenv("AIRFLOW__KUBERNETES_EXECUTOR__WORKER_CONTAINER_TAG", AIRFLOW_VERSION)
    from airflow.providers.cncf.kubernetes.kube_config import KubeConfig

    assert KubeConfig().kube_image == f"apache/airflow:{AIRFLOW_VERSION}"
    kw = on_kubernetes("etl")
    kw["executor_config"]["pod_override"].spec.containers[0].image = None
    assert _base(build_executor_pod(FakeTask(kw)))["image"] == f"apache/airflow:{AIRFLOW_VERSION}"  # the trap
    pod = build_executor_pod(FakeTask(on_kubernetes("etl")))
    assert _base(pod)["image"] == "registry.example/etl-airflow:1.0"


def test_local_disk_size_one_volume_of_requested_size(kit_catalog_dir, build_executor_pod):
    kw = on_kubernetes("etl", cpu="2", memory="8Gi", local_disk="100Gi")
    # plain template + the volume in the override (see test_local_disk_template_plus_override_duplicates)
    assert kw["executor_config"]["pod_template_file"] == str(kit_catalog_dir / "etl.yaml")
    pod = build_executor_pod(FakeTask(kw))
    vols = pod["spec"]["volumes"]
    assert [v["name"] for v in vols] == ["local-disk"]
    claim = vols[0]["ephemeral"]["volumeClaimTemplate"]["spec"]
    assert claim["resources"]["requests"]["storage"] == "100Gi"
    assert claim["storageClassName"] == "open-local-lvm"
    assert claim["accessModes"] == ["ReadWriteOnce"]
    assert _base(pod)["volumeMounts"] == [{"mountPath": "/scratch", "name": "local-disk"}]


def test_local_disk_template_plus_override_duplicates(kit_catalog_dir, build_executor_pod):
    """Why a sized disk is NOT 'local-disk template + same-named volume in the override':
    PodGenerator.reconcile_specs appends volumes (extend_object_field), so the pod gets two
    volumes and two mounts named local-disk, which the API server rejects."""
    kw = on_kubernetes("etl", local_disk="100Gi")
    pod = build_executor_pod(FakeTask(kw), pod_template_file=str(kit_catalog_dir / "etl-local-disk.yaml"))
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["local-disk", "local-disk"]
    assert [m["name"] for m in _base(pod)["volumeMounts"]] == ["local-disk", "local-disk"]


def test_local_disk_true_uses_rendered_template(kit_catalog_dir, build_executor_pod):
    kw = on_kubernetes("etl", local_disk=True)
    assert kw["executor_config"]["pod_template_file"] == str(kit_catalog_dir / "etl-local-disk.yaml")
    assert kw["executor_config"]["pod_override"].spec.volumes is None
    pod = build_executor_pod(FakeTask(kw))
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["local-disk"]
    assert pod["spec"]["volumes"][0]["ephemeral"]["volumeClaimTemplate"]["spec"]["resources"]["requests"] == {
        "storage": "50Gi"
    }


# ----------------------------------------------------------------------------- errors at parse time
def test_unknown_team_lists_known_teams():
    with pytest.raises(UnknownTeamError) as e:
        on_kubernetes("finance")
    msg = str(e.value)
    assert "'finance'" in msg and "['etl', 'ml']" in msg and "prod" in msg
    assert isinstance(e.value, ValueError)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"memory": "4x"}, "'4x' is not a valid positive Kubernetes quantity"),
        ({"memory": "-1Gi"}, "'-1Gi' is not a valid positive Kubernetes quantity"),
        ({"cpu": "-1"}, "'-1' is not a valid"),
        ({"cpu": "0"}, "greater than zero"),
        ({"cpu": "two"}, "not a valid"),
        ({"cpu": "1Gi"}, "binary suffix"),
        ({"memory": "8m"}, "did you mean 8Mi"),
        ({"memory": ""}, "not a valid"),
        ({"cpu": True}, "expected a Kubernetes quantity"),
        ({"cpu_limit": "1x"}, "cpu_limit"),
        ({"local_disk": "100GB"}, "'100GB' is not a valid"),
        ({"local_disk": "-5Gi"}, "'-5Gi'"),
        ({"local_disk": "600Gi"}, "above the team's max_size 500Gi"),
        ({"cpu": "4", "cpu_limit": "2"}, "request 4 is above limit 2"),
        ({"image": ""}, "non-empty image"),
        # Kubernetes' grammar (the kubernetes client's parse_quantity) and what Python's Decimal
        # would take on top of it but Kubernetes does not.
        ({"memory": "1ki"}, "'1ki' is not a valid"),  # only `k` is lower case
        ({"memory": "1Gi2"}, "not a valid"),
        ({"cpu": "1_000"}, "'1_000' is not a valid"),
        ({"cpu": "NaN"}, "not a valid"),
        ({"cpu": "Infinity"}, "not a valid"),
        ({"memory": "1 Gi"}, "not a valid"),
        ({"cpu": "\u0661"}, "not a valid"),  # ARABIC-INDIC DIGIT ONE: a digit to Decimal
        ({"memory": "0.5"}, "not a whole number of bytes"),
        ({"memory": "1u"}, "u-bytes"),
        ({"memory": "0e3"}, "greater than zero"),
    ],
)
def test_malformed_input(kwargs, fragment):
    with pytest.raises(AirflowKitError) as e:
        on_kubernetes("etl", **kwargs)
    assert fragment in str(e.value)
    assert "etl" in str(e.value) or "image" in kwargs
    assert isinstance(e.value, ValueError)
    if "image" not in kwargs:
        assert isinstance(e.value, InvalidQuantityError)


def test_local_disk_for_team_without_local_disk():
    with pytest.raises(LocalDiskNotAvailableError) as e:
        on_kubernetes("ml", local_disk="10Gi")
    assert "team 'ml' has no local disk" in str(e.value) and "['etl']" in str(e.value)
    with pytest.raises(LocalDiskNotAvailableError):
        on_kubernetes("ml", local_disk=True)


@pytest.mark.parametrize(
    "text, kind, amount",
    [("2", "cpu", 2), ("500m", "cpu", 0.5), ("0.5", "cpu", 0.5), (".5", "cpu", 0.5), ("5.", "cpu", 5),
     ("+2", "cpu", 2), ("2e-3", "cpu", 0.002), ("1E3", "cpu", 1000), ("100n", "cpu", 1e-7),
     ("1Ki", "memory", 1024), ("1e3", "memory", 1000), ("1.5Gi", "memory", 1.5 * 2**30),
     ("0.5Ki", "memory", 512), ("1k", "memory", 1000), ("1E", "memory", 1e18), ("1e3M", "storage", 1e9)],
)
def test_parse_quantity_values(text, kind, amount):
    """The kubernetes client's grammar: an exponent, a leading or trailing dot and a sign are numbers."""
    given, value = parse_quantity(text, what="x", kind=kind)
    assert (given, float(value)) == (text, pytest.approx(amount))


def test_missing_catalog_fails_at_run_not_at_parse(tmp_path, monkeypatch):
    """No teams.json (a laptop, a DAG CI): the kwargs are built from the kit's naming rules, pure
    validation still fails at parse, and the task fails when it runs with one clear message."""
    monkeypatch.setenv("AIRFLOW_KIT_POD_TEMPLATES_DIR", str(tmp_path))
    catalog = load_catalog()
    assert catalog.missing and catalog.default_team == "no-catalog" and list(catalog.teams) == ["no-catalog"]
    kw = on_kubernetes("etl", cpu="2", memory="4Gi", local_disk="100Gi")
    assert kw["executor"] == "KubernetesExecutor" and kw["pool"] == "team-etl"
    assert kw["executor_config"]["pod_template_file"] == str(tmp_path / "etl.yaml")
    base = kw["executor_config"]["pod_override"].spec.containers[0]
    assert base.name == "base" and base.image is None
    assert base.resources.requests == {"cpu": "2", "memory": "4Gi"}
    with pytest.raises(CatalogError) as e:
        kw["pre_execute"]({})
    message = str(e.value)
    assert str(tmp_path / "teams.json") in message and "AIRFLOW_KIT_POD_TEMPLATES_DIR" in message
    assert "not found" in message
    for bad in ({"memory": "4x"}, {"local_disk": "5x"}, {"cpu": "4", "cpu_limit": "2"}):
        with pytest.raises(InvalidQuantityError):
            on_kubernetes("etl", **bad)


def test_malformed_catalog_still_fails_at_parse(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_KIT_POD_TEMPLATES_DIR", str(tmp_path))
    (tmp_path / "teams.json").write_text("{not json")
    with pytest.raises(CatalogError, match="is not valid JSON"):
        on_kubernetes("etl")


def test_catalog_rebases_paths_and_reloads(catalog_dir):
    d = catalog_dir(stack="dev", scheduler="volcano", queue="none")
    cat = load_catalog()
    assert (cat.stack, cat.scheduler, cat.queue) == ("dev", "volcano", "none")
    etl = cat.team("etl")
    assert etl.pod_template == str(d / "etl.yaml")  # teams.json says /opt/airflow/kit-pod-templates/etl.yaml
    assert etl.scheduler_name == "volcano"
    assert etl.annotations == {"scheduling.volcano.sh/queue-name": "etl"}
    raw = json.loads((d / "teams.json").read_text())
    raw["teams"]["etl"]["pool"] = "changed"
    (d / "teams.json").write_text(json.dumps(raw) + "\n")
    assert load_catalog().team("etl").pool == "changed"


def test_volcano_marks_reach_the_pod(catalog_dir, build_executor_pod):
    catalog_dir(scheduler="volcano", queue="none")
    pod = build_executor_pod(FakeTask(on_kubernetes("etl")))
    assert pod["spec"]["schedulerName"] == "volcano"
    assert pod["metadata"]["annotations"]["scheduling.volcano.sh/queue-name"] == "etl"


def test_preemptible_team_tasks_get_the_catalogs_retries(catalog_dir, default_teams):
    from airflow_kit.catalog import load_catalog

    teams = default_teams
    first, second = sorted(teams)[:2]
    teams[first]["task_retries"] = 2  # the kit sets this where pods can be preempted
    catalog = load_catalog(str(catalog_dir(teams=teams)))
    assert on_kubernetes(first, catalog=catalog)["retries"] == 2
    assert on_kubernetes(first, retries=0, catalog=catalog)["retries"] == 0  # the author's choice wins
    assert "retries" not in on_kubernetes(second, catalog=catalog)  # DAG default_args stay in charge
