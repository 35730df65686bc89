"""The ACK backend: ACK's scheduler, one ElasticQuotaTree, a namespace per team, batch resources."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from airflow_kit_platform.airflow.values import build_values
from airflow_kit_platform.config_reader import ConfigError
from airflow_kit_platform.preflight import ClusterReader
from airflow_kit_platform.scheduling import ack
from airflow_kit_platform.scheduling.ack_preflight import enabled_extensions
from airflow_kit_platform.scheduling.ack_preflight import preflight as problems
from airflow_kit_platform.scheduling.plans import scheduling_notes, scheduling_plan
from airflow_kit_platform.settings import load_settings
from airflow_kit_platform.workloads import team_namespaces
from airflow_kit_platform.workloads.pod_templates import render_pod_templates
from tests.support.reference import closed_schema, kit_crd_schema
from tests.support.scheduling_stacks import NAMESPACE, STACK, flat_teams, raw_stack, settings_for, team

KOORDINATOR_ONLY = ("koord-scheduler", "quota.scheduling.koordinator.sh", "ElasticQuota\"", "ClusterColocationProfile")


def tree_of(plan) -> dict:
    [tree] = [m for m in plan.custom_resources if m["kind"] == "ElasticQuotaTree"]
    return tree


def nodes(node: dict) -> list[dict]:
    return [node] + [found for child in node.get("children") or [] for found in nodes(child)]


def test_the_tree_is_one_object_in_kube_system_with_a_leaf_per_team_namespace():
    settings = settings_for("ack")
    plan = scheduling_plan(settings)
    tree = tree_of(plan)
    assert (tree["apiVersion"], tree["metadata"]["namespace"]) == ("scheduling.sigs.k8s.io/v1beta1", "kube-system")
    root = tree["spec"]["root"]
    assert root["min"] == root["max"]  # ACK's rule for the root
    [stack_node] = root["children"]
    assert stack_node["name"] == NAMESPACE
    leaves = {node["name"]: node for node in nodes(root) if "namespaces" in node}
    assert set(leaves) == {f"{NAMESPACE}-{t.name}" for t in settings.teams.leaves()}
    for name, leaf in leaves.items():
        assert leaf["namespaces"] == [name] and "children" not in leaf
    every_namespace = [ns for leaf in leaves.values() for ns in leaf["namespaces"]]
    assert len(every_namespace) == len(set(every_namespace))  # one leaf per namespace
    etl = next(node for node in nodes(root) if node["name"] == f"{NAMESPACE}-etl")
    assert etl["min"] == {"cpu": "8", "memory": "32Gi"} and etl["max"] == {"cpu": "24", "memory": "96Gi"}


def test_the_tree_matches_the_crd_schema_at_every_level():
    tree = tree_of(scheduling_plan(settings_for("ack")))
    schema = closed_schema(kit_crd_schema("scheduling.sigs.k8s.io/v1beta1", "ElasticQuotaTree"))
    jsonschema.validate(tree, schema)
    node_schema = schema["properties"]["spec"]["properties"]["root"]
    for node in nodes(tree["spec"]["root"]):
        jsonschema.validate(node, node_schema)
    with pytest.raises(jsonschema.ValidationError):  # a misspelled field is caught
        jsonschema.validate({"name": "x", "namespace": ["a"]}, node_schema)


def test_nothing_koordinator_only_reaches_an_ack_stack():
    settings = settings_for("ack")
    plan = scheduling_plan(settings)
    text = json.dumps([plan.custom_resources, plan.core_objects]) + "".join(render_pod_templates(settings, plan.pod_marks).values())
    for mark in KOORDINATOR_ONLY:
        assert mark not in text, mark
    for name, marks in plan.pod_marks.items():
        assert marks.scheduler_name == "default-scheduler"
        assert marks.namespace == f"{NAMESPACE}-{name}"


def test_scheduler_name_is_a_setting_with_the_backends_default():
    assert settings_for("ack").scheduler.scheduler_name == "default-scheduler"
    assert settings_for("koordinator").scheduler.scheduler_name == "koord-scheduler"
    custom = settings_for("ack", scheduler={"backend": "ack", "schedulerName": "ack-scheduler"})
    assert {marks.scheduler_name for marks in scheduling_plan(custom).pod_marks.values()} == {"ack-scheduler"}


def test_overcommit_teams_ask_for_batch_resources_as_be():
    settings = settings_for("ack")
    plan = scheduling_plan(settings)
    files = render_pod_templates(settings, plan.pod_marks)
    etl = yaml.safe_load(files["etl.yaml"])  # overcommit, batch tier: cpu 1, memory 2Gi
    assert etl["metadata"]["labels"]["koordinator.sh/qosClass"] == "BE"
    assert etl["spec"]["priorityClassName"] == "koord-batch"
    assert etl["metadata"]["namespace"] == f"{NAMESPACE}-etl"
    for container in etl["spec"]["containers"] + etl["spec"].get("initContainers", []):
        for part in ("requests", "limits"):
            assert "cpu" not in container["resources"][part] and "memory" not in container["resources"][part]
    assert etl["spec"]["containers"][0]["resources"]["requests"] == {"kubernetes.io/batch-cpu": "1000",
                                                                      "kubernetes.io/batch-memory": "2Gi"}
    training = yaml.safe_load(files["training.yaml"])  # overcommit, free tier
    assert training["spec"]["priorityClassName"] == "koord-free"
    serving = yaml.safe_load(files["serving.yaml"])  # LS: the kit's own PriorityClass, regular resources
    assert serving["spec"]["priorityClassName"] == f"{NAMESPACE}-prod"
    assert "koordinator.sh/qosClass" not in serving["metadata"]["labels"]
    assert "cpu" in serving["spec"]["containers"][0]["resources"]["requests"]
    catalog = json.loads(files["teams.json"])
    assert catalog["teams"]["etl"]["batch_resources"] is True and catalog["teams"]["serving"]["batch_resources"] is False


@pytest.mark.parametrize("cpu, millicores", [("250m", "250"), ("1", "1000"), ("1.5", "1500"), ("0.0005", "1")])
def test_a_be_teams_template_asks_for_whole_batch_millicores(cpu, millicores):
    """ACK's BE pods request batch-cpu in whole millicores (rounded up) and batch-memory, never cpu
    (the kit's templates convert with the DAG helper's function, so overrides agree)."""
    raw = raw_stack("ack")
    [etl] = [entry for entry in raw["teams"] if entry["name"] == "etl"]
    etl["taskResources"] = {"cpu": cpu, "memory": "3Gi"}
    settings = load_settings(STACK, raw)
    files = render_pod_templates(settings, scheduling_plan(settings).pod_marks)
    container = yaml.safe_load(files["etl.yaml"])["spec"]["containers"][0]
    assert container["resources"]["requests"] == {"kubernetes.io/batch-cpu": millicores,
                                                  "kubernetes.io/batch-memory": "3Gi"}


def test_the_helper_puts_a_be_task_in_its_namespace_with_batch_resources(tmp_path):
    from airflow_kit.catalog import load_catalog
    from airflow_kit.executor import on_kubernetes

    settings = settings_for("ack")
    for name, text in render_pod_templates(settings, scheduling_plan(settings).pod_marks).items():
        (tmp_path / name).write_text(text)
    catalog = load_catalog(str(tmp_path))
    override = on_kubernetes("etl", cpu="2", memory="4Gi", catalog=catalog)["executor_config"]["pod_override"]
    assert override.metadata.namespace == f"{NAMESPACE}-etl"
    assert override.spec.containers[0].resources.requests == {"kubernetes.io/batch-cpu": "2000",
                                                              "kubernetes.io/batch-memory": "4Gi"}
    plain = on_kubernetes("serving", cpu="2", catalog=catalog)["executor_config"]["pod_override"]
    assert plain.spec.containers[0].resources.requests["cpu"] == "2"


@pytest.mark.parametrize("teams, key, words", [
    ([team("a", None, ("8", "16"), ("8Gi", "16Gi")), team("b", "a", ("6", "16"), ("4Gi", "16Gi")),
      team("c", "a", ("6", "16"), ("4Gi", "16Gi"))], "teams[a].min.cpu", "at least the sum of its children's min.cpu"),
    ([team("a", None, ("8", "16"), ("8Gi", "16Gi")), team("b", "a", ("4", "32"), ("4Gi", "16Gi"))],
     "teams[b].max.cpu", "must not exceed its parent 'airflow-a' max.cpu 16"),
])
def test_tree_rules_are_refused_at_config_time(teams, key, words):
    with pytest.raises(ConfigError) as error:
        scheduling_plan(settings_for("ack", teams=teams))
    assert error.value.key == key and words in str(error.value)
    assert str(error.value).startswith(f"stack '{STACK}': airflow-kit:{key} = ")


def test_a_root_too_small_for_the_teams_is_refused():
    scheduler = {"backend": "ack", "quotaTree": {"root": {"cpu": "32", "memory": "1Ti"}}}
    with pytest.raises(ConfigError) as error:
        scheduling_plan(settings_for("ack", teams=flat_teams(), scheduler=scheduler))
    assert error.value.key == "scheduler.quotaTree.root.cpu" and "max 64 cpu" in str(error.value)
    big = {"backend": "ack", "quotaTree": {"root": {"cpu": "200", "memory": "1Ti"}}}
    root = tree_of(scheduling_plan(settings_for("ack", teams=flat_teams(), scheduler=big)))["spec"]["root"]
    assert root["min"] == root["max"] == {"cpu": "200", "memory": "1Ti"}


def test_an_admin_owned_tree_is_exported_not_created():
    settings = settings_for("ack", scheduler={"backend": "ack", "quotaTree": {"owner": "admin"}})
    plan = scheduling_plan(settings)
    assert not [m for m in plan.custom_resources if m["kind"] == "ElasticQuotaTree"]
    subtree = ack.quota_subtree(settings)
    assert subtree == tree_of(scheduling_plan(settings_for("ack")))["spec"]["root"]["children"][0]
    assert any("quotaSubtree" in note and ack.subtree_file(settings) in note for note in scheduling_notes(settings))


def test_the_slo_config_change_is_printed_unless_the_stack_lets_the_kit_patch_it():
    printed = settings_for("ack")
    assert not [m for m in scheduling_plan(printed).core_objects if m["kind"] == "ConfigMapPatch"]
    [note] = [n for n in scheduling_notes(printed) if "ack-slo-config" in n]
    assert "kubectl -n kube-system patch configmap ack-slo-config --type merge -p" in note
    managed = settings_for("ack", scheduler={"backend": "ack", "overcommit": {"enabled": True, "manageSloConfig": True}})
    [patch] = [m for m in scheduling_plan(managed).core_objects if m["kind"] == "ConfigMapPatch"]
    assert (patch["metadata"]["namespace"], patch["metadata"]["name"]) == ("kube-system", "ack-slo-config")
    assert json.loads(patch["data"]["colocation-config"])["enable"] is True
    assert list(patch["data"]) == ["colocation-config"]  # the add-on keeps every other key


def test_ack_only_switches_are_refused_elsewhere():
    with pytest.raises(ConfigError, match="scheduler.overcommit.manageSloConfig"):
        settings_for("koordinator", scheduler={"backend": "volcano", "loadAware": {"enabled": False},
                                               "overcommit": {"manageSloConfig": True}})
    with pytest.raises(ConfigError, match="localDisk.createStorageClass"):
        settings_for("default", localDisk={"storageClass": "local-path", "createStorageClass": True})
    with pytest.raises(ConfigError, match="teamNamespaces = False: must be true on scheduler.backend ack"):
        settings_for("ack", teamNamespaces=False)
    with pytest.raises(ConfigError, match="scheduler.install = True"):
        settings_for("ack", scheduler={"backend": "ack", "install": True})


def test_the_local_disk_class_is_the_csi_local_plugins_lvm_class():
    settings = settings_for("ack", localDisk={"storageClass": "csi-local", "createStorageClass": True})
    [storage_class] = [m for m in scheduling_plan(settings).core_objects if m["kind"] == "StorageClass"]
    assert storage_class["provisioner"] == "localplugin.csi.alibabacloud.com"
    assert storage_class["parameters"]["volumeType"] == "LVM"
    assert storage_class["volumeBindingMode"] == "WaitForFirstConsumer"


def test_team_namespaces_on_another_backend_and_the_executor_watches_them():
    settings = settings_for("koordinator", teamNamespaces=True)
    assert settings.task_namespace("etl") == f"{NAMESPACE}-etl"
    values = build_values(settings)
    executor = values["config"]["kubernetes_executor"]
    assert executor["multi_namespace_mode"] == "True"
    assert executor["multi_namespace_mode_namespace_list"].split(",") == [NAMESPACE] + settings.task_namespaces()
    # No ClusterRole: the chart's launcher roles stay Roles of the stack's namespace.
    assert values["multiNamespaceMode"] is False
    files = {"teams.json": "{}"}
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "airflow-kit-pod-templates",
                                                                       "namespace": NAMESPACE}, "data": files}
    objects = team_namespaces.namespace_objects(settings, f"{NAMESPACE}-etl", configmap)
    kinds = {(m["kind"], m["metadata"]["name"]) for m in objects}
    assert kinds == {("ConfigMap", "airflow-kit-pod-templates"), ("ServiceAccount", "airflow-worker"),
                     ("Role", "airflow-kit-task-launcher"), ("RoleBinding", "airflow-kit-task-launcher"),
                     ("Role", "airflow-kit-executor"), ("RoleBinding", "airflow-kit-executor"),
                     ("RoleBinding", "airflow-kit-airflow-launchers"),
                     ("Role", "airflow-kit-log-reader"), ("RoleBinding", "airflow-kit-log-reader")}
    assert all(m["metadata"]["namespace"] == f"{NAMESPACE}-etl" for m in objects)
    assert configmap["metadata"]["namespace"] == NAMESPACE  # the original is untouched
    bindings = {m["metadata"]["name"]: m for m in objects if m["kind"] == "RoleBinding"}
    assert bindings["airflow-kit-task-launcher"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "airflow-worker", "namespace": f"{NAMESPACE}-etl"}]  # its own only
    # Airflow's accounts live in the stack's namespace; each gets a Role of this namespace only.
    assert bindings["airflow-kit-executor"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "airflow-scheduler", "namespace": NAMESPACE}]
    assert {s["name"] for s in bindings["airflow-kit-airflow-launchers"]["subjects"]} == {
        "airflow-worker", "airflow-triggerer"}
    assert bindings["airflow-kit-log-reader"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "airflow-api-server", "namespace": NAMESPACE}]


def test_what_team_namespaces_cannot_carry_is_refused():
    with pytest.raises(ConfigError, match="airflow.logsVolume"):
        settings_for("ack", airflow={"logsVolume": {"storageClass": "nas"}})
    teams = flat_teams()
    teams[0]["metadataAccess"] = True
    with pytest.raises(ConfigError, match=r"teams\[bi\].metadataAccess"):
        settings_for("ack", teams=teams)
    with pytest.raises(ConfigError, match="namespace-team"):
        settings_for("ack", teams=[team("t" * 45, None, ("1", "2"), ("1Gi", "2Gi"))], namespace="n" * 20)


class FakeCluster(ClusterReader):
    """What an ACK cluster holds, as the pre-flight reads it."""

    def __init__(self, crds=(ack.TREE_CRD,), trees=(), priority_classes=("koord-batch", "koord-free"),
                 configmaps=(), storage_classes=(), kube_queue_args=(["/kube-queue", "--enabled-extensions=job"],)):
        self._crds, self._trees, self._pcs = set(crds), list(trees), set(priority_classes)
        self._cms, self._scs, self._args = set(configmaps), set(storage_classes), kube_queue_args

    def crd(self, name):
        return name in self._crds

    def custom_objects(self, api_version, namespace, plural):
        assert (api_version, namespace, plural) == (ack.TREE_API_VERSION, ack.TREE_NAMESPACE, "elasticquotatrees")
        return self._trees

    def priority_class(self, name):
        return name in self._pcs

    def configmap(self, namespace, name):
        return f"{namespace}/{name}" in self._cms

    def storage_class(self, name):
        return name in self._scs

    def deployment_args(self, namespace):
        return None if self._args is None else [list(a) for a in self._args]


def ack_stack(**top):
    raw = raw_stack("ack", teams=flat_teams(), **top)
    raw["queue"] = {"backend": "ack"}
    return load_settings(STACK, raw)


def test_preflight_passes_on_a_complete_cluster():
    assert problems(ack_stack(), FakeCluster()) == []


@pytest.mark.parametrize("cluster, words", [
    (FakeCluster(crds=()), "no CRD elasticquotatrees.scheduling.sigs.k8s.io"),
    (FakeCluster(trees=[{"metadata": {"name": "default"}}]), "already has ElasticQuotaTree default"),
    (FakeCluster(priority_classes=()), "PriorityClass koord-batch is missing"),
    (FakeCluster(kube_queue_args=None), "ack-kube-queue is not installed"),
    (FakeCluster(kube_queue_args=(["/kube-queue"],)), "does not queue batch/v1 Jobs"),
    (FakeCluster(kube_queue_args=(["/kube-queue", "--enabled-extensions", "tfjob,pytorchjob"],)),
     "Job Extensions"),
])
def test_preflight_names_what_is_missing(cluster, words):
    found = problems(ack_stack(), cluster)
    assert len(found) == 1 and words in found[0], found


def test_preflight_checks_the_local_disk_class_unless_the_kit_makes_it():
    disk = {"storageClass": "csi-local"}
    [found] = problems(ack_stack(localDisk=disk), FakeCluster())
    assert "StorageClass csi-local" in found and "createStorageClass: true" in found
    assert problems(ack_stack(localDisk={**disk, "createStorageClass": True}), FakeCluster()) == []
    assert problems(ack_stack(localDisk=disk), FakeCluster(storage_classes=("csi-local",))) == []


def test_kube_queue_extension_flags_are_read_both_ways():
    assert enabled_extensions([["--enabled-extensions=job,tfjob"]]) == {"job", "tfjob"}
    assert enabled_extensions([["x", "--enabled-extensions", "Job"]]) == {"job"}
    assert enabled_extensions([["x"]]) == {"tfjob", "pytorchjob"}  # the add-on's default


def test_on_the_default_backend_each_team_namespace_has_its_own_quota():
    """kube-scheduler has no quotas of its own: pods in a team's namespace would escape the stack
    namespace's ResourceQuota, so each team namespace is bounded by that team's max."""
    settings = settings_for("default", teams=flat_teams(), teamNamespaces=True)
    quotas = {m["metadata"]["namespace"]: m for m in scheduling_plan(settings).core_objects
              if m["kind"] == "ResourceQuota"}
    assert set(quotas) == {NAMESPACE, f"{NAMESPACE}-bi", f"{NAMESPACE}-offline"}
    assert quotas[f"{NAMESPACE}-bi"]["spec"]["hard"] == {"requests.cpu": "48", "requests.memory": "192Gi"}
    assert quotas[f"{NAMESPACE}-bi"]["spec"]["scopeSelector"] == quotas[NAMESPACE]["spec"]["scopeSelector"]
    limits = {m["metadata"]["namespace"] for m in scheduling_plan(settings).core_objects if m["kind"] == "LimitRange"}
    assert limits == set(quotas)


@pytest.mark.parametrize("style", ["default", "koordinator", "volcano"])
def test_team_namespaces_reach_the_pods_on_every_backend(style, tmp_path):
    """The catalog and the DAG helper's pod_override name the team's namespace (the executor
    otherwise creates the pod in its own: caught on the real node)."""
    from airflow_kit.catalog import load_catalog
    from airflow_kit.executor import on_kubernetes

    settings = settings_for(style, teams=flat_teams(), teamNamespaces=True)
    for name, text in render_pod_templates(settings, scheduling_plan(settings).pod_marks).items():
        (tmp_path / name).write_text(text)
    override = on_kubernetes("bi", catalog=load_catalog(str(tmp_path)))["executor_config"]["pod_override"]
    assert override.metadata.namespace == f"{NAMESPACE}-bi"


def test_the_admin_gets_the_subtree_as_a_file(tmp_path, monkeypatch):
    """With `quotaTree.owner: admin`, `pulumi up` writes the kit's subtree for the admin to merge."""
    from airflow_kit_platform import program

    monkeypatch.setattr(program, "PROJECT_DIR", str(tmp_path))
    assert program.write_exports(settings_for("ack")) == []  # the kit owns the tree: nothing to hand over
    settings = settings_for("ack", scheduler={"backend": "ack", "quotaTree": {"owner": "admin"}})
    [path] = program.write_exports(settings)
    assert path == str(tmp_path / ack.subtree_file(settings))
    text = (tmp_path / ack.subtree_file(settings)).read_text()
    assert text.startswith(f"# Stack {STACK}: add this node under the root of kube-system's ElasticQuotaTree")
    assert yaml.safe_load(text) == ack.quota_subtree(settings)
