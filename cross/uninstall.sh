#!/bin/sh
# nasauth uninstaller, run ON THE DEVICE:
#   /opt/nasauth/share/uninstall.sh [--root DIR] [--purge]
# Stops the daemon, removes /opt/nasauth and every file install.sh put outside it that
# is still as installed (changed files are kept and named). Keeps the store
# (/var/lib/nasauth) and /etc/nasauth unless --purge is given.
set -e
ROOT=
PURGE=no
while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT=${2%/}; shift 2 ;;
    --root=*) ROOT=${1#--root=}; ROOT=${ROOT%/}; shift ;;
    --purge) PURGE=yes; shift ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "uninstall.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
PREFIX=/opt/nasauth
MANIFEST=$ROOT$PREFIX/share/installed-files
say() { echo "nasauth uninstall: $*"; }

if [ -z "$ROOT" ] && [ -x /etc/init.d/nasauth-web ]; then
  /etc/init.d/nasauth-web stop || true
fi
if [ -z "$ROOT" ] && [ -x /etc/init.d/nasauthd ]; then
  /etc/init.d/nasauthd stop || true
fi
if [ -z "$ROOT" ] && command -v update-rc.d >/dev/null 2>&1; then
  update-rc.d -f nasauth-web remove >/dev/null 2>&1 || true
  update-rc.d -f nasauthd remove >/dev/null 2>&1 || true
fi
if [ -f "$MANIFEST" ]; then
  while read -r sum path; do
    [ -n "$path" ] || continue
    f=$ROOT$path
    [ -e "$f" ] || continue
    if [ "$(md5sum "$f" | cut -d' ' -f1)" = "$sum" ]; then
      rm -f "$f"
    else
      say "kept $path (changed since install)"
    fi
  done <"$MANIFEST"
fi
rm -rf "$ROOT$PREFIX"
# the daemon's V8 code cache (init.d CODE_CACHE_DIR): made from the bundle just removed
rm -rf "$ROOT/var/cache/nasauth"
for c in nasauth nasauthd; do
  [ -L "$ROOT/usr/sbin/$c" ] && [ "$(readlink "$ROOT/usr/sbin/$c")" = "$PREFIX/bin/$c" ] && rm -f "$ROOT/usr/sbin/$c"
done
if [ "$PURGE" = yes ]; then
  rm -rf "$ROOT/var/lib/nasauth" "$ROOT/etc/nasauth" "$ROOT/var/log/nasauthd.log" "$ROOT/var/log/nasauth-web.log"
  # the web page's user and group (install.sh added them)
  for f in passwd shadow group gshadow; do
    if [ -f "$ROOT/etc/$f" ] && grep -q '^nasauth-web:' "$ROOT/etc/$f"; then
      grep -v '^nasauth-web:' "$ROOT/etc/$f" >"$ROOT/etc/$f.nasauth-tmp" || true
      cat "$ROOT/etc/$f.nasauth-tmp" >"$ROOT/etc/$f" && rm -f "$ROOT/etc/$f.nasauth-tmp"
    fi
  done
  say "purged the store, the configuration, the logs and the user nasauth-web"
else
  say "kept /var/lib/nasauth (the store) and /etc/nasauth; --purge removes them"
fi
say "done"
