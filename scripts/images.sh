#!/usr/bin/env bash
# Build the images a stack runs on the real node, without a registry (images/README.md).
#
#   scripts/images.sh build [--stack STACK]        build what is missing (default stack local-node)
#   scripts/images.sh load --address SOCK [--stack STACK]   import them into a containerd
#   scripts/images.sh refs [--stack STACK]          the image references the stack runs (no build)
#
# Each image is kept as an OCI archive in ${AIRFLOW_KIT_CACHE:-~/.cache/airflow-kit}/images,
# named by the hash of everything that goes into it (its recipe, the pinned versions, the base
# image's hash, the kit's DAGs and the DAG helper's wheel for the Airflow image, the rendered
# build context for a fused worker image): a warm run builds nothing and loads in seconds.
# The DAG helper (packages/airflow-kit-dags, import name airflow_kit) goes into the Airflow image
# and every fused worker image as a wheel made from the installed distribution (offline, stable
# bytes: components/workloads/helper_wheel.py). Builds use buildah with
# the host network (Debian mirrors and PyPI) and the host's CA bundle mounted read-only.
# <cache>/images/build-times.txt gets one line per build.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=${AIRFLOW_KIT_TOOLS:-$REPO/.tools}
CACHE=${AIRFLOW_KIT_CACHE:-$HOME/.cache/airflow-kit}
ARCHIVES=$CACHE/images
# The repo's venv (make setup): the kit's package and the DAG helper are installed there. Not $PYTHON,
# which make passes as the interpreter that creates the venv.
KIT_PYTHON=${AIRFLOW_KIT_PYTHON:-$REPO/.venv/bin/python}
HOST_CA=${AIRFLOW_KIT_HOST_CA:-/etc/ssl/certs/ca-certificates.crt}

usage() { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
# shellcheck source=scripts/processes.sh
. "$REPO/scripts/processes.sh"
[ -x "$KIT_PYTHON" ] || die "no $KIT_PYTHON: run 'make setup' first (it creates the venv)"

[ $# -ge 1 ] || usage 2
CMD=$1; shift
STACK=local-node ADDRESS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --stack) STACK=${2:?}; shift 2 ;;
    --address) ADDRESS=${2:?}; shift 2 ;;
    -h|--help) usage 0 ;;
    *) usage 2 ;;
  esac
done

eval "$(python3 "$REPO/components/versions.py" --shell)"
SUITE=$IMAGE_DEBIAN_SUITE
DEBIAN_REF=localhost/airflow-kit/debian:$SUITE
PAUSE_REF=localhost/airflow-kit/pause:kit
mkdir -p "$ARCHIVES"

hash_of() { sha256sum | cut -c1-16; }
# Hash of files/directories (names and contents), stable across clones.
tree_hash() {
  local path
  for path in "$@"; do
    (cd "$(dirname "$path")" && find "$(basename "$path")" -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 \
      | LC_ALL=C sort -z | xargs -0 sha256sum)
  done | hash_of
}

# The stack's image references, from its config (one place: the stack file).
stack_images() {
  "$KIT_PYTHON" - "$REPO" "$STACK" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from airflow_kit_platform.workloads.worker_image import load_stack_settings

settings = load_stack_settings(sys.argv[2])
images = settings.images
print("STACK_AIRFLOW_VERSION=" + settings.airflow.version)
print("AIRFLOW_REF=" + settings.airflow.image)
print("POSTGRES_REF=" + (images.postgres or ""))
print("REDIS_REF=" + (images.redis or ""))
business = sorted({team.business_image for team in settings.teams.leaves() if team.business_image})
print("BUSINESS_REFS='" + " ".join(business) + "'")
PY
}

archive_of() { echo "$ARCHIVES/$1-$2.oci.tar"; }  # archive_of NAME KEY

# Make REF available to buildah (from its archive) when a later build needs it as a base.
ensure_in_buildah() {  # ensure_in_buildah REF ARCHIVE
  buildah inspect --type image "$1" >/dev/null 2>&1 && return 0
  local id; id=$(buildah pull --quiet "oci-archive:$2")
  buildah tag "$id" "$1"
}

# store_image NAME REF KEY ARCHIVE STARTED: the built image as its archive, timed.
store_image() {
  local name=$1 ref=$2 key=$3 archive=$4 seconds=$((SECONDS - $5))
  rm -f "$archive.tmp"
  buildah push --quiet "$ref" "oci-archive:$archive.tmp:$ref"
  mv "$archive.tmp" "$archive"
  printf '%s %s %s wall=%ss\n' "$(date -u +%FT%TZ)" "$name" "$key" "$seconds" >>"$ARCHIVES/build-times.txt"
  log "$name: built in ${seconds}s"
}

