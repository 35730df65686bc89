"""The benchmark at CI size (bench.workload.SMOKE: 50 kwok nodes, 500 task pods, the 20-team tree):
every backend and its stock baseline run through `python -m bench --smoke` end to end, so the
benchmark cannot rot (Airflow's side: test_bench_airflow_side.py). The figures are the ones a user
compares; the assertions are what must hold whatever the machine's speed.
"""

from __future__ import annotations

import json

import pytest

from bench import cluster as bench_cluster
from bench import workload


def _require_everything() -> None:
    try:
        bench_cluster.tools_env()
        for backend in bench_cluster.BACKENDS:
            bench_cluster.require(backend)
    except bench_cluster.Missing as missing:
        pytest.skip(str(missing))


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    _require_everything()
    from bench.__main__ import main

    out = tmp_path_factory.mktemp("bench-results")
    code = main(["--smoke", "--out", str(out), "--work", str(tmp_path_factory.mktemp("bench-work"))])
    rows = {(row["backend"], row["kit"]): row for row in json.loads((out / "summary.json").read_text())}
    print((out / "results.md").read_text())
    return code, rows, out


def test_every_backend_and_its_stock_baseline_ran_and_bound_every_pod(smoke):
    code, rows, out = smoke
    assert code == 0, (out / "results.md").read_text()
    assert set(rows) == {(backend, kit) for backend in bench_cluster.BACKENDS for kit in (True, False)}
    for row in rows.values():
        assert row["bound"] == row["pods"] == 500, row["label"]
        assert row["latency_p50"] is not None and row["steady_bound_per_second"]


def test_the_kits_quotas_hold_every_team_to_its_max(smoke):
    _, rows, _ = smoke
    # The schedulers admit at scheduling time: no sample over any max.
    for backend in ("koordinator", "volcano"):
        quota = rows[(backend, True)]["quota"]
        assert quota["over_max_samples"] == 0, (backend, quota)
    # The default backend: a ResourceQuota per team (parents included) refuses a pod over its max,
    # but it is eventually consistent: under load it may admit one task too many until one of the
    # team's tasks ends (docs/backend-default.md). A quota that does not hold shows more, longer.
    quota = rows[("default", True)]["quota"]
    largest = max(float(size.cpu) for size in workload.TASK_SIZES)
    longest_run = max(high for _, high in (size.runtime_seconds for size in workload.TASK_SIZES))
    assert quota["over_max_excess_cpu"] <= largest, quota
    assert quota["over_max_longest_seconds"] <= longest_run * workload.SMOKE.runtime_factor, quota


def test_load_aware_placement_keeps_tasks_off_hot_nodes(smoke):
    _, rows, _ = smoke
    for backend in ("koordinator", "volcano"):
        assert rows[(backend, True)]["hot_share"] == 0, backend


def test_the_table_and_plot_are_written(smoke):
    _, rows, out = smoke
    table = (out / "results.md").read_text()
    for backend, kit in rows:
        assert f"| {backend} | {'kit' if kit else 'stock'} | 500/500 |" in table
    assert (out / "bound-over-time.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
