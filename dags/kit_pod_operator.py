"""Pattern: KubernetesPodOperator whose pod carries the team's scheduler marks.

The operator starts a pod of its own (any image, any command). The kit's catalog (teams.json)
gives the team's marks so that pod lands in the team's quota/queue like an executor pod:
schedulerName, labels (e.g. `quota.scheduling.koordinator.sh/name`), annotations (e.g.
`scheduling.volcano.sh/queue-name`), priorityClassName, plus the team's image and resources.
The team's worker pod template is NOT used here: it carries Airflow's database connection and
fernet key, which business code in an operator pod has no need for.

Cost: TWO pods per task. The operator itself is an Airflow task (a Celery worker slot, or a
whole worker pod under KubernetesExecutor) that creates the business pod and watches it. With
`deferrable=True` the watching moves to the triggerer and the slot is freed while the business
pod runs; the slot is taken only to start the pod and to collect its result. Prefer
`on_kubernetes` (kit_kubernetes_teams.py: one pod, the task IS the pod) when the work is Python
that fits the team's image; use this operator for another image or a non-Python command.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk import DAG
from kubernetes.client import models as k8s

from airflow_kit import load_catalog
from airflow_kit.catalog import resolve_resources

catalog = load_catalog()
TEAM = catalog.default_team
team = catalog.team(TEAM)
resources = resolve_resources(team, cpu="500m", memory="1Gi")

with DAG(
    dag_id="kit_pod_operator",
    description="KubernetesPodOperator with the team's scheduler marks from the kit's catalog",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["airflow-kit", "example", "pod-operator"],
):
    KubernetesPodOperator(
        task_id="business_pod",
        name=f"kit-{TEAM}-business",
        namespace=catalog.namespace,
        image=team.image,
        cmds=["python", "-c"],
        arguments=["import platform; print('business code on', platform.node())"],
        # The team's marks: the same scheduler, quota/queue and priority as its executor pods.
        schedulername=team.scheduler_name,
        labels=dict(team.labels),
        annotations=dict(team.annotations),
        priority_class_name=team.priority_class_name,
        container_resources=k8s.V1ResourceRequirements(
            requests=resources["requests"], limits=resources.get("limits")),
        pool=team.pool,
        pre_execute=catalog.require,  # no teams.json mounted (a laptop, a DAG CI): fails here, when run
        deferrable=True,  # the triggerer watches the pod; the worker slot is free meanwhile
        on_finish_action="delete_pod",
        get_logs=True,
    )
