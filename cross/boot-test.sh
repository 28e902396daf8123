#!/usr/bin/env bash
# Boot Debian's armmp kernel in qemu-system-arm (virt, Cortex-A15, 1 GB) with an
# initramfs that installs the real package and runs the smoke steps of cross/guest/.
#
#   cross/boot-test.sh                # package + initramfs + boot; exit 0 iff PASS
#   NASAUTH_SKIP_BUILD=1 cross/boot-test.sh   # do not re-run npm run build
#   NASAUTH_BOOT_LIMIT=1800           # hang guard in seconds (not a performance limit)
#   NASAUTH_SMB=0                     # no network, no smbd, no SMB checks from the host
#   NASAUTH_SMB_PORT=N NASAUTH_SMB_CTL_PORT=M   # host ports (default: free ones in 14480-14489)
#   NASAUTH_WEB_PORT=N                # host port for the web page (default: a free one in 14490-14499)
#
# SMB: the guest runs the firmware-style smbd (trixie armhf samba, the guest's own glibc)
# with the package's smb.conf, passdb = the ARM nasauthd's LDAP view. qemu's user-mode
# network (restrict=on: the guest reaches nothing) forwards 127.0.0.1:SMB_PORT to the
# guest's 445 and 127.0.0.1:CTL_PORT to a busybox `nc -l` in the guest. When the guest
# prints "NASAUTH-SMB: READY <phase>", this script logs in with the host's smbclient and
# sends the results over the control port; the guest checks them (so the single
# NASAUTH-SMOKE line covers the host's SMB checks too) and goes on. Every wait is bounded.
# The web page: 127.0.0.1:WEB_PORT forwards to the guest's 443 (nasauth-web, HTTPS);
# at "READY 3" the host signs in there with cross/guest/web.js (a scripted client).
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

