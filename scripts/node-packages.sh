#!/usr/bin/env bash
# The Debian packages a real node and the image builds need (scripts/real-node.sh,
# scripts/images.sh). Installs only what is missing; needs root and a Debian mirror.
set -euo pipefail
PACKAGES=(containerd runc containernetworking-plugins iptables conntrack socat mmdebstrap buildah skopeo umoci)
missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" = 0 ]; then echo "node packages: all installed"; exit 0; fi
[ "$(id -u)" = 0 ] || { echo "node packages missing (${missing[*]}): run as root: apt-get install ${missing[*]}" >&2; exit 1; }
started=$SECONDS
DEBIAN_FRONTEND=noninteractive apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
echo "node packages: installed ${missing[*]} in $((SECONDS - started))s"
