"""Pattern: tasks that read a Connection and a Variable, on Celery and in a team's pod.

Airflow 3 tasks do not open the metadata database: the task SDK asks the API server's
Execution API for connections and variables, with the token the scheduler minted for the task.
So a team's pod needs the Execution API's address (the chart's airflow.cfg, mounted by the
kit's pod templates) and nothing else to read them. Create both before triggering:

    airflow connections add kit_example_api --conn-type http --conn-host api.example.com --conn-login svc
    airflow variables set kit_example_setting 42

(or POST /api/v2/connections and /api/v2/variables). The values are printed, never the password.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Variable, task
from airflow.sdk.bases.hook import BaseHook

from airflow_kit import load_catalog, on_kubernetes

CONNECTION_ID = "kit_example_api"
VARIABLE_KEY = "kit_example_setting"

catalog = load_catalog()


def read_both(where: str) -> dict[str, str]:
    connection = BaseHook.get_connection(CONNECTION_ID)
    setting = Variable.get(VARIABLE_KEY)
    print(f"{where}: connection {CONNECTION_ID} host={connection.host} login={connection.login} "
          f"password set={bool(connection.password)}; variable {VARIABLE_KEY}={setting}")
    return {"host": connection.host or "", "setting": setting}


with DAG(
    dag_id="kit_connection_variable",
    description="Read a Connection and a Variable through the Execution API, on Celery and in a team pod",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["airflow-kit", "example", "connections"],
):
    task(read_both, task_id="on_default_executor")("default executor")
    task(read_both, task_id="in_team_pod", **on_kubernetes(catalog.default_team))("team pod")
