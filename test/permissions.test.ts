// Every socket and file that the daemon, the CLI and cross/install.sh create, with the
// mode each must have. The lists are exhaustive: a new file anywhere under the daemon's
// folders, or anything install.sh lays down that is not listed here, fails this test
// until it is listed with its mode (and the reason it may be that open).
//
// install.sh runs for real (not --root) in a private mount namespace whose /etc, /opt,
// /usr and /var are overlays: what it created is exactly the overlays' upper layers, and
// the host is untouched. It runs under strace, which also shows that the Samba bind
// secret never appears in a command line (issue 12, point 7: it was `smbpasswd -w SECRET`).
import t from 'tap';
import { tempDir } from './helpers/tmp';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT, addUser, cleanup, cli, http, startDaemon } from './helpers/daemon';
import { waitFor } from './helpers/wait';
import { canRun, isRoot } from './helpers/env';

const modeOf = (p: string) => lstatSync(p).mode & 0o7777;
const oct = (m: number) => `0${m.toString(8)}`;

/** Every path under `dir` (files, sockets, folders, links), relative, sorted. */
function walk(dir: string, base = dir): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    out.push(relative(base, p));
    if (e.isDirectory()) out.push(...walk(p, base));
  }
  return out.sort();
}

type Kind = 'dir' | 'file' | 'socket' | 'link';
const kindOf = (p: string): Kind | 'other' => {
  const st = lstatSync(p);
  return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSocket() ? 'socket' : st.isSymbolicLink() ? 'link' : 'other';
};

t.test('the daemon: state, run, NSS and log folders', async (t) => {
  // the query socket's group: a real group that is not root's
  const group = spawnSync('getent', ['group', 'nogroup']).status === 0 ? 'nogroup' : null;
  const d = await startDaemon({
    umask: 0o077, // as init.d/nasauthd runs it: every mode below is set explicitly, not left to the umask
    createAdmin: true,
    config: { sockets: { ldap: { enabled: true }, ...(group ? { query: { group } } : {}) }, log: { file: 'log/nasauthd.log' } },
  });
  t.teardown(async () => { await d.stop(); cleanup(d); });
  await addUser(d, 'alice', 'Wonder-land-1');
  await addUser(d, 'bob', 'Builder-can-1'); // a second change: store.json.prev exists
  await waitFor('the log file to hold the ready line', () => existsSync(d.logFile!) && readFileSync(d.logFile!, 'utf8').includes('"event":"ready"'));

  // [path relative to the test folder, kind, mode, why it may be that open]
  const expected: Array<[string, Kind, number, string]> = [
    ['state', 'dir', 0o700, 'the store, secrets and the lock: root only'],
    ['state/store.json', 'file', 0o600, 'every verifier'],
    ['state/store.json.prev', 'file', 0o600, 'the previous good copy: the same secrets'],
    ['state/initial-admin-password', 'file', 0o600, 'the first start\'s one-time password'],
    ['state/ldap-bind.secret', 'file', 0o600, 'smbd\'s bind secret'],
    ['state/nasauthd.lock', 'socket', 0o600, 'the single-instance lock'],
    ['state/nss.stamp', 'file', 0o600, 'what the NSS files were last rendered from (hashes, inodes): no secret, root only like its folder'],
    ['run', 'dir', 0o755, 'clients must reach the sockets; each socket has its own mode'],
    ['run/query.sock', 'socket', 0o660, 'the web server\'s group (sockets.query.group)'],
    ['run/pam.sock', 'socket', 0o666, 'pam_nasauth.so in any PAM caller, root or not'],
    ['run/pam-priv.sock', 'socket', 0o600, 'pam_nasauth.so running as root: CHPW_ROOT, ACCT'],
    ['run/admin.sock', 'socket', 0o600, 'the CLI, root only'],
    ['run/ldapi.sock', 'socket', 0o600, 'smbd, root only'],
    ['nss', 'dir', 0o755, 'NSS files are read by every process'],
    ['nss/passwd', 'file', 0o644, 'names, uids, homes: no secrets (like /etc/passwd)'],
    ['nss/group', 'file', 0o644, 'like /etc/group'],
    ['log', 'dir', 0o750, 'the log folder: root and its group'],
    ['log/nasauthd.log', 'file', 0o640, 'audit lines (names, sources): root and its group'],
  ];
  const listed = new Set(expected.map((e) => e[0]));
  for (const [rel, kind, mode, why] of expected) {
    const p = join(d.dir, rel);
    t.ok(existsSync(p), `${rel} exists`);
    if (!existsSync(p)) continue;
    t.equal(kindOf(p), kind, `${rel} is a ${kind}`);
    t.equal(oct(modeOf(p)), oct(mode), `${rel} ${oct(mode)}: ${why}`);
    t.equal(lstatSync(p).uid, process.getuid!(), `${rel} is owned by the daemon's user`);
  }
  if (group) t.equal(statSync(join(d.dir, 'run/query.sock')).gid, Number(spawnSync('getent', ['group', group], { encoding: 'utf8' }).stdout.split(':')[2]), 'query.sock belongs to its group');
  // rotated logs (test/harden-log.test.ts makes some): 0640 like the log
  for (const rel of walk(d.dir).filter((p) => /^log\/nasauthd\.log\.\d+$/.test(p))) {
    t.equal(oct(modeOf(join(d.dir, rel))), oct(0o640), `${rel} 0640: a rotated log`);
    listed.add(rel);
  }
  // nothing else: no temp file left, no unlisted file
  const found = walk(d.dir).filter((p) => !['nasauth.yaml'].includes(p));
  t.same(found.filter((p) => !listed.has(p)), [], 'no file the list does not know');
});

