#!/usr/bin/env bash
# Install what the tests need when it is missing: Debian packages (as root), then the
# heavy artifacts that live under .cache/ (the Netatalk chroot, the armhf sysroot),
# which are reused when present and rebuilt when missing. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(samba samba-vfs-modules smbclient pamtester libpam0g-dev valgrind gcc make libnss-extrausers whois
      debootstrap qemu-user qemu-system-arm gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
      binutils-arm-linux-gnueabihf cpio file patchelf curl ca-certificates debian-archive-keyring
      iproute2 util-linux zstd xz-utils strace tdb-tools bsdutils)

missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "ensure-deps: missing Debian packages (${missing[*]}); run as root or install them" >&2
    exit 1
  fi
  echo "ensure-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # several test runs on one machine may install at once: wait for dpkg's lock
  apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# smbd must not be running as a system service on the test machine's ports; our tests
# start their own on private ports, so nothing to do here.

# Heavy artifacts, each script reuses its cache when valid.
[ -x test/env/netatalk/chroot.sh ] && bash test/env/netatalk/chroot.sh >&2
[ -x cross/sysroot.sh ] && bash cross/sysroot.sh >&2
exit 0
