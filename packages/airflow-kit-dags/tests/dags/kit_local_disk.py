"""Test DAG: one KubernetesExecutor task of team etl with a 100Gi local disk, one Celery task,
one KubernetesExecutor task with the team defaults, and one queued Job task."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

from airflow_kit import kubernetes_job, on_kubernetes


def _crunch():
    print("crunch")


with DAG("kit_local_disk", schedule=None, start_date=datetime(2025, 1, 1), catchup=False, tags=["airflow-kit"]):
    PythonOperator(
        task_id="crunch",
        python_callable=_crunch,
        **on_kubernetes(team="etl", cpu="2", memory="8Gi", local_disk="100Gi"),
    )
    PythonOperator(task_id="defaults", python_callable=_crunch, **on_kubernetes("ml"))
    PythonOperator(task_id="on_celery", python_callable=_crunch)
    kubernetes_job("etl", task_id="queued_job", cmds=["sh", "-c", "echo hi"], cpu="4", memory="16Gi")
