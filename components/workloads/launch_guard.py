"""What a Celery task may launch beside Airflow: an admission policy on the worker's account.

A Celery worker runs every team's business code, and a task that launches pods
(KubernetesPodOperator, the queued Job operator) uses the worker's account: the chart binds it
to its pod and Job launcher Roles in the stack's namespace (pods create/patch/delete,
pods/exec). RBAC cannot say which pods: with those verbs alone a task could start a pod that
mounts `airflow-metadata`, run a pod as the scheduler's account, exec into the scheduler (its
env holds the database URL and the Fernet key), swap the scheduler's image, or start a pod
carrying the API server's labels so that its Service sends users' requests there.

So the kit adds a ValidatingAdmissionPolicy that the API server applies to requests of that
one account in the stack's namespace only (Kubernetes 1.30+):

* a pod or Job it creates mounts no Secret (volume, projected volume, env, envFrom), runs as
  the namespace's `default` account or the kit's task account, and carries none of the chart's
  selector labels (`release`, `app.kubernetes.io/instance` of the release);
* it may change or delete only pods a KubernetesPodOperator started (their
  `kubernetes_pod_operator` label), not Airflow's own;
* it may not exec, attach or port-forward into the release's pods (named `<release>-...`).

A KubernetesPodOperator pod of the kit's shape (no Secret, the team's labels) passes, and the
operator keeps following, patching and deleting its pods. Refusals answer 403 with the rule.
The scheduler and the triggerer run no task code and are not restricted. With `teamNamespaces`
a team's launches happen in its own namespace, where no Airflow Secret lives.
"""

from __future__ import annotations

from typing import Any

from airflow_kit_platform.airflow.chart_names import CHART, ChartNames
from airflow_kit_platform.airflow.values import uses_celery
from airflow_kit_platform.model.names import NAMESPACE_NAME_LABEL, part_of
from airflow_kit_platform.model.pod_security import TASK_SERVICE_ACCOUNT
from airflow_kit_platform.settings import Settings

GUARD_PREFIX = "airflow-kit-celery-launches-"  # + the stack's namespace (the policy is cluster-scoped)
KPO_LABEL = "kubernetes_pod_operator"  # the label KubernetesPodOperator puts on every pod it starts
ALLOWED_ACCOUNTS = ("default", TASK_SERVICE_ACCOUNT)
# The chart's Services select its pods by `release` (the Bitnami database by `app.kubernetes.io/instance`).
CHART_SELECTOR_LABELS = ("release", "app.kubernetes.io/instance")

# A pod's spec, created directly or through a Job's template (evaluated only for CREATE).
_SPEC = "request.resource.resource == 'jobs' ? object.spec.template.spec : object.spec"
_LABELS = ("request.resource.resource == 'jobs' ? "
           "(has(object.spec.template.metadata) && has(object.spec.template.metadata.labels) ? "
           "object.spec.template.metadata.labels : {}) : "
           "(has(object.metadata.labels) ? object.metadata.labels : {})")
_CONTAINERS = ("variables.spec.containers + "
               "(has(variables.spec.initContainers) ? variables.spec.initContainers : [])")
_CREATES_POD = "request.operation == 'CREATE'"  # of pods and Jobs: the pods' subresources match CONNECT only


def _quoted(values) -> str:
    return "[" + ", ".join(f"'{value}'" for value in values) + "]"


def guard_name(namespace: str) -> str:
    return f"{GUARD_PREFIX}{namespace}"


def celery_launch_policy(namespace: str, names: ChartNames = CHART) -> dict[str, Any]:
    """The policy for the Celery workers of the stack whose namespace this is."""
    worker = f"system:serviceaccount:{namespace}:{names.worker_service_account}"
    releases = sorted({names.release, names.fullname})
    accounts = _quoted(ALLOWED_ACCOUNTS)
    own_pods = " || ".join(f"request.name.startsWith('{release}-')" for release in releases)
    validations = [
        (f"!({_CREATES_POD}) || ((!has(variables.spec.volumes) || variables.spec.volumes.all(v, "
         "!has(v.secret) && (!has(v.projected) || !has(v.projected.sources) || "
         "v.projected.sources.all(s, !has(s.secret))))) && variables.containers.all(c, "
         "(!has(c.env) || c.env.all(e, !has(e.valueFrom) || !has(e.valueFrom.secretKeyRef))) && "
         "(!has(c.envFrom) || c.envFrom.all(f, !has(f.secretRef)))))",
         "a task's pod may not read a Secret of Airflow's namespace"),
        (f"!({_CREATES_POD}) || ((!has(variables.spec.serviceAccountName) || "
         f"variables.spec.serviceAccountName in {accounts}) && "
         f"(!has(variables.spec.serviceAccount) || variables.spec.serviceAccount in {accounts}))",
         f"a task's pod runs as one of {', '.join(ALLOWED_ACCOUNTS)}, not as an Airflow account"),
        (f"!({_CREATES_POD}) || !{_quoted(CHART_SELECTOR_LABELS)}.exists(key, "
         f"key in variables.labels && variables.labels[key] in {_quoted(releases)})",
         "a task's pod may not carry the labels of Airflow's components"),
        ("!(request.operation in ['UPDATE', 'DELETE'] && request.resource.resource == 'pods') || "
         f"(has(oldObject.metadata.labels) && '{KPO_LABEL}' in oldObject.metadata.labels)",
         "a task may change or delete only the pods a KubernetesPodOperator started"),
        (f"request.operation != 'CONNECT' || !({own_pods})",
         "a task may not exec, attach or port-forward into Airflow's pods"),
    ]
    return {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": guard_name(namespace), "labels": part_of()},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [
                {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE", "DELETE", "CONNECT"],
                 "resources": ["pods", "pods/exec", "pods/attach", "pods/portforward"]},
                {"apiGroups": ["batch"], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["jobs"]},
            ]},
            "matchConditions": [{"name": "celery-worker-account",
                                 "expression": f"request.userInfo.username == '{worker}'"}],
            "variables": [{"name": "spec", "expression": _SPEC}, {"name": "labels", "expression": _LABELS},
                          {"name": "containers", "expression": _CONTAINERS}],
            "validations": [{"expression": expression, "message": message, "reason": "Forbidden"}
                            for expression, message in validations],
        },
    }


def celery_launch_policy_binding(namespace: str) -> dict[str, Any]:
    """Applies the policy in that namespace only (team namespaces hold no Airflow Secret)."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": guard_name(namespace), "labels": part_of()},
        "spec": {"policyName": guard_name(namespace), "validationActions": ["Deny"],
                 "matchResources": {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: namespace}}}},
    }


def celery_launch_guard(settings: Settings, names: ChartNames = CHART) -> list[dict[str, Any]]:
    """The policy and its binding (none without Celery workers)."""
    if not uses_celery(settings):
        return []
    return [celery_launch_policy(settings.namespace, names), celery_launch_policy_binding(settings.namespace)]
