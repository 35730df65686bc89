"""NetworkPolicies on team task pods (`networkPolicies`, on by default).

A task pod runs business code next to Airflow. Its work needs DNS, the Execution API (its
state, heartbeats, Connections, Variables, XComs) and whatever its team declares in
`teams[].egress`; nothing else. Without a policy it could open the metadata database,
pgbouncer or Redis directly (every pod can reach every pod), so each namespace where task
pods run gets:

* `airflow-kit-task-egress`: pods of any team (the kit's pod templates label them with their
  team) may connect to DNS (port 53, wherever the cluster's DNS answers: CoreDNS pods, a
  NodeLocal cache, the node) and to the API server pods of the stack on the API port;
* `airflow-kit-egress-<team>` for a team with `egress`: its pods may also reach those blocks.

Policies add up, so a pod gets the union. Airflow's own pods (scheduler, Celery workers,
API server) carry no team label and are not restricted. The policies are enforced by the
cluster's network (Terway, Calico, Cilium, ...; the kit's node runs kube-network-policies);
on a network that enforces none they are inert.
"""

from __future__ import annotations

from typing import Any

from airflow_kit_platform.airflow.chart_names import API_SERVER_PORT, CHART, ChartNames
from airflow_kit_platform.model.names import NAMESPACE_NAME_LABEL, TEAM_LABEL, part_of
from airflow_kit_platform.model.teams import Team
from airflow_kit_platform.settings import Settings

TASK_EGRESS_POLICY = "airflow-kit-task-egress"
TEAM_EGRESS_POLICY_PREFIX = "airflow-kit-egress-"
DNS_PORT = 53


def task_egress_policy(settings: Settings, namespace: str, names: ChartNames = CHART) -> dict[str, Any]:
    """DNS and the Execution API for every team pod of one namespace."""
    api_server = {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: settings.namespace}},
                  "podSelector": {"matchLabels": {"component": "api-server", "release": names.release}}}
    return _policy(namespace, TASK_EGRESS_POLICY, {"matchExpressions": [{"key": TEAM_LABEL, "operator": "Exists"}]}, [
        {"ports": [{"protocol": "UDP", "port": DNS_PORT}, {"protocol": "TCP", "port": DNS_PORT}]},
        {"to": [api_server], "ports": [{"protocol": "TCP", "port": API_SERVER_PORT}]},
    ])


def team_egress_policy(team: Team, namespace: str) -> dict[str, Any]:
    """What one team declared in `teams[].egress`."""
    rules = []
    for egress in team.egress:
        rule: dict[str, Any] = {"to": [{"ipBlock": {"cidr": egress.cidr}}]}
        if egress.ports:
            rule["ports"] = [{"protocol": "TCP", "port": port} for port in egress.ports]
        rules.append(rule)
    return _policy(namespace, f"{TEAM_EGRESS_POLICY_PREFIX}{team.name}",
                   {"matchLabels": {TEAM_LABEL: team.name}}, rules)


def network_policies(settings: Settings, names: ChartNames = CHART) -> list[dict[str, Any]]:
    """Every NetworkPolicy of the stack (none when `networkPolicies` is false)."""
    if not settings.network_policies:
        return []
    policies = [task_egress_policy(settings, namespace, names) for namespace in settings.task_namespaces()]
    policies += [team_egress_policy(team, settings.task_namespace(team.name))
                 for team in settings.teams.leaves() if team.egress]
    return policies


def _policy(namespace: str, name: str, pods: dict[str, Any], egress: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace, "labels": part_of()},
            "spec": {"podSelector": pods, "policyTypes": ["Egress"], "egress": egress}}
