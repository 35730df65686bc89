"""Bad stack config stops before any resource exists, with one message naming the stack,
the key, the bad value and what is allowed (the corpus a platform engineer would hit)."""

from __future__ import annotations

import copy

import pulumi
import pytest

from tests.support.stacks import required_secrets, stack_file_config
from tests.support.pulumi_harness import evaluate


def _set(config: dict, path: str, value) -> dict:
    """Set `a.b.c` inside a deep copy of config; value DELETE removes the key."""
    config = copy.deepcopy(config)
    node = config
    parts = path.split(".")
    for part in parts[:-1]:
        if part.isdigit():
            node = node[int(part)]
        else:
            node = node.setdefault(part, {})
    last = parts[-1]
    if value is DELETE:
        if last.isdigit():
            del node[int(last)]
        else:
            node.pop(last, None)
    elif last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return config


DELETE = object()
TEAM = {"name": "etl", "min": {"cpu": "2", "memory": "4Gi"}, "max": {"cpu": "4", "memory": "8Gi"}}

# (id, stack, path, value, exact message)
CASES = [
    ("unknown-top-level-key", "local", "schedular", {"backend": "volcano"},
     "stack 'local': airflow-kit:schedular = {'backend': 'volcano'}: unknown key (did you mean 'scheduler'?); "
     "known keys: adminPassword, airflow, apiSecretKey, database, dbPassword, dbSuperuserPassword, defaultTeam, fernetKey, images, "
     "jwtSecret, keda, localDisk, namespace, networkPolicies, pools, queue, redisPassword, scheduler, teamNamespaces, "
     "teams"),
    ("unknown-nested-key", "local", "airflow.concurrency.paralelism", 8,
     "stack 'local': airflow-kit:airflow.concurrency.paralelism = 8: unknown key (did you mean 'parallelism'?); "
     "known keys: maxActiveRunsPerDag, maxActiveTasksPerDag, parallelism, taskPublishMaxRetries, "
     "workerConcurrency, workerPodsCreationBatchSize"),
    ("celery-kubernetes-executor", "local", "airflow.executors", ["CeleryKubernetesExecutor"],
     "stack 'local': airflow-kit:airflow.executors = ['CeleryKubernetesExecutor']: CeleryKubernetesExecutor does "
     "not exist in Airflow 3; list [CeleryExecutor, KubernetesExecutor] instead"),
    ("unknown-executor", "local", "airflow.executors", ["CeleryExecutor", "KubernetsExecutor"],
     "stack 'local': airflow-kit:airflow.executors = ['CeleryExecutor', 'KubernetsExecutor']: unknown executor "
     "'KubernetsExecutor' (did you mean 'KubernetesExecutor'?); allowed: CeleryExecutor, KubernetesExecutor, "
     "LocalExecutor"),
    ("duplicate-executor", "local", "airflow.executors", ["CeleryExecutor", "CeleryExecutor"],
     "stack 'local': airflow-kit:airflow.executors = ['CeleryExecutor', 'CeleryExecutor']: must not list an "
     "executor twice"),
    ("negative-parallelism", "local", "airflow.concurrency.parallelism", -1,
     "stack 'local': airflow-kit:airflow.concurrency.parallelism = -1: must be an integer >= 1"),
    ("string-concurrency", "local", "airflow.concurrency.workerConcurrency", "many",
     "stack 'local': airflow-kit:airflow.concurrency.workerConcurrency = 'many': must be an integer >= 1"),
    ("tasks-per-dag-above-parallelism", "local", "airflow.concurrency.maxActiveTasksPerDag", 64,
     "stack 'local': airflow-kit:airflow.concurrency.maxActiveTasksPerDag = 64: must not exceed parallelism (16)"),
    ("parallelism-below-team-pools-and-celery", "local", "airflow.concurrency.parallelism", 10,
     "stack 'local': airflow-kit:airflow.concurrency.parallelism = 10: must be at least 12 = team pool slots 8 "
     "(dev 8) + Celery capacity 4 (workerConcurrency 4 x 1 worker): KubernetesExecutor tasks waiting for their "
     "quota hold parallelism slots, so a smaller value lets a full quota stop every other task; raise "
     "parallelism or lower poolSlots/workers"),
    ("team-pools-above-the-namespace-quota", "local", "teams.0.taskResources.cpu", "1",
     "stack 'local': airflow-kit:teams[dev].poolSlots = 8: team pools under 'dev' admit tasks requesting 8 cpu "
     "in all (poolSlots x taskResources.cpu), more than its max.cpu 4: on the default scheduler the namespace "
     "ResourceQuota refuses the extra pods and their tasks fail; lower poolSlots or taskResources, or raise max"),
    ("queue-wait-not-a-duration", "local", "scheduler.maxQueueWait", "2 days",
     "stack 'local': airflow-kit:scheduler.maxQueueWait = '2 days': must be a duration like 90s, 30m or 6h, "
     "at least 30s"),
    ("queue-wait-too-short", "local", "scheduler.maxQueueWait", "10s",
     "stack 'local': airflow-kit:scheduler.maxQueueWait = '10s': must be a duration like 90s, 30m or 6h, "
     "at least 30s"),
    ("negative-task-retries", "local", "teams.0.taskRetries", -1,
     "stack 'local': airflow-kit:teams[dev].taskRetries = -1: must be an integer from 0 to 100"),
    ("keda-min-above-max", "staging", "keda.minReplicas", 9,
     "stack 'staging': airflow-kit:keda.minReplicas = 9: must not exceed maxReplicas (8)"),
    ("keda-without-celery", "staging", "airflow.executors", ["KubernetesExecutor"],
     "stack 'staging': airflow-kit:keda.enabled = True: KEDA scales Celery workers: airflow.executors must "
     "include CeleryExecutor"),
    ("keda-enabled-not-bool", "local", "keda.enabled", "yes",
     "stack 'local': airflow-kit:keda.enabled = 'yes': must be true or false"),
    ("external-db-without-host", "prod", "database.host", DELETE,
     "stack 'prod': airflow-kit:database.host = (missing): is required"),
    ("external-db-bad-port", "prod", "database.port", 70000,
     "stack 'prod': airflow-kit:database.port = 70000: must be an integer from 1 to 65535"),
    ("database-mode-typo", "local", "database.mode", "bundeled",
     "stack 'local': airflow-kit:database.mode = 'bundeled': must be one of bundled, external "
     "(did you mean 'bundled'?)"),
    ("unknown-scheduler", "local", "scheduler.backend", "kueue",
     "stack 'local': airflow-kit:scheduler.backend = 'kueue': must be one of default, koordinator, volcano, ack"),
    ("koordinator-without-registry", "prod", "scheduler.imageRegistry", DELETE,
     "stack 'prod': airflow-kit:scheduler.imageRegistry = (missing): is required when the kit installs "
     "Koordinator (e.g. registry.k8s.io mirror or registry-cn-hangzhou.ack.aliyuncs.com)"),
    ("volcano-without-prometheus", "staging", "scheduler.loadAware.prometheusAddress", DELETE,
     "stack 'staging': airflow-kit:scheduler.loadAware.prometheusAddress = (missing): is required for Volcano "
     "load-aware scheduling (the usage plugin reads node usage from Prometheus), or set loadAware.enabled: false"),
    ("threshold-above-100", "prod", "scheduler.loadAware.cpuThresholdPercent", 120,
     "stack 'prod': airflow-kit:scheduler.loadAware.cpuThresholdPercent = 120: must be an integer from 1 to 100"),
    ("queue-without-koordinator", "staging", "queue.backend", "koord-queue",
     "stack 'staging': airflow-kit:queue.backend = 'koord-queue': koord-queue maps Jobs to "
     "Koordinator ElasticQuotas: needs scheduler.backend koordinator (or queue.backend none)"),
    ("ack-queue-install", "ack", "queue.install", True,
     "stack 'ack': airflow-kit:queue.install = True: ACK's kube-queue is a managed add-on; the kit only uses it"),
    ("bad-namespace", "local", "namespace", "Airflow_NS",
     "stack 'local': airflow-kit:namespace = 'Airflow_NS': must be a DNS label: lower-case letters, digits and '-'"),
    ("no-teams", "local", "teams", [],
     "stack 'local': airflow-kit:teams = []: must be a non-empty list of teams (name, min, max, ...)"),
    ("bad-quantity", "local", "teams.0.max.memory", "8GB",
     "stack 'local': airflow-kit:teams[dev].max.memory = '8GB': must be a non-negative Kubernetes quantity "
     "such as 500m, 2, 1.5, 512Mi or 8Gi"),
    ("unknown-team-key", "local", "teams.0.prority", "batch",
     "stack 'local': airflow-kit:teams[dev].prority = 'batch': unknown key (did you mean 'priority'?); known "
     "keys: businessImage, egress, image, max, metadataAccess, min, name, nodeSelector, overcommit, parent, poolSlots, "
     "priority, "
     "taskResources, taskRetries, tolerations, weight"),
    ("egress-not-a-cidr", "local", "teams.0.egress", [{"cidr": "db.example.com", "ports": [5432]}],
     "stack 'local': airflow-kit:teams[dev].egress[0].cidr = 'db.example.com': must be an address block such as "
     "10.20.0.0/16 or 192.0.2.7/32"),
    ("egress-port-out-of-range", "local", "teams.0.egress", [{"cidr": "10.20.0.0/16", "ports": [443, 70000]}],
     "stack 'local': airflow-kit:teams[dev].egress[0].ports = [443, 70000]: must be a list of TCP port numbers from "
     "1 to 65535"),
    ("network-policies-not-bool", "local", "networkPolicies", "strict",
     "stack 'local': airflow-kit:networkPolicies = 'strict': must be true or false"),
    ("verify-full-without-ca", "prod", "database.sslmode", "verify-full",
     "stack 'prod': airflow-kit:database.caSecret = (missing): is required with sslmode verify-full: a Secret in "
     "the stack's namespace whose key ca.crt is the CA that signed the database's certificate"),
    ("unknown-priority", "local", "teams.0.priority", "urgent",
     "stack 'local': airflow-kit:teams[dev].priority = 'urgent': must be one of prod, mid, batch, free"),
    ("default-team-unknown", "local", "defaultTeam", "ops",
     "stack 'local': airflow-kit:defaultTeam = 'ops': must name a team without children; teams that run "
     "tasks: dev"),
    ("git-sync-without-repo", "staging", "airflow.gitSync.repo", DELETE,
     "stack 'staging': airflow-kit:airflow.gitSync.repo = (missing): is required"),
    ("local-disk-relative-path", "staging", "localDisk.mountPath", "scratch",
     "stack 'staging': airflow-kit:localDisk.mountPath = 'scratch': must be an absolute path"),
    ("task-limit-below-request", "local", "teams.0.taskResources.memoryLimit", "256Mi",
     "stack 'local': airflow-kit:teams[dev].taskResources.memoryLimit = '256Mi': must be at least the request 512Mi"),
    ("pool-duplicates-team-pool", "local", "pools", [{"name": "team-dev", "slots": 4}],
     "stack 'local': airflow-kit:pools[0].name = 'team-dev': is already a pool (team pools are team-<name>)"),
    ("volcano-reserved-queue", "staging", "teams.2.name", "root",
     "stack 'staging': airflow-kit:teams[root].name = 'root': is a queue Volcano creates itself (root, default); "
     "choose another name"),
    ("koordinator-reserved-quota", "prod", "teams.2.name", "koordinator-system-quota",
     "stack 'prod': airflow-kit:teams[koordinator-system-quota].name = 'koordinator-system-quota': is reserved by "
     "Koordinator (koordinator-root-quota, koordinator-system-quota, koordinator-default-quota); choose another name"),
    ("koordinator-quota-name-too-long", "prod", "namespace", "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn",
     "stack 'prod': airflow-kit:teams[platform].name = 'platform': its quota name 'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn-platform' "
     "(namespace-team) is 69 characters; pods name their quota in a label value, at most 63: shorten the team "
     "or the namespace"),
    ("bad-pull-policy", "local-node", "images.pullPolicy", "Sometimes",
     "stack 'local-node': airflow-kit:images.pullPolicy = 'Sometimes': must be one of Always, IfNotPresent, Never"),
    ("bad-image-reference", "local-node", "images.redis", "Redis 7",
     "stack 'local-node': airflow-kit:images.redis = 'Redis 7': must be an image reference like registry/path:tag"),
    ("unknown-auth-manager", "local", "airflow.authManager", "simpel",
     "stack 'local': airflow-kit:airflow.authManager = 'simpel': must be one of fab, simple (did you mean 'simple'?)"),
    ("logs-volume-access-mode", "local-node", "airflow.logsVolume.accessMode", "ReadOnlyMany",
     "stack 'local-node': airflow-kit:airflow.logsVolume.accessMode = 'ReadOnlyMany': must be one of "
     "ReadWriteMany, ReadWriteOnce (did you mean 'ReadWriteMany'?)"),
]


