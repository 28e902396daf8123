#!/usr/bin/env bash
# Build the armhf sysroot from Debian trixie's armhf packages, in a private apt root.
#
#   cross/sysroot.sh            # idempotent; fast when the cache is warm
#   NASAUTH_REFRESH=1 cross/sysroot.sh   # re-download the package index first
#
# Result: .cache/armhf/sysroot  (merged-/usr tree of dpkg -x'd packages)
#         .cache/armhf/kernel/vmlinuz (+ modules tree) for qemu's virt machine
#         .cache/armhf/sysroot.manifest (package=version list the sysroot was built from)
# The host's dpkg is never touched: no multiarch, no host package database.
. "$(dirname "$0")/lib.sh"

# What the device runtime and the ARM tests need. Debian's nodejs externalises some of
# node's builtins into /usr/share/nodejs; they come in via libnode's Depends.
PACKAGES=(
  libc6 nodejs libnode115
  libpam0g libpam0g-dev libpam-modules libpam-modules-bin libpam-runtime pamtester
  busybox-static
  # the emulator image's "firmware Samba": smbd + smbpasswd (samba, whose vfs modules
  # fruit/catia/streams_xattr the shipped smb.conf uses; samba-vfs-modules is only a
  # transitional package in trixie) and the NSS module for nasauthd's extrausers files
  samba samba-vfs-modules libnss-extrausers
)
KERNEL_META=linux-image-armmp

setup_aptroot() {
  need_host_pkg apt debian-archive-keyring
  local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  # bookworm's debian-archive-keyring (>= 2023.3+deb12u1) carries the trixie keys.
  if [ ! -e /usr/share/keyrings/debian-archive-trixie-automatic.gpg ] && [ "$SUITE" = trixie ]; then
    apt-get install -y --only-upgrade debian-archive-keyring >&2 || true
    [ -e /usr/share/keyrings/debian-archive-trixie-automatic.gpg ] ||
      die "host debian-archive-keyring lacks the trixie keys; upgrade it (bookworm >= 2023.3+deb12u1)"
  fi
  mkdir -p "$APTROOT"/etc/apt/{apt.conf.d,preferences.d,sources.list.d,trusted.gpg.d} \
           "$APTROOT"/var/lib/apt/lists/partial "$APTROOT"/var/cache/apt/archives/partial \
           "$APTROOT"/var/lib/dpkg "$APTROOT"/var/log/apt
  [ -e "$APTROOT/var/lib/dpkg/status" ] || : >"$APTROOT/var/lib/dpkg/status"
  cat >"$APTROOT/etc/apt/sources.list" <<EOF
deb [arch=armhf signed-by=$keyring] $MIRROR $SUITE main
EOF
  # $SUITE-updates is opt-in: point releases land in $SUITE itself, and a half-synced
  # -updates index on a mirror would otherwise fail the whole build.
  if [ "${NASAUTH_DEBIAN_UPDATES:-0}" = 1 ]; then
    echo "deb [arch=armhf signed-by=$keyring] $MIRROR $SUITE-updates main" >>"$APTROOT/etc/apt/sources.list"
  fi
  cat >"$APTROOT/apt.conf" <<EOF
Dir "$APTROOT/";
Dir::State "var/lib/apt/";
Dir::State::status "$APTROOT/var/lib/dpkg/status";
Dir::Cache "var/cache/apt/";
Dir::Etc "etc/apt/";
Dir::Log "var/log/apt/";
APT::Architecture "armhf";
APT::Architectures { "armhf"; };
APT::Install-Recommends "false";
APT::Install-Suggests "false";
APT::Sandbox::User "root";
Acquire::Languages "none";
Acquire::Retries "3";
EOF
}