# copy_with_closure ROOT REL...: sysroot files (paths relative to the sysroot) into ROOT at
# the same paths, plus their NEEDED closure, each library where the sysroot has it (so
# Samba's private libraries stay in its RUNPATH, /usr/lib/arm-linux-gnueabihf/samba).
copy_with_closure() {
  local root=$1; shift
  local -a queue=()
  local rel n d found
  for rel in "$@"; do
    [ -e "$SYSROOT/$rel" ] || die "not in the sysroot: $rel"
    mkdir -p "$root/$(dirname "$rel")"
    cp -L "$SYSROOT/$rel" "$root/$rel"
    queue+=("$rel")
  done
  while [ ${#queue[@]} -gt 0 ]; do
    rel=${queue[0]}; queue=("${queue[@]:1}")
    for n in $(needed_of "$SYSROOT/$rel"); do
      [ -e "$root/$LIBDIR/$n" ] && continue
      found=
      for d in "$LIBDIR" "$LIBDIR/samba" usr/lib; do
        [ -e "$SYSROOT/$d/$n" ] && { found=$d/$n; break; }
      done
      [ -n "$found" ] || die "cannot resolve $n (needed by $rel) in the sysroot"
      [ -e "$root/$found" ] && continue
      mkdir -p "$root/$(dirname "$found")"
      cp -L "$SYSROOT/$found" "$root/$found"
      queue+=("$found")
    done
  done
}

# The device's "firmware Samba": smbd, smbpasswd, the vfs modules smb.conf names, the
# extrausers NSS module, the CP850 converter (smb.conf's default dos charset), and the
# kernel modules for qemu's virtio-mmio network card (modular in Debian's armmp kernel).
add_samba() {
  local root=$1 kver m
  copy_with_closure "$root" usr/sbin/smbd usr/bin/smbpasswd \
    "$LIBDIR"/samba/vfs/{catia,fruit,streams_xattr}.so usr/lib/libnss_extrausers.so.2 \
    "$LIBDIR"/gconv/{gconv-modules.cache,IBM850.so}
  mkdir -p "$root"/etc/samba "$root"/var/lib/samba/private "$root"/var/cache/samba \
           "$root"/var/log/samba "$root"/run/samba
  chmod 700 "$root"/var/lib/samba/private
  kver=$(cat "$CACHE/kernel/release")
  mkdir -p "$root/lib/modules/$kver"
  for m in net/core/failover drivers/net/net_failover drivers/net/virtio_net drivers/virtio/virtio_mmio; do
    xz -dc "$CACHE/kernel/modules/$kver/kernel/$m.ko.xz" >"$root/lib/modules/$kver/${m##*/}.ko"
  done
  install -m755 "$CROSS_DIR/guest/ctl-recv" "$root/smoke/ctl-recv"
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
  # NAS users come from nasauthd's extrausers files (smbd calls getpwnam for each login)
  printf 'passwd: files extrausers\ngroup: files extrausers\nshadow: files\nhosts: files\n' >"$root/etc/nsswitch.conf"
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

  add_samba "$root"

  cp "$tgz" "$root/pkg/"
  install -m755 "$CROSS_DIR/guest/init" "$root/init"
  cp -r "$CROSS_DIR/guest/smoke.d" "$root/smoke.d"
  cp "$CROSS_DIR/guest/q.js" "$CROSS_DIR/guest/web.js" "$CROSS_DIR/guest/nasauth-smoke.yaml" "$root/smoke/"
  cp "$CROSS_DIR/../bench/lib/floor.js" "$root/smoke/floor.js" # the memory floor (15-floor.sh)

  # newc cpio; the package inside is already gzip, so a fast gzip level is enough
  (cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet -R 0:0) |
    gzip -1 -n >"$BOOT/initramfs.cpio.gz.tmp"
  mv "$BOOT/initramfs.cpio.gz.tmp" "$BOOT/initramfs.cpio.gz"
}

# ---- the host's side of the SMB checks -------------------------------------------------

free_port() { # LO HI [NOT]: a port no host socket uses
  local p
  for p in $(seq "$1" "$2"); do
    [ "$p" = "${3:-}" ] && continue
    [ -z "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ] && { echo "$p"; return 0; }
  done
  return 1
}

# wait_serial PATTERN SECONDS: 0 once a serial line matches; 1 if qemu ended or time ran out
wait_serial() {
  local n=0
  until grep -aq "$1" "$SERIAL"; do
    kill -0 "$QPID" 2>/dev/null || return 1
    n=$((n + 1)); [ $n -le $(($2 * 5)) ] || return 1
    sleep 0.2
  done
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# smb_login USER PASSWORD: smbclient -c ls on //127.0.0.1/Public through the hostfwd
# (NTLMv2 over SMB3). Sets SMB_RC, SMB_OUT, SMB_MS.
smb_login() {
  local t
  t=$(now_ms)
  SMB_OUT=$(PASSWD=$2 LC_ALL=C.UTF-8 timeout -k 5 60 smbclient //127.0.0.1/Public -p "$SMB_PORT" \
    -s "$BOOT/smbclient.conf" -U "$1" -m SMB3 --option='client min protocol=SMB2_02' -c ls 2>&1) &&
    SMB_RC=0 || SMB_RC=$?
  SMB_MS=$(( $(now_ms) - t ))
  printf '[host-smb] smbclient -U %s: rc=%s %sms: %s\n' "$1" "$SMB_RC" "$SMB_MS" \
    "$(printf '%s' "$SMB_OUT" | tr '\n' ' ' | cut -c1-300)" >&2
}
nt_status() { printf '%s' "$SMB_OUT" | grep -o 'NT_STATUS_[A-Z_]*' | head -n1 || true; }

# expect NAME ok|STATUS: append "check NAME ok|fail MS why" to the message for the guest
expect() {
  local name=$1 want=$2 st
  st=$(nt_status)
  if [ "$want" = ok ]; then
    if [ "$SMB_RC" = 0 ] && [[ $SMB_OUT == *hello-from-arm.txt* ]]; then
      echo "check $name ok $SMB_MS" >>"$MSG"
    else
      echo "check $name fail $SMB_MS $name: rc=$SMB_RC ${st:-no listing of Public}" >>"$MSG"
    fi
  elif [ "$SMB_RC" != 0 ] && [ "$st" = "$want" ]; then
    echo "check $name ok $SMB_MS" >>"$MSG"
  else
    echo "check $name fail $SMB_MS $name: want $want, got rc=$SMB_RC ${st:-no NT_STATUS}" >>"$MSG"
  fi
}

# ctl_send: deliver $MSG to the guest's control listener; 0 once the guest says "ack".
# (qemu's slirp accepts the host side before the guest does, so only the ack counts.)
ctl_send() {
  local i reply
  for i in $(seq 1 30); do
    kill -0 "$QPID" 2>/dev/null || return 1
    reply=$( { exec 3<>"/dev/tcp/127.0.0.1/$CTL_PORT" && { cat "$MSG"; echo end; } >&3 &&
               read -r -t 20 r <&3 && echo "$r"; } 2>/dev/null ) || true
    [ "$reply" = ack ] && return 0
    sleep 1
  done
  return 1
}

# The host's part, run while qemu runs. Failures are reported to the guest (which fails
# the smoke run); when the guest never gets ready it has failed already and powered off.
host_smb() {
  local limit=$1 line alice bob
  wait_serial '^NASAUTH-SMB: READY 1 ' "$limit" || { log "host SMB: the guest never got smbd ready"; return 0; }
  line=$(grep -a '^NASAUTH-SMB: READY 1 ' "$SERIAL" | head -n1)
  alice=$(printf '%s' "$line" | sed -n 's/.* alice=\([^ ]*\).*/\1/p')
  bob=$(printf '%s' "$line" | sed -n 's/.* bob=\([^ ]*\).*/\1/p')
  : >"$BOOT/smbclient.conf"
  MSG=$BOOT/ctl.msg
  : >"$MSG"
  smb_login alice "$alice"; expect alice-right ok; local first=$SMB_MS
  smb_login alice "$alice"; expect alice-right ok; local second=$SMB_MS
  smb_login alice "x$alice"; expect alice-wrong NT_STATUS_LOGON_FAILURE; local wrong=$SMB_MS
  smb_login bob "$bob"; expect bob-right ok
  printf 'metric host_smb_login_first_ms=%s\nmetric host_smb_login_ms=%s\nmetric host_smb_wrong_ms=%s\n' \
    "$first" "$second" "$wrong" >>"$MSG"
  ctl_send || { log "host SMB: the guest did not take phase 1's results"; return 0; }

  wait_serial '^NASAUTH-SMB: READY 2 ' 300 || { log "host SMB: no phase 2 from the guest"; return 0; }
  : >"$MSG"
  smb_login bob "$bob"; expect bob-disabled NT_STATUS_ACCOUNT_DISABLED
  smb_login alice "$alice"; expect alice-again ok
  ctl_send || { log "host SMB: the guest did not take phase 2's results"; return 0; }

  # phase 3: the web page over HTTPS through the hostfwd, with the scripted client
  wait_serial '^NASAUTH-SMB: READY 3 ' 600 || { log "host web: no phase 3 from the guest"; return 0; }
  line=$(grep -a '^NASAUTH-SMB: READY 3 ' "$SERIAL" | head -n1)
  alice=$(printf '%s' "$line" | sed -n 's/.* alice=\([^ ]*\).*/\1/p')
  : >"$MSG"
  local t out rc ms kv
  t=$(now_ms)
  out=$(timeout -k 5 300 node "$CROSS_DIR/guest/web.js" "https://127.0.0.1:$WEB_PORT/" alice "$alice" 2>&1) && rc=0 || rc=$?
  ms=$(( $(now_ms) - t ))
  printf '[host-web] web.js: rc=%s %sms: %s\n' "$rc" "$ms" "$(printf '%s' "$out" | tail -n1)" >&2
  if [ "$rc" = 0 ]; then
    echo "check web-signin ok $ms" >>"$MSG"
    for kv in $(printf '%s' "$out" | sed -n 's/^web ok //p'); do echo "metric host_web_$kv" >>"$MSG"; done
  else
    echo "check web-signin fail $ms web-signin: $(printf '%s' "$out" | tail -n1 | tr -d '\r')" >>"$MSG"
  fi
  ctl_send || log "host web: the guest did not take phase 3's results"
}

main() {
  local t0=$SECONDS smb=${NASAUTH_SMB:-1}
  need_host_pkg qemu-system-arm qemu-user cpio gzip xz-utils
  [ "$smb" = 1 ] && need_host_pkg smbclient iproute2
  local tgz
  tgz=$("$CROSS_DIR/package.sh")
  [ -f "$tgz" ] || die "package.sh gave no tarball"
  mkdir -p "$BOOT"
  local tb=$SECONDS
  build_initramfs "$tgz"
  log "initramfs: $(du -h "$BOOT/initramfs.cpio.gz" | cut -f1) ($((SECONDS - tb))s)"

  SERIAL=$BOOT/serial.log
  local limit=${NASAUTH_BOOT_LIMIT:-1800} append="console=ttyAMA0 rdinit=/init panic=-1 quiet loglevel=4"
  local -a net=(-nic none)
  if [ "$smb" = 1 ]; then
    SMB_PORT=${NASAUTH_SMB_PORT:-$(free_port 14480 14489)} || die "no free port in 14480-14489"
    CTL_PORT=${NASAUTH_SMB_CTL_PORT:-$(free_port 14480 14489 "$SMB_PORT")} || die "no second free port in 14480-14489"
    WEB_PORT=${NASAUTH_WEB_PORT:-$(free_port 14490 14499)} || die "no free port in 14490-14499"
    # user-mode network; restrict=on: the guest reaches neither the host nor the outside,
    # only the two forwards (bound on the host's loopback) reach the guest
    net=(-netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$SMB_PORT-:445,hostfwd=tcp:127.0.0.1:$CTL_PORT-:4451,hostfwd=tcp:127.0.0.1:$WEB_PORT-:443"
         -device virtio-net-device,netdev=n0)
    append="$append nasauth.smb=1"
    log "SMB: 127.0.0.1:$SMB_PORT -> guest 445, control 127.0.0.1:$CTL_PORT -> guest 4451, web 127.0.0.1:$WEB_PORT -> guest 443"
  fi
  : >"$SERIAL"
  rm -f "$BOOT/qemu.pid"
  log "booting $(cat "$CACHE/kernel/release") under qemu-system-arm (virt, cortex-a15, 1024 MB, 2 cpus); serial -> $SERIAL"
  local tq=$SECONDS
  # -no-reboot: a guest panic (panic=-1) ends qemu instead of looping.
  ( timeout --kill-after=10 "$limit" qemu-system-arm \
      -M virt,highmem=off -cpu cortex-a15 -smp 2 -m 1024 \
      -kernel "$CACHE/kernel/vmlinuz" -initrd "$BOOT/initramfs.cpio.gz" \
      -append "$append" "${net[@]}" -nographic -no-reboot -pidfile "$BOOT/qemu.pid" \
      </dev/null 2>&1 | sed -u 's/\r$//' | tee "$SERIAL" >&2 || true ) &
  QPID=$!
  # whatever ends this script ends qemu too (by its pid file)
  trap 'p=$(cat "$BOOT/qemu.pid" 2>/dev/null); [ -n "$p" ] && kill "$p" 2>/dev/null; true' EXIT
  [ "$smb" = 1 ] && host_smb "$limit"
  wait "$QPID" || true
  trap - EXIT
  local line
  line=$(grep -a "^NASAUTH-SMOKE: " "$SERIAL" | tail -n1 || true)
  log "qemu ran $((SECONDS - tq))s; whole boot test $((SECONDS - t0))s"
  if [ -z "$line" ]; then
    echo "NASAUTH-SMOKE: FAIL no-result-line (see $SERIAL)"
    return 1
  fi
  echo "$line"
  case "$line" in "NASAUTH-SMOKE: PASS"*) return 0 ;; *) return 1 ;; esac
}

with_lock boot main "$@"