@pytest.mark.parametrize("case_id, stack, path, value, message", CASES, ids=[case[0] for case in CASES])
def test_bad_config_stops_before_any_resource(case_id, stack, path, value, message):
    config = _set(stack_file_config(stack), path, value)
    result = evaluate(stack, config, required_secrets(stack))
    assert isinstance(result.error, pulumi.RunError), f"expected a RunError, got {result.error!r}"
    assert str(result.error) == message
    assert result.resources == [], "no resource may be registered for bad config"


def test_external_database_requires_secret_password():
    result = evaluate("prod", stack_file_config("prod"), secrets=[])
    assert str(result.error) == (
        "stack 'prod': airflow-kit:dbPassword = (missing): is required as a secret for an external database: "
        "pulumi config set --secret dbPassword <password>")
    assert result.resources == []


def test_secret_given_in_plain_text_is_refused():
    config = dict(stack_file_config("prod"), dbPassword="hunter2")
    result = evaluate("prod", config, secrets=[])
    assert str(result.error) == (
        "stack 'prod': airflow-kit:dbPassword = '(plain text)': must be stored encrypted: "
        "pulumi config set --secret dbPassword <value>")
    assert "hunter2" not in str(result.error)
    assert result.resources == []


def test_bad_config_corpus_is_large_enough():
    assert len(CASES) >= 20
