"""Pattern: wait without holding a worker slot (deferrable sensors).

A classic sensor occupies a worker slot (or a whole pod under KubernetesExecutor) for the whole
wait. A deferrable one hands the wait to the triggerer (the kit enables it in the chart) and
frees the slot until the condition is met; a triggerer runs thousands of such waits in one
process. Any executor works: the sensor task only starts and ends on the executor.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.providers.standard.sensors.time_delta import TimeDeltaSensor
from airflow.sdk import DAG, task

with DAG(
    dag_id="kit_deferrable_sensor",
    description="Deferrable sensors: the triggerer waits, no worker slot is held",
    schedule="@daily",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["airflow-kit", "example", "deferrable"],
):
    # Wait until 30 minutes after the end of the data interval (the upstream export is late).
    settle = TimeDeltaSensor(task_id="wait_for_late_data", delta=timedelta(minutes=30), deferrable=True)

    # Wait for a wall-clock time given as a template (here: 02:00 on the day after the interval).
    night = DateTimeSensorAsync(
        task_id="wait_for_night_window",
        target_time="{{ (data_interval_end + macros.timedelta(hours=2)).isoformat() }}",
    )

    @task
    def process() -> None:
        print("the data is there and the night window is open")

    [settle, night] >> process()
