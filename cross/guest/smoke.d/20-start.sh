# Start through the init script (busybox start-stop-daemon here), status, oom, reload.
step start
t=$(now_ms)
NASAUTHD_TRACE=1 /etc/init.d/nasauthd start 2>/tmp/start.trace; rc=$?
[ $rc = 0 ] || { cat /tmp/start.trace; fail "init start rc=$rc"; }
metric start_to_ready_ms=$(( $(now_ms) - t ))
cat /tmp/start.trace
# the daemon's own part: launch -> its ready log line (seen by the init script's poll)
tl=$(sed -n 's/.*trace \([0-9]*\)ms launch$/\1/p' /tmp/start.trace)
tr_=$(sed -n 's/.*trace \([0-9]*\)ms ready line:.*/\1/p' /tmp/start.trace | head -n1)
[ -n "$tl" ] && [ -n "$tr_" ] && metric daemon_ready_ms=$((tr_ - tl))
DPID=$(daemon_pid)
[ -n "$DPID" ] && kill -0 "$DPID" || fail "no live pid after start"
metric rss_ready_kb=$(rss_of "$DPID")
# idle: 1 s after ready, no request yet (as the host benchmark reads it; 15-floor.sh is its floor)
sleep 1
metric rss_idle_kb=$(rss_of "$DPID")
QSOCK=$(dlog | grep '"event":"ready"' | tail -n1 | tr ',[]' '\n\n\n' | tr -d '"' | grep 'query.sock$' | head -n1)
[ -S "$QSOCK" ] || fail "no query socket (from the ready line: '$QSOCK')"

step thread-priority
# root on the device: the event loop raised, the hash pool's threads found (daemon/loop-priority.ts)
RL=$(dlog | grep '"event":"ready"' | tail -n1)
echo "$RL" | grep '"loop_nice":-5,"pool_threads":4' >/dev/null || fail "ready line: $(echo "$RL" | grep -o '"loop_nice":[^,]*,"pool_threads":[^,]*')"

step status
/etc/init.d/nasauthd status || fail "status rc=$?"

step oom-score
[ "$(cat /proc/$DPID/oom_score_adj)" = -500 ] || fail "oom_score_adj $(cat /proc/$DPID/oom_score_adj)"

step health
/opt/nasauth/bin/node /smoke/q.js "$QSOCK" GET /v1/health || fail

step reload
/etc/init.d/nasauthd reload || fail "reload rc=$?"
i=0
until dlog | grep '"reloaded"' >/dev/null; do
  i=$((i + 1)); [ $i -le 100 ] || fail "no reloaded log line"; sleep 1
done
[ "$(daemon_pid)" = "$DPID" ] && kill -0 "$DPID" || fail "the daemon did not survive SIGHUP"
