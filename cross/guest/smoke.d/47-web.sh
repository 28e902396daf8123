# The web page: install.sh added the user nasauth-web and made a self-signed certificate;
# /etc/init.d/nasauth-web starts it (as root, it drops to nasauth-web), and alice signs
# in over HTTPS with a scripted client (cross/guest/web.js): first in the guest, pinned
# to /etc/nasauth/web.crt, then from the host through qemu's hostfwd (host
# 127.0.0.1:14490-14499 -> guest 443; boot-test.sh runs the same client there and sends
# its result back over the control port as phase 3).
if placeholder daemon; then
  skip web "placeholder daemon"
elif [ ! -x /etc/init.d/nasauth-web ]; then
  fail "install.sh installed no /etc/init.d/nasauth-web"
else
  step web-install
  WUID=$(awk -F: '$1 == "nasauth-web" { print $3 }' /etc/passwd)
  [ -n "$WUID" ] || fail "install.sh did not add the user nasauth-web"
  grep -q '^nasauth-web:' /etc/group || fail "install.sh did not add the group nasauth-web"
  [ -s /etc/nasauth/web.crt ] && [ -s /etc/nasauth/web.key ] || fail "install.sh made no certificate"
  [ "$(stat -c %a /etc/nasauth/web.key)" = 600 ] || fail "web.key mode $(stat -c %a /etc/nasauth/web.key)"
  [ "$(stat -c %G "$QSOCK")" = nasauth-web ] || fail "the query socket's group is $(stat -c %G "$QSOCK"), not nasauth-web"

  step web-start
  t=$(now_ms)
  /etc/init.d/nasauth-web start || fail "nasauth-web start rc=$?"
  metric web_start_to_ready_ms=$(( $(now_ms) - t ))
  WPID=$(head -n 1 /run/nasauth-web.pid 2>/dev/null | tr -cd '0-9')
  [ -n "$WPID" ] && kill -0 "$WPID" || fail "no nasauth-web pid"
  [ "$(awk '/^Uid:/ { print $2 "/" $3 }' /proc/$WPID/status)" = "$WUID/$WUID" ] || fail "nasauth-web runs as $(awk '/^Uid:/ { print $2 "/" $3 }' /proc/$WPID/status), not $WUID"
  metric rss_web_ready_kb=$(rss_of "$WPID")

  step web-signin-guest
  WEB_PW=${FINAL_PW:-Sm0ke-Passw0rd-1}
  out=$(/opt/nasauth/bin/node /smoke/web.js https://127.0.0.1:443/ alice "$WEB_PW" /etc/nasauth/web.crt 2>&1) || fail "$out"
  echo "$out"
  for m in $(echo "$out" | sed -n 's/^web ok //p'); do metric "guest_web_$m"; done
  metric rss_web_after_kb=$(rss_of "$WPID")

  if grep -q 'nasauth.smb=1' /proc/cmdline && ! placeholder daemon; then
    step web-host
    host_phase 3 "$WEB_PW" - || fail "no word from the host in $SMB_WAIT s (phase 3: the web page)"
    host_checks web-signin
  else
    skip web-host "no network in this boot (NASAUTH_SMB=0)"
  fi
fi
