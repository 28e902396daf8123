// A hostile local user (nobody, via setpriv: no capabilities, no groups) against a
// running daemon: it may reach only the sockets docs/protocol.md says it may (the 0666
// PAM socket), read none of the daemon's files, cannot exhaust a socket other users
// depend on, and learns nothing about accounts whose password it cannot prove: the
// answers for a name that exists, one that does not, a disabled account, a must-change
// one, one without the service, and a system name are the same bytes.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_CONNECTIONS, encodeRequest } from '../daemon/pam-frame';
import { ROOT, addUser, authenticate, cleanup, cli, startDaemon } from './helpers/daemon';
import { pamExchange, reasonOf } from './helpers/pamwire';
import { HOG, held, runAs, runAsToEnd, setprivMissing } from './helpers/unpriv';
import { waitFor } from './helpers/wait';
import { canRun, isRoot } from './helpers/env';

/** What nobody tries: connect to every socket, read every file; one JSON line back. */
const PROBE = `
const net = require('net'), fs = require('fs');
const { sockets, files } = JSON.parse(process.env.ARGS)[0];
const out = { connect: {}, read: {} };
const tryConnect = (p) => new Promise((res) => { const c = net.connect(p); c.on('connect', () => { c.destroy(); res('ok'); }); c.on('error', (e) => res(e.code)); });
(async () => {
  for (const [name, p] of Object.entries(sockets)) out.connect[name] = await tryConnect(p);
  for (const [name, p] of Object.entries(files)) { try { fs.readFileSync(p); out.read[name] = 'ok'; } catch (e) { out.read[name] = e.code; } }
  process.stdout.write(JSON.stringify(out) + '\\n');
})();
`;

/** Send frames to the PAM socket as nobody; the raw reply bytes (hex), one per frame. */
const ASK = `
const net = require('net');
const [path, frames] = JSON.parse(process.env.ARGS);
const one = (hex) => new Promise((res) => {
  const c = net.connect(path); let buf = Buffer.alloc(0);
  c.on('connect', () => c.write(Buffer.from(hex, 'hex')));
  c.on('data', (d) => { buf = Buffer.concat([buf, d]); if (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) { c.destroy(); res(buf.subarray(0, 4 + buf.readUInt32BE(0)).toString('hex')); } });
  c.on('error', (e) => res('error ' + e.code)); c.on('close', () => res(buf.length ? buf.toString('hex') : 'closed'));
});
(async () => { const out = []; for (const f of frames) out.push(await one(f)); process.stdout.write(JSON.stringify(out) + '\\n'); })();
`;

const lastJson = (s: string) => JSON.parse(s.trim().split('\n').filter((l) => l.startsWith('{') || l.startsWith('[')).pop() ?? 'null');

