#!/usr/bin/env bash
# Build the self-contained armhf Node runtime for the device, from the sysroot.
#
#   cross/runtime.sh          # idempotent; runs cross/sysroot.sh first
#
# Result: .cache/armhf/stage/opt/nasauth/
#   bin/node                    Debian's armhf node, ELF interpreter patched to
#                               /opt/nasauth/lib/ld-linux-armhf.so.3 and DT_RPATH
#                               /opt/nasauth/lib (so process.execPath is node itself and
#                               child processes of node work; no LD_LIBRARY_PATH leaks
#                               into programs the daemon spawns)
#   lib/ld-linux-armhf.so.3     trixie's glibc loader + libc and node's library closure
#   lib/libnode.so.115          with its externalised-builtin paths (/usr/share/nodejs/...)
#                               rewritten to /opt/nasauth/njs/... (same or shorter length)
#   njs/                        the externalised builtins (cjs-module-lexer, undici, acorn,
#                               acorn-walk, minimatch), only the files node loads
#   bin/nasauthd, bin/nasauth   launchers for lib/nasauthd.js and lib/nasauth.js
#   share/runtime.manifest      package versions + sizes, for the record
. "$(dirname "$0")/lib.sh"

RT=$STAGE$PREFIX
NJS_PREFIX=$PREFIX/njs/   # must not be longer than "/usr/share/nodejs/"

