#!/usr/bin/env bash
# Install what the tests need when it is missing: Debian packages (as root), then the
# heavy artifacts that live under .cache/ (the Netatalk chroot, the armhf sysroot),
# which are reused when present and rebuilt when missing. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(samba samba-vfs-modules smbclient pamtester libpam0g-dev valgrind gcc make libnss-extrausers whois
      debootstrap qemu-user qemu-system-arm gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
      binutils-arm-linux-gnueabihf cpio file patchelf curl ca-certificates debian-archive-keyring
      iproute2 util-linux zstd xz-utils busybox openssl strace tdb-tools bsdutils
      samba-testsuite chromium
      slapd ldap-utils sssd-ldap libpam-sss nslcd libpam-ldapd)
# slapd, sssd and nslcd are test peers only (docs/directory.md): the tests and the bench
# start their own instances on private folders, ports and mount namespaces. Installing
# them must not leave a system directory, a changed PAM stack or nsswitch.conf behind.

missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "ensure-deps: missing Debian packages (${missing[*]}); run as root or install them" >&2
    exit 1
  fi
  echo "ensure-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # slapd: no initial database under /etc/ldap and /var/lib/ldap (the tests bring their own)
  echo 'slapd slapd/no_configuration boolean true' | debconf-set-selections
  # libnss-sss (pulled in by sssd) adds "sss" to nsswitch.conf, libpam-sss and
  # libpam-ldapd add themselves to the common-* PAM files: keep the machine's copies
  keep=$(mktemp -d)
  cp -a /etc/nsswitch.conf /etc/pam.d "$keep/" 2>/dev/null || true
  # several test runs on one machine may install at once: wait for dpkg's lock
  apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >&2
  if command -v pam-auth-update >/dev/null; then pam-auth-update --package --remove sss ldap >&2 || true; fi
  cmp -s "$keep/nsswitch.conf" /etc/nsswitch.conf || cp "$keep/nsswitch.conf" /etc/nsswitch.conf
  for f in "$keep"/pam.d/common-*; do cmp -s "$f" "/etc/pam.d/${f##*/}" || cp "$f" "/etc/pam.d/${f##*/}"; done
  rm -rf "$keep"
  # the packages' own services must not run (on a machine with an init system they
  # would start with the distribution's config); ours run from the tests
  for s in slapd nslcd sssd; do
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then systemctl disable --now "$s" >/dev/null 2>&1 || true
    elif [ -x "/etc/init.d/$s" ]; then "/etc/init.d/$s" stop >/dev/null 2>&1 || true; fi
  done
fi

# smbd must not be running as a system service on the test machine's ports; our tests
# start their own on private ports, so nothing to do here.

# Heavy artifacts, each script reuses its cache when valid.
[ -x test/env/netatalk/chroot.sh ] && bash test/env/netatalk/chroot.sh >&2
[ -x cross/sysroot.sh ] && bash cross/sysroot.sh >&2
exit 0
