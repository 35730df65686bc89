"""How long plan() takes for a generated 50-team, 3-level tree, and how many objects it makes.

Run with `-s` to see the table. The bound is loose (a laptop under load): the point is
to catch an accidental quadratic blow-up, not to benchmark.
"""

from __future__ import annotations

import statistics
import time

import pytest

from airflow_kit_platform.scheduling.plans import scheduling_plan
from airflow_kit_platform.settings import load_settings
from tests.support.scheduling_stacks import STYLES, generated_teams, raw_stack, settings_for

ROUNDS = 20
BOUND_MS = 250.0


def _measure(function, rounds=ROUNDS) -> tuple[float, float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples)


def _counts(plan) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for manifest in plan.custom_resources + plan.core_objects:
        kinds[manifest["kind"]] = kinds.get(manifest["kind"], 0) + 1
    return {"charts": len(plan.charts), "custom": len(plan.custom_resources), "core": len(plan.core_objects),
            "marks": len(plan.pod_marks), **kinds}


def test_generated_tree_has_fifty_teams_on_three_levels():
    settings = settings_for("default", teams=generated_teams())
    assert len(settings.teams) == 50
    depth = {team.name: 0 if team.parent is None else None for team in settings.teams}
    for team in settings.teams.depth_first():
        if team.parent is not None:
            depth[team.name] = depth[team.parent] + 1
    assert max(depth.values()) == 2
    assert len(settings.teams.leaves()) == 40


@pytest.mark.parametrize("style", STYLES)
def test_plan_time_and_object_counts_for_fifty_teams(style, capsys):
    raw = raw_stack(style, teams=generated_teams())
    load_ms, _ = _measure(lambda: load_settings("test", raw), rounds=5)
    settings = load_settings("test", raw)
    plan_ms, plan_max = _measure(lambda: scheduling_plan(settings))
    plan = scheduling_plan(settings)
    counts = _counts(plan)
    with capsys.disabled():
        print(f"\n[scheduling timing] {style:12s} 50 teams: load_settings {load_ms:7.2f} ms, "
              f"plan() median {plan_ms:6.2f} ms (max {plan_max:6.2f}); objects {counts}")
    assert plan_ms < BOUND_MS
    assert counts["marks"] == 40
    if style in ("koordinator", "koordinator-managed"):
        assert counts["ElasticQuota"] == 50
    if style == "volcano":
        assert counts["Queue"] == 50


@pytest.mark.parametrize("style", STYLES)
def test_object_counts_for_the_reference_tree(style, capsys):
    counts = _counts(scheduling_plan(settings_for(style)))
    with capsys.disabled():
        print(f"\n[scheduling objects] {style:12s} 8-team reference tree: {counts}")
    assert counts["marks"] == 5
