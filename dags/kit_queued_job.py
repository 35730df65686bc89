"""Pattern: a batch/v1 Job that waits in the team's job queue (koord-queue / ACK kube-queue).

Job queues hold suspended Jobs, not pods: `QueuedKubernetesJobOperator` creates the Job with
`spec.suspend: true` and the team's queue labels (`quota.scheduling.koordinator.sh/name: <team>`
on the Job and its pods, the team's priority class for the order inside the queue), waits until
the queue admits it (unsuspends it when the team's quota has room), then follows it to the end
like KubernetesJobOperator. A Job still queued after `admission_timeout` is deleted and the
task fails, so nothing runs later with nobody watching.

On a stack without a job queue (queue backend `none`) the same task creates a normal Job.
The chart's `allowJobLaunching` (set by the kit when the queue is on or `airflow.jobTasks`)
gives the workers the RBAC to create Jobs.

Cost: like KubernetesPodOperator, the task holds an executor slot while the Job runs, and here
also while it waits in the queue; size `admission_timeout` for that.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_kit import QueuedKubernetesJobOperator, load_catalog

catalog = load_catalog()
TEAM = catalog.default_team

with DAG(
    dag_id="kit_queued_job",
    description="A suspended Job admitted by the team's queue, then followed to completion",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["airflow-kit", "example", "job-queue"],
):
    QueuedKubernetesJobOperator(
        task_id="queued_batch_job",
        team=TEAM,
        name=f"kit-{TEAM}-batch",
        cmds=["python", "-c"],
        arguments=["import time; print('batch work'); time.sleep(5)"],
        cpu="2",
        memory="4Gi",
        parallelism=1,
        completions=1,
        backoff_limit=2,
        admission_timeout=timedelta(hours=2),
        admission_poke_interval=30,
        pool=catalog.team(TEAM).pool,
    )