patch_builtin_paths() { # rewrite the compiled-in /usr/share/nodejs/ paths in libnode
  local lib=$1
  [ ${#NJS_PREFIX} -le 18 ] || die "NJS_PREFIX $NJS_PREFIX longer than /usr/share/nodejs/"
  node - "$lib" "$NJS_PREFIX" <<'EOF'
const fs = require('fs');
const [lib, prefix] = process.argv.slice(2);
const buf = fs.readFileSync(lib);
const from = Buffer.from('/usr/share/nodejs/');
let n = 0, i = 0;
while ((i = buf.indexOf(from, i)) !== -1) {
  // Only patch NUL-terminated C strings of the form /usr/share/nodejs/<path>.js
  let end = buf.indexOf(0, i);
  const s = buf.subarray(i, end).toString('latin1');
  if (buf[i - 1] === 0 && /^\/usr\/share\/nodejs\/[\w@./-]+\.js$/.test(s)) {
    const repl = Buffer.from(prefix + s.slice(from.length), 'latin1');
    repl.copy(buf, i);
    buf.fill(0, i + repl.length, end);
    n++;
  }
  i = end;
}
if (n < 6) { console.error(`expected >= 6 builtin paths in ${lib}, patched ${n}`); process.exit(1); }
fs.writeFileSync(lib, buf);
console.error(`[cross] patched ${n} builtin paths in ${lib}`);
EOF
}

build() {
  local tmp=$STAGE.tmp.$$
  rm -rf "$tmp"
  local rt=$tmp$PREFIX
  mkdir -p "$rt/bin" "$rt/lib" "$rt/njs" "$rt/share"

  # node + closure
  cp -L "$SYSROOT/usr/bin/node" "$rt/bin/node"
  copy_closure "$rt/lib" "$rt/bin/node"
  # glibc's loader, and NSS modules that libc may dlopen for getpwnam & co. (a device
  # nsswitch.conf with "compat" must not pull the device's older libnss_compat into
  # our newer libc).
  cp -L "$SYSROOT/$LIBDIR/ld-linux-armhf.so.3" "$rt/lib/"
  local extra
  for extra in libnss_compat.so.2 libnss_files.so.2 libnss_dns.so.2; do
    [ -e "$SYSROOT/$LIBDIR/$extra" ] && cp -L "$SYSROOT/$LIBDIR/$extra" "$rt/lib/"
  done
  copy_closure "$rt/lib" "$rt"/lib/libnss_*.so.2

  # --page-size 65536: the longer interpreter path needs a new LOAD segment; it must be
  # 64K-aligned like the rest of trixie's armhf objects, or a 64K-page kernel (as on some
  # NAS firmwares) cannot map node. DT_RPATH (not RUNPATH): it applies to the whole
  # dependency tree of node, and to dlopen.
  patchelf --page-size 65536 --set-interpreter "$PREFIX/lib/ld-linux-armhf.so.3" \
    --force-rpath --set-rpath "$PREFIX/lib" "$rt/bin/node"
  arm-linux-gnueabihf-readelf -lW "$rt/bin/node" | awk '$1 == "LOAD" && $NF != "0x10000" { bad = 1 } END { exit bad }' ||
    die "patched node has a LOAD segment that is not 64K-aligned"
  patch_builtin_paths "$rt/lib/libnode.so.115"

  # externalised builtins: exactly the files libnode names
  local f rel
  for f in $(strings -n 8 "$rt/lib/libnode.so.115" | grep "^$NJS_PREFIX.*\.js$" | sort -u); do
    rel=${f#"$NJS_PREFIX"}
    mkdir -p "$rt/njs/$(dirname "$rel")"
    cp -L "$SYSROOT/usr/share/nodejs/$rel" "$rt/njs/$rel"
  done
  # licences of what we ship
  mkdir -p "$rt/share/doc"
  for f in nodejs libnode115 libc6 libicu76 libssl3t64 libuv1t64 libcares2 libnghttp2-14 \
           libbrotli1 zlib1g libstdc++6 libgcc-s1 node-undici node-acorn node-cjs-module-lexer node-minimatch; do
    [ -e "$SYSROOT/usr/share/doc/$f/copyright" ] && install -D -m644 "$SYSROOT/usr/share/doc/$f/copyright" "$rt/share/doc/$f/copyright"
  done

  # launchers. Config and args: /etc/default/nasauthd is read by the init script, not here.
  cat >"$rt/bin/nasauthd" <<EOF
#!/bin/sh
# nasauthd launcher: the daemon bundle on the bundled armhf Node runtime.
[ -z "\${NASAUTH_CONFIG:-}" ] && [ -r /etc/nasauth/nasauth.yaml ] && export NASAUTH_CONFIG=/etc/nasauth/nasauth.yaml
exec $PREFIX/bin/node $PREFIX/lib/nasauthd.js "\$@"
EOF
  cat >"$rt/bin/nasauth" <<EOF
#!/bin/sh
# nasauth admin CLI launcher (finds the admin socket through the device config).
[ -z "\${NASAUTH_CONFIG:-}" ] && [ -r /etc/nasauth/nasauth.yaml ] && export NASAUTH_CONFIG=/etc/nasauth/nasauth.yaml
exec $PREFIX/bin/node $PREFIX/lib/nasauth.js "\$@"
EOF
  chmod 755 "$rt/bin/nasauthd" "$rt/bin/nasauth"

  {
    echo "# armhf runtime for $PREFIX, from Debian $SUITE"
    cat "$CACHE/sysroot.manifest"
    echo "# files"
    (cd "$rt" && find . -type f -printf '%s %p\n' | sort -k2)
  } >"$rt/share/runtime.manifest"

  rm -rf "$STAGE"
  mv "$tmp" "$STAGE"
}

main() {
  rm -rf "$STAGE".tmp.*   # left by an interrupted run (we hold the lock)
  "$CROSS_DIR/sysroot.sh"
  # patchelf for the runtime; the rest for the ARM tests and the PAM cross build
  need_host_pkg patchelf binutils-arm-linux-gnueabihf gcc-arm-linux-gnueabihf make file qemu-user
  command -v node >/dev/null || die "host node is needed (it runs the build)"
  local key
  key=$(cat "$CACHE/sysroot.manifest" "$CROSS_DIR/runtime.sh" | sha256sum | cut -c1-16)
  if [ -x "$RT/bin/node" ] && [ "$(cat "$CACHE/runtime.key" 2>/dev/null)" = "$key" ]; then
    log "runtime up to date ($(du -sh "$RT" | cut -f1))"
    return 0
  fi
  build
  echo "$key" >"$CACHE/runtime.key"
  log "runtime built at $RT ($(du -sh "$RT" | cut -f1))"
}

with_lock runtime main "$@"
