"""Two stacks on one cluster: same team names, same backend. Every object a stack shares a name
space with other stacks for (PriorityClasses, Volcano Queues, Koordinator quotas) is named after
the stack's namespace, so both deploy; updating and destroying one leaves the other untouched."""

from __future__ import annotations

import json

import pytest
import yaml

from repo_tools.harness import PulumiProject
from tests.support.e2e import AIRFLOW, get, names


TEAMS = [
    {"name": "data", "min": {"cpu": "8", "memory": "32Gi"}, "max": {"cpu": "16", "memory": "64Gi"}},
    {"name": "etl", "parent": "data", "min": {"cpu": "4", "memory": "16Gi"}, "max": {"cpu": "12", "memory": "48Gi"},
     "priority": "batch"},
    {"name": "bi", "parent": "data", "min": {"cpu": "2", "memory": "8Gi"}, "max": {"cpu": "8", "memory": "32Gi"}},
]


def stack_config(namespace: str, backend: str, teams=TEAMS) -> dict:
    scheduler = {"backend": backend, "install": False}
    if backend == "volcano":
        scheduler["loadAware"] = {"enabled": False}
    return {"namespace": namespace, "airflow": AIRFLOW, "scheduler": scheduler, "teams": teams}


def shared_objects(cluster, namespace: str, backend: str) -> dict[str, str]:
    """kind/name -> resourceVersion of what the stack owns outside its namespace (or keyed cluster-wide)."""
    found = {}
    kinds = {"volcano": [("queues.scheduling.volcano.sh", None), ("priorityclasses", None)],
             "koordinator": [("elasticquotas.scheduling.sigs.k8s.io", namespace)]}[backend]
    kinds.append(("secrets", namespace))
    for kind, in_namespace in kinds:
        args = ["get", kind, "-o", "json"] + (["-n", in_namespace] if in_namespace else [])
        for item in json.loads(cluster.kubectl(*args).stdout)["items"]:
            name = item["metadata"]["name"]
            if in_namespace or name.startswith(f"{namespace}-"):
                found[f"{kind}/{name}"] = item["metadata"]["resourceVersion"]
    return found


def set_teams(project: PulumiProject, teams: list[dict]) -> None:
    path = project.root / "stacks" / f"Pulumi.{project.stack}.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["airflow-kit:teams"] = teams
    path.write_text(yaml.safe_dump(document))


@pytest.mark.parametrize("backend", ["volcano", "koordinator"])
def test_two_stacks_on_one_cluster(backend, cluster, addon_crds, tools_env, tmp_path):
    first_ns, second_ns = f"two-{backend[:4]}-a", f"two-{backend[:4]}-b"
    first = PulumiProject(tmp_path / "a", tools_env, cluster.kubeconfig, "e2e-two-a", stack_config(first_ns, backend))
    second = PulumiProject(tmp_path / "b", tools_env, cluster.kubeconfig, "e2e-two-b", stack_config(second_ns, backend))
    for project in (first, second):
        project.init({})
        project.up()  # the second one fails with "already exists" if any name is shared
    kept = shared_objects(cluster, second_ns, backend)
    assert len([key for key in kept if not key.startswith("secrets/")]) >= 3, kept
    if backend == "volcano":
        for namespace in (first_ns, second_ns):
            assert get(cluster, "queues.scheduling.volcano.sh", f"{namespace}-etl")["spec"]["parent"] == \
                f"{namespace}-data"
    else:
        for namespace in (first_ns, second_ns):
            quota = get(cluster, "elasticquotas.scheduling.sigs.k8s.io", f"{namespace}-etl", namespace)
            assert quota["metadata"]["labels"]["quota.scheduling.koordinator.sh/parent"] == f"{namespace}-data"

    # Update the first stack: its etl team may now take the whole of data.
    bigger = [dict(team, max={"cpu": "16", "memory": "64Gi"}) if team["name"] == "etl" else team for team in TEAMS]
    set_teams(first, bigger)
    first.up()
    if backend == "volcano":
        assert get(cluster, "queues.scheduling.volcano.sh", f"{first_ns}-etl")["spec"]["capability"]["cpu"] == "16"
        assert get(cluster, "queues.scheduling.volcano.sh", f"{second_ns}-etl")["spec"]["capability"]["cpu"] == "12"
    else:
        assert get(cluster, "elasticquotas.scheduling.sigs.k8s.io", f"{first_ns}-etl",
                   first_ns)["spec"]["max"]["cpu"] == "16"
    assert shared_objects(cluster, second_ns, backend) == kept, "updating one stack touched the other"

    first.destroy()
    assert shared_objects(cluster, second_ns, backend) == kept, "destroying one stack touched the other"
    if backend == "volcano":  # queues are retained by design; PriorityClasses go with their stack
        assert not {n for n in names(cluster, "priorityclasses") if n.startswith(f"{first_ns}-")}
        assert {f"{second_ns}-batch", f"{second_ns}-mid"} <= names(cluster, "priorityclasses")
    again = second.preview_expect_no_changes()
    assert again.returncode == 0, again.stdout[-3000:]
    second.destroy()
