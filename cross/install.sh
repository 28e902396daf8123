#!/bin/sh
# nasauth installer, run ON THE DEVICE (busybox sh is enough) from the unpacked package:
#
#   tar xzf nasauth-VERSION-armhf.tar.gz && cd nasauth-VERSION-armhf && ./install.sh
#   ./install.sh --root /path/to/firmware/rootfs     # lay files into an image, start nothing
#   ./install.sh --start                             # (re)start the daemon afterwards
#
# What it does, idempotently:
#  - /opt/nasauth (runtime, bundles, PAM module copy) is replaced as a whole;
#  - /etc/init.d/nasauthd and /etc/init.d/nasauth-web are replaced; their
#    /etc/default files only if absent;
#  - the system user and group nasauth-web (the web page runs as it; the query socket
#    belongs to its group) are added to /etc/passwd and /etc/group if missing;
#  - the web page's certificate: /etc/nasauth/web.crt and web.key (0600) are made
#    (self-signed, this host's name) unless both exist; with --root, the init script
#    makes them at the first start on the device;
#  - the files under sysroot/ (config, /etc/pam.d, Samba/Netatalk snippets) are installed
#    only where absent; an existing file that differs is left alone and the new one is
#    put beside it as FILE.nasauth-new;
#  - pam_nasauth.so goes next to the device's pam_unix.so;
#  - the state directory (state_dir of the config, /var/lib/nasauth) is created 0700; an
#    existing store is never touched;
#  - the Samba LDAP bind secret is generated once (0600) where the config's
#    sockets.ldap.bind_secret_file says (relative: to state_dir; the daemon reads it
#    there) and handed to Samba on stdin with `smbpasswd -s -W` when smbpasswd exists;
#  - every file it installed outside /opt/nasauth is listed with its md5 in
#    /opt/nasauth/share/installed-files, for uninstall.sh.
set -e

ROOT=
START=auto
while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT=${2%/}; shift 2 ;;
    --root=*) ROOT=${1#--root=}; ROOT=${ROOT%/}; shift ;;
    --start) START=yes; shift ;;
    --no-start) START=no; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -n "$ROOT" ] && [ "$START" = auto ] && START=no

PKG=$(cd "$(dirname "$0")" && pwd)
PREFIX=/opt/nasauth
STATE_DIR=/var/lib/nasauth
CONF_DIR=/etc/nasauth
CONFIG=$CONF_DIR/nasauth.yaml
MANIFEST=$ROOT$PREFIX/share/installed-files

say() { echo "nasauth install: $*"; }
[ -x "$PKG$PREFIX/bin/node" ] || { echo "install.sh: run it from the unpacked package ($PKG$PREFIX/bin/node missing)" >&2; exit 1; }

was_running=no
if [ -z "$ROOT" ] && [ -x /etc/init.d/nasauthd ] && /etc/init.d/nasauthd status >/dev/null 2>&1; then
  was_running=yes
fi

# 1. the runtime prefix, swapped in whole (a running daemon keeps its open inodes)
mkdir -p "$ROOT/opt"
rm -rf "$ROOT$PREFIX.new" "$ROOT$PREFIX.old"
cp -a "$PKG$PREFIX" "$ROOT$PREFIX.new"
if [ -d "$ROOT$PREFIX" ]; then
  [ -f "$MANIFEST" ] && cp -p "$MANIFEST" "$ROOT$PREFIX.new/share/installed-files"
  mv "$ROOT$PREFIX" "$ROOT$PREFIX.old"
fi
mv "$ROOT$PREFIX.new" "$ROOT$PREFIX"
rm -rf "$ROOT$PREFIX.old"
touch "$MANIFEST"

record() { # record PATH-ON-DEVICE: remember what we installed
  sum=$(md5sum "$ROOT$1" | cut -d' ' -f1)
  awk -v p="$1" '$2 != p' "$MANIFEST" >"$MANIFEST.tmp"
  echo "$sum  $1" >>"$MANIFEST.tmp"
  mv "$MANIFEST.tmp" "$MANIFEST"
}

install_file() { # install_file SRC DEST MODE replace|keep
  src=$1; dest=$2; mode=$3; policy=$4
  mkdir -p "$(dirname "$ROOT$dest")"
  if [ -e "$ROOT$dest" ] && [ "$policy" = keep ]; then
    if ! cmp -s "$src" "$ROOT$dest"; then
      cp "$src" "$ROOT$dest.nasauth-new"; chmod "$mode" "$ROOT$dest.nasauth-new"
      say "kept $dest (yours); the packaged one is $dest.nasauth-new"
    fi
    return 0
  fi
  cp "$src" "$ROOT$dest.tmp.$$"; chmod "$mode" "$ROOT$dest.tmp.$$"
  mv "$ROOT$dest.tmp.$$" "$ROOT$dest"
  record "$dest"
}

