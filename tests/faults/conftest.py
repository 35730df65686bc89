"""The fault tier: parts of the platform crash, for real, with work in flight (`make test-faults`).

One stack of the kit (local-node's shape, its own namespace) on the session's real node; each
scenario triggers `kit_fault_probe` (a KubernetesExecutor task in the team's pod, a Celery task
and a deferred task), waits until all three are in flight, breaks one part (SIGKILL of a process
from the host, a pod deleted, the node rebooted, `pulumi up` killed) and waits for the run to end
by itself. What a user would lose is asserted after each: runs, connections, variables, pools,
logs, the API. The drivers live in tests/support/faults.py.
"""

from __future__ import annotations

import json
import time

import pytest

from airflow_kit_platform.airflow.values import ORPHAN_CHECK_SECONDS
from tests.support.faults import CONNECTION, NAMESPACE, POOL, PROBE, STACK, VARIABLE, FaultLab
from tests.support.real_node import deploy, stack_config


@pytest.fixture(scope="session")
def fault_lab(real_node, tools_env, tmp_path_factory):
    project = deploy(real_node, tools_env, tmp_path_factory.mktemp("faults"), STACK, stack_config(NAMESPACE))
    outputs = json.loads(project.pulumi("stack", "output", "--json", "--show-secrets", "--stack", STACK).stdout)
    lab = FaultLab(real_node, project, outputs)
    lab.call("POST", "/connections", json=CONNECTION)
    lab.call("POST", "/variables", json=VARIABLE)
    lab.call("POST", "/pools", json=POOL)
    lab.api().wait_for_dags({PROBE, "kit_fault_oom"})
    yield lab
    # Last: the fault stack destroyed leaves nothing running in its namespace (the node's stop
    # then undoes the host changes and says so). Finished task pods go first, deleted by the
    # scheduler within its orphan check: they hold the logs claim, which destroy waits for.
    deadline = time.monotonic() + ORPHAN_CHECK_SECONDS + 120
    while lab.task_pods() and time.monotonic() < deadline:
        time.sleep(3)
    project.pulumi("destroy", "--yes", "--skip-preview", "--stack", STACK, timeout=900)
    left = real_node.kubectl("-n", NAMESPACE, "get", "pods,deployments,statefulsets,services", "-o", "name",
                             check=False).stdout.split()
    assert left == [], f"left after destroy: {left}"
