# Restart without start-stop-daemon (plain shell fallback); the store survives.
step restart-plain-shell
cp /etc/default/nasauthd /tmp/default.saved
echo USE_SSD=no >>/etc/default/nasauthd
NASAUTHD_TRACE=1 /etc/init.d/nasauthd restart 2>/tmp/restart.trace || { cat /tmp/restart.trace; fail "restart rc=$?"; }
# launch -> ready line of the restarted daemon: the code cache made by the first start is used
tl=$(sed -n 's/.*trace \([0-9]*\)ms launch$/\1/p' /tmp/restart.trace | tail -n1)
tr_=$(sed -n 's/.*trace \([0-9]*\)ms ready line:.*/\1/p' /tmp/restart.trace | tail -n1)
[ -n "$tl" ] && [ -n "$tr_" ] && metric restart_daemon_ready_ms=$((tr_ - tl))
NPID=$(daemon_pid)
[ -n "$NPID" ] && [ "$NPID" != "$DPID" ] && kill -0 "$NPID" || fail "no new daemon pid"
kill -0 "$DPID" 2>/dev/null && fail "the old daemon is still running"
DPID=$NPID
cp /tmp/default.saved /etc/default/nasauthd

if ! placeholder daemon; then
  step code-cache
  dlog | grep '"event":"ready"' | tail -n1 | grep -q '"code_cache":"used"' || fail "the restart did not use the code cache: $(dlog | grep '"event":"ready"' | tail -n1)"
  [ "$(stat -c %a /var/cache/nasauth)" = 700 ] || fail "/var/cache/nasauth is $(stat -c %a /var/cache/nasauth), not 700"

  step state-kept
  /opt/nasauth/bin/nasauth user show alice >/dev/null || fail "alice is gone after restart"
  pw=${FINAL_PW:-Sm0ke-Passw0rd-1}
  /opt/nasauth/bin/node /smoke/q.js "$QSOCK" POST /v1/authenticate "{\"user\":\"alice\",\"password\":\"$pw\",\"service\":\"smb\"}" | grep >/dev/null '"decision":"allow"' || fail "password lost after restart"
fi
metric rss_end_kb=$(rss_of "$DPID")
metric rss_hwm_kb=$(awk '/^VmHWM:/ { print $2 }' /proc/$DPID/status)