# 1b. the commands on the PATH (links into the prefix)
mkdir -p "$ROOT/usr/sbin"
for c in nasauth nasauthd; do
  [ -x "$ROOT$PREFIX/bin/$c" ] && ln -sfn "$PREFIX/bin/$c" "$ROOT/usr/sbin/$c"
done

# 2. init scripts + their defaults
install_file "$PKG/init.d/nasauthd" /etc/init.d/nasauthd 755 replace
[ -f "$PKG/default/nasauthd" ] && install_file "$PKG/default/nasauthd" /etc/default/nasauthd 644 keep
if [ -f "$PKG/init.d/nasauth-web" ]; then
  install_file "$PKG/init.d/nasauth-web" /etc/init.d/nasauth-web 755 replace
  [ -f "$PKG/default/nasauth-web" ] && install_file "$PKG/default/nasauth-web" /etc/default/nasauth-web 644 keep
fi

# 2b. the web page's system user and group (before the daemon starts: the shipped
#     config gives the query socket to this group). Written into the files directly,
#     so that it works the same on busybox, on Debian and into a firmware image.
WEB_USER=nasauth-web
free_id() { # an id from 999 down to 100 used by no user and no group
  awk -F: '{ used[$3] = 1 } END { for (i = 999; i >= 100; i--) if (!(i in used)) { print i; exit } }' "$ROOT/etc/passwd" "$ROOT/etc/group"
}
if [ -f "$ROOT/etc/passwd" ] && [ -f "$ROOT/etc/group" ]; then
  if ! grep -q "^$WEB_USER:" "$ROOT/etc/group"; then
    gid=$(free_id)
    echo "$WEB_USER:x:$gid:" >>"$ROOT/etc/group"
    [ -f "$ROOT/etc/gshadow" ] && echo "$WEB_USER:!::" >>"$ROOT/etc/gshadow"
    say "added the group $WEB_USER ($gid)"
  fi
  gid=$(awk -F: -v n="$WEB_USER" '$1 == n { print $3 }' "$ROOT/etc/group")
  if ! grep -q "^$WEB_USER:" "$ROOT/etc/passwd"; then
    # the same number as its group when no user has it
    if awk -F: -v g="$gid" '$3 == g { found = 1 } END { exit !found }' "$ROOT/etc/passwd"; then uid=$(free_id); else uid=$gid; fi
    echo "$WEB_USER:x:$uid:$gid:nasauth web page:/nonexistent:/sbin/nologin" >>"$ROOT/etc/passwd"
    [ -f "$ROOT/etc/shadow" ] && echo "$WEB_USER:!:1:0:99999:7:::" >>"$ROOT/etc/shadow"
    say "added the user $WEB_USER ($uid), which the web page runs as"
  fi
else
  say "warning: no /etc/passwd or /etc/group under ${ROOT:-/}: create the user and group $WEB_USER yourself"
fi

