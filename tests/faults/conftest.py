"""The fault tier: parts of the platform crash, for real, with work in flight (`make test-faults`).

The session's `local-node` stack on its real node (tests/support/real_node.py: the main job's
tests used it first); each scenario triggers `kit_fault_probe` (a KubernetesExecutor task in the
team's pod, a Celery task and a deferred task), waits until all three are in flight, breaks one
part (SIGKILL of a process from the host, a pod deleted, the node rebooted, `pulumi up` killed)
and waits for the run to end by itself. What a user would lose is asserted after each: runs,
connections, variables, pools, logs, the API. The drivers live in tests/support/faults.py;
tests/realnode/test_destroy.py destroys the stack after the last scenario.
"""

from __future__ import annotations

import json

import pytest

from tests.support.faults import CONNECTION, POOL, PROBE, VARIABLE, FaultLab
from tests.support.real_node import STACK


@pytest.fixture(scope="session")
def fault_lab(real_node, kit_stack):
    outputs = json.loads(kit_stack.pulumi("stack", "output", "--json", "--show-secrets", "--stack", STACK).stdout)
    lab = FaultLab(real_node, kit_stack, outputs)
    lab.call("POST", "/connections", json=CONNECTION)
    lab.call("POST", "/variables", json=VARIABLE)
    lab.call("POST", "/pools", json=POOL)
    lab.api().wait_for_dags({PROBE, "kit_fault_oom"})
    return lab
