"""Every pinned version the kit depends on, in one place.

Charts, images, Python packages and the toolchain built by scripts/tools.sh all read
from here (`python3 components/versions.py --shell` prints them for shell scripts).
Bumping a version is a one-line change in this file plus `requirements*.txt`, which
tests/unit/test_versions.py keeps in step with it.
"""

from __future__ import annotations

import sys

# --- Helm charts -------------------------------------------------------------------
AIRFLOW_CHART_REPO = "https://airflow.apache.org"
# The Airflow releases the kit is tested with, newest first: Airflow version -> the chart release
# that installs it. A stack picks one with `airflow.version` (default: the first); the chart, the
# Airflow image tag, the fused worker images' Airflow and the chart's `airflowVersion` all follow it.
# Chart 1.19.0 (appVersion 3.1.7) was released for the 3.1 line; 3.1.8 is that line's last patch
# (chart 1.20.0 makes it its default); Airflow 3.2 arrives with charts 1.21/1.22.
TESTED_AIRFLOW_RELEASES = {"3.1.8": "1.19.0", "3.1.7": "1.19.0"}
AIRFLOW_VERSION = next(iter(TESTED_AIRFLOW_RELEASES))
AIRFLOW_CHART_VERSION = TESTED_AIRFLOW_RELEASES[AIRFLOW_VERSION]

KEDA_CHART_REPO = "https://kedacore.github.io/charts"
KEDA_CHART_VERSION = "2.20.2"

VOLCANO_CHART_REPO = "https://volcano-sh.github.io/helm-charts"
VOLCANO_CHART_VERSION = "1.15.1"

KOORDINATOR_CHART_REPO = "https://koordinator-sh.github.io/charts"
KOORDINATOR_CHART_VERSION = "1.8.0"
KOORD_QUEUE_CHART_VERSION = "1.8.0"  # same chart repo as Koordinator

# --- Python packages (requirements.txt mirrors these; a test keeps them equal) -------
PYTHON_PACKAGES = {
    "pulumi": "3.272.0",
    "pulumi-kubernetes": "4.24.1",  # the newest SDK not newer than the plugin tools.sh can build (scripts/build-versions.sh)
    "apache-airflow": AIRFLOW_VERSION,
    "apache-airflow-providers-cncf-kubernetes": "10.25.0",
    "apache-airflow-providers-celery": "3.26.0",
    "celery": "5.6.3",  # 5.7.0 breaks the Celery executor import (FACTS.md)
}

# --- Images built locally for the real-node tier (scripts/images.sh) ------------------
# Debian suite of every image (mmdebstrap base; Postgres 15 and Redis 7.0 come from it).
IMAGE_DEBIAN_SUITE = "bookworm"
# On top of PYTHON_PACKAGES' Airflow pins (and constraints.txt): what the chart's components need
# to reach the bundled Postgres and Redis, and the init the entrypoint runs under.
AIRFLOW_IMAGE_PACKAGES = {
    "apache-airflow-providers-postgres": "7.1.1",
    "psycopg2-binary": "2.9.13",
    "asyncpg": "0.32.0",
    "psycopg": "3.3.9",
    "psycopg-binary": "3.3.9",
    "dumb-init": "1.2.5.post1",
}

# --- Toolchain for the e2e tier (scripts/tools.sh builds these from Go modules) ------
PULUMI_CLI_VERSION = "3.272.0"
PULUMI_KUBERNETES_PROVIDER_VERSION = PYTHON_PACKAGES["pulumi-kubernetes"]
KUBERNETES_VERSION = "1.33.4"
ETCD_VERSION = "3.5.21"
KWOK_VERSION = "0.8.0"
HELM_VERSION = "3.18.6"
# The real batch schedulers the tests run (scripts/tools.sh builds them from Go modules).
KOORDINATOR_VERSION = KOORDINATOR_CHART_VERSION  # koord-scheduler of the chart the kit installs
# A real node for the acceptance tier: kubelet and kube-proxy at KUBERNETES_VERSION, CoreDNS
# at the version kubeadm pairs with it.
COREDNS_VERSION = "1.12.0"
# The node's dynamic volume provisioner (WaitForFirstConsumer, a folder on the node per volume):
# the bundled Postgres and Redis, the chart's log volumes and the local-disk tasks get their
# volumes from it.
LOCAL_PATH_PROVISIONER_VERSION = "0.0.30"
# The node's NetworkPolicy enforcer (the bridge CNI enforces none): kube-network-policies, patched
# to queue packets through xtables' NFQUEUE target (this kernel has nft_compat, not nft_queue).
KUBE_NETWORK_POLICIES_VERSION = "0.8.0"


def shell_assignments() -> str:
    """Upper-case module constants as `NAME=value` lines for `eval` in shell scripts."""
    lines = []
    for name, value in sorted(globals().items()):
        if name.isupper() and isinstance(value, str):
            lines.append(f"{name}={value}")
    for package, version in sorted(PYTHON_PACKAGES.items()):
        lines.append(f"PY_{package.upper().replace('-', '_')}={version}")
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:] == ["--shell"]:
        print(shell_assignments())
    else:
        sys.exit("usage: python3 components/versions.py --shell")