t.test('the CLI creates no file', async (t) => {
  const d = await startDaemon();
  t.teardown(async () => { await d.stop(); cleanup(d); });
  const before = walk(d.dir);
  const home = tempDir('nasauth-clihome-');
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  for (const args of [['user', 'add', 'carol'], ['user', 'list'], ['status'], ['user', 'passwd', 'carol'], ['doctor', 'carol'], ['user', 'del', 'carol']]) {
    const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'nasauth.js'), '--config', d.config, ...args], { cwd: home, input: 'Christmas-1x\n', env: { ...process.env, HOME: home }, encoding: 'utf8' });
    t.not(r.status, 3, `nasauth ${args.join(' ')} reached the daemon`);
  }
  t.same(walk(home), [], 'nothing in its working folder or HOME');
  // the daemon's own: the previous store after a change, the NSS stamp once the files are on disk
  t.same(walk(d.dir).filter((p) => !before.includes(p) && p !== 'state/store.json.prev' && p !== 'state/nss.stamp'), [], 'nothing new beside the daemon\'s own files');
  t.equal((await http(d.query, 'GET', '/v1/health')).status, 200);
  void cli;
});

t.test('install.sh on a real root (overlays): what it creates, and the bind secret on stdin', async (t) => {
  if (!canRun(t, !isRoot && 'not root (mount namespaces, overlays)', { installable: false })) return;
  const need = ['strace', 'tdbdump', 'smbpasswd'].filter((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0);
  if (!canRun(t, need.length > 0 && `${need.join(', ')} not installed`)) return;
  const work = tempDir('nasauth-perm-');
  chmodSync(work, 0o755);
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const b = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, encoding: 'utf8' });
  t.equal(b.status, 0, 'build');
  const p = spawnSync('bash', [join(ROOT, 'cross', 'package.sh')], { encoding: 'utf8', env: { ...process.env, NASAUTH_SKIP_BUILD: '1', NASAUTH_PAM_GLIBC_CHECK: 'warn' }, maxBuffer: 64 << 20 });
  t.equal(p.status, 0, `cross/package.sh: ${p.stderr.slice(-500)}`);
  const tgz = p.stdout.trim().split('\n').pop()!;
  t.equal(spawnSync('tar', ['-xzf', tgz, '-C', work]).status, 0, 'unpack');
  const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version;
  const pkg = join(work, `nasauth-${version}-armhf`);
  const trees = ['etc', 'opt', 'usr', 'var'];
  for (const d of trees) { mkdirSync(join(work, 'up', d), { recursive: true }); mkdirSync(join(work, 'wk', d), { recursive: true }); }
  const script = `set -e
    for d in ${trees.join(' ')}; do mount -t overlay overlay -o lowerdir=/$d,upperdir=${work}/up/$d,workdir=${work}/wk/$d /$d; done
    # Samba configured as docs/samba.md says (its ldap admin dn): smbpasswd can store the secret
    cp ${join(ROOT, 'sysroot/etc/samba/smb.conf')} /etc/samba/smb.conf
    mkdir -p /var/lib/samba/private
    cd ${pkg}
    strace -f -qq -e trace=execve -s 4096 -o ${work}/trace sh ./install.sh --no-start >${work}/install.out 2>&1
    tdbdump /var/lib/samba/private/secrets.tdb >${work}/secrets.dump`;
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], { encoding: 'utf8' });
  const out = existsSync(join(work, 'install.out')) ? readFileSync(join(work, 'install.out'), 'utf8') : '';
  t.equal(r.status, 0, `install.sh ran: ${r.stderr}${out}`);
  t.match(out, /stored the LDAP bind secret for Samba/, 'install.sh stored the bind secret');

  // the secret: in Samba's secrets.tdb, in no process's argv
  const secretFile = join(work, 'up/var/lib/nasauth/ldap-bind.secret');
  t.ok(existsSync(secretFile), 'the secret was generated');
  const secret = existsSync(secretFile) ? readFileSync(secretFile, 'utf8').trim() : 'missing-secret';
  t.match(secret, /^[0-9a-f]{64}$/);
  const dump = existsSync(join(work, 'secrets.dump')) ? readFileSync(join(work, 'secrets.dump'), 'utf8') : '';
  t.match(dump, new RegExp(`SECRETS/LDAP_BIND_PW/cn=samba,dc=nas,dc=local"\\ndata\\(\\d+\\) = "${secret}\\\\00"`), 'Samba holds it (secrets.tdb)');
  const trace = readFileSync(join(work, 'trace'), 'utf8');
  const execs = trace.split('\n').filter((l) => l.includes('execve('));
  t.ok(execs.some((l) => /execve\("[^"]*smbpasswd"/.test(l)), 'smbpasswd was run');
  t.same(execs.filter((l) => l.includes(secret)), [], 'no command line carried the secret');

  // every path install.sh created or changed: the overlays' upper layers
  const host = (rel: string) => join('/', rel);
  const sysMode = (rel: string) => modeOf(join(ROOT, 'sysroot', rel.replace(/\.nasauth-new$/, '')));
  const exact: Record<string, [Kind, number | (() => number), string]> = {
    'etc/init.d/nasauthd': ['file', 0o755, 'an init script'],
    'etc/default/nasauthd': ['file', 0o644, 'settings, no secrets'],
    'etc/nasauth': ['dir', 0o755, 'the config folder'],
    'etc/nasauth/nasauth.yaml': ['file', 0o600, 'the config names the state and secret files'],
    'etc/nsswitch.conf.snippet': ['file', 0o644, 'a snippet to copy'],
    'etc/netatalk': ['dir', 0o755, ''],
    'etc/netatalk/afp.conf': ['file', 0o644, 'afpd\'s config, no secrets'],
    'etc/samba/nasauth-check-password': ['file', 0o755, 'run by smbd'],
    'etc/samba/smb.conf': ['file', 0o644, '(written by this test, as docs/samba.md says)'],
    'usr/lib/security': ['dir', 0o755, 'libpam\'s module folder (no pam_unix.so in the known places on this host)'],
    'usr/lib/security/pam_nasauth.so': ['file', 0o644, 'loaded by every PAM caller'],
    'usr/sbin/nasauth': ['link', 0o777, 'a link into /opt/nasauth'],
    'usr/sbin/nasauthd': ['link', 0o777, 'a link into /opt/nasauth'],
    'var/lib/nasauth': ['dir', 0o700, 'the state folder'],
    'var/lib/nasauth/ldap-bind.secret': ['file', 0o600, 'smbd\'s bind secret'],
    'var/lib/samba/private/secrets.tdb': ['file', 0o600, 'Samba\'s own, made by smbpasswd'],
    'etc/init.d/nasauth-web': ['file', 0o755, 'the web page\'s init script'],
    'etc/default/nasauth-web': ['file', 0o644, 'settings, no secrets'],
  };
  // the web page's system user and group are appended to the system's files: their modes stay the host's
  const hostMode = (rel: string) => () => statSync(host(rel)).mode & 0o7777;
  for (const f of ['etc/passwd', 'etc/group', 'etc/shadow', 'etc/gshadow']) {
    if (existsSync(host(f))) exact[f] = ['file', hostMode(f), 'the system user and group nasauth-web added, the file\'s own mode kept'];
  }
  for (const f of ['etc/pam.d/nasauth', 'etc/pam.d/netatalk', 'etc/pam.d/samba', 'etc/samba/smb.conf']) {
    exact[`${f}.nasauth-new`] = ['file', () => sysMode(f), 'the packaged file beside one that differs'];
    if (!exact[f]) exact[f] = ['file', () => sysMode(f), 'a PAM profile'];
  }
  const seen: string[] = [];
  for (const tree of trees) {
    for (const rel0 of walk(join(work, 'up', tree))) {
      const rel = `${tree}/${rel0}`;
      const p = join(work, 'up', rel);
      const kind = kindOf(p);
      const st = lstatSync(p);
      if (kind === 'other' && st.isCharacterDevice()) continue; // an overlay whiteout: a removal
      seen.push(rel);
      const e = exact[rel];
      if (e) {
        const want = typeof e[1] === 'function' ? e[1]() : e[1];
        t.equal(kind, e[0], `${rel} is a ${e[0]}`);
        if (kind !== 'link') t.equal(oct(st.mode & 0o7777), oct(want), `${rel} ${oct(want)}${e[2] ? `: ${e[2]}` : ''}`);
        t.equal(st.uid, 0, `${rel} is root's`);
        continue;
      }
      if (rel === 'opt/nasauth' || rel.startsWith('opt/nasauth/')) {
        // the runtime, the bundles, the module: root's, and written by nobody else
        if (st.uid !== 0 || (kind !== 'link' && (st.mode & 0o022) !== 0)) t.fail(`${rel}: ${oct(st.mode & 0o7777)} uid ${st.uid}: /opt/nasauth must be root's and not group/other-writable`);
        continue;
      }
      if (/^etc\/rc[0-6S]\.d\/[KS]\d\dnasauth(d|-web)$/.test(rel) && kind === 'link') continue; // update-rc.d's boot links
      // a folder copied up because something was created in it keeps the host's mode
      if (kind === 'dir' && existsSync(host(rel)) && statSync(host(rel)).isDirectory() && (statSync(host(rel)).mode & 0o7777) === (st.mode & 0o7777)) continue;
      t.fail(`install.sh made ${rel} (${kind}, ${oct(st.mode & 0o7777)}) and this test does not list it`);
    }
  }
  t.ok(seen.includes('opt/nasauth/bin/node') && seen.includes('etc/init.d/nasauthd'), 'the upper layers hold the install');
});
