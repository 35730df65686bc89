#!/usr/bin/env bash
# Patch a writable copy of sigs.k8s.io/kube-network-policies v0.8.0 for the kit's node:
#   1. its rules send packets to userspace with nftables' `queue` expression, which needs the
#      kernel's nft_queue; kernels built without it (this machine's: CONFIG_NFT_QUEUE is not set)
#      still have nft_compat and xtables' NFQUEUE target, which queue to the same netlink queue.
#   2. it only reads the in-cluster config; on the kit's node it runs as a node program (like
#      kube-proxy) with a kubeconfig, so $KUBECONFIG is read first when set.
# Each replacement must match exactly once, so an upstream change fails the build loudly.
#
#   scripts/patches/kube-network-policies.sh DIR
set -euo pipefail
DIR=${1:?usage: kube-network-policies.sh DIR}

python3 - "$DIR" <<'PY'
import pathlib
import sys

root = pathlib.Path(sys.argv[1])


def replace(path: str, old: str, new: str, count: int) -> None:
    file = root / path
    text = file.read_text()
    found = text.count(old)
    if found != count:
        sys.exit(f"kube-network-policies patch: expected {count} of {old!r} in {path}, found {found}")
    file.write_text(text.replace(old, new))


replace("pkg/networkpolicy/controller.go",
        "\tqueue := &expr.Queue{Num: uint16(c.config.QueueID)}\n"
        "\tif c.config.FailOpen {\n"
        "\t\tqueue.Flag = expr.QueueFlagBypass\n"
        "\t}\n",
        "\tqueue := nfqueueTarget(uint16(c.config.QueueID), c.config.FailOpen)\n", 2)
(root / "pkg/networkpolicy/xt_nfqueue.go").write_text('''package networkpolicy

import (
	"encoding/binary"

	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
)

// nfqueueTarget is xtables' NFQUEUE target (revision 3) run through nft_compat: the same queue
// as nftables' queue expression, for kernels built without nft_queue.
func nfqueueTarget(num uint16, bypass bool) expr.Any {
	// struct xt_NFQ_info_v3 { __u16 queuenum; __u16 queues_total; __u16 flags; }, padded to XT_ALIGN.
	info := make(xt.Unknown, 8)
	binary.NativeEndian.PutUint16(info[0:], num)
	binary.NativeEndian.PutUint16(info[2:], 1)
	if bypass {
		binary.NativeEndian.PutUint16(info[4:], 1) // NFQ_FLAG_BYPASS
	}
	return &expr.Target{Name: "NFQUEUE", Rev: 3, Info: &info}
}
''')
replace("cmd/main.go", "\tconfig, err := rest.InClusterConfig()\n",
        "\tconfig, err := clientcmd.BuildConfigFromFlags(\"\", os.Getenv(\"KUBECONFIG\"))\n", 1)
replace("cmd/main.go", '\t"k8s.io/client-go/rest"\n', '\t"k8s.io/client-go/tools/clientcmd"\n', 1)
PY
