// The device package's install.sh / uninstall.sh, run on the build host into a private
// root (--root), with the host's sh and with busybox sh: layout, modes, idempotence,
// never overwriting a config or the store, the one-time LDAP bind secret, uninstall.
import t from 'tap';
import { fileCanRun, needRoot } from './helpers/env';
import { tempDir } from './helpers/tmp';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync, appendFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..');
const mode = (p: string) => (statSync(p).mode & 0o7777).toString(8);

function which(cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

if (fileCanRun(needRoot())) {
  let pkgdir = '';
  const work = tempDir('nasauth-inst-');
  t.teardown(() => rmSync(work, { recursive: true, force: true }));

  t.before(() => {
    const b = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, encoding: 'utf8' });
    if (b.status !== 0) throw new Error(`build failed: ${b.stderr}`);
    // the emulator-independent GLIBC_2.4 rule is asserted in test/arm-user.test.ts
    const p = spawnSync('bash', [join(ROOT, 'cross', 'package.sh')], { encoding: 'utf8', env: { ...process.env, NASAUTH_SKIP_BUILD: '1', NASAUTH_PAM_GLIBC_CHECK: 'warn' }, maxBuffer: 64 << 20 });
    if (p.status !== 0) throw new Error(`cross/package.sh failed:\n${p.stderr.slice(-4000)}`);
    const tgz = p.stdout.trim().split('\n').pop()!;
    const x = spawnSync('tar', ['-xzf', tgz, '-C', work]);
    if (x.status !== 0) throw new Error('tar failed');
    const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version;
    pkgdir = join(work, `nasauth-${version}-armhf`);
  });

  const busybox = which('busybox');
  for (const shell of ['sh', ...(busybox ? [busybox] : [])]) {
    t.test(`install.sh --root, uninstall.sh (${shell === 'sh' ? 'sh' : 'busybox sh'})`, async (t) => {
      const rootfs = join(work, `rootfs-${shell === 'sh' ? 'sh' : 'bb'}`);
      mkdirSync(join(rootfs, 'etc'), { recursive: true });
      // a firmware's own users; 999 is taken, so the web user gets 998
      writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33::/var/www:/bin/false\nsystemd-x:x:999:999::/:/bin/false\n');
      writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\nwww-data:x:33:\nsystemd-x:x:999:\nusers:x:100:\n');
      writeFileSync(join(rootfs, 'etc/shadow'), 'root:*:19000:0:99999:7:::\n', { mode: 0o640 });
      const run = (script: string, args: string[]) => {
        const a = shell === 'sh' ? [script, ...args] : ['sh', script, ...args];
        const r = spawnSync(shell, a, { encoding: 'utf8', cwd: pkgdir });
        return { rc: r.status, out: `${r.stdout}${r.stderr}` };
      };

      let r = run(join(pkgdir, 'install.sh'), ['--root', rootfs]);
      t.equal(r.rc, 0, `install: ${r.out}`);
      t.ok(existsSync(join(rootfs, 'opt/nasauth/bin/node')), 'runtime');
      t.ok(existsSync(join(rootfs, 'opt/nasauth/lib/nasauthd.js')) && existsSync(join(rootfs, 'opt/nasauth/lib/nasauth.js')), 'bundles');
      t.ok(existsSync(join(rootfs, 'opt/nasauth/lib/nasauthd-start.js')), 'the code-cache starter the init script runs');
      t.equal(mode(join(rootfs, 'etc/init.d/nasauthd')), '755', 'init script 0755');
      t.ok(existsSync(join(rootfs, 'etc/default/nasauthd')), '/etc/default/nasauthd');
      t.equal(mode(join(rootfs, 'etc/init.d/nasauth-web')), '755', 'the web page\'s init script 0755');
      t.ok(existsSync(join(rootfs, 'etc/default/nasauth-web')), '/etc/default/nasauth-web');
      t.ok(existsSync(join(rootfs, 'opt/nasauth/lib/nasauth-web.js')) && existsSync(join(rootfs, 'opt/nasauth/lib/nasauth-web-cert.js')), 'the web bundles');
      t.match(readFileSync(join(rootfs, 'etc/group'), 'utf8'), /^nasauth-web:x:998:$/m, 'the web group, with a free id');
      t.match(readFileSync(join(rootfs, 'etc/passwd'), 'utf8'), /^nasauth-web:x:998:998:[^:]*:\/nonexistent:\/sbin\/nologin$/m, 'the web user, in its group, no shell');
      t.match(readFileSync(join(rootfs, 'etc/shadow'), 'utf8'), /^nasauth-web:!:/m, 'no password');
      t.equal(mode(join(rootfs, 'etc/shadow')), '640', 'shadow keeps its mode');
      t.notOk(existsSync(join(rootfs, 'etc/nasauth/web.key')), 'no certificate made into an image (the device makes it at first start)');
      t.ok(existsSync(join(rootfs, 'lib/security/pam_nasauth.so')), 'PAM module (no pam_unix.so in this root: /lib/security)');
      t.equal(require('node:fs').readlinkSync(join(rootfs, 'usr/sbin/nasauth')), '/opt/nasauth/bin/nasauth', 'the CLI is on the PATH');
      const conf = join(rootfs, 'etc/nasauth/nasauth.yaml');
      if (existsSync(join(ROOT, 'sysroot/etc/nasauth/nasauth.yaml'))) {
        t.equal(readFileSync(conf, 'utf8'), readFileSync(join(ROOT, 'sysroot/etc/nasauth/nasauth.yaml'), 'utf8'), 'config installed');
        t.equal(mode(conf), '600', 'config 0600');
      }
      t.equal(mode(join(rootfs, 'var/lib/nasauth')), '700', 'state dir 0700');
      const m = /generated the LDAP bind secret in (\S+)/.exec(r.out);
      t.ok(m, 'secret generated');
      const secretFile = join(rootfs, m ? m[1] : 'missing');
      const secret = readFileSync(secretFile, 'utf8');
      t.match(secret, /^[0-9a-f]{64}\n$/, '32 random bytes, hex');
      t.equal(mode(secretFile), '600', 'secret 0600');

      // the admin edits the config and the daemon has a store; install again
      appendFileSync(conf, '# local edit\n');
      const edited = readFileSync(conf, 'utf8');
      writeFileSync(join(rootfs, 'var/lib/nasauth/store.json'), '{"precious":true}');
      r = run(join(pkgdir, 'install.sh'), ['--root', rootfs]);
      t.equal(r.rc, 0, `second install: ${r.out}`);
      t.equal(readFileSync(join(rootfs, 'etc/passwd'), 'utf8').match(/^nasauth-web:/gm)?.length, 1, 'the web user once');
      t.equal(readFileSync(join(rootfs, 'etc/group'), 'utf8').match(/^nasauth-web:/gm)?.length, 1, 'the web group once');
      t.equal(readFileSync(conf, 'utf8'), edited, 'an edited config is never overwritten');
      t.ok(existsSync(`${conf}.nasauth-new`), 'the packaged config lands beside it');
      t.equal(readFileSync(secretFile, 'utf8'), secret, 'the secret is generated once');
      t.equal(readFileSync(join(rootfs, 'var/lib/nasauth/store.json'), 'utf8'), '{"precious":true}', 'the store is untouched');

      r = run(join(rootfs, 'opt/nasauth/share/uninstall.sh'), ['--root', rootfs]);
      t.equal(r.rc, 0, `uninstall: ${r.out}`);
      t.notOk(existsSync(join(rootfs, 'opt/nasauth')), '/opt/nasauth removed');
      t.notOk(existsSync(join(rootfs, 'etc/init.d/nasauthd')), 'init script removed');
      t.notOk(existsSync(join(rootfs, 'etc/init.d/nasauth-web')), 'the web page\'s init script removed');
      t.notOk(existsSync(join(rootfs, 'lib/security/pam_nasauth.so')), 'PAM module removed');
      t.ok(existsSync(conf), 'the edited config is kept');
      t.ok(existsSync(join(rootfs, 'var/lib/nasauth/store.json')), 'the store is kept');

      r = run(join(pkgdir, 'uninstall.sh'), ['--root', rootfs, '--purge']);
      t.equal(r.rc, 0, 'uninstall --purge');
      t.notOk(existsSync(join(rootfs, 'var/lib/nasauth')), 'store purged');
      t.notMatch(readFileSync(join(rootfs, 'etc/passwd'), 'utf8'), /nasauth-web/, 'purge removes the web user');
      t.notMatch(readFileSync(join(rootfs, 'etc/group'), 'utf8'), /nasauth-web/, 'and its group');
      t.match(readFileSync(join(rootfs, 'etc/passwd'), 'utf8'), /^www-data:/m, 'the firmware\'s users stay');
    });
  }
}
