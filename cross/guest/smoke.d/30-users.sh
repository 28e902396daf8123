# CLI: add a user (password on stdin), authenticate over the query socket.
if placeholder daemon; then
  skip users "placeholder daemon"
else
  step user-add
  echo 'Sm0ke-Passw0rd-1' | /opt/nasauth/bin/nasauth user add alice || fail "rc=$?"
  /opt/nasauth/bin/nasauth user show alice >/tmp/show.out || fail "user show rc=$?"
  grep alice /tmp/show.out >/dev/null || fail "user show: no alice"

  step query-auth
  /opt/nasauth/bin/node /smoke/q.js "$QSOCK" POST /v1/authenticate '{"user":"alice","password":"Sm0ke-Passw0rd-1","service":"smb"}' | grep >/dev/null '"decision":"allow"' || fail "correct password refused"
  /opt/nasauth/bin/node /smoke/q.js "$QSOCK" POST /v1/authenticate '{"user":"alice","password":"wrong-pass","service":"smb"}' | grep >/dev/null '"decision":"deny"' || fail "wrong password accepted"
  metric rss_after_users_kb=$(rss_of "$DPID")
fi
