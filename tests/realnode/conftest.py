"""The acceptance tier: the kit's main job on ONE REAL node (scripts/real-node.sh).

containerd runs real containers, kubelet/kube-proxy/CoreDNS make Services and DNS work, and
every image is built here (scripts/images.sh). `pulumi up` of the `local-node` stack installs the
REAL Airflow chart (../shared/reference/charts), then the tests drive Airflow through its REST
API as a user would. Skips, naming what is missing, without root, the node's packages, the
toolchain or the packaged chart. The node and its `local-node` stack are the session's
(tests/support/real_node.py): the fault tier uses the same stack after the main job's tests.
"""
