#!/usr/bin/env bash
# Boot Debian's armmp kernel in qemu-system-arm (virt, Cortex-A15, 1 GB) with an
# initramfs that installs the real package and runs the smoke steps of cross/guest/.
#
#   cross/boot-test.sh                # package + initramfs + boot; exit 0 iff PASS
#   NASAUTH_SKIP_BUILD=1 cross/boot-test.sh   # do not re-run npm run build
#   NASAUTH_BOOT_LIMIT=1800           # hang guard in seconds (not a performance limit)
#
# The serial console goes to .cache/armhf/boot/serial.log (and to stderr). The result
# is the single line "NASAUTH-SMOKE: PASS ..." or "NASAUTH-SMOKE: FAIL <step> ...",
# printed on stdout too. qemu's own exit code means nothing and is ignored.
. "$(dirname "$0")/lib.sh"

BOOT=$CACHE/boot

busybox_links() { # ROOT: busybox at /bin/busybox plus a link per applet
  local root=$1 applet
  install -D -m755 "$SYSROOT/usr/bin/busybox" "$root/bin/busybox"
  # the applet list, from the armhf busybox itself (qemu-user)
  for applet in $(QEMU_CPU=cortex-a9 qemu-arm "$SYSROOT/usr/bin/busybox" --list-full); do
    [ -e "$root/$applet" ] || [ -L "$root/$applet" ] && continue
    mkdir -p "$root/$(dirname "$applet")"
    ln -s /bin/busybox "$root/$applet"
  done
}

build_initramfs() {
  local tgz=$1 root=$BOOT/root
  rm -rf "$root"
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/lib/arm-linux-gnueabihf/security,etc/pam.d,etc/default,proc,sys,dev,tmp,run,root,var/log,var/lib,pkg,smoke}
  ln -s usr/lib "$root/lib"   # trixie userland is merged-/usr
  busybox_links "$root"

  # A "device" userland for the PAM checks: trixie's libc + libpam + modules + pamtester.
  # (The nasauth runtime brings its own libc under /opt/nasauth and does not use these.)
  install -m755 "$SYSROOT/usr/bin/pamtester" "$root/usr/bin/pamtester"
  local m
  for m in pam_unix.so pam_permit.so pam_deny.so; do
    cp -L "$SYSROOT/$LIBDIR/security/$m" "$root/$LIBDIR/security/"
  done
  cp -L "$SYSROOT/$LIBDIR/ld-linux-armhf.so.3" "$root/$LIBDIR/"
  ln -s arm-linux-gnueabihf/ld-linux-armhf.so.3 "$root/usr/lib/ld-linux-armhf.so.3"
  copy_closure "$root/$LIBDIR" "$root/usr/bin/pamtester" "$root/$LIBDIR"/security/*.so
  # pam_nasauth.so needs exactly libpam + libc, present now.

  cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
  cat >"$root/etc/group" <<'EOF'
root:x:0:
www-data:x:33:
users:x:100:
nogroup:x:65534:
EOF
  printf 'root:*:19000:0:99999:7:::\n' >"$root/etc/shadow"; chmod 600 "$root/etc/shadow"
  printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files\n' >"$root/etc/nsswitch.conf"
  printf 'auth required pam_deny.so\naccount required pam_deny.so\npassword required pam_deny.so\nsession required pam_deny.so\n' >"$root/etc/pam.d/other"
  printf '127.0.0.1 localhost nas-smoke\n' >"$root/etc/hosts"
  # busybox has no getent (glibc's libc-bin does; the daemon calls it for socket groups)
  cat >"$root/usr/bin/getent" <<'EOF'
#!/bin/sh
# minimal getent for the smoke image: passwd|group NAME-or-ID, files only
db=$1; key=$2
case "$db" in passwd|group) ;; *) exit 1 ;; esac
awk -F: -v k="$key" '$1 == k || $3 == k { print; found = 1; exit } END { exit !found }' "/etc/$db" || exit 2
EOF
  chmod 755 "$root/usr/bin/getent"

  cp "$tgz" "$root/pkg/"
  install -m755 "$CROSS_DIR/guest/init" "$root/init"
  cp -r "$CROSS_DIR/guest/smoke.d" "$root/smoke.d"
  cp "$CROSS_DIR/guest/q.js" "$CROSS_DIR/guest/nasauth-smoke.yaml" "$root/smoke/"

  # newc cpio; the package inside is already gzip, so a fast gzip level is enough
  (cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet -R 0:0) |
    gzip -1 -n >"$BOOT/initramfs.cpio.gz.tmp"
  mv "$BOOT/initramfs.cpio.gz.tmp" "$BOOT/initramfs.cpio.gz"
}

main() {
  local t0=$SECONDS
  need_host_pkg qemu-system-arm qemu-user cpio gzip
  local tgz
  tgz=$("$CROSS_DIR/package.sh")
  [ -f "$tgz" ] || die "package.sh gave no tarball"
  mkdir -p "$BOOT"
  local tb=$SECONDS
  build_initramfs "$tgz"
  log "initramfs: $(du -h "$BOOT/initramfs.cpio.gz" | cut -f1) ($((SECONDS - tb))s)"

  local log=$BOOT/serial.log limit=${NASAUTH_BOOT_LIMIT:-1800}
  : >"$log"
  log "booting $(cat "$CACHE/kernel/release") under qemu-system-arm (virt, cortex-a15, 1024 MB, 2 cpus); serial -> $log"
  local tq=$SECONDS
  # -no-reboot: a guest panic (panic=-1) ends qemu instead of looping.
  timeout --kill-after=10 "$limit" qemu-system-arm \
    -M virt,highmem=off -cpu cortex-a15 -smp 2 -m 1024 \
    -kernel "$CACHE/kernel/vmlinuz" -initrd "$BOOT/initramfs.cpio.gz" \
    -append "console=ttyAMA0 rdinit=/init panic=-1 quiet loglevel=4" \
    -nic none -nographic -no-reboot \
    </dev/null 2>&1 | sed -u 's/\r$//' | tee "$log" >&2 || true
  local line
  line=$(grep -a "^NASAUTH-SMOKE: " "$log" | tail -n1 || true)
  log "qemu ran $((SECONDS - tq))s; whole boot test $((SECONDS - t0))s"
  if [ -z "$line" ]; then
    echo "NASAUTH-SMOKE: FAIL no-result-line (see $log)"
    return 1
  fi
  echo "$line"
  case "$line" in "NASAUTH-SMOKE: PASS"*) return 0 ;; *) return 1 ;; esac
}

with_lock boot main "$@"
