# Unpack the real package and install it with its own install.sh (twice: idempotent).
step unpack
mkdir -p /tmp/pkg
t=$(now_ms)
tar -xzf /pkg/nasauth-*-armhf.tar.gz -C /tmp/pkg || fail "tar -xzf"
metric unpack_ms=$(( $(now_ms) - t ))
PKGDIR=$(echo /tmp/pkg/nasauth-*-armhf)

step install
t=$(now_ms)
"$PKGDIR/install.sh" --no-start >/tmp/install.out 2>&1; rc=$?
cat /tmp/install.out
[ $rc = 0 ] || fail "install.sh rc=$rc"
metric install_ms=$(( $(now_ms) - t ))
[ -x /opt/nasauth/bin/node ] || fail "no /opt/nasauth/bin/node"
[ -x /etc/init.d/nasauthd ] || fail "no init script"
[ "$(stat -c %a /var/lib/nasauth)" = 700 ] || fail "state dir mode $(stat -c %a /var/lib/nasauth)"
SECRET=$(sed -n 's/.*generated the LDAP bind secret in //p' /tmp/install.out)
[ -f "$SECRET" ] || fail "no LDAP bind secret generated"
[ "$(stat -c %a "$SECRET")" = 600 ] || fail "secret mode"
[ "$(head -n1 "$SECRET" | tr -d '\n' | wc -c)" = 64 ] || fail "secret length"
if [ ! -f /etc/nasauth/nasauth.yaml ]; then
  skip config-from-package "the package has no etc/nasauth/nasauth.yaml yet; using the smoke config"
  cp /smoke/nasauth-smoke.yaml /etc/nasauth/nasauth.yaml
fi

step install-again
secret=$(md5sum <"$SECRET")
conf=$(md5sum </etc/nasauth/nasauth.yaml)
echo "# local edit" >>/etc/nasauth/nasauth.yaml
conf=$(md5sum </etc/nasauth/nasauth.yaml)
"$PKGDIR/install.sh" --no-start >/dev/null || fail "second install.sh rc=$?"
[ "$(md5sum <"$SECRET")" = "$secret" ] || fail "the LDAP bind secret was regenerated"
[ "$(md5sum </etc/nasauth/nasauth.yaml)" = "$conf" ] || fail "an existing config was overwritten"
rm -rf /tmp/pkg
echo "installed: $(cat /opt/nasauth/share/VERSION); placeholders: $(cat /opt/nasauth/share/PLACEHOLDER 2>/dev/null | tr '\n' ' ')"
