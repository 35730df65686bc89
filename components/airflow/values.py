"""Settings -> values for the official Airflow chart (pure; validated against its schema).

Every secret is referenced by name (`*SecretName`): the chart never generates one, so the
values hold no secret text, a second `pulumi up` renders the same objects (no random
churn from the chart's `randAlphaNum`), and Pulumi keeps the secrets encrypted in state.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Optional

from airflow_kit import names
from airflow_kit_platform.airflow.chart_names import (
    CHART,
    KUBERNETES_DEFAULT_CONNECTION_ENV,
    LOGS_VOLUME_CLAIM,
    RELEASE,
    SecretNames,
)
from airflow_kit_platform.model.pod_security import task_container_security_context
from airflow_kit_platform.passthrough import merge_under
from airflow_kit_platform.settings import Settings


# The bundled database (dev only): Airflow's own user and database, created by the kit's
# Postgres image from the Bitnami subchart's env; the Secret's keys are the subchart's defaults.
BUNDLED_DB_USER = "airflow"
BUNDLED_DB_NAME = "airflow"
BUNDLED_DB_USER_KEY = "password"
BUNDLED_DB_SUPERUSER_KEY = "postgres-password"


def uses_celery(settings: Settings) -> bool:
    return "CeleryExecutor" in settings.airflow.executors


def uses_pgbouncer(settings: Settings) -> bool:
    return settings.database.mode == "external" and settings.database.pgbouncer


def merge_config(*blocks: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Merge airflow.cfg blocks ({section: {key: value}}); later blocks win."""
    merged: dict[str, dict[str, Any]] = {}
    for block in blocks:
        for section, entries in block.items():
            merged.setdefault(section, {}).update(entries)
    return merged


# A task's Execution API token must outlive its wait in the queue plus its pod's start.
POD_START_MARGIN_SECONDS = 900
MAX_QUEUED_CHECK_INTERVAL_SECONDS = 120  # Airflow's default check interval


