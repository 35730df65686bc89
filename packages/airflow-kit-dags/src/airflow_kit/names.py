"""The names the kit's Pulumi side (airflow_kit_platform) and this DAG helper share.

The Pulumi side renders and mounts what the helper reads: a rename on one side only would break
every DAG at parse or run time, so both import these. Pure constants and string rules: this module
imports nothing, so ``import airflow_kit.names`` costs nothing and never imports Airflow.
"""

# The distribution that ships this package (installed into every image the kit renders).
DISTRIBUTION = "airflow-kit-dags"

# --- the pod templates ConfigMap, mounted into every Airflow component and every task pod ------
# Not the chart's pod_templates/: the chart mounts its pod_template_file.yaml there by subPath.
POD_TEMPLATES_DIR = "/opt/airflow/kit-pod-templates"
POD_TEMPLATES_DIR_ENV = "AIRFLOW_KIT_POD_TEMPLATES_DIR"  # overrides POD_TEMPLATES_DIR for the helper
POD_TEMPLATES_CONFIGMAP = "airflow-kit-pod-templates"
POD_TEMPLATES_VOLUME = "airflow-kit-pod-templates"  # the volume that mounts it (same name)
CATALOG_FILE = "teams.json"  # the team catalog beside the templates

# --- task pods ----------------------------------------------------------------------------------
TASK_CONTAINER = "base"  # KubernetesExecutor's contract: containers[0] of a worker pod is `base`
KUBERNETES_EXECUTOR = "KubernetesExecutor"  # the short name (the chart's KEDA query matches it)
LOCAL_DISK_VOLUME = "local-disk"  # the generic ephemeral volume of a task's local disk
TEAM_LABEL = "airflow-kit/team"  # on every team object, task pod, Job and local-disk claim
TEAM_ENV = "AIRFLOW_KIT_TEAM"  # the team's name in its task pods and Jobs
# ACK colocation: a BE pod asks for these instead of cpu/memory (batch-cpu in whole millicores).
BATCH_CPU = "kubernetes.io/batch-cpu"
BATCH_MEMORY = "kubernetes.io/batch-memory"

# The stack's job-queue backends (`queue.backend`); teams.json's `queue` is one of them.
QUEUE_BACKENDS = ("none", "koord-queue", "ack")


def team_pool(team: str) -> str:
    """The Airflow pool the kit creates for a team (PoolsSync) and the helper puts its tasks in."""
    return f"team-{team}"


def pod_template_file(team: str, local_disk: bool = False) -> str:
    """File name of a team's pod template in the ConfigMap (beside teams.json)."""
    return f"{team}-local-disk.yaml" if local_disk else f"{team}.yaml"
