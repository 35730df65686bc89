"""The acceptance tier: the kit's main job on ONE REAL node (scripts/real-node.sh).

containerd runs real containers, kubelet/kube-proxy/CoreDNS make Services and DNS work, and
every image is built here (scripts/images.sh). `pulumi up` of the `local-node` stack installs the
REAL Airflow chart (../shared/reference/charts), then the tests drive Airflow through its REST
API as a user would. Skips, naming what is missing, without root, the node's packages, the
toolchain or the packaged chart. The node itself is the session's (tests/support/real_node.py).
"""

from __future__ import annotations

import pytest

from tests.support.real_node import STACK, deploy, stack_config


@pytest.fixture(scope="module")
def platform(real_node, tools_env, tmp_path_factory):
    """The local-node stack with the real chart, after `pulumi up` (measured)."""
    project = deploy(real_node, tools_env, tmp_path_factory.mktemp("project"), STACK, stack_config())
    yield project
    if not getattr(project, "destroyed", False):
        project.pulumi("destroy", "--yes", "--skip-preview", "--stack", STACK, check=False, timeout=900)