bud() {  # bud REF CONTEXT [buildah bud args...]
  local ref=$1 context=$2; shift 2
  buildah bud --quiet --network host --layers -v "$HOST_CA:/etc/ssl/certs/ca-certificates.crt:ro" \
    -t "$ref" "$@" "$context"
}

# --- the images ---------------------------------------------------------------------------

KEYS=()  # "ref archive" of every image, in build order

build_debian() {
  local key archive rootfs started
  key=$(printf 'debian %s minbase ca-certificates #r1' "$SUITE" | hash_of)
  archive=$(archive_of debian "$key")
  KEYS+=("$DEBIAN_REF $archive"); DEBIAN_KEY=$key
  [ -f "$archive" ] && return 0
  started=$SECONDS
  rootfs=$ARCHIVES/debian-$SUITE-rootfs-$key.tar
  if [ ! -f "$rootfs" ]; then
    log "debian: mmdebstrap $SUITE (minbase)"
    mmdebstrap --quiet --format=tar --variant=minbase --include=ca-certificates "$SUITE" "$rootfs.tmp" && mv "$rootfs.tmp" "$rootfs"
  fi
  local c; c=$(buildah from scratch)
  buildah add --quiet "$c" "$rootfs" / >/dev/null
  buildah config --env PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin --cmd /bin/bash "$c"
  buildah commit --quiet --rm "$c" "$DEBIAN_REF" >/dev/null
  store_image debian "$DEBIAN_REF" "$key" "$archive" "$started"
}

build_pause() {
  local key archive started
  [ -x "$TOOLS/bin/pause" ] || die "$TOOLS/bin/pause missing (scripts/tools.sh --only pause)"
  key=$( { echo pause; sha256sum <"$TOOLS/bin/pause"; } | hash_of)
  archive=$(archive_of pause "$key")
  KEYS+=("$PAUSE_REF $archive")
  [ -f "$archive" ] && return 0
  started=$SECONDS
  local c; c=$(buildah from scratch)
  buildah copy --quiet "$c" "$TOOLS/bin/pause" /pause >/dev/null
  buildah config --entrypoint '["/pause"]' "$c"
  buildah commit --quiet --rm "$c" "$PAUSE_REF" >/dev/null
  store_image pause "$PAUSE_REF" "$key" "$archive" "$started"
}

# build_recipe NAME REF [extra context paths hashed too...]: images/NAME/Containerfile FROM debian
build_recipe() {
  local name=$1 ref=$2 key archive started context; shift 2
  key=$( { echo "$name $ref $DEBIAN_KEY"; tree_hash "$REPO/images/$name" "$@"; python3 "$REPO/components/versions.py" --shell; } | hash_of)
  archive=$(archive_of "$name" "$key")
  KEYS+=("$ref $archive")
  eval "KEY_${name//-/_}=$key ARCHIVE_${name//-/_}=$archive"
  [ -f "$archive" ] && return 0
  ensure_in_buildah "$DEBIAN_REF" "$(archive_of debian "$DEBIAN_KEY")"
  started=$SECONDS
  context=$(mktemp -d)
  cp -r "$REPO/images/$name/." "$context/"
  if [ "$name" = airflow ]; then
    cp "$REPO/constraints.txt" "$context/constraints.txt"
    airflow_requirements >"$context/requirements.txt"
    cp "$HELPER_WHEEL" "$context/"
    mkdir -p "$context/dags"
    (cd "$REPO/dags" && tar cf - --exclude __pycache__ --exclude '*.pyc' .) | (cd "$context/dags" && tar xf -)
  fi
  log "$name: building $ref"
  bud "$ref" "$context" -f "$context/Containerfile" --build-arg "BASE_IMAGE=$DEBIAN_REF" >/dev/null
  rm -rf "$context"
  store_image "$name" "$ref" "$key" "$archive" "$started"
}

airflow_requirements() {
  "$KIT_PYTHON" - "$REPO" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from airflow_kit_platform import versions
pins = {name: version for name, version in versions.PYTHON_PACKAGES.items() if not name.startswith("pulumi")}
pins.update(versions.AIRFLOW_IMAGE_PACKAGES)
print("\n".join(f"{name}=={version}" for name, version in pins.items()))
PY
}

