"""Airflow's side of the benchmark at CI size: `python -m bench.airflow_side --smoke` end to end
(the real Airflow scheduler submitting one wide DAG run's pods to kwok nodes), so it cannot rot."""

from __future__ import annotations

import json

import pytest

from bench import cluster as bench_cluster


def test_airflow_submits_the_dag_within_its_limits(tmp_path):
    pytest.importorskip("airflow.providers.cncf.kubernetes")
    try:
        bench_cluster.tools_env()
    except bench_cluster.Missing as missing:
        pytest.skip(str(missing))
    from bench.airflow_side import main

    assert main(["--smoke", "--out", str(tmp_path), "--work", str(tmp_path / "work")]) == 0
    rows = {row["case"]: row for row in json.loads((tmp_path / "airflow.json").read_text())}
    print((tmp_path / "airflow.md").read_text())
    kit, wide, one, limited = (rows["kit's airflow.cfg"], rows["max_active_tasks_per_dag 200"],
                               rows["max_active_tasks_per_dag 200, creation batch 1 (Airflow's default)"],
                               rows["max_active_tasks_per_dag 200, parallelism 50"])
    # The kit's max_active_tasks_per_dag (16) holds one DAG run at 16 pods however wide it is.
    assert kit["pods_created"] == kit["max_active_tasks_per_dag"] == 16
    assert wide["pods_created"] == 200 and limited["pods_created"] == 50
    # One pod per scheduler loop: Airflow's default batch size is what holds creation back.
    assert one["created_per_second"] < wide["created_per_second"], (one, wide)
