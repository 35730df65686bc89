"""The e2e tier: the real Pulumi engine and Kubernetes provider against a real kube-apiserver.

A throwaway control plane (etcd, kube-apiserver, controllers, kwok with fake nodes) runs on
loopback (scripts/local-cluster.sh); the operators' CRDs from ../shared/reference/crds stand
in for add-ons already installed (the ACK situation); the kit's program is copied into a
temporary Pulumi project with a local file backend and a passphrase secrets provider.
Everything skips with the missing tool named when scripts/tools.sh has not built it.
"""

from __future__ import annotations

import subprocess

import pytest
import yaml

from repo_tools.harness import LocalCluster
from tests.support.reference import KIT_CRD_DIR, reference_dir


@pytest.fixture(scope="session")
def cluster(tools_env, tmp_path_factory, request):
    directory = tmp_path_factory.mktemp("local-cluster")
    local = LocalCluster(directory, tools_env)
    try:
        local.start()
    except Exception:
        print(local.logs())
        local.stop()
        raise
    yield local
    if request.session.testsfailed:
        print(local.logs())
    local.stop()


@pytest.fixture(scope="session")
def addon_crds(cluster):
    """The CRDs of add-ons a managed cluster already has (Koordinator, kube-queue, Volcano, KEDA)."""
    crds = reference_dir() / "crds"
    for folder in ("koordinator", "kube-queue", "volcano", "keda"):
        for path in sorted((crds / folder).glob("*.yaml")):
            if "kube-queue-v0.1.0" in path.name:
                continue  # the abandoned kube-queue's QueueUnit has the same name as koord-queue's
            cluster.kubectl("apply", "--server-side", "-f", str(path))
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=120s")
    # ACK's ElasticQuotaTree (the kit's schema: ACK publishes none), and ack-kube-queue as its add-on
    # leaves it: a Deployment in kube-queue whose flags enable the batch/v1 Job extension.
    cluster.kubectl("apply", "--server-side", "-f", str(KIT_CRD_DIR))
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=120s")
    for manifest in ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-queue"}},
                     {"apiVersion": "apps/v1", "kind": "Deployment",
                      "metadata": {"name": "kube-queue-controller", "namespace": "kube-queue"},
                      "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "kube-queue"}},
                               "template": {"metadata": {"labels": {"app": "kube-queue"}},
                                            "spec": {"containers": [{
                                                "name": "kube-queue", "image": "kube-queue:managed",
                                                "args": ["--enabled-extensions=job,tfjob,pytorchjob"]}]}}}}):
        subprocess.run(["kubectl", "--kubeconfig", cluster.kubeconfig, "apply", "-f", "-"],
                       input=yaml.safe_dump(manifest), env=cluster.env, capture_output=True, text=True,
                       check=True, timeout=60)
    # PriorityClasses Koordinator's install creates (the koordinator backend references them).
    for name, value in (("koord-prod", 9000), ("koord-mid", 7000), ("koord-batch", 5000), ("koord-free", 3000)):
        manifest = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                    "metadata": {"name": name}, "value": value}
        subprocess.run(["kubectl", "--kubeconfig", cluster.kubeconfig, "apply", "-f", "-"],
                       input=yaml.safe_dump(manifest), env=cluster.env, capture_output=True, text=True,
                       check=True, timeout=60)
    return crds
