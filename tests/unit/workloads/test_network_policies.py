"""The NetworkPolicies on team task pods: what a task may connect to, per namespace and team.

Enforcement itself is proven on the real node (tests/realnode/test_main_job.py: a team task's TCP
to Postgres and Redis is dropped while its Execution API calls work); here, which pods the
policies select and what they allow, for the shapes a platform team configures.
"""

from __future__ import annotations

from workload_cases import LEAVES, make_settings

from airflow_kit_platform.airflow.chart_names import ChartNames
from airflow_kit_platform.model.names import TEAM_LABEL
from airflow_kit_platform.workloads.network_policies import (
    TASK_EGRESS_POLICY,
    network_policies,
    task_egress_policy,
)


def by_name(policies):
    return {(policy["metadata"]["namespace"], policy["metadata"]["name"]): policy for policy in policies}


def test_task_pods_of_the_stack_namespace_reach_dns_and_the_execution_api_only():
    settings = make_settings()
    (policy,) = network_policies(settings)
    spec = policy["spec"]
    assert policy["metadata"]["namespace"] == "data-airflow" and policy["metadata"]["name"] == TASK_EGRESS_POLICY
    # Every team's pods, none of Airflow's (the chart's pods carry no team label).
    assert spec["podSelector"] == {"matchExpressions": [{"key": TEAM_LABEL, "operator": "Exists"}]}
    assert spec["policyTypes"] == ["Egress"]
    dns, api = spec["egress"]
    assert "to" not in dns and {(p["protocol"], p["port"]) for p in dns["ports"]} == {("UDP", 53), ("TCP", 53)}
    assert api["ports"] == [{"protocol": "TCP", "port": 8080}]
    (peer,) = api["to"]
    assert peer["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "data-airflow"}}
    assert peer["podSelector"]["matchLabels"]["component"] == "api-server"
    allowed_ports = {port["port"] for rule in spec["egress"] for port in rule.get("ports", [])}
    assert not allowed_ports & {5432, 6543, 6379}, "a task may reach Postgres, pgbouncer or Redis"


def test_team_namespaces_each_get_the_policy_pointing_back_at_the_stack():
    settings = make_settings({"teamNamespaces": True})
    policies = by_name(network_policies(settings))
    assert set(policies) == {(f"data-airflow-{team}", TASK_EGRESS_POLICY) for team in LEAVES}
    for policy in policies.values():
        (peer,) = policy["spec"]["egress"][1]["to"]
        assert peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "data-airflow"


def test_a_team_declares_what_else_its_pods_reach():
    raw_teams = [{"name": "platform", "min": {"cpu": "16", "memory": "64Gi"}, "max": {"cpu": "32", "memory": "128Gi"}},
                 {"name": "etl", "parent": "platform", "min": {"cpu": "8", "memory": "32Gi"},
                  "max": {"cpu": "16", "memory": "64Gi"},
                  "egress": [{"cidr": "10.20.0.7", "ports": [5432]}, {"cidr": "172.16.0.0/12"}]},
                 {"name": "reporting", "min": {"cpu": "1", "memory": "2Gi"}, "max": {"cpu": "4", "memory": "8Gi"}}]
    settings = make_settings({"teams": raw_teams})
    policies = by_name(network_policies(settings))
    etl = policies[("data-airflow", "airflow-kit-egress-etl")]["spec"]
    assert etl["podSelector"] == {"matchLabels": {TEAM_LABEL: "etl"}}
    assert etl["egress"] == [
        {"to": [{"ipBlock": {"cidr": "10.20.0.7/32"}}], "ports": [{"protocol": "TCP", "port": 5432}]},
        {"to": [{"ipBlock": {"cidr": "172.16.0.0/12"}}]},
    ]
    assert ("data-airflow", "airflow-kit-egress-reporting") not in policies  # declared nothing


def test_switched_off_no_policy_is_made():
    assert network_policies(make_settings({"networkPolicies": False})) == []


def test_the_api_server_release_follows_the_chart_names():
    policy = task_egress_policy(make_settings(), "data-airflow", ChartNames(release="af"))
    assert policy["spec"]["egress"][1]["to"][0]["podSelector"]["matchLabels"] == {"component": "api-server",
                                                                                 "release": "af"}