# Fused worker images: the kit's own rendered build contexts (make worker-images).
build_fused() {
  local out team directory tag key archive started
  out=$(mktemp -d)
  "$KIT_PYTHON" -m airflow_kit_platform.workloads.worker_image --stack "$STACK" --out "$out" 2>/dev/null >"$out/contexts.txt" \
    || die "could not render the worker image contexts of stack $STACK"
  while IFS=$'\t' read -r team directory tag; do
    [ -n "${directory:-}" ] && [ -d "$directory" ] || continue
    key=$( { echo "fused $tag"; cat "$directory/Dockerfile"; sha256sum <"$directory/$(basename "$HELPER_WHEEL")";
             echo "$KEY_airflow $KEY_business_python"; sha256sum <"$REPO/constraints.txt"; } | hash_of)
    archive=$(archive_of "worker-$team" "$key")
    KEYS+=("$tag $archive")
    [ -f "$archive" ] && continue
    ensure_in_buildah "$AIRFLOW_REF" "$ARCHIVE_airflow"
    ensure_in_buildah "$BUSINESS_REF" "$ARCHIVE_business_python"
    started=$SECONDS
    log "worker image of team $team: building $tag"
    bud "$tag" "$directory" -v "$REPO/constraints.txt:/kit/constraints.txt:ro" \
      --build-arg AIRFLOW_CONSTRAINTS_URL=/kit/constraints.txt >/dev/null
    store_image "worker-$team" "$tag" "$key" "$archive" "$started"
  done <"$out/contexts.txt"
  rm -rf "$out"
}

# The DAG helper's wheel, made once per run from the installed distribution (stable bytes).
helper_wheel() {
  HELPER_DIR=$(mktemp -d)
  trap 'rm -rf "$HELPER_DIR"' EXIT
  HELPER_WHEEL=$(cd "$REPO" && "$KIT_PYTHON" -m airflow_kit_platform.workloads.helper_wheel --out "$HELPER_DIR") \
    || die "could not make the DAG helper's wheel (pip install -e ./packages/airflow-kit-dags into $KIT_PYTHON's venv)"
}

plan() {
  eval "$(stack_images)"
  [ -n "$POSTGRES_REF" ] && [ -n "$REDIS_REF" ] || die "stack $STACK sets no images.postgres / images.redis"
  # constraints.txt is the verified set of the pinned Airflow: other tested releases build elsewhere.
  [ "$STACK_AIRFLOW_VERSION" = "$AIRFLOW_VERSION" ] \
    || die "stack $STACK pins Airflow $STACK_AIRFLOW_VERSION; images are built here for $AIRFLOW_VERSION (constraints.txt)"
  helper_wheel
  set -- $BUSINESS_REFS
  [ $# -le 1 ] || die "stack $STACK: only one business image can be built here (got: $*)"
  BUSINESS_REF=${1:-localhost/airflow-kit/business-python:3.11}
  build_debian
  build_pause
  build_recipe airflow "$AIRFLOW_REF" "$REPO/dags" "$REPO/constraints.txt" "$HELPER_WHEEL"
  build_recipe postgres "$POSTGRES_REF"
  build_recipe redis "$REDIS_REF"
  build_recipe business-python "$BUSINESS_REF"
  build_fused
}

# Archives of earlier inputs (a DAG change makes a new Airflow archive): keep only the current one.
prune_archives() {
  local entry archive prefix old
  for entry in "${KEYS[@]}"; do
    archive=${entry#* }
    prefix=${archive%-????????????????.oci.tar}
    for old in "$prefix"-????????????????.oci.tar; do
      [ -f "$old" ] && [ "$old" != "$archive" ] && rm -f "$old" && log "removed superseded $(basename "$old")"
    done
  done
  return 0
}

cmd_build() {
  for b in buildah mmdebstrap; do command -v "$b" >/dev/null || die "$b not found (apt-get install buildah mmdebstrap)"; done
  local started=$SECONDS
  plan
  prune_archives
  log "all images ready in $((SECONDS - started))s"
}

cmd_load() {
  [ -n "$ADDRESS" ] || die "load needs --address <containerd socket>"
  local entry archive started=$SECONDS
  plan
  for entry in "${KEYS[@]}"; do
    archive=${entry#* }
    ctr --address "$ADDRESS" -n k8s.io images import "$archive" >/dev/null \
      || die "could not import $archive"
  done
  log "images loaded into $ADDRESS in $((SECONDS - started))s"
}

case "$CMD" in
  build) cmd_build ;;
  load) cmd_load ;;
  refs) stack_images ;;
  *) usage 2 ;;
esac
