# Restart without start-stop-daemon (plain shell fallback); the store survives.
step restart-plain-shell
cp /etc/default/nasauthd /tmp/default.saved
echo USE_SSD=no >>/etc/default/nasauthd
/etc/init.d/nasauthd restart || fail "restart rc=$?"
NPID=$(daemon_pid)
[ -n "$NPID" ] && [ "$NPID" != "$DPID" ] && kill -0 "$NPID" || fail "no new daemon pid"
kill -0 "$DPID" 2>/dev/null && fail "the old daemon is still running"
DPID=$NPID
cp /tmp/default.saved /etc/default/nasauthd

if ! placeholder daemon; then
  step state-kept
  /opt/nasauth/bin/nasauth user show alice >/dev/null || fail "alice is gone after restart"
  pw=${FINAL_PW:-Sm0ke-Passw0rd-1}
  /opt/nasauth/bin/node /smoke/q.js "$QSOCK" POST /v1/authenticate "{\"user\":\"alice\",\"password\":\"$pw\",\"service\":\"smb\"}" | grep >/dev/null '"decision":"allow"' || fail "password lost after restart"
fi
metric rss_end_kb=$(rss_of "$DPID")
metric rss_hwm_kb=$(awk '/^VmHWM:/ { print $2 }' /proc/$DPID/status)
