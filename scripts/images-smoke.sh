#!/usr/bin/env bash
# Runs what `./dev images` built last (images/built/images.env), from the images' own root
# file systems: no container runtime works in this VM (podman's crun fails on setrlimit), so
# each command runs the way a runtime would start it, by hand: buildah mounts the image, a
# private mount and PID namespace gets /proc, a minimal /dev, a tmpfs /tmp and the volumes,
# the root file system is read-only (as the DaemonSet asks), and the image's entrypoint,
# working directory, environment and user (or the manifest's) apply.
#   agent image  `podlb --help` and `podlb controller --help` as the image's user; every module
#                of dist/src loads; koffi calls libc; `podlb render bird` as the DaemonSet runs
#                the agent (uid 0), on a sample node, pool and peer
#   bird image   `bird -p` accepts the rendered config; the DaemonSet's init-container script
#                (taken from daemonset/daemonset.yaml) writes and checks bird.conf; BIRD starts
#                with the DaemonSet's command in a network namespace, answers the liveness
#                probe's command, and the preStop command stops it gracefully
#   manifests    `kubectl kustomize images/built/` names exactly the images built
# Leaves the images in storage; removes its containers, namespace and files. Root only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
[ "$(id -u)" = 0 ] || { echo "scripts/images-smoke.sh mounts images and creates a network namespace: run it as root" >&2; exit 1; }
[ -s images/built/images.env ] || { echo "no images/built/images.env: build the images first (sudo ./dev images)" >&2; exit 1; }
# shellcheck disable=SC1091
. images/built/images.env

