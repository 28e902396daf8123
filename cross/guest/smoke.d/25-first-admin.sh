# The first start's one-time admin password (issue 12, point 1): a root-only file in
# the state folder, never in a log; the init script runs the daemon under umask 077
# with core dumps off, and its log files are 0640 at most.
if placeholder daemon; then
  skip first-admin "placeholder daemon"
else
  step first-admin-file
  OTP=/var/lib/nasauth/initial-admin-password
  [ -f "$OTP" ] || fail "no $OTP after the first start"
  [ "$(stat -c %a "$OTP")" = 600 ] || fail "$OTP mode $(stat -c %a "$OTP")"
  ADMIN_PW=$(head -n 1 "$OTP")
  [ ${#ADMIN_PW} -ge 16 ] || fail "no password in $OTP"
  dlog | grep -F -q -- "$ADMIN_PW" && fail "the one-time password is in a log"
  /opt/nasauth/bin/nasauth status | grep -F -q "$OTP" || fail "nasauth status does not say where the password is"
  /opt/nasauth/bin/node /smoke/q.js "$QSOCK" POST /v1/authenticate "{\"user\":\"admin\",\"password\":\"$ADMIN_PW\",\"service\":\"dashboard\"}" |
    grep >/dev/null '"reason":"must_change_password"' || fail "the one-time password does not log in as admin"

  step first-admin-change
  /opt/nasauth/bin/node /smoke/q.js "$QSOCK" POST /v1/password "{\"user\":\"admin\",\"old_password\":\"$ADMIN_PW\",\"new_password\":\"Sm0ke-Owner-Pw-1\"}" |
    grep >/dev/null '"decision":"allow"' || fail "changing the one-time password failed"
  i=0
  while [ -f "$OTP" ]; do i=$((i + 1)); [ $i -le 50 ] || fail "$OTP still there after the change"; sleep 0.2; done

  step daemon-umask
  grep -q '^Umask:[[:space:]]*0077' /proc/$DPID/status || fail "daemon umask: $(grep ^Umask /proc/$DPID/status)"
  awk '/^Max core file size/ { if ($5 != 0) exit 1 }' /proc/$DPID/limits || fail "core dumps are on: $(grep 'core file' /proc/$DPID/limits)"
  for f in /var/log/nasauthd.log /var/log/nasauth/nasauthd.log; do
    [ -f "$f" ] || continue
    m=$(stat -c %a "$f")
    case "$m" in 600|640|400|440) ;; *) fail "$f mode $m (0640 at most)" ;; esac
  done
fi
