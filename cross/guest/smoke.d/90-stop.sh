# Stop, then uninstall (keeping the store).
step stop
/etc/init.d/nasauthd stop || fail "stop rc=$?"
kill -0 "$DPID" 2>/dev/null && fail "still running after stop"
/etc/init.d/nasauthd status; rc=$?
[ $rc = 3 ] || fail "status after stop: rc=$rc, want 3"
[ -S "$QSOCK" ] && fail "socket $QSOCK left behind"

step uninstall
/opt/nasauth/share/uninstall.sh || fail "uninstall rc=$?"
[ -e /opt/nasauth ] && fail "/opt/nasauth still there"
[ -e /etc/init.d/nasauthd ] && fail "init script still there"
[ -d /var/lib/nasauth ] || fail "the store was removed without --purge"
