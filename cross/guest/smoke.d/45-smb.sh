# SMB: the image's smbd (trixie armhf Samba on the guest's own glibc, standing for the
# firmware's Samba) with the package's smb.conf, its passdb being nasauthd's LDAP view.
# The host logs in with smbclient through qemu's hostfwd (127.0.0.1:PORT -> guest 445)
# and sends its results back over the control port (guest 4451, busybox nc + ctl-recv);
# they are checked here, so the NASAUTH-SMOKE line covers them. Every wait is bounded.
SMB_WAIT=${SMB_WAIT:-300}   # seconds the guest waits for the host in each phase

# host_phase N ALICE_PW BOB_PW: listen on 4451, announce READY, wait for the host's lines
host_phase() {
  rm -f /tmp/ctl.msg
  nc -ll -p 4451 -e /smoke/ctl-recv </dev/null >/dev/null 2>&1 &
  ncpid=$!
  sleep 1
  echo "NASAUTH-SMB: READY $1 alice=$2 bob=$3"
  i=0
  while [ ! -s /tmp/ctl.msg ]; do
    i=$((i + 1))
    [ $i -le "$SMB_WAIT" ] || { kill "$ncpid" 2>/dev/null; return 1; }
    sleep 1
  done
  kill "$ncpid" 2>/dev/null
  sed 's/^/NASAUTH-HOST: /' /tmp/ctl.msg
  return 0
}
# host_checks NAME...: the host reported each ("check NAME ok MS"), every time ok
host_checks() {
  for c in "$@"; do
    step "smb-$c"
    grep -q "^check $c " /tmp/ctl.msg || fail "the host did not report $c"
    l=$(awk -v c="$c" '$1 == "check" && $2 == c && $3 != "ok"' /tmp/ctl.msg | head -n1)
    [ -z "$l" ] || fail "host: $(echo "$l" | cut -d' ' -f5-)"
  done
  for m in $(sed -n 's/^metric \([a-z_]*=[0-9]*\)$/\1/p' /tmp/ctl.msg); do metric "$m"; done
}
smb_listening() { # smbd's listening socket on 445 (0x01BD), IPv4 or IPv6
  cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '$2 ~ /:01BD$/ && $4 == "0A" { f = 1 } END { exit !f }'
}
smbd_rss() { # all smbd processes, kB
  s=0
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/exe" 2>/dev/null)" = /usr/sbin/smbd ] || continue
    s=$((s + $(awk '/^VmRSS:/ { print $2 }' "$p/status" 2>/dev/null || echo 0)))
  done
  echo $s
}
smb_log() { echo "---- smbd log:"; tail -n 30 /var/log/samba/log.smbd 2>/dev/null; echo "----"; }

if ! grep -q 'nasauth.smb=1' /proc/cmdline; then
  skip smb "no network in this boot (NASAUTH_SMB=0)"
elif placeholder daemon; then
  skip smb "placeholder daemon"
else
  step smb-net
  tsmb=$(now_ms)
  for m in failover net_failover virtio_net virtio_mmio; do
    grep -q "^$m " /proc/modules || insmod "/lib/modules/$(uname -r)/$m.ko" || fail "insmod $m"
  done
  i=0
  until [ -e /sys/class/net/eth0 ]; do
    i=$((i + 1)); [ $i -le 50 ] || fail "no eth0 (virtio-net-device)"; sleep 0.2
  done
  ip link set lo up && ip addr add 10.0.2.15/24 dev eth0 && ip link set eth0 up &&
    ip route add default via 10.0.2.2 || fail "ip setup"

  step smb-config
  grep -q 'stored the LDAP bind secret for Samba (smbpasswd -W, on stdin)' /tmp/install.out || fail "install.sh did not store the bind secret with smbpasswd -W"
  [ -s /var/lib/samba/private/secrets.tdb ] || fail "no secrets.tdb"
  grep -q '^ *passdb backend = ldapsam:ldapi://%2frun%2fnasauth%2fldapi' /etc/samba/smb.conf || fail "/etc/samba/smb.conf is not the package's"
  [ -S /run/nasauth/ldapi ] || fail "no ldapi socket"
  [ -s /var/lib/extrausers/passwd ] || fail "nasauthd wrote no /var/lib/extrausers/passwd"

  step smb-start
  SMB_ALICE=${FINAL_PW:-Sm0ke-Passw0rd-1}
  SMB_BOB=Smb-Passw0rd-B
  echo "$SMB_BOB" | /opt/nasauth/bin/nasauth user add bob >/dev/null || fail "user add bob rc=$?"
  mkdir -p /shares/Public /run/samba
  chmod 1777 /shares/Public
  echo "written by the ARM guest" >/shares/Public/hello-from-arm.txt
  t=$(now_ms)
  smbd -D || { smb_log; fail "smbd -D rc=$?"; }
  i=0
  until smb_listening; do
    i=$((i + 1)); [ $i -le 300 ] || { smb_log; fail "smbd does not listen on 445 after 60 s"; }
    sleep 0.2
  done
  metric smbd_listen_ms=$(( $(now_ms) - t ))
  SMBPID=$(head -n1 /run/samba/smbd.pid 2>/dev/null | tr -cd '0-9')
  [ -n "$SMBPID" ] && kill -0 "$SMBPID" || { smb_log; fail "no smbd pid"; }

  step smb-host-1
  host_phase 1 "$SMB_ALICE" "$SMB_BOB" || { smb_log; fail "no word from the host in $SMB_WAIT s (phase 1)"; }
  host_checks alice-right alice-wrong bob-right

  step smb-disable
  /opt/nasauth/bin/nasauth user set bob --disable >/dev/null || fail "user set bob --disable rc=$?"
  step smb-host-2
  host_phase 2 "$SMB_ALICE" "$SMB_BOB" || { smb_log; fail "no word from the host in $SMB_WAIT s (phase 2)"; }
  host_checks bob-disabled alice-again

  smb_log   # for the record (serial.log)
  metric rss_smbd_kb=$(smbd_rss)
  metric rss_nasauthd_with_smb_kb=$(rss_of "$DPID")

  step smb-stop
  kill "$SMBPID" || fail "kill smbd"
  i=0
  while [ "$(smbd_rss)" != 0 ]; do
    i=$((i + 1)); [ $i -le 50 ] || fail "smbd still running 10 s after SIGTERM"; sleep 0.2
  done
  metric smb_steps_ms=$(( $(now_ms) - tsmb ))
fi