update_index() {
  local lists=("$APTROOT"/var/lib/apt/lists/*_Packages)
  if [ "${NASAUTH_REFRESH:-0}" = 1 ] || [ ! -e "${lists[0]}" ]; then
    log "apt-get update ($SUITE armhf)"
    papt -q update >&2
  fi
}

kernel_pkg() {
  # linux-image-armmp -> linux-image-6.12.xx+deb13-armmp (the real, versioned package)
  pcache depends "$KERNEL_META" 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-armmp\)$/\1/p' | head -n1
}

download_all() {
  local kpkg=$1
  log "resolving + downloading the armhf closure"
  papt -q -y install -d "${PACKAGES[@]}" >&2
  # The kernel alone: its Depends (initramfs-tools, kmod, ...) are not wanted.
  (cd "$APTROOT/var/cache/apt/archives" && papt -q download "$kpkg" >&2)
}

# The exact set of .debs the closure resolves to (name_version_arch), for the cache key.
closure_debs() {
  local kpkg=$1
  papt -q -y -s install "${PACKAGES[@]}" 2>/dev/null |
    awk '/^Inst /{ v=$3; gsub(/[()]/,"",v); print $2 "=" v }' | sort
  printf '%s=%s\n' "$kpkg" "$(pcache show --no-all-versions "$kpkg" | sed -n 's/^Version: //p' | head -n1)"
}

deb_file_for() { # name=version -> path of its .deb in the archive cache
  local name=${1%%=*} ver=${1#*=}
  local ev=${ver//:/%3a}
  local f
  for f in "$APTROOT/var/cache/apt/archives/${name}_${ev}_"*.deb; do
    [ -e "$f" ] && { echo "$f"; return 0; }
  done
  return 1
}

extract_sysroot() {
  local manifest=$1 kpkg=$2
  local tmp=$SYSROOT.tmp.$$
  rm -rf "$tmp"
  mkdir -p "$tmp/usr/lib" "$tmp/usr/bin" "$tmp/usr/sbin"
  # trixie is merged-/usr: give the tree the same top-level links as a real system.
  ln -s usr/lib "$tmp/lib"; ln -s usr/bin "$tmp/bin"; ln -s usr/sbin "$tmp/sbin"
  local line f
  while read -r line; do
    [ -n "$line" ] || continue
    [ "${line%%=*}" = "$kpkg" ] && continue
    f=$(deb_file_for "$line") || die "missing .deb for $line"
    dpkg-deb -x "$f" "$tmp"
  done <"$manifest"
  # dpkg -x does not run maintainer scripts: create the few links they would.
  [ -e "$tmp/usr/lib/ld-linux-armhf.so.3" ] || die "libc6 did not bring ld-linux-armhf.so.3"
  rm -rf "$SYSROOT"
  mv "$tmp" "$SYSROOT"

  # Kernel: vmlinuz plus its module tree, in its own directory.
  local kdir=$CACHE/kernel
  rm -rf "$kdir.tmp"; mkdir -p "$kdir.tmp/x"
  f=$(deb_file_for "$(grep "^$kpkg=" "$manifest")") || die "missing kernel .deb"
  dpkg-deb -x "$f" "$kdir.tmp/x"
  local vml
  vml=$(ls "$kdir.tmp"/x/boot/vmlinuz-* | head -n1)
  cp "$vml" "$kdir.tmp/vmlinuz"
  basename "$vml" | sed 's/^vmlinuz-//' >"$kdir.tmp/release"
  mv "$kdir.tmp/x/usr/lib/modules" "$kdir.tmp/modules" 2>/dev/null ||
    mv "$kdir.tmp/x/lib/modules" "$kdir.tmp/modules"
  rm -rf "$kdir.tmp/x" "$kdir"
  mv "$kdir.tmp" "$kdir"
}

main() {
  rm -rf "$SYSROOT".tmp.*   # left by an interrupted run (we hold the lock)
  local t0=$SECONDS
  setup_aptroot
  update_index
  # Fast path: same index, same package list, same script -> same closure.
  local fast
  fast=$( { cat "$APTROOT"/var/lib/apt/lists/*InRelease; printf '%s\n' "${PACKAGES[@]}"; cat "$0"; } | sha256sum | cut -c1-16)
  if [ -d "$SYSROOT" ] && [ -e "$CACHE/kernel/vmlinuz" ] && [ "$(cat "$CACHE/sysroot.key" 2>/dev/null)" = "$fast" ]; then
    log "sysroot up to date ($(wc -l <"$CACHE/sysroot.manifest") packages, $((SECONDS - t0))s)"
    return 0
  fi
  local kpkg
  kpkg=$(kernel_pkg)
  [ -n "$kpkg" ] || die "cannot resolve $KERNEL_META in the $SUITE armhf index"
  local want=$CACHE/sysroot.manifest.new
  closure_debs "$kpkg" >"$want"
  [ -s "$want" ] || die "empty package closure"
  if [ -d "$SYSROOT" ] && [ -e "$CACHE/kernel/vmlinuz" ] && cmp -s "$want" "$CACHE/sysroot.manifest"; then
    rm -f "$want"
    echo "$fast" >"$CACHE/sysroot.key"
    log "sysroot up to date ($(wc -l <"$CACHE/sysroot.manifest") packages, $((SECONDS - t0))s)"
    return 0
  fi
  download_all "$kpkg"
  extract_sysroot "$want" "$kpkg"
  mv "$want" "$CACHE/sysroot.manifest"
  echo "$fast" >"$CACHE/sysroot.key"
  log "sysroot built: $(wc -l <"$CACHE/sysroot.manifest") packages, $(du -sh "$SYSROOT" | cut -f1), kernel $(cat "$CACHE/kernel/release") ($((SECONDS - t0))s)"
}

with_lock sysroot main "$@"
