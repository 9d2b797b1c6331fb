#!/usr/bin/env bash
# Installs podlb's development prerequisites on Debian: the real components the lab and the
# tests use (bird2, frr, haproxy, iproute2; nftables for the lab's kube-proxy stand-in, which
# writes rules only inside the lab's node namespaces) and the npm dependencies, with the npm of the
# Node.js ./dev puts first on PATH (scripts/toolchain.sh). Idempotent and quiet when
# everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for pair in bird:bird2 haproxy:haproxy vtysh:frr ip:iproute2 nft:nftables; do
  bin=${pair%%:*}; pkg=${pair##*:}
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || need+=("$pkg")
done
[ -x /usr/lib/frr/bgpd ] || need+=(frr)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "podlb needs the Debian packages: ${need[*]}. Run as root (sudo) or install them: apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "installing ${need[*]} …"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# package.json's engines names the oldest Node.js podlb runs on; ./dev brings the pinned one.
if ! node -e 'const min = /\d+/.exec(require("./package.json").engines.node)[0]; process.exit(+process.versions.node.split(".")[0] >= +min ? 0 : 1)' 2>/dev/null; then
  echo "podlb needs Node.js $(sed -n 's/.*"node": "\(.*\)".*/\1/p' package.json | head -1), this is $(node --version 2>/dev/null || echo 'no node'): run the command through ./dev (e.g. sudo ./dev test), which installs the pinned Node.js into .toolchain/ first" >&2
  exit 1
fi
# The package scripts may start daemons under systemd elsewhere; the lab and tests run their
# own instances in namespaces, so nothing here depends on a system-wide one.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
  # koffi's install script (npm 11 skips it: package.json's allowScripts denies it) only checks
  # that its prebuilt addon loads, else builds one with cmake; the Dockerfile does the same check.
  node -e "require('koffi')"
fi
if [ "$(id -u)" != 0 ]; then
  echo "note: the lab and the real-component tests create network namespaces and need root" >&2
fi
