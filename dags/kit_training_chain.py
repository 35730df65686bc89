"""Pattern: check data -> train on Kubernetes -> trigger the next window to catch up.

One run trains one daily window. When a run finds that the NEXT window's data is already
complete (the DAG fell behind: an outage, a slow queue), it triggers a run for that window
itself, instead of relying on `catchup=True` (which would create every missed run at once and
compete for the team's pool and quota). Each run id names its window and existing runs are
skipped, so a retried trigger never trains a window twice.

* check_data      a Celery task (default executor); short-circuits the run if the window is
                  not complete yet (nothing to train, nothing to chain).
* train           runs in its own pod as the team (`on_kubernetes`): the team's image, quota
                  and priority, with explicit requests and limits.
* next_window     short-circuits unless the next window is already complete.
* catch_up        TriggerDagRunOperator for this DAG with the next window in `conf`.

A stack without KubernetesExecutor cannot run `train`: this file then shows one import error
(UnknownExecutorException) and the other DAGs load.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG, get_current_context, task

from airflow_kit import load_catalog, on_kubernetes

catalog = load_catalog()
TEAM = catalog.default_team
DAG_ID = "kit_training_chain"


def window_complete(day: str) -> bool:
    """Stand-in for a real check (a _SUCCESS marker in object storage, a warehouse partition):
    a daily window is complete once the day is over."""
    end = datetime.combine(date.fromisoformat(day) + timedelta(days=1), datetime.min.time(), timezone.utc)
    return datetime.now(timezone.utc) >= end


with DAG(
    dag_id=DAG_ID,
    description="Check data, train on Kubernetes as the team, then catch up the next window",
    schedule="@daily",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,  # windows are trained in order
    tags=["airflow-kit", "example", "kubernetes-executor", "training"],
):

    @task
    def pick_window() -> str:
        """The window to train: `conf["window_start"]` of a catch-up run, else the run's interval."""
        context = get_current_context()
        conf = context["dag_run"].conf or {}
        start = conf.get("window_start") or context["data_interval_start"].date().isoformat()
        return str(date.fromisoformat(start))

    @task.short_circuit
    def check_data(window: str) -> bool:
        ready = window_complete(window)
        print(f"window {window}: {'complete' if ready else 'not complete yet, nothing to train'}")
        return ready

    @task(**on_kubernetes(TEAM, cpu="2", memory="4Gi"))
    def train(window: str) -> str:
        print(f"training on window {window}")
        return f"model-{window}"

    @task.short_circuit
    def next_window(window: str, model: str) -> str | None:
        following = (date.fromisoformat(window) + timedelta(days=1)).isoformat()
        if not window_complete(following):
            print(f"{model} is current: window {following} is not complete yet")
            return None  # falsy: skip the trigger
        return following

    window = pick_window()
    model = train(window)
    check_data(window) >> model  # nothing downstream runs when the window is not complete
    following = next_window(window, model)

    catch_up = TriggerDagRunOperator(
        task_id="catch_up",
        trigger_dag_id=DAG_ID,
        trigger_run_id="catch_up__{{ ti.xcom_pull(task_ids='next_window') }}",
        conf={"window_start": "{{ ti.xcom_pull(task_ids='next_window') }}"},
        skip_when_already_exists=True,
        wait_for_completion=False,
    )
    following >> catch_up
