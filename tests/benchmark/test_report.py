"""The benchmark's figures from synthetic runs whose answers are known."""

from __future__ import annotations

import pytest

from bench import report, workload

TREE = [
    {"name": "dep", "min": {"cpu": "8"}, "max": {"cpu": "12"}},
    {"name": "a", "parent": "dep", "min": {"cpu": "4"}, "max": {"cpu": "10"}, "weight": 3},
    {"name": "b", "parent": "dep", "min": {"cpu": "4"}, "max": {"cpu": "10"}, "weight": 1},
]


def sample(t, a, b, waiting=("a", "b")):
    return {"t": t, "bound_cpu": {"a": a, "b": b}, "pending": {}, "waiting": {name: 1 for name in waiting}}


def test_percentile_is_nearest_rank():
    assert report.percentile([], 0.5) is None
    assert report.percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert report.percentile(list(range(1, 101)), 0.99) == 99


def test_a_team_above_its_max_or_its_parents_is_counted_with_the_worst_overrun():
    result = report.quota_conformance(TREE, [sample(0, 6, 4), sample(1, 11, 2), sample(2, 6, 8)], 100, 1)
    # t=1: a 11 > 10 (and dep 13 > 12); t=2: dep 14 > 12.
    assert result["over_max_samples"] == 3
    assert result["over_max_teams"] == ["a", "dep"]
    assert result["over_max_worst"] == pytest.approx(14 / 12)
    assert result["over_max_excess_cpu"] == pytest.approx(2)  # dep at t=2: 14 - 12
    assert result["over_max_longest_seconds"] == pytest.approx(1)  # dep over at t=1 and t=2


def test_an_over_max_stretch_ends_when_the_team_is_back_under():
    samples = [sample(0, 11, 0), sample(1, 6, 0), sample(2, 11, 0), sample(3, 11, 0), sample(5, 11, 0)]
    result = report.quota_conformance(TREE, samples, 100, 1)
    assert result["over_max_samples"] == 4
    assert result["over_max_longest_seconds"] == pytest.approx(3)  # t=2..5, not t=0..5


def test_a_waiting_team_below_its_min_is_starved_but_a_team_with_room_for_no_more_is_not():
    samples = [sample(0, 2, 4, waiting=("a",)), sample(1, 3.5, 4, waiting=("a",))]
    assert report.quota_conformance(TREE, samples, 100, 1)["waiting_team_samples"] == 0  # room left: not a wait
    result = report.quota_conformance(TREE, samples, 6, 1)
    assert result["waiting_team_samples"] == 2
    assert result["waiting_below_min_share"] == 0.5  # 2 + 1 <= 4 starved; 3.5 + 1 > 4 not


def test_siblings_that_both_borrow_are_compared_with_their_weights():
    result = report.quota_conformance(TREE, [sample(0, 7, 5), sample(1, 3, 9)], 12, 1)
    # Only t=0 counts (at t=1, a is below its min): a borrowed 3 of 4 = 75 %, weight 3:1 says 75 %.
    assert result["sibling_pairs_waiting"] == 1
    assert result["weighted_share"] == pytest.approx(0.75)
    assert result["expected_weighted_share"] == pytest.approx(0.75)