# 3. the sysroot/ files: never overwrite (config, pam.d, snippets)
if [ -d "$PKG/sysroot" ]; then
  (cd "$PKG/sysroot" && find . -type f | sed 's|^\./||') | while read -r rel; do
    case "$rel" in
      etc/nasauth/*|*.secret) mode=600 ;;
      *) mode=$(stat -c %a "$PKG/sysroot/$rel" 2>/dev/null || echo 644) ;;
    esac
    install_file "$PKG/sysroot/$rel" "/$rel" "$mode" keep
  done
fi

# 4. the PAM module, next to the device's pam_unix.so
PAMDIR=
for d in /lib/security /lib/arm-linux-gnueabihf/security /usr/lib/security /usr/lib/arm-linux-gnueabihf/security /lib32/security; do
  if [ -e "$ROOT$d/pam_unix.so" ]; then PAMDIR=$d; break; fi
done
[ -n "$PAMDIR" ] || PAMDIR=/lib/security
if [ -f "$ROOT$PREFIX/lib/security/pam_nasauth.so" ]; then
  install_file "$ROOT$PREFIX/lib/security/pam_nasauth.so" "$PAMDIR/pam_nasauth.so" 644 replace
fi

# 5. state and secrets, where the installed config puts them (a one-key reader: the
#    daemon validates the config itself)
yaml_key() { # yaml_key KEY FILE: first scalar value of KEY, block or flow style
  [ -r "$2" ] || return 0
  awk -v k="$1" '{ if (match($0, "(^|[ \t{,])" k ":[ \t]*[^,} \t#]+")) {
      v = substr($0, RSTART, RLENGTH); sub("^.*" k ":[ \t]*", "", v); gsub(/["\047]/, "", v); print v; exit } }' "$2"
}
v=$(yaml_key state_dir "$ROOT$CONFIG"); case "$v" in /*) STATE_DIR=$v ;; esac
LDAP_SECRET=$(yaml_key bind_secret_file "$ROOT$CONFIG")
case "$LDAP_SECRET" in
  /*) ;;
  "") LDAP_SECRET=$STATE_DIR/ldap-bind.secret ;;
  *) LDAP_SECRET=$STATE_DIR/$LDAP_SECRET ;;
esac
mkdir -p "$(dirname "$ROOT$LDAP_SECRET")"
mkdir -p "$ROOT$STATE_DIR" "$ROOT$CONF_DIR"
chmod 700 "$ROOT$STATE_DIR"
chmod 755 "$ROOT$CONF_DIR"
if [ ! -s "$ROOT$LDAP_SECRET" ]; then
  umask 077
  secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
  [ ${#secret} -eq 64 ] || { echo "install.sh: could not read /dev/urandom" >&2; exit 1; }
  printf '%s\n' "$secret" >"$ROOT$LDAP_SECRET.tmp"
  mv "$ROOT$LDAP_SECRET.tmp" "$ROOT$LDAP_SECRET"
  umask 022
  say "generated the LDAP bind secret in $LDAP_SECRET"
fi
chmod 600 "$ROOT$LDAP_SECRET"
if [ -z "$ROOT" ] && command -v smbpasswd >/dev/null 2>&1; then
  # Samba keeps "ldap admin dn"'s password in secrets.tdb. On stdin (-s -W: the secret,
  # then its confirmation), never as an argument: every local user can read any
  # process's command line in /proc/PID/cmdline. A here-document is the shell's own
  # (no printf or echo process whose arguments would show it).
  secret=$(head -n 1 "$LDAP_SECRET")
  if smbpasswd -s -W >/dev/null 2>&1 <<EOF
$secret
$secret
EOF
  then
    say "stored the LDAP bind secret for Samba (smbpasswd -W, on stdin)"
  else
    say "warning: smbpasswd -W failed (is smb.conf's ldap admin dn set?); run it again after configuring Samba:"
    say "  { cat $LDAP_SECRET; cat $LDAP_SECRET; } | smbpasswd -s -W"
  fi
  secret=
fi

# 5b. the web page's certificate, unless the builder supplied one (on the device only:
#     the ARM runtime cannot run on a build host; the init script makes it at first start)
WEB_CRT=$CONF_DIR/web.crt
WEB_KEY=$CONF_DIR/web.key
if [ -z "$ROOT" ] && [ -f "$PREFIX/lib/nasauth-web-cert.js" ] && { [ ! -s "$WEB_CRT" ] || [ ! -s "$WEB_KEY" ]; }; then
  if "$PREFIX/bin/node" "$PREFIX/lib/nasauth-web-cert.js" --cert "$WEB_CRT" --key "$WEB_KEY" --hostname "$(hostname 2>/dev/null || echo nas)"; then
    say "made a self-signed certificate for the web page: $WEB_CRT (replace it and $WEB_KEY with your own any time)"
  else
    say "warning: could not make the web page's certificate; /etc/init.d/nasauth-web tries again at start"
  fi
fi

# 6. boot links, where the system has the tool (firmware images do their own)
if [ -z "$ROOT" ] && command -v update-rc.d >/dev/null 2>&1; then
  update-rc.d nasauthd defaults >/dev/null 2>&1 || true
  [ -x /etc/init.d/nasauth-web ] && { update-rc.d nasauth-web defaults >/dev/null 2>&1 || true; }
fi

say "installed $(cat "$ROOT$PREFIX/share/VERSION" 2>/dev/null) into ${ROOT:-/}"
if [ "$START" = yes ] || { [ "$START" = auto ] && [ "$was_running" = yes ]; }; then
  /etc/init.d/nasauthd restart
  # the first start's one-time admin password: a root-only file, never the log
  if [ -f "$STATE_DIR/initial-admin-password" ]; then
    say "the one-time password of the first admin account is in $STATE_DIR/initial-admin-password (root only;"
    say "  read it with: head -n 1 $STATE_DIR/initial-admin-password); it must be changed at the first login"
  fi
  [ -x /etc/init.d/nasauth-web ] && /etc/init.d/nasauth-web restart
fi
