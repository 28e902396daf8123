#!/usr/bin/env bash
# Build the installable device package dist/nasauth-VERSION-armhf.tar.gz.
#
#   cross/package.sh                 # runs sysroot.sh, runtime.sh, npm run build, make -C pam
#   NASAUTH_SKIP_BUILD=1 cross/package.sh   # use the dist/*.js that are there
#   NASAUTH_ALLOW_PLACEHOLDER=1             # stand-ins (cross/placeholder/) for a missing
#                                           # daemon bundle or pam/; for bring-up only
#   NASAUTH_PAM_GLIBC_CHECK=warn            # package a PAM module needing glibc > 2.4
#                                           # (emulator tests only; never for a device)
#
# Prints the path of the tarball on stdout (everything else goes to stderr).
# Layout inside the tarball (one top directory nasauth-VERSION-armhf/):
#   install.sh uninstall.sh README.md
#   opt/nasauth/{bin,lib,njs,share}   runtime, lib/nasauthd.js, lib/nasauth.js,
#                                     lib/nasauth-web.js, lib/nasauth-web-cert.js,
#                                     lib/security/pam_nasauth.so, share/VERSION
#   init.d/{nasauthd,nasauth-web}  default/{nasauthd,nasauth-web}  sysroot/...
. "$(dirname "$0")/lib.sh"

PAM_FLAGS=(-l:libpam.so.0 -Wl,-z,defs -Wl,-z,max-page-size=0x10000)

# check_pam_so FILE: ARM EABI5 hard-float, and the only glibc symbol version it needs is
# GLIBC_2.4 (the armhf baseline), so it loads into the device's older glibc.
check_pam_so() {
  local f=$1 vers
  file -b "$f" | grep -q 'ELF 32-bit LSB shared object, ARM, EABI5' || die "$f: not an ARM EABI5 shared object: $(file -b "$f")"
  arm-linux-gnueabihf-readelf -h "$f" | grep -q 'hard-float ABI' || die "$f: not hard-float"
  vers=$(arm-linux-gnueabihf-readelf -V "$f" | sed -n 's/.*Name: \(GLIBC_[0-9.]*\).*/\1/p' | sort -u | tr '\n' ' ')
  if [ "${vers% }" != GLIBC_2.4 ]; then
    local why
    why="$f: needs glibc symbol versions '${vers% }', want only GLIBC_2.4 (newer ones: $(arm-linux-gnueabihf-objdump -T "$f" | awk '/GLIBC_2\./ && !/GLIBC_2\.4[) ]/ {print $NF "@" $(NF-1)}' | tr -d '()' | tr '\n' ' '))"
    # NASAUTH_PAM_GLIBC_CHECK=warn: package anyway (for tests on the emulator, whose glibc
    # is new); a firmware build must keep the default, strict.
    if [ "${NASAUTH_PAM_GLIBC_CHECK:-strict}" = warn ]; then log "WARNING: $why"; else die "$why"; fi
  fi
  arm-linux-gnueabihf-readelf -lW "$f" | awk '$1=="LOAD" && $NF != "0x10000" {bad=1} END {exit bad}' ||
    die "$f: LOAD segments not 64K-aligned (link with -Wl,-z,max-page-size=0x10000)"
  log "$(basename "$f"): ARM EABI5 hard-float, glibc versions: ${vers% }; other: $(arm-linux-gnueabihf-readelf -V "$f" | sed -n 's/.*Name: \([A-Z_]*[0-9.]*\).*/\1/p' | grep -v GLIBC | sort -u | tr '\n' ' ')"
}

build_pam() { # -> path of the armhf pam_nasauth.so, or the placeholder
  local out
  if [ -f "$REPO/pam/Makefile" ]; then
    log "make -C pam CROSS=arm-linux-gnueabihf- SYSROOT=$SYSROOT"
    flock "$CACHE/.pam.lock" make -C "$REPO/pam" CROSS=arm-linux-gnueabihf- SYSROOT="$SYSROOT" >&2 ||
      die "PAM module cross build failed"
    out=$REPO/pam/build/arm-linux-gnueabihf/pam_nasauth.so
    [ -f "$out" ] || out=$(find "$REPO/pam" -name pam_nasauth.so -print0 | xargs -0 -r file | grep 'ARM, EABI5' | cut -d: -f1 | head -n1)
    [ -n "$out" ] || die "make -C pam produced no ARM pam_nasauth.so"
    echo "$out"
  else
    [ "${NASAUTH_ALLOW_PLACEHOLDER:-0}" = 1 ] || die "no pam/Makefile (NASAUTH_ALLOW_PLACEHOLDER=1 packages a stand-in, never for a device)"
    log "pam/Makefile not there: building the PLACEHOLDER PAM module (auth ok for password 'placeholder')"
    out=$CACHE/pam_placeholder/pam_nasauth.so
    mkdir -p "$(dirname "$out")"
    arm-linux-gnueabihf-gcc --sysroot="$SYSROOT" -O2 -fPIC -shared -Wall -Wextra -Werror \
      -o "$out" "$CROSS_DIR/placeholder/pam_placeholder.c" "${PAM_FLAGS[@]}" -Wl,--as-needed
    echo "$out"
  fi
}

