"""Every object the scheduling backends generate is one the cluster would accept.

Custom resources: against the CRD openAPIV3Schema of the pinned upstream release
(reference data, closed to unknown fields as the API server's pruning would silently
drop them). Core objects: against the Kubernetes 1.33 schemas (kubernetes-validate,
strict). Both for the 8-team reference tree and the generated 50-team tree, in every
stack style (Koordinator installed, ACK managed Koordinator, Volcano, default).
"""

from __future__ import annotations

import jsonschema
import kubernetes_validate
import pytest

from airflow_kit_platform.scheduling.plans import scheduling_plan
from tests.support.reference import closed_schema, crd_schema, crd_schema_of, metadata_problems
from tests.support.scheduling_stacks import STYLES, flat_teams, generated_teams, settings_for

KUBERNETES_VERSION = "1.33"
CLUSTER_SCOPED = {"ClusterColocationProfile", "Queue", "PriorityClass"}
TREES = {"reference": None, "flat": flat_teams, "fifty": generated_teams}


def tree_node_errors(node, tree_schema) -> list:
    """ElasticQuotaTree children cannot be described recursively in a CRD: check each child
    against the (closed) node schema the root has."""
    node_schema = tree_schema["properties"]["spec"]["properties"]["root"]
    errors = []
    for child in node.get("children") or []:
        errors += list(jsonschema.Draft7Validator(node_schema).iter_errors(child))
        errors += tree_node_errors(child, tree_schema)
    return errors


def _objects(style: str, tree: str):
    teams = TREES[tree]
    plan = scheduling_plan(settings_for(style, teams=teams() if teams else None))
    return plan


def _id(manifest) -> str:
    metadata = manifest["metadata"]
    return f"{manifest['kind']} {metadata.get('namespace', '-')}/{metadata['name']}"


@pytest.mark.parametrize("tree", list(TREES))
@pytest.mark.parametrize("style", STYLES)
def test_custom_resources_match_their_crds(style, tree):
    plan = _objects(style, tree)
    if style == "default":
        assert plan.custom_resources == ()
        return
    assert plan.custom_resources
    for manifest in plan.custom_resources:
        schema = closed_schema(crd_schema_of(manifest))
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(manifest), key=str)
        if manifest["kind"] == "ElasticQuotaTree":  # its nodes nest: each level against the node schema
            errors += tree_node_errors(manifest["spec"]["root"], schema)
        assert not errors, f"{_id(manifest)}: " + "; ".join(
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)
        assert metadata_problems(manifest["metadata"], manifest["kind"] not in CLUSTER_SCOPED) == [], _id(manifest)


@pytest.mark.parametrize("tree", list(TREES))
@pytest.mark.parametrize("style", STYLES)
def test_core_objects_match_kubernetes_schemas(style, tree):
    plan = _objects(style, tree)
    for manifest in plan.core_objects:
        try:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:  # pragma: no cover - the message is the point
            pytest.fail(f"{_id(manifest)}: {error.message if hasattr(error, 'message') else error}")
        assert metadata_problems(manifest["metadata"], manifest["kind"] not in CLUSTER_SCOPED) == [], _id(manifest)


def test_a_typo_is_caught_by_the_closed_schema():
    plan = _objects("volcano", "reference")
    manifest = dict(plan.custom_resources[0])
    manifest["spec"] = dict(manifest["spec"], deserverd={"cpu": "1"})
    schema = closed_schema(crd_schema(manifest["apiVersion"], manifest["kind"]))
    assert list(jsonschema.Draft7Validator(schema).iter_errors(manifest))


def test_a_bad_core_object_is_caught():
    plan = _objects("default", "reference")
    quota = next(m for m in plan.core_objects if m["kind"] == "ResourceQuota")
    broken = dict(quota, spec=dict(quota["spec"], hrad=quota["spec"]["hard"]))
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def _stack_plans():
    from airflow_kit_platform.settings import SECRET_KEYS, load_settings
    from tests.support.stacks import STACKS, stack_file_config

    return [(stack, scheduling_plan(load_settings(stack, stack_file_config(stack), frozenset(SECRET_KEYS))))
            for stack in STACKS]


def test_stack_files_generate_valid_objects():
    plans = _stack_plans()
    assert plans, "no stacks/Pulumi.<stack>.yaml found"
    for stack, plan in plans:
        for manifest in plan.custom_resources:
            schema = closed_schema(crd_schema_of(manifest))
            errors = list(jsonschema.Draft7Validator(schema).iter_errors(manifest))
            if manifest["kind"] == "ElasticQuotaTree":
                errors += tree_node_errors(manifest["spec"]["root"], schema)
            assert not errors, f"stack {stack}: {_id(manifest)}: {errors[0].message}"
        for manifest in plan.core_objects:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
