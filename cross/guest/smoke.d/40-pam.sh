# PAM: the ARM pamtester against the ARM pam_nasauth.so, through the device's libpam.
PAMSO=$(ls /lib/security/pam_nasauth.so /usr/lib/arm-linux-gnueabihf/security/pam_nasauth.so 2>/dev/null | head -n1)
step pam-module
[ -n "$PAMSO" ] || fail "install.sh did not install pam_nasauth.so next to pam_unix.so"
# Module arguments (pam_nasauth.so socket=, service=, ...).
PAMARGS=${PAMARGS:-service=smb}   # the PAM service name is not a nasauth service
cat >/etc/pam.d/nasauth-smoke <<EOP
auth     required pam_nasauth.so $PAMARGS
account  required pam_nasauth.so $PAMARGS
password required pam_nasauth.so $PAMARGS
EOP
if placeholder pam; then
  sed -i '/^account\|^password/d' /etc/pam.d/nasauth-smoke
  step pam-auth-placeholder
  echo placeholder | pamtester nasauth-smoke alice authenticate || fail "placeholder module refused"
  echo wrong | pamtester nasauth-smoke alice authenticate && fail "placeholder module accepted a wrong password"
  skip pam "placeholder PAM module"
elif placeholder daemon; then
  skip pam "placeholder daemon"
else
  step pam-auth
  echo 'Sm0ke-Passw0rd-1' | pamtester nasauth-smoke alice authenticate || fail "correct password refused"
  echo 'wrong-pass' | pamtester nasauth-smoke alice authenticate && fail "wrong password accepted"
  # as the user: old password first (busybox su; alice's passwd line as NSS would give it)
  step pam-chauthtok-user
  uid=$(/opt/nasauth/bin/nasauth user show alice | awk -F'  +' '/^uid/ { split($2, a, " / "); print a[1] }')
  [ -n "$uid" ] || fail "no uid for alice"
  grep '^alice:' /etc/passwd >/dev/null || echo "alice:x:$uid:100:alice:/tmp:/bin/sh" >>/etc/passwd
  printf 'Sm0ke-Passw0rd-1\nSm0ke-Passw0rd-2\nSm0ke-Passw0rd-2\n' | su -s /bin/sh alice -c 'pamtester nasauth-smoke alice chauthtok' || fail "password change as alice rc=$?"
  echo 'Sm0ke-Passw0rd-2' | pamtester nasauth-smoke alice authenticate || fail "new password refused"
  echo 'Sm0ke-Passw0rd-1' | pamtester nasauth-smoke alice authenticate && fail "old password still accepted"
  # as root: no old password asked (the privileged socket)
  step pam-chauthtok-root
  printf 'Sm0ke-Passw0rd-3\nSm0ke-Passw0rd-3\n' | pamtester nasauth-smoke alice chauthtok || fail "password change as root rc=$?"
  echo 'Sm0ke-Passw0rd-3' | pamtester nasauth-smoke alice authenticate || fail "root-set password refused"
  FINAL_PW=Sm0ke-Passw0rd-3
fi