main() {
  local t0=$SECONDS
  "$CROSS_DIR/runtime.sh"
  need_host_pkg file binutils-arm-linux-gnueabihf gcc-arm-linux-gnueabihf make
  local version
  version=$(version_from_package_json)
  [ -n "$version" ] || die "no version in package.json"

  # JS bundles
  local placeholder_js=no
  if [ "${NASAUTH_SKIP_BUILD:-0}" != 1 ] && [ -f "$REPO/scripts/build.mjs" ]; then
    log "npm run build"
    (cd "$REPO" && npm run build >&2) || die "npm run build failed"
  fi
  local djs=$REPO/dist/nasauthd.js cjs=$REPO/dist/nasauth.js
  if [ ! -f "$djs" ] || [ ! -f "$cjs" ]; then
    [ "${NASAUTH_ALLOW_PLACEHOLDER:-0}" = 1 ] || die "no dist/nasauthd.js or dist/nasauth.js (NASAUTH_ALLOW_PLACEHOLDER=1 packages stand-ins, never for a device)"
    log "dist/nasauthd.js or dist/nasauth.js missing: packaging the PLACEHOLDER daemon and CLI"
    djs=$CROSS_DIR/placeholder/nasauthd.js; cjs=$CROSS_DIR/placeholder/nasauth.js
    placeholder_js=yes
  fi

  local pamso
  pamso=$(build_pam)
  check_pam_so "$pamso"

  local name=nasauth-$version-armhf
  local work=$CACHE/pkg
  rm -rf "$work"; mkdir -p "$work/$name"
  local top=$work/$name
  mkdir -p "$top/opt"
  cp -a "$STAGE$PREFIX" "$top/opt/"
  install -m644 "$djs" "$top$PREFIX/lib/nasauthd.js"
  # what the init script runs: lib/nasauthd.js through a V8 code cache (daemon/start.ts)
  if [ -f "$REPO/dist/nasauthd-start.js" ] && [ "$djs" = "$REPO/dist/nasauthd.js" ]; then
    install -m644 "$REPO/dist/nasauthd-start.js" "$top$PREFIX/lib/nasauthd-start.js"
  else
    [ "$placeholder_js" = yes ] || die "no dist/nasauthd-start.js (npm run build)"
    printf "require('./nasauthd.js');\n" >"$top$PREFIX/lib/nasauthd-start.js"; chmod 644 "$top$PREFIX/lib/nasauthd-start.js"
  fi
  install -m644 "$cjs" "$top$PREFIX/lib/nasauth.js"
  # the account portal (no placeholder: without its bundles the package has no web page)
  if [ -f "$REPO/dist/nasauth-web.js" ] && [ -f "$REPO/dist/nasauth-web-cert.js" ]; then
    install -m644 "$REPO/dist/nasauth-web.js" "$top$PREFIX/lib/nasauth-web.js"
    install -m644 "$REPO/dist/nasauth-web-cert.js" "$top$PREFIX/lib/nasauth-web-cert.js"
  else
    [ "$placeholder_js" = yes ] || die "no dist/nasauth-web.js or dist/nasauth-web-cert.js (npm run build)"
  fi
  install -D -m644 "$pamso" "$top$PREFIX/lib/security/pam_nasauth.so"
  echo "$version" >"$top$PREFIX/share/VERSION"
  # share/PLACEHOLDER names the parts that are stand-ins (the smoke test skips their steps)
  : >"$top$PREFIX/share/PLACEHOLDER"
  [ "$placeholder_js" = yes ] && echo daemon >>"$top$PREFIX/share/PLACEHOLDER"
  [ "$pamso" = "$CACHE/pam_placeholder/pam_nasauth.so" ] && echo pam >>"$top$PREFIX/share/PLACEHOLDER"
  [ -s "$top$PREFIX/share/PLACEHOLDER" ] || rm -f "$top$PREFIX/share/PLACEHOLDER"
  install -m755 "$CROSS_DIR/install.sh" "$top/install.sh"
  install -m755 "$CROSS_DIR/uninstall.sh" "$top/uninstall.sh"
  install -m755 "$CROSS_DIR/uninstall.sh" "$top$PREFIX/share/uninstall.sh"
  install -D -m755 "$REPO/init.d/nasauthd" "$top/init.d/nasauthd"
  install -D -m644 "$CROSS_DIR/default.nasauthd" "$top/default/nasauthd"
  install -D -m755 "$REPO/init.d/nasauth-web" "$top/init.d/nasauth-web"
  install -D -m644 "$CROSS_DIR/default.nasauth-web" "$top/default/nasauth-web"
  install -m644 "$CROSS_DIR/README.md" "$top/README.md"
  mkdir -p "$top/sysroot"
  if [ -d "$REPO/sysroot" ]; then
    (cd "$REPO/sysroot" && find . -type f ! -name '.*' -print0 | cpio -0pdm --quiet "$top/sysroot")
  fi

  mkdir -p "$REPO/dist"
  local tgz=$REPO/dist/$name.tar.gz
  # reproducible: fixed owner, order and mtime
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='2024-01-01 00:00:00' \
      -C "$work" -cf - "$name" | gzip -n -6 >"$tgz.tmp"
  mv "$tgz.tmp" "$tgz"
  log "package: $tgz ($(du -h "$tgz" | cut -f1) compressed, $(du -sh "$top" | cut -f1) installed; $((SECONDS - t0))s)"
  echo "$tgz"
}

with_lock package main "$@"