if (!isRoot || setprivMissing()) {
  t.test('local attacker', async (t) => { canRun(t, setprivMissing(), { installable: isRoot }); });
} else {
  t.test('nobody reaches only the 0666 PAM socket and reads no daemon file', async (t) => {
    const group = spawnSync('getent', ['group', 'www-data']).status === 0 ? 'www-data' : null; // the web server's group; nobody is not in it
    // under the init script's umask 077, as on the device
    const d = await startDaemon({ umask: 0o077, createAdmin: true, config: { sockets: { ldap: { enabled: true }, query: { group } }, log: { file: 'log/nasauthd.log' } } });
    t.teardown(async () => { await d.stop(); cleanup(d); });
    const sockets = { query: d.query, pam: d.pam, pam_priv: d.pamPriv, admin: d.admin, ldapi: d.ldap, lock: join(d.stateDir, 'nasauthd.lock') };
    const files = {
      store: join(d.stateDir, 'store.json'), 'initial-admin-password': join(d.stateDir, 'initial-admin-password'),
      'ldap-bind.secret': join(d.stateDir, 'ldap-bind.secret'), log: d.logFile!, config: d.config, 'nss passwd': join(d.dir, 'nss', 'passwd'),
    };
    const r = await runAsToEnd(PROBE, [{ sockets, files }]);
    const got = lastJson(r.out);
    t.ok(got, `the probe ran as nobody: ${r.out.slice(0, 300)}`);
    // what docs/protocol.md says: the sockets of mode 0666 are everybody's, the others not
    const doc = readFileSync(join(ROOT, 'docs', 'protocol.md'), 'utf8');
    const rows = [...doc.matchAll(/^\| ([A-Za-z ()]+) \| `([^`]+)` \| (0\d{3})/gm)].map((m) => ({ name: m[1].trim(), path: m[2], mode: m[3] }));
    t.ok(rows.length >= 5, 'the socket table of docs/protocol.md');
    const open = rows.filter((x) => x.mode === '0666').map((x) => x.path);
    t.same(open, ['/run/nasauth/pam.sock'], 'the doc names one socket for everybody: the PAM socket');
    t.same(got.connect, { query: 'EACCES', pam: 'ok', pam_priv: 'EACCES', admin: 'EACCES', ldapi: 'EACCES', lock: 'EACCES' }, 'nobody connects to the PAM socket only');
    t.same(got.read, { store: 'EACCES', 'initial-admin-password': 'EACCES', 'ldap-bind.secret': 'EACCES', log: 'EACCES', config: 'ok', 'nss passwd': 'ok' },
      'no daemon file is readable (the test config and the NSS names are public, like /etc/passwd)');
  });

  t.test('nobody learns nothing about accounts it cannot prove a password for', async (t) => {
    const d = await startDaemon({ config: { rate_limit: { backoff_after: 1000, lockout_after: 10000, source_failures: 1000000 } } });
    t.teardown(async () => { await d.stop(); cleanup(d); });
    await addUser(d, 'alice', 'Wonder-land-1', ['--services', 'afp,smb']);
    await addUser(d, 'dora', 'Dormant-Door1', ['--disabled']);
    await addUser(d, 'mona', 'Misty-Pond11', ['--must-change']);
    await addUser(d, 'lou', 'Lucky-Star11', ['--services', 'smb']);
    const names = ['alice', 'dora', 'mona', 'lou', 'nobody-at-all', 'root'];
    const frames = (mk: (n: string) => Buffer) => names.map((n) => mk(n).toString('hex'));
    const ask = async (what: string, mk: (n: string) => Buffer) => {
      const r = await runAsToEnd(ASK, [d.pam, frames(mk)]);
      const replies = lastJson(r.out) as string[];
      t.equal(new Set(replies).size, 1, `${what}: the same bytes for ${names.join(', ')}`);
      return replies[0];
    };
    const auth = await ask('AUTH with a wrong password', (n) => encodeRequest('AUTH', ['netatalk', n, 'not-the-password-1', '198.51.100.7', '']));
    t.equal(reasonOf(pamReply(auth)), 'bad_credentials');
    const acct = await ask('ACCT', (n) => encodeRequest('ACCT', ['netatalk', n, '198.51.100.7']));
    t.equal(reasonOf(pamReply(acct)), 'bad_request', 'ACCT is not answered on the 0666 socket');
    const chpw = await ask('CHPW with a wrong old password', (n) => encodeRequest('CHPW', ['netatalk', n, 'not-the-password-1', 'New-password-99', '198.51.100.7']));
    t.equal(reasonOf(pamReply(chpw)), 'bad_credentials');
    const root = await ask('CHPW_ROOT', (n) => encodeRequest('CHPW_ROOT', ['netatalk', n, 'New-password-99', '']));
    t.equal(reasonOf(pamReply(root)), 'bad_request', 'CHPW_ROOT is refused');
    // nothing changed, and root's socket still tells root the truth
    t.equal((await authenticate(d, 'alice', 'Wonder-land-1', 'smb')).body.reason, 'ok', 'alice\'s password is unchanged');
    const truth = await Promise.all(['alice', 'dora', 'mona', 'nobody-at-all'].map((n) => pamExchange(d.pamPriv, encodeRequest('ACCT', ['netatalk', n, '']))));
    t.same(truth.map((x) => reasonOf(x.replies[0])), ['ok', 'account_disabled', 'must_change_password', 'unknown_user'], 'root\'s socket answers ACCT');
    t.equal((await cli(d, ['user', 'show', 'lou'])).code, 0);
  });

  t.test('nobody cannot exhaust a socket other users depend on', async (t) => {
    const d = await startDaemon();
    t.teardown(async () => { await d.stop(); cleanup(d); });
    await addUser(d, 'alice', 'Wonder-land-1', ['--services', 'afp,smb']);
    const hog = runAs(HOG, [d.pam, String(MAX_CONNECTIONS * 2), '200', encodeRequest('PING', []).toString('hex')]);
    t.teardown(() => hog.stop());
    await waitFor('nobody to hold the PAM socket', () => held(hog) >= MAX_CONNECTIONS - 8);
    const rootSide = await pamExchange(d.pamPriv, encodeRequest('AUTH', ['netatalk', 'alice', 'Wonder-land-1', '', '']));
    t.equal(reasonOf(rootSide.replies[0]), 'ok', 'root\'s PAM socket answers (every login service is root)');
    // another unprivileged user (uid 1, daemon) on the same 0666 socket still gets answers
    const other = await runAsToEnd(ASK, [d.pam, [encodeRequest('AUTH', ['netatalk', 'alice', 'Wonder-land-1', '', '']).toString('hex')]], 1);
    t.equal(reasonOf(pamReply((lastJson(other.out) as string[])[0])), 'ok', 'another local user\'s request on the 0666 socket is answered');
    t.equal((await authenticate(d, 'alice', 'Wonder-land-1', 'smb')).body.reason, 'ok', 'the query socket answers');
    t.ok(held(hog) > 0, 'the hog was at it throughout');
  });
}

function pamReply(hex: string) {
  const { decodeReply } = require('../daemon/pam-frame') as typeof import('../daemon/pam-frame');
  return hex.startsWith('error') || hex === 'closed' ? hex : decodeReply(Buffer.from(hex, 'hex'));
}
