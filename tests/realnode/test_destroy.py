"""Last on the real node: `pulumi destroy` of the session's `local-node` stack, after the main
job's tests and the fault scenarios (tests/conftest.py orders the real-node lane). What a user
sees go wrong here: a destroy that leaves the release, its Services or its Secrets behind, or
pods still running.
"""

from __future__ import annotations

import time

from airflow_kit_platform.airflow.values import ORPHAN_CHECK_SECONDS
from tests.support.measurements import MEASURED
from tests.support.real_node import NAMESPACE

TASK_POD_LABEL = "kubernetes_executor=True"


def test_destroy_leaves_only_what_the_design_retains(kit_stack, real_node):
    # Finished task pods go first, deleted by the scheduler within its orphan check: they hold the
    # logs claim, which destroy waits for.
    deadline = time.monotonic() + ORPHAN_CHECK_SECONDS + 120
    while real_node.pods(NAMESPACE, TASK_POD_LABEL) and time.monotonic() < deadline:
        time.sleep(3)
    started = time.perf_counter()
    kit_stack.destroy()
    kit_stack.destroyed = True
    MEASURED["real node: pulumi destroy"] = f"{time.perf_counter() - started:.0f} s"
    left = {}
    for kind in ("deployments", "statefulsets", "jobs", "services", "secrets", "configmaps",
                 "persistentvolumeclaims", "serviceaccounts", "roles", "rolebindings", "poddisruptionbudgets"):
        names = real_node.kubectl("-n", NAMESPACE, "get", kind, "-o", "name", check=False).stdout.split()
        names = [n for n in names if not n.endswith(("/kube-root-ca.crt", "/default"))]
        if names:
            left[kind] = names
    # Kubernetes keeps a StatefulSet's claims by design: the bundled database's and Redis's data.
    retained_claims = {"persistentvolumeclaim/data-airflow-postgresql-0",
                       "persistentvolumeclaim/redis-db-airflow-redis-0"}
    assert set(left.pop("persistentvolumeclaims", [])) <= retained_claims
    assert not left, f"left behind by destroy: {left}"
    deadline = time.monotonic() + 120
    while real_node.kubectl("-n", NAMESPACE, "get", "pods", "-o", "name").stdout.strip():
        assert time.monotonic() < deadline, "pods still running after destroy"
        time.sleep(2)
