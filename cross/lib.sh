# shellcheck shell=bash
# Shared helpers for the cross/ scripts. Source it; do not run it.
set -euo pipefail

CROSS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$CROSS_DIR/.." && pwd)
CACHE=${NASAUTH_ARMHF_CACHE:-$REPO/.cache/armhf}
APTROOT=$CACHE/apt
SYSROOT=$CACHE/sysroot
STAGE=$CACHE/stage
PREFIX=/opt/nasauth            # install path on the device
SUITE=${NASAUTH_DEBIAN_SUITE:-trixie}
MIRROR=${NASAUTH_DEBIAN_MIRROR:-http://deb.debian.org/debian}

LIBDIR=usr/lib/arm-linux-gnueabihf

log() { printf '[cross] %s\n' "$*" >&2; }
die() { printf '[cross] ERROR: %s\n' "$*" >&2; exit 1; }

# need_host_pkg PKG [PKG...]: install Debian host packages that are missing.
need_host_pkg() {
  local missing=()
  local p
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing host packages: ${missing[*]}"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
      apt-get update >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2
    fi
  fi
}

# Run apt-get / apt-cache inside the private armhf apt root (never the host's dpkg).
papt() { APT_CONFIG=$APTROOT/apt.conf apt-get "$@"; }
pcache() { APT_CONFIG=$APTROOT/apt.conf apt-cache "$@"; }

# with_lock NAME CMD...: serialise concurrent runs (tests and scripts may race).
with_lock() {
  local name=$1; shift
  mkdir -p "$CACHE"
  (
    flock 9
    "$@"
  ) 9>"$CACHE/.$name.lock"
}

version_from_package_json() {
  sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' "$REPO/package.json" | head -n1
}

resolve_lib() { # SONAME -> path in sysroot
  local d
  for d in "$SYSROOT/$LIBDIR" "$SYSROOT/usr/lib" "$SYSROOT/usr/lib/arm-linux-gnueabihf/security"; do
    [ -e "$d/$1" ] && { echo "$d/$1"; return 0; }
  done
  return 1
}

needed_of() { arm-linux-gnueabihf-readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'; }

# Copy the NEEDED closure of the given ELF files into $1 (a lib dir).
copy_closure() {
  local dest=$1; shift
  local -a queue=("$@")
  local -A seen=()
  local f n p
  while [ ${#queue[@]} -gt 0 ]; do
    f=${queue[0]}; queue=("${queue[@]:1}")
    for n in $(needed_of "$f"); do
      [ -n "${seen[$n]:-}" ] && continue
      seen[$n]=1
      p=$(resolve_lib "$n") || die "cannot resolve $n (needed by $f) in the sysroot"
      cp -L "$p" "$dest/$n"
      queue+=("$dest/$n")
    done
  done
}