def queue_wait_config(wait_seconds: int) -> dict[str, dict[str, Any]]:
    """Airflow's clocks for a task whose pod waits `wait_seconds` for its quota.

    * `[scheduler] task_queued_timeout`: a task queued longer is revoked (its pod deleted).
    * `[scheduler] num_stuck_in_queued_retries` 0: Airflow would otherwise requeue it twice,
      each time deleting the Pending pod (losing its place in the batch queue) and waiting the
      timeout again, before failing it without its retries: one wait, then a clear failure.
    * `[scheduler] task_queued_timeout_check_interval`: a tenth of the wait (at most Airflow's
      120 s), so the failure comes close to the wait.
    * `[execution_api] jwt_expiration_time`: the token is minted when the task is queued; a pod
      that starts after it expired fails with 403 "Signature has expired".
    """
    return {
        "scheduler": {
            "task_queued_timeout": float(wait_seconds),
            "task_queued_timeout_check_interval": float(
                max(5, min(MAX_QUEUED_CHECK_INTERVAL_SECONDS, wait_seconds // 10))),
            "num_stuck_in_queued_retries": 0,
        },
        "execution_api": {"jwt_expiration_time": wait_seconds + POD_START_MARGIN_SECONDS},
    }


# A running task whose process died (its Celery worker or its pod killed) stops heartbeating:
# the scheduler fails it, and retries it within its retries, after this long (Airflow's default
# is 300 s). A quota-held Pending pod's task is `queued`, not running: this clock never ends its wait.
LOST_TASK_SECONDS = 120
# How often a scheduler adopts the tasks and pods of a scheduler that died (Airflow's 300 s): a
# restarted scheduler takes over in-flight KubernetesExecutor pods, and deletes finished ones,
# within this instead of ~5 minutes.
ORPHAN_CHECK_SECONDS = 60
# A task's supervisor heartbeats every `[workers] min_heartbeat_interval` (Airflow's 5 s) and kills
# its task after `max_failed_heartbeats` failures in a row (Airflow's 3: ~30 s of a restarting API
# server stopped a live task on the real node). The kit lets it wait as long as the scheduler's own
# clock does: the scheduler alone decides when a silent task is lost.
HEARTBEAT_INTERVAL_SECONDS = 5
FAILED_HEARTBEATS_TOLERATED = -(-LOST_TASK_SECONDS // HEARTBEAT_INTERVAL_SECONDS)
# Every other call a task makes to the Execution API (its start, its final state, a connection)
# is retried `[workers] execution_api_retries` times with random exponential waits of at least
# `execution_api_retry_wait_min`: Airflow's 5 tries give up after 4-31 s, and a team pod's task
# failed while the API server pod restarted. At least 10 s between tries, for as long as the
# heartbeats are tolerated.
EXECUTION_API_RETRY_WAIT_MIN_SECONDS = 10
EXECUTION_API_RETRIES = -(-LOST_TASK_SECONDS // EXECUTION_API_RETRY_WAIT_MIN_SECONDS) + 1


def lost_work_config() -> dict[str, dict[str, Any]]:
    """Airflow's clocks for work whose process or scheduler died (tests/faults measures them)."""
    return {"scheduler": {"task_instance_heartbeat_timeout": LOST_TASK_SECONDS,
                          "orphaned_tasks_check_interval": float(ORPHAN_CHECK_SECONDS)},
            "workers": {"min_heartbeat_interval": HEARTBEAT_INTERVAL_SECONDS,
                        "max_failed_heartbeats": FAILED_HEARTBEATS_TOLERATED,
                        "execution_api_retries": EXECUTION_API_RETRIES,
                        "execution_api_retry_wait_min": float(EXECUTION_API_RETRY_WAIT_MIN_SECONDS)}}


def airflow_config(settings: Settings, extra: Mapping[str, Mapping[str, Any]] = {}) -> dict[str, dict[str, Any]]:
    """The chart's `config` (airflow.cfg). `[core] executor` is left to the chart's `executor`."""
    concurrency = settings.airflow.concurrency
    base: dict[str, dict[str, Any]] = {
        "core": {
            "parallelism": concurrency.parallelism,
            "max_active_tasks_per_dag": concurrency.max_active_tasks_per_dag,
            "max_active_runs_per_dag": concurrency.max_active_runs_per_dag,
            "load_examples": "False",
            "execution_api_server_url": CHART.execution_api_url(settings.namespace),
        },
        "celery": {"worker_concurrency": concurrency.worker_concurrency},
        **queue_wait_config(settings.scheduler.max_queue_wait_seconds),
    }
    if names.KUBERNETES_EXECUTOR in settings.airflow.executors:
        base["kubernetes_executor"] = {
            "worker_pods_creation_batch_size": concurrency.worker_pods_creation_batch_size,
            "namespace": settings.namespace,
            # The chart fills these with its Airflow image, which would override every team
            # template's fused image for tasks without an image override; blank = template wins.
            "worker_container_repository": "",
            "worker_container_tag": "",
        }
        if settings.airflow.logs_volume is not None:
            # The failed task's log is on the volume, so its pod has nothing left to show; kept, it
            # holds the volume's claim and `pulumi destroy` waits on it.
            base["kubernetes_executor"]["delete_worker_pods_on_failure"] = "True"
        if concurrency.task_publish_max_retries:
            base["kubernetes_executor"]["task_publish_max_retries"] = concurrency.task_publish_max_retries
        if settings.team_namespaces:
            # Team pods run in their teams' namespaces; the executor watches exactly those
            # (and its own, where a task without a team override lands), not the whole cluster.
            base["kubernetes_executor"].update({
                "multi_namespace_mode": "True",
                "multi_namespace_mode_namespace_list": ",".join(
                    [settings.namespace] + settings.task_namespaces()),
            })
    return merge_under(merge_config(base, lost_work_config(), extra), settings.airflow.config, stack=settings.stack,
                       key="airflow.config")


def build_values(settings: Settings, *, pod_template: Optional[str] = None,
                 extra_config: Mapping[str, Mapping[str, Any]] = {},
                 pod_templates_configmap: Optional[str] = None) -> dict[str, Any]:
    """The complete values dict for the Airflow chart of one stack."""
    airflow = settings.airflow
    celery = uses_celery(settings)
    bundled = settings.database.mode == "bundled"
    values: dict[str, Any] = {
        "executor": airflow.executor,
        "airflowVersion": airflow.version,
        "defaultAirflowRepository": airflow.image_repository,
        "defaultAirflowTag": airflow.image_tag,
        "fernetKeySecretName": SecretNames.fernet_key,
        "apiSecretKeySecretName": SecretNames.api_secret_key,
        "jwtSecretName": SecretNames.jwt_secret,
        "data": {"metadataSecretName": SecretNames.metadata},
        "config": airflow_config(settings, extra_config),
        # helm.v4.Chart renders client-side and does not run Helm hooks.
        "migrateDatabaseJob": {"useHelmHooks": False, "applyCustomEnv": False},
        "createUserJob": {"useHelmHooks": False, "applyCustomEnv": False},
        "apiServer": {"replicas": airflow.api_server_replicas},
        "dagProcessor": {"enabled": True},
        "triggerer": {"enabled": True},  # deferrable operators free worker slots
        "allowJobLaunching": airflow.job_tasks,
        # Off even with team namespaces: on, the chart binds its pod and Job launcher roles as
        # ClusterRoles, cluster-wide. The kit grants Airflow's accounts Roles in exactly the team
        # namespaces instead (workloads/team_namespaces.airflow_access).
        "multiNamespaceMode": False,
        "postgresql": {"enabled": bundled},
        "redis": {"enabled": celery},
        "pgbouncer": {"enabled": uses_pgbouncer(settings)},
        "workers": _workers(settings),
    }
    _high_availability(airflow, values)
    if bundled:
        # Bitnami's chart reads both passwords from our Secret instead of values; Airflow
        # connects as the owner of its own database, not as the superuser.
        values["postgresql"]["auth"] = {"existingSecret": SecretNames.postgresql_auth,
                                        "username": BUNDLED_DB_USER, "database": BUNDLED_DB_NAME}
    _image_values(settings, values)
    if airflow.auth_manager == "simple":
        _simple_auth_values(settings, values)
    else:
        _fab_admin_values(values)
    if airflow.logs_volume is not None:
        values["logs"] = {"persistence": {"enabled": True, "existingClaim": LOGS_VOLUME_CLAIM}}
    if not airflow.statsd:
        values["statsd"] = {"enabled": False}
    if celery:
        values["data"]["resultBackendSecretName"] = SecretNames.result_backend
        values["data"]["brokerUrlSecretName"] = SecretNames.broker_url
        values["redis"]["passwordSecretName"] = SecretNames.redis_password
    if uses_pgbouncer(settings):
        values["pgbouncer"].update({
            "configSecretName": SecretNames.pgbouncer_config,
            "metricsExporterSidecar": {"statsSecretName": SecretNames.pgbouncer_stats},
            "sslmode": settings.database.sslmode,
        })
    if airflow.dag_source == "gitSync" and airflow.git_sync is not None:
        git_sync: dict[str, Any] = {
            "enabled": True,
            "repo": airflow.git_sync.repo,
            "branch": airflow.git_sync.branch,
            "subPath": airflow.git_sync.sub_path,
            "period": airflow.git_sync.period,
        }
        if airflow.git_sync.credentials_secret:
            git_sync["credentialsSecret"] = airflow.git_sync.credentials_secret
        values["dags"] = {"gitSync": git_sync}
    if pod_templates_configmap is not None:
        values["volumes"] = [{"name": names.POD_TEMPLATES_VOLUME, "configMap": {"name": pod_templates_configmap}}]
        values["volumeMounts"] = [{"name": names.POD_TEMPLATES_VOLUME, "mountPath": names.POD_TEMPLATES_DIR,
                                   "readOnly": True}]
        values["env"] = [{"name": names.POD_TEMPLATES_DIR_ENV, "value": names.POD_TEMPLATES_DIR},
                         dict(KUBERNETES_DEFAULT_CONNECTION_ENV)]
    ca = db_ca_mounts(settings)
    for key in ("volumes", "volumeMounts"):
        if key in ca:
            values[key] = values.get(key, []) + ca[key]
    if "pgbouncer" in ca:
        values["pgbouncer"].update(ca["pgbouncer"])
    if pod_template is not None:
        values["podTemplate"] = pod_template
    return merge_under(values, settings.airflow.chart_values, stack=settings.stack, key="airflow.chartValues")


# The components a budget keeps one replica of through voluntary disruptions (a node drain).
DISRUPTION_BUDGETED = ("scheduler", "apiServer", "triggerer")


# Replicated schedulers roll one at a time in place: the others keep scheduling, and a rollout
# needs no room for a surge pod (on a full node the chart's surge pod stayed Pending and the old
# scheduler was never replaced).
REPLICATED_SCHEDULER_STRATEGY = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}


def _high_availability(airflow, values: dict[str, Any]) -> None:
    """Replicas of the scheduler and triggerer (only set when more than one: the chart's
    default stays untouched otherwise) and a PodDisruptionBudget (maxUnavailable 1) each."""
    if airflow.scheduler_replicas > 1:
        values.setdefault("scheduler", {})["replicas"] = airflow.scheduler_replicas
        values["scheduler"]["strategy"] = REPLICATED_SCHEDULER_STRATEGY
    if airflow.triggerer_replicas > 1:
        values["triggerer"]["replicas"] = airflow.triggerer_replicas
    if airflow.pod_disruption_budgets:
        for component in DISRUPTION_BUDGETED:
            values.setdefault(component, {})["podDisruptionBudget"] = {
                "enabled": True, "config": {"maxUnavailable": 1}}


SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
ADMIN_USER = "admin"
ADMIN_PASSWORD_KEY = "password"  # key of SecretNames.admin_password
ADMIN_PASSWORD_ENV = "AIRFLOW_KIT_ADMIN_PASSWORD"
SIMPLE_AUTH_DIR = "/opt/airflow/simple-auth"
SIMPLE_AUTH_PASSWORDS_KEY = "passwords.json"


def simple_auth_passwords(password: str) -> str:
    """The SimpleAuthManager's users file: {"<user>": "<password>"}."""
    return json.dumps({ADMIN_USER: password})


def _simple_auth_values(settings: Settings, values: dict[str, Any]) -> None:
    """SimpleAuthManager with the admin password from the kit's Secret. The manager opens its
    users file for writing at start, so the api-server gets a copy of the Secret's file in an
    emptyDir (an init container copies it) instead of the read-only Secret mount."""
    values["config"].setdefault("core", {}).update({
        "auth_manager": SIMPLE_AUTH_MANAGER,
        "simple_auth_manager_users": f"{ADMIN_USER}:admin",
        "simple_auth_manager_passwords_file": f"{SIMPLE_AUTH_DIR}/{SIMPLE_AUTH_PASSWORDS_KEY}",
    })
    values["createUserJob"]["enabled"] = False  # `airflow users create` is FAB's
    secret_dir = f"{SIMPLE_AUTH_DIR}-secret"
    values["apiServer"].update({
        "extraVolumes": [
            {"name": "simple-auth-secret", "secret": {"secretName": SecretNames.admin_password}},
            {"name": "simple-auth", "emptyDir": {}},
        ],
        "extraVolumeMounts": [{"name": "simple-auth", "mountPath": SIMPLE_AUTH_DIR}],
        "extraInitContainers": [{
            "name": "simple-auth-users",
            "image": settings.airflow.image,
            "command": ["cp", f"{secret_dir}/{SIMPLE_AUTH_PASSWORDS_KEY}", f"{SIMPLE_AUTH_DIR}/{SIMPLE_AUTH_PASSWORDS_KEY}"],
            "securityContext": {**task_container_security_context(), "readOnlyRootFilesystem": True},
            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
            "volumeMounts": [{"name": "simple-auth-secret", "mountPath": secret_dir, "readOnly": True},
                             {"name": "simple-auth", "mountPath": SIMPLE_AUTH_DIR}],
        }],
    })


def _fab_admin_values(values: dict[str, Any]) -> None:
    """The chart's user job creates the FAB admin with the password from the kit's Secret, read
    from the environment at run time: no password in values or in the rendered Job (the chart's
    default is a literal admin/admin)."""
    values["createUserJob"].update({
        "env": [{"name": ADMIN_PASSWORD_ENV, "valueFrom": {"secretKeyRef": {
            "name": SecretNames.admin_password, "key": ADMIN_PASSWORD_KEY}}}],
        "args": ["bash", "-c", f'exec airflow users create "$@" --password "${ADMIN_PASSWORD_ENV}"', "--",
                 "--role", "Admin", "--username", ADMIN_USER, "--email", "admin@example.com",
                 "--firstname", "Airflow", "--lastname", "Admin"],
    })


def split_image(reference: str) -> tuple[str, str]:
    """`repository:tag` -> (repository, tag); a digest stays with the tag (`tag@sha256:...`)."""
    name, _, digest = reference.partition("@")
    last = name.rsplit("/", 1)[-1]
    repository, tag = (name.rsplit(":", 1) if ":" in last else (name, "latest"))
    return repository, f"{tag}@{digest}" if digest else tag


def _image_values(settings: Settings, values: dict[str, Any]) -> None:
    """The stack's `images` keys in the chart's shape (the Airflow image is `airflow.image`)."""
    images = settings.images
    policy = {"pullPolicy": images.pull_policy} if images.pull_policy else {}
    chart_images: dict[str, Any] = {}
    if policy:
        chart_images["airflow"] = dict(policy)
        chart_images["pod_template"] = dict(policy)
    if images.redis:
        repository, tag = split_image(images.redis)
        chart_images["redis"] = {"repository": repository, "tag": tag, **policy}
    if chart_images:
        values["images"] = chart_images
    if images.postgres and values["postgresql"]["enabled"]:
        # The Bitnami subchart joins registry/repository:tag itself.
        repository, tag = split_image(images.postgres)
        registry, _, path = repository.partition("/")
        if not path or not ("." in registry or ":" in registry or registry == "localhost"):
            registry, path = "docker.io", repository
        values["postgresql"]["image"] = {"registry": registry, "repository": path, "tag": tag, **policy}


# Celery workers start without mingle and gossip: after a broker (redis) restart a worker that
# re-runs them can reconnect and then consume nothing (celery#8796, #8990; seen in the fault tier),
# and the kit's workers need neither (no revoked-task sync, no worker-to-worker events).
CELERY_WORKER_COMMAND = "exec airflow celery worker --without-mingle --without-gossip"
# The chart's probe (`celery inspect ping`) every 30 s, restart after 3 misses: a stuck worker is
# replaced in ~1.5 min instead of the chart's 5.
CELERY_LIVENESS_PERIOD_SECONDS = 30
CELERY_LIVENESS_FAILURE_THRESHOLD = 3


def _workers(settings: Settings) -> dict[str, Any]:
    keda = settings.keda
    workers: dict[str, Any] = {
        "replicas": settings.airflow.celery_worker_replicas,
        "resources": settings.airflow.celery_worker_resources(),
        "celery": {"args": ["bash", "-c", CELERY_WORKER_COMMAND],
                   "livenessProbe": {"periodSeconds": CELERY_LIVENESS_PERIOD_SECONDS,
                                     "failureThreshold": CELERY_LIVENESS_FAILURE_THRESHOLD}},
        # Workers hold no database connection (worker_secrets), so they have no migrations to wait for.
        "waitForMigrations": {"enabled": False},
    }
    if uses_celery(settings) and keda.enabled:
        workers["keda"] = {
            "enabled": True,
            "minReplicaCount": keda.min_replicas,
            "maxReplicaCount": keda.max_replicas,
            "pollingInterval": keda.polling_interval,
            "cooldownPeriod": keda.cooldown_period,
            "usePgbouncer": uses_pgbouncer(settings),
        }
    return workers


# --- connection strings (built from Outputs in release.py; pure here so tests see them) ---

BROKER_REDIS_DB = 0
RESULT_BACKEND_REDIS_DB = 1

def service_host(settings: Settings, service: str) -> str:
    return f"{CHART.fullname}-{service}.{settings.namespace}"


# The database's CA (`database.caSecret`, key ca.crt) where its clients read it: pgbouncer when it
# fronts the database, else every Airflow component (the chart's global volumes; task pods have none).
DB_CA_VOLUME = "airflow-kit-db-ca"
DB_CA_KEY = "ca.crt"
PGBOUNCER_DB_CA_DIR = "/etc/pgbouncer/db-ca"
AIRFLOW_DB_CA_DIR = "/opt/airflow/db-ca"


def db_ca_mounts(settings: Settings) -> dict[str, Any]:
    """Chart values that mount the database's CA (none without `database.caSecret`)."""
    secret = settings.database.ca_secret
    if secret is None:
        return {}
    volume = {"name": DB_CA_VOLUME, "secret": {"secretName": secret, "items": [{"key": DB_CA_KEY, "path": DB_CA_KEY}]}}
    if uses_pgbouncer(settings):
        return {"pgbouncer": {"extraVolumes": [volume], "extraVolumeMounts": [
            {"name": DB_CA_VOLUME, "mountPath": PGBOUNCER_DB_CA_DIR, "readOnly": True}]}}
    return {"volumes": [volume], "volumeMounts": [{"name": DB_CA_VOLUME, "mountPath": AIRFLOW_DB_CA_DIR,
                                                   "readOnly": True}]}


def metadata_connection(settings: Settings, password: str) -> str:
    db = settings.database
    if db.mode == "bundled":
        return (f"postgresql://{BUNDLED_DB_USER}:{password}@{service_host(settings, 'postgresql')}:5432/"
                f"{BUNDLED_DB_NAME}?sslmode=disable")
    if uses_pgbouncer(settings):
        return (f"postgresql://{db.user}:{password}@{service_host(settings, 'pgbouncer')}:6543/"
                f"{RELEASE}-metadata?sslmode=disable")
    root_cert = f"&sslrootcert={AIRFLOW_DB_CA_DIR}/{DB_CA_KEY}" if db.ca_secret else ""
    return f"postgresql://{db.user}:{password}@{db.host}:{db.port}/{db.name}?sslmode={db.sslmode}{root_cert}"


def result_backend_connection(settings: Settings, redis_password: str) -> str:
    """Celery's results in the stack's Redis (database 1), not the metadata database: the
    workers then need no database credentials (worker_secrets)."""
    return f"redis://:{redis_password}@{service_host(settings, 'redis')}:6379/{RESULT_BACKEND_REDIS_DB}"


def broker_url(settings: Settings, redis_password: str) -> str:
    return f"redis://:{redis_password}@{service_host(settings, 'redis')}:6379/{BROKER_REDIS_DB}"


def pgbouncer_ini(settings: Settings) -> str:
    db = settings.database
    target = f"host={db.host} dbname={db.name} port={db.port}"
    return "\n".join([
        "[databases]",
        f"{RELEASE}-metadata = {target} pool_size=10",
        "",
        "[pgbouncer]",
        "pool_mode = transaction",
        "listen_port = 6543",
        "listen_addr = *",
        "auth_type = scram-sha-256",
        "auth_file = /etc/pgbouncer/users.txt",
        f"stats_users = {db.user}",
        "ignore_startup_parameters = extra_float_digits",
        "max_client_conn = 100",
        "verbose = 0",
        "log_disconnections = 0",
        "log_connections = 0",
        f"server_tls_sslmode = {db.sslmode}",
        "server_tls_ciphers = normal",
        *([f"server_tls_ca_file = {PGBOUNCER_DB_CA_DIR}/{DB_CA_KEY}"] if db.ca_secret else []),
        "",
    ])


def pgbouncer_users(settings: Settings, password: str) -> str:
    return f'"{settings.database.user}" "{password}"\n'


def pgbouncer_stats_connection(settings: Settings, password: str) -> str:
    return f"postgresql://{settings.database.user}:{password}@127.0.0.1:6543/pgbouncer?sslmode=disable"