def test_summary_rates_latencies_hot_share_and_give_back():
    pods = {f"p{i}": {"team": "a", "cpu": 1.0, "size": "small", "created": float(i), "bound": float(i) + 0.5,
                      "node": "hot" if i % 4 == 0 else "cool", "finished": None} for i in range(40)}
    pods["late"] = {"team": "b", "cpu": 2.0, "size": "small", "created": 10.0, "bound": 30.0, "node": "cool",
                    "finished": None}
    data = {"label": "x", "backend": "koordinator", "kit": True, "tree": TREE, "late_team": "b",
            "late_team_first_created": 10.0, "capacity_cpu": 100, "hot_nodes": ["hot"], "hot_capacity_cpu": 10,
            "task_sizes": [{"cpu": "1"}], "pods": pods,
            "samples": [sample(t, 4, 4 if t >= 35 else 2 if t >= 30 else 0) for t in range(0, 41)],
            "refused": 0, "ended": 41.0, "cpu_seconds": {"koord-scheduler": 5.0, "etcd": 1.0},
            "scheduler_processes": ["koord-scheduler"]}
    row = report.summarize(data)
    assert row["bound"] == 41 and row["latency_p50"] == 0.5 and row["latency_p99"] == 20.0
    assert row["hot_share"] == pytest.approx(10 / 41) and row["hot_capacity_share"] == 0.1
    # b's min is 4 and the smallest task 1 cpu: half (2) at t=30, its min within one task (3) at t=35.
    assert row["give_back"] == {"team": "b", "half_min_after": 20.0, "full_min_after": 25.0, "all_bound_after": 20.0}
    assert row["scheduler_cpu_seconds"] == 5.0
    table = report.markdown([row], "# t")
    assert "| koordinator | kit | 41/41 |" in table and "| 5 | n/a | 1 |" in table


def test_every_backend_gets_the_same_nodes_tasks_and_hot_nodes():
    tree = workload.teams(workload.SMOKE)
    assert len(tree) == 20 and len(workload.leaf_names(tree)) == 12
    assert max(len([t for t in tree if t.get("parent") == p["name"]]) for p in tree) == 3
    first, second = workload.tasks(workload.SMOKE, tree), workload.tasks(workload.SMOKE, tree)
    assert first == second and len(first) == workload.SMOKE.pods
    assert {task.size.name for task in first} == {"small", "large"}
    late = workload.late_team(tree)
    late_indexes = [index for index, task in enumerate(first) if task.team == late]
    assert late_indexes[0] == workload.SMOKE.pods // 2 and len(late_indexes) == workload.SMOKE.pods // 20
    assert workload.hot_nodes(workload.SMOKE) == workload.hot_nodes(workload.SMOKE)
    loops = workload.loops(workload.SMOKE, first)
    assert all(len(part) <= workload.SMOKE.batch for loop in loops for part in loop)
    assert sum(len(part) for loop in loops for part in loop) == workload.SMOKE.pods


@pytest.mark.parametrize("backend", ["default", "koordinator", "volcano"])
def test_the_workloads_stack_is_valid_kit_config(backend):
    from airflow_kit_platform.settings import load_settings

    settings = load_settings("bench", workload.stack_config(backend, workload.teams(workload.FULL)))
    assert len(settings.teams.leaves()) == 12


def test_client_side_throttling_is_read_from_the_process_log():
    log = ('I1203 02:51:18.9 28405 request.go:752] "Waited before sending request" pod="bench/a" delay="1.004s" '
           'reason="client-side throttling, not priority and fairness" verb="POST"\n'
           'I1203 02:51:28.9 28405 request.go:752] "Waited before sending request" pod="bench/b" delay="6.945s" '
           'reason="client-side throttling, not priority and fairness" verb="POST"\n'
           'I1203 02:51:29.0 28405 schedule_one.go:1] "Successfully bound pod"\n')
    assert report.client_throttling(log) == pytest.approx(6.945)
    assert report.client_throttling("nothing waited\n") is None


def test_a_quiet_team_that_never_gets_its_min_back_has_no_full_min_time():
    data = {"tree": TREE, "late_team": "b", "late_team_first_created": 5.0, "task_sizes": [{"cpu": "1"}],
            "pods": {"late": {"team": "b", "cpu": 1.0, "bound": None}},
            "samples": [sample(t, 9, 2.5) for t in range(0, 30)]}
    back = report.give_back(data)
    assert back["half_min_after"] == 0.0  # 2.5 >= 2 from its first sample on
    assert back["full_min_after"] is None and back["all_bound_after"] is None  # 2.5 < 4 - 1, a pod unbound
