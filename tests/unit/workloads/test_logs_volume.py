"""The logs volume across namespaces: with `source`, each namespace that runs tasks gets a claim
bound to its own PersistentVolume on the same storage, so the API server (stack namespace) reads
what a team pod wrote. The real node proves the reading (tests/realnode/test_team_namespaces.py);
here, the objects and the refusals a platform engineer would hit."""

from __future__ import annotations

import pytest
from workload_cases import LEAVES, make_settings, marks_for

from airflow_kit_platform.airflow.logs_volume import logs_volume_objects
from airflow_kit_platform.config_reader import ConfigError
from airflow_kit_platform.workloads import pod_templates, team_namespaces

NFS = {"nfs": {"server": "nas.example.com", "path": "/airflow-logs"}}


def test_each_namespace_binds_its_claim_to_a_volume_on_the_shared_storage():
    settings = make_settings({"teamNamespaces": True, "airflow": {
        "executors": ["CeleryExecutor", "KubernetesExecutor"], "logsVolume": {"source": NFS, "size": "50Gi"}}})
    namespaces = ["data-airflow"] + [f"data-airflow-{team}" for team in LEAVES]
    names = set()
    for namespace in namespaces:
        templates = {"kind": "ConfigMap", "metadata": {"name": "t"}}
        objects = (logs_volume_objects(settings, namespace) if namespace == "data-airflow" else
                   [o for o in team_namespaces.namespace_objects(settings, namespace, templates)
                    if o["kind"] in ("PersistentVolume", "PersistentVolumeClaim")])
        volume, claim = objects
        assert volume["kind"] == "PersistentVolume" and claim["kind"] == "PersistentVolumeClaim"
        assert volume["spec"]["nfs"] == NFS["nfs"] and volume["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
        assert volume["spec"]["claimRef"] == {"namespace": namespace, "name": claim["metadata"]["name"]}
        assert claim["metadata"]["namespace"] == namespace and claim["spec"]["volumeName"] == volume["metadata"]["name"]
        assert claim["spec"]["storageClassName"] == "" == volume["spec"]["storageClassName"]
        names.add(volume["metadata"]["name"])
    assert len(names) == len(namespaces), "PersistentVolumes are cluster-wide: one name per namespace"


def test_team_pods_mount_the_claim_of_their_own_namespace():
    settings = make_settings({"teamNamespaces": True, "airflow": {"logsVolume": {"source": NFS}}})
    files = pod_templates.render_pod_templates(settings, marks_for(settings, "default"))
    claim = logs_volume_objects(settings, "data-airflow")[-1]["metadata"]["name"]
    for name, text in files.items():
        if name.endswith(".yaml"):
            assert f"claimName: {claim}" in text, name


def test_one_claim_from_a_storage_class_without_source():
    (claim,) = logs_volume_objects(make_settings({"airflow": {"logsVolume": {"storageClass": "nas"}}}), "data-airflow")
    assert claim["spec"]["storageClassName"] == "nas" and "volumeName" not in claim["spec"]


@pytest.mark.parametrize("airflow, team_namespaces, message", [
    ({"logsVolume": {"storageClass": "nas"}}, True, "airflow.logsVolume.source = (missing): is required with "
                                                    "teamNamespaces"),
    ({"logsVolume": {"source": {**NFS, "hostPath": {"path": "/x"}}}}, False, "must be one PersistentVolume source"),
    ({"logsVolume": {"source": {"emptyDir": {}}}}, False, "must be one PersistentVolume source, one of nfs, csi, "
                                                         "hostPath"),
    ({"logsVolume": {"source": NFS, "storageClass": "nas"}}, False, "cannot be combined with source"),
])
def test_refusals(airflow, team_namespaces, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_settings({"teamNamespaces": team_namespaces, "airflow": airflow})
