#!/usr/bin/env bash
# Build (or reuse) a Debian trixie amd64 chroot with Netatalk (afpd 4.2.x) for the AFP tests.
#
#   test/env/netatalk/chroot.sh            # build if missing/stale, print the chroot path on the last line
#   test/env/netatalk/chroot.sh --rebuild  # throw away and build again
#
# Result: $REPO/.cache/netatalk-trixie (override with NETATALK_CHROOT=DIR), with the stamp file
# DIR/.nasauth-stamp listing the versions. A directory without a valid stamp is a half-built one:
# it is removed and built again. Concurrent callers serialise on an flock next to the chroot.
# Needs root and debootstrap. Mirror: DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
DIR="${NETATALK_CHROOT:-$REPO/.cache/netatalk-trixie}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE=trixie
STAMP="$DIR/.nasauth-stamp"
# Bump when the recipe below changes: older stamps then count as stale.
RECIPE=4

log() { printf '[netatalk-chroot] %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then log "must run as root"; exit 2; fi
command -v debootstrap >/dev/null || { log "debootstrap is not installed (apt-get install debootstrap)"; exit 2; }

mkdir -p "$(dirname "$DIR")"
LOCK="$DIR.lock"
exec 9>"$LOCK"
if ! flock -n 9; then
  log "another build holds $LOCK, waiting"
  flock 9
fi

stamp_valid() {
  [ -f "$STAMP" ] || return 1
  grep -qx "recipe=$RECIPE" "$STAMP" || return 1
  [ -x "$DIR/usr/sbin/afpd" ] || return 1
  [ -f "$DIR/usr/lib/x86_64-linux-gnu/netatalk/uams_dhx2_pam.so" ] || return 1
  [ -f "$DIR/etc/nsswitch.conf" ] && grep -q '^passwd:.*extrausers' "$DIR/etc/nsswitch.conf" || return 1
  # the installed versions must still be what the stamp says
  local now
  now="$(chroot "$DIR" dpkg-query -W -f='${Version}' netatalk 2>/dev/null || true)"
  grep -qxF "netatalk=$now" "$STAMP" || return 1
  now="$(chroot "$DIR" dpkg-query -W -f='${Status}' libnss-extrausers 2>/dev/null || true)"
  [ "$now" = "install ok installed" ] || return 1
  return 0
}

if [ "${1:-}" != "--rebuild" ] && stamp_valid; then
  log "reusing $DIR ($(grep '^netatalk=' "$STAMP"))"
  echo "$DIR"
  exit 0
fi

# Make sure nothing is still mounted below DIR before removing it (a killed earlier build).
cleanup_mounts() {
  local m
  for m in $(awk -v d="$DIR" '$2 ~ "^"d"(/|$)" {print $2}' /proc/self/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
}
cleanup_mounts

# Never pull the chroot from under a running afpd (the harness uses it as an overlay lower layer).
busy=""
for p in /proc/[0-9]*; do
  r="$(readlink "$p/root" 2>/dev/null || true)"
  case "$r" in "$DIR"|"$DIR"/*|"$(dirname "$DIR")/afpd-runs/"*) busy="$busy ${p#/proc/}";; esac
done
if [ -n "$busy" ]; then
  log "refusing to rebuild $DIR: processes use it:$busy"; exit 1
fi

START=$(date +%s)
if [ -e "$DIR" ]; then
  log "removing stale or half-built $DIR"
  rm -rf --one-file-system "$DIR"
fi

log "step 1/2: debootstrap --variant=minbase $SUITE (mirror $MIRROR)"
debootstrap --variant=minbase --arch=amd64 --include=libpam-modules "$SUITE" "$DIR" "$MIRROR" >"$DIR.debootstrap.log" 2>&1 || {
  log "debootstrap failed, last lines of $DIR.debootstrap.log:"; tail -n 30 "$DIR.debootstrap.log" >&2; exit 1; }

log "step 2/2: apt-get install netatalk libnss-extrausers"
# Inside a private mount namespace so /proc is never left mounted on the host, even if killed.
# policy-rc.d keeps maintainer scripts from starting services.
printf '#!/bin/sh\nexit 101\n' >"$DIR/usr/sbin/policy-rc.d"
chmod 755 "$DIR/usr/sbin/policy-rc.d"
unshare -m --propagation private sh -c '
  set -e
  mount -t proc proc "$1/proc"
  chroot "$1" env DEBIAN_FRONTEND=noninteractive LC_ALL=C apt-get update
  chroot "$1" env DEBIAN_FRONTEND=noninteractive LC_ALL=C apt-get install -y --no-install-recommends netatalk libnss-extrausers
  chroot "$1" apt-get clean
  rm -rf "$1"/var/lib/apt/lists/*
' sh "$DIR" >"$DIR.apt.log" 2>&1 || {
  log "apt-get failed, last lines of $DIR.apt.log:"; tail -n 30 "$DIR.apt.log" >&2; exit 1; }

# Users rendered by the daemon arrive as extrausers files (bind-mounted at run time).
sed -i -E 's/^(passwd|group):.*/\1:         files extrausers/' "$DIR/etc/nsswitch.conf"
grep -q '^passwd:.*extrausers' "$DIR/etc/nsswitch.conf" || echo 'passwd:         files extrausers' >>"$DIR/etc/nsswitch.conf"
grep -q '^group:.*extrausers' "$DIR/etc/nsswitch.conf" || echo 'group:          files extrausers' >>"$DIR/etc/nsswitch.conf"
mkdir -p "$DIR/var/lib/extrausers"
: >"$DIR/var/lib/extrausers/passwd"; : >"$DIR/var/lib/extrausers/group"; : >"$DIR/var/lib/extrausers/shadow"
chmod 644 "$DIR/var/lib/extrausers/passwd" "$DIR/var/lib/extrausers/group"
chmod 640 "$DIR/var/lib/extrausers/shadow"
# Mount points and folders the harness uses.
mkdir -p "$DIR/run/nasauth-test" "$DIR/srv/afp"

NETATALK_V="$(chroot "$DIR" dpkg-query -W -f='${Version}' netatalk)"
PAM_V="$(chroot "$DIR" dpkg-query -W -f='${Version}' libpam-modules)"
EXTRA_V="$(chroot "$DIR" dpkg-query -W -f='${Version}' libnss-extrausers)"
END=$(date +%s)
SIZE="$(du -sh --one-file-system "$DIR" | cut -f1)"
{
  echo "recipe=$RECIPE"
  echo "suite=$SUITE"
  echo "netatalk=$NETATALK_V"
  echo "libpam-modules=$PAM_V"
  echo "libnss-extrausers=$EXTRA_V"
  echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "build_seconds=$((END - START))"
  echo "size=$SIZE"
} >"$STAMP.tmp"
mv "$STAMP.tmp" "$STAMP"
log "built $DIR in $((END - START)) s, size $SIZE, netatalk $NETATALK_V"
echo "$DIR"