WORK=$(mktemp -d /tmp/podlb-smoke.XXXXXX)
NS=podlb-smoke-$$
CTRS=()
cleanup() {
  if [ -e "/run/netns/$NS" ]; then
    for p in $(ip netns pids "$NS" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
    ip netns del "$NS" 2>/dev/null || true
  fi
  for c in "${CTRS[@]}"; do buildah rm "$c" >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

FAILED=0
check() {
  local what=$1 t0=$SECONDS
  shift
  if "$@" >"$WORK/out" 2>&1; then
    echo "ok    $what ($((SECONDS - t0)) s)"
  else
    echo "FAIL  $what"; sed 's/^/      /' "$WORK/out" | tail -20; FAILED=1
  fi
}

# mount_image IMAGE VAR: VAR = the mounted root of a new working container of IMAGE.
mount_image() {
  local ctr
  ctr=$(buildah from --quiet --pull-never "$1"); CTRS+=("$ctr")
  printf -v "$2" '%s' "$(buildah mount "$ctr")"
}
image_field() { buildah inspect --type image --format "$2" "$1"; }

# contain ROOTFS USER WORKDIR ENVFILE CMD...: CMD inside ROOTFS. BINDS ("host:container" ...)
# are the volumes; NETNS, when set, the network namespace.
BINDS=()
NETNS=
contain() {
  local root=$1 user=$2 wd=$3 envfile=$4 pre=()
  shift 4
  [ -n "$NETNS" ] && pre=(ip netns exec "$NETNS")
  "${pre[@]}" bash "$ROOT/scripts/contain.sh" "$root" "$user" "$wd" "$envfile" "${BINDS[@]}" -- "$@"
}

# ---- agent image ------------------------------------------------------------------------------
mount_image "$AGENT_IMAGE" A
A_USER=$(image_field "$AGENT_IMAGE" '{{.OCIv1.Config.User}}')
A_WD=$(image_field "$AGENT_IMAGE" '{{.OCIv1.Config.WorkingDir}}')
image_field "$AGENT_IMAGE" '{{range .OCIv1.Config.Env}}{{println .}}{{end}}' | grep . >"$WORK/agent.env"
mapfile -t A_ENTRY < <(image_field "$AGENT_IMAGE" '{{range .OCIv1.Config.Entrypoint}}{{println .}}{{end}}' | grep .)
echo "agent $AGENT_IMAGE: user ${A_USER:-0}, workdir $A_WD, entrypoint ${A_ENTRY[*]}"

help_ok() { "$@" >"$WORK/help" && grep -qi '^usage:' "$WORK/help" || { cat "$WORK/help"; return 1; }; }
# The build stage records the commit it was built from (Dockerfile ARG PODLB_GIT_COMMIT).
version_ok() { "$@" >"$WORK/version" && grep -q "$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" "$WORK/version" || { cat "$WORK/version"; return 1; }; }
check "podlb --help (uid ${A_USER})" help_ok contain "$A" "$A_USER" "$A_WD" "$WORK/agent.env" "${A_ENTRY[@]}" --help
check "podlb controller --help (uid ${A_USER})" contain "$A" "$A_USER" "$A_WD" "$WORK/agent.env" "${A_ENTRY[@]}" controller --help
check "podlb version names the commit built (uid ${A_USER})" version_ok contain "$A" "$A_USER" "$A_WD" "$WORK/agent.env" "${A_ENTRY[@]}" version

# Every product module loads: nothing the build stage pruned is still needed. Entry points run
# on import (cli/, the lab's *-main.js) and are left out; the CLIs are covered above.
check "every dist/src module loads" contain "$A" "$A_USER" "$A_WD" "$WORK/agent.env" node --input-type=module -e '
  import { readdirSync } from "node:fs";
  const skip = new Set(process.argv.slice(1));
  const files = readdirSync("dist/src", { recursive: true }).filter((f) => f.endsWith(".js") && !f.startsWith("cli/") && !f.endsWith("-main.js") && !skip.has(f));
  if (files.length < 20) throw new Error(`only ${files.length} modules under dist/src`);
  for (const f of files) await import(`./dist/src/${f}`);
  console.log(files.length, "modules");
  process.exit(0);'
check "koffi calls libc" contain "$A" 0:0 "$A_WD" "$WORK/agent.env" node -e '
  const koffi = require("koffi");
  const getpid = koffi.load("libc.so.6").func("int getpid(void)");
  if (getpid() !== process.pid) throw new Error(`getpid ${getpid()} != ${process.pid}`);'

mkdir -p "$WORK/in"
cat >"$WORK/in/objects.yaml" <<'EOF'
apiVersion: v1
kind: Node
metadata: {name: smoke-node, labels: {podlb.io/bgp: "true"}}
spec: {podCIDRs: [10.244.1.0/24]}
status: {addresses: [{type: InternalIP, address: 172.31.0.2}]}
---
apiVersion: podlb.io/v1alpha1
kind: PodAddressPool
metadata: {name: smoke-pods}
spec:
  cidrs: [10.244.0.0/16]
  advertise: NodeCIDR
  nodeSelector: {matchLabels: {podlb.io/bgp: "true"}}
  # digest: what `kubectl podlb approve` records, sha256 of the canonical content
  # {"advertise":"NodeCIDR","cidrs":["10.244.0.0/16"],"nodeSelector":{"matchLabels":{"podlb.io/bgp":"true"}}}
  approval: {state: Approved, by: "network-team:smoke", reason: "image smoke test", time: "2026-12-01T00:00:00Z", digest: "sha256:e1cf35f3bfea0f823537457357e0743d4f1ba4d74dc311ed6f2664d84416f157"}
---
apiVersion: podlb.io/v1alpha1
kind: BGPPeer
metadata: {name: smoke-tor}
spec:
  peerAddress: 172.31.0.1
  peerASN: 65000
  localASN: 64512
  nodeSelector: {matchLabels: {podlb.io/bgp: "true"}}
EOF
render() {
  BINDS=("$WORK/in:/input")
  contain "$A" 0:0 "$A_WD" "$WORK/agent.env" "${A_ENTRY[@]}" render bird --node smoke-node --objects /input/objects.yaml >"$WORK/rendered.conf"
  BINDS=()
  grep -q 'protocol bgp' "$WORK/rendered.conf" && grep -q '10.244.1.0/24' "$WORK/rendered.conf" || { cat "$WORK/rendered.conf"; return 1; }
}
check "podlb render bird (uid 0, as the DaemonSet runs it)" render

# ---- bird image -------------------------------------------------------------------------------
mount_image "$BIRD_IMAGE" B
image_field "$BIRD_IMAGE" '{{range .OCIv1.Config.Env}}{{println .}}{{end}}' | grep . >"$WORK/bird.env"
echo "bird $BIRD_IMAGE: $(contain "$B" 0:0 / "$WORK/bird.env" bird --version 2>&1)"
mkdir -p "$WORK/run-bird"
cp "$WORK/rendered.conf" "$WORK/run-bird/rendered.conf"
BINDS=("$WORK/run-bird:/run/bird")
check "bird -p accepts the rendered config" contain "$B" 0:0 / "$WORK/bird.env" bird -p -c /run/bird/rendered.conf

# The init container's script and env, as daemonset/daemonset.yaml has them, read by the agent
# image's own node and yaml.
BINDS=("$ROOT/daemonset:/input")
contain "$A" 0:0 "$A_WD" "$WORK/agent.env" node --input-type=module -e '
  import { readFileSync } from "node:fs";
  import YAML from "yaml";
  const ds = YAML.parseAllDocuments(readFileSync("/input/daemonset.yaml", "utf8")).map((d) => d.toJS()).find((d) => d?.kind === "DaemonSet");
  const init = ds.spec.template.spec.initContainers.find((c) => c.name === "bird-config");
  const bird = ds.spec.template.spec.containers.find((c) => c.name === "bird");
  const out = { init: init.command, birdCmd: [...bird.command, ...(bird.args ?? [])], liveness: bird.livenessProbe.exec.command, preStop: bird.lifecycle.preStop.exec.command };
  for (const [k, v] of Object.entries(out)) console.log(k + "\t" + JSON.stringify(v));' >"$WORK/ds.tsv"
args_of() {
  grep "^$1	" "$WORK/ds.tsv" | cut -f2 >"$WORK/in/args.json"
  BINDS=("$WORK/in:/input")
  contain "$A" 0:0 / "$WORK/agent.env" node -e 'for (const a of JSON.parse(require("fs").readFileSync("/input/args.json", "utf8"))) process.stdout.write(a + "\0")'
}
init_script() {
  local env=$1 want=$2
  cp "$WORK/bird.env" "$WORK/init.env"
  printf '%s\n' "$env" NODE_NAME=smoke-node BIRD_CONFIG=/run/bird/bird.conf >>"$WORK/init.env"
  rm -f "$WORK/run-bird/bird.conf"
  contain "$B" 0:0 / "$WORK/init.env" "${INIT_ARGS[@]}" && grep -q "^router id $want;" "$WORK/run-bird/bird.conf" \
    && contain "$B" 0:0 / "$WORK/init.env" "${INIT_ARGS[@]}" | grep 'keeping existing' >/dev/null
}
mapfile -d '' -t INIT_ARGS < <(args_of init)
mapfile -d '' -t BIRD_CMD < <(args_of birdCmd)
mapfile -d '' -t LIVENESS < <(args_of liveness)
mapfile -d '' -t PRESTOP < <(args_of preStop)
[ ${#INIT_ARGS[@]} -ge 3 ] && [ ${#BIRD_CMD[@]} -ge 3 ] || { echo "FAIL  could not read the DaemonSet's commands"; exit 1; }
BINDS=("$WORK/run-bird:/run/bird")
# IPv6-only node: the router id comes from the node name, through the image's cksum and cut.
check "init container on an IPv6-only node" init_script HOST_IP=fd00::2 "$(printf smoke-node | cksum | cut -d' ' -f1 | awk '{n=$1; printf "%d.%d.%d.%d", int(n/16777216)%256, int(n/65536)%256, int(n/256)%256, n%256}')"
check "init container on an IPv4 node" init_script HOST_IP=172.31.0.2 172.31.0.2

run_bird() {
  ip netns add "$NS"
  NETNS=$NS contain "$B" 0:0 / "$WORK/bird.env" "${BIRD_CMD[@]}" >"$WORK/bird.log" 2>&1 &
  local pid=$! i
  for i in $(seq 50); do [ -S "$WORK/run-bird/bird.ctl" ] && break; sleep 0.1; done
  NETNS=$NS contain "$B" 0:0 / "$WORK/bird.env" "${LIVENESS[@]}" | grep 'Daemon is up and running' >/dev/null || { echo "liveness:"; cat "$WORK/bird.log"; return 1; }
  NETNS=$NS contain "$B" 0:0 / "$WORK/bird.env" "${PRESTOP[@]}"
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then echo "BIRD still running 5 s after preStop"; return 1; fi
  wait "$pid" || true
  ip netns del "$NS"
}
check "BIRD runs with the DaemonSet's command; liveness and preStop from the image" run_bird

# ---- manifests --------------------------------------------------------------------------------
kustomized() {
  local out images
  if command -v kubectl >/dev/null 2>&1; then
    out=$(kubectl kustomize images/built/)
  else
    echo "(kubectl absent: checking images/built/kustomization.yaml's text)"; out=$(cat images/built/kustomization.yaml)
  fi
  images=$(printf '%s\n' "$out" | sed -n 's/^ *image: //p; s/^ *newName: \(.*\)/\1/p' | sort -u)
  grep -q "image: $AGENT_IMAGE\$\|newTag: \"${AGENT_IMAGE##*:}\"" <<<"$out" || { echo "agent image $AGENT_IMAGE not named"; echo "$images"; return 1; }
  grep -q "image: $BIRD_IMAGE\$\|newTag: \"${BIRD_IMAGE##*:}\"" <<<"$out" || { echo "bird image $BIRD_IMAGE not named"; echo "$images"; return 1; }
  if printf '%s\n' "$out" | grep -E '^ *image: ' | grep -v -e "image: $AGENT_IMAGE\$" -e "image: $BIRD_IMAGE\$"; then echo "other images named (above)"; return 1; fi
}
check "kubectl kustomize images/built/ names exactly the images built" kustomized

[ "$FAILED" = 0 ] && echo "images smoke test passed" || { echo "images smoke test FAILED"; exit 1; }
