#!/usr/bin/env bash
# contain.sh ROOTFS USER WORKDIR ENVFILE [HOST:CONTAINER ...] -- CMD...
# Runs CMD from a mounted image root the way images-smoke.sh's contain() does (private mount and
# PID namespaces, /proc, minimal /dev, tmpfs /tmp, read-only root, the binds as volumes), in
# the caller's network namespace. CMD is the only child of this unshare: stop it with SIGTERM
# to that child (the unshare parent does not forward signals). Everything here dies with the
# process that started it (setpriv --pdeathsig), so a lab killed outright leaves no contained
# agent or BIRD running.
set -euo pipefail
root=$1 user=$2 wd=$3 envfile=$4
shift 4
binds=()
while [ "$1" != -- ]; do binds+=("$1"); shift; done
shift
mapfile -t envs <"$envfile"
exec env -i "${envs[@]}" setpriv --pdeathsig KILL unshare --mount --pid --fork --kill-child=SIGKILL --propagation private -- bash -c '
  set -e
  r=$1 u=$2 w=$3 binds=$4; shift 4
  # A bind target under a symlink (Debian: /var/run -> /run) must resolve inside the root.
  inroot() { local p=$1; case "$p" in /var/run/*) [ -L "$r/var/run" ] && p=/run/${p#/var/run/};; esac; printf %s "$r$p"; }
  for b in $binds; do mkdir -p "$(inroot "${b#*:}")"; done
  mkdir -p "$r/proc" "$r/dev" "$r/tmp"
  mount --bind "$r" "$r"; mount -o remount,bind,ro "$r"
  mount -t proc proc "$r/proc"
  mount -t tmpfs -o mode=755,nosuid dev "$r/dev"
  for n in null zero full random urandom tty; do touch "$r/dev/$n"; mount --bind "/dev/$n" "$r/dev/$n"; done
  ln -s /proc/self/fd "$r/dev/fd"
  mount -t tmpfs -o mode=1777,nosuid,nodev tmp "$r/tmp"
  for b in $binds; do t=$(inroot "${b#*:}"); mkdir -p "$t" 2>/dev/null || true; mount --rbind "${b%%:*}" "$t"; done
  exec unshare --root="$r" --wd="$w" --setuid "${u%%:*}" --setgid "${u##*:}" -- "$@"
' contain "$root" "$user" "$wd" "${binds[*]}" "$@"
