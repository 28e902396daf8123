// Issue 12 point 2: an account is known by its identity (rid, never reused) and version,
// not by its name. While a login or a password change of "alice" is still hashing an
// old, slow imported hash, the admin deletes alice and adds a new alice. The old
// password must not log in to the new account, must not be cached for it, must not be
// written into it by the lazy verifier upgrade (not after a restart, not over SMB), and
// the in-flight password change must not set the new account's password.
//
// The window is made wide and observable, not timed: the old account carries an
// imported sha512-crypt hash with 1,000,000 rounds (about a second or more of work in
// the daemon), the test waits until the daemon reports that hash in flight, makes the
// admin changes, and checks that the old request had still not been answered.
import t, { type Test } from 'tap';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { authenticate, cleanup, cli, http, metric, readStore, startDaemon, type Daemon, type HttpReply } from './helpers/daemon';
import { mk } from './helpers/oldnas';
import { canRun } from './helpers/env';
import { tempDir } from './helpers/tmp';
import { waitFor } from './helpers/wait';
import { sambaMissing, smbclient, startSamba, type Samba } from './helpers/samba';

const OLD = 'Old-pass-1';
const NEW = 'New-pass-2';

/** Import NAME from an "old NAS" whose shadow holds a deliberately slow sha512-crypt hash of OLD. */
async function importSlow(t: Test, d: Daemon, name: string, uid: number) {
  const dir = tempDir('oldnas-slow-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'etc'));
  writeFileSync(join(dir, 'etc', 'passwd'), `${name}:x:${uid}:100:${name}:/shares/${name}:/bin/sh\n`);
  writeFileSync(join(dir, 'etc', 'shadow'), `${name}:${mk('sha512crypt', OLD, ['-R', '1000000'])}:19500:0:99999:7:::\n`);
  const r = await cli(d, ['import', '--from', dir]);
  t.equal(r.code, 0, `import ${name}: ${r.stderr}`);
  const a = readStore(d).accounts[name];
  t.match(a.verifiers.legacy, /^\$6\$rounds=1000000\$/, `${name} carries the slow imported hash`);
  return a;
}

async function hashesInFlight(d: Daemon): Promise<number> {
  return metric((await http(d.query, 'GET', '/v1/metrics')).text, 'nasauth_hash_in_flight');
}

/**
 * Start `request`, wait until the daemon is hashing, run `meanwhile`, and check that the
 * request was still unanswered when `meanwhile` finished (the window held).
 */
async function inFlight(t: Test, d: Daemon, request: () => Promise<HttpReply>, meanwhile: () => Promise<void>): Promise<HttpReply> {
  let answered = false;
  const p = request().then((r) => { answered = true; return r; });
  await waitFor('the slow hash to be in flight', async () => (await hashesInFlight(d)) >= 1);
  await meanwhile();
  t.notOk(answered, 'the admin changes landed while the old request was still hashing');
  return p;
}

/**
 * The admin deletes NAME and adds a new account with the same name, over the admin socket
 * (what the CLI does, without starting two CLI processes inside the window).
 */
async function recreate(d: Daemon, name: string, services: string[], password: string | null = NEW) {
  const del = await http(d.admin, 'DELETE', `/v1/admin/users/${name}`);
  if (del.status !== 200) throw new Error(`delete ${name}: ${del.text}`);
  const add = await http(d.admin, 'POST', '/v1/admin/users', { name, services, ...(password === null ? {} : { password }) });
  if (add.status !== 201) throw new Error(`add ${name}: ${add.text}`);
}

const samba = sambaMissing();
let d: Daemon;
let s: Samba | undefined;
t.before(async () => {
  d = await startDaemon({ config: { sockets: { ldap: { enabled: samba === null } }, scrypt: { max_in_flight: 2 } } });
});
t.teardown(async () => { await s?.stop(); await d?.stop(); if (d) cleanup(d); });

t.test('delete, then add with a new password, while a login with the old password hashes', async (t) => {
  const old = await importSlow(t, d, 'alice', 1001);
  const r = await inFlight(t, d, () => authenticate(d, 'alice', OLD, 'smb'), () => recreate(d, 'alice', ['smb', 'dashboard']));
  const now = readStore(d).accounts.alice;
  t.not(now.rid, old.rid, 'the new alice is another identity (a new rid)');
  t.equal(r.body.reason, 'bad_credentials', 'the old password does not log in to the new alice');
  t.notOk(r.body.user, 'and shows nothing of her');
  const again = await authenticate(d, 'alice', OLD, 'smb');
  t.equal(again.body.reason, 'bad_credentials', 'the old password was not cached for the new alice');
  t.equal(again.body.cached, false);
  t.equal((await authenticate(d, 'alice', NEW, 'smb')).body.reason, 'ok', 'the new password works');
  t.same(readStore(d).accounts.alice.verifiers, now.verifiers, 'the new alice\'s verifiers are the ones the admin set');
});

t.test('the lazy upgrade never writes the old password into a new account', async (t) => {
  const old = await importSlow(t, d, 'bob', 1002);
  const r = await inFlight(t, d, () => authenticate(d, 'bob', OLD, 'smb'), () => recreate(d, 'bob', ['smb', 'dashboard'], null));
  t.equal(r.body.reason, 'bad_credentials', 'the old password does not log in to the new bob');
  const now = readStore(d).accounts.bob;
  t.not(now.rid, old.rid);
  t.same(now.verifiers, {}, 'the new bob still has no password at all (no scrypt, no NT hash)');

  // after a restart (nothing lived only in memory) and over SMB (the NT hash smbd would use)
  await d.stop();
  d = await startDaemon({ dir: d.dir });
  t.equal((await authenticate(d, 'bob', OLD, 'smb')).body.reason, 'bad_credentials', 'after a restart the old password is still refused');
  if (!canRun(t, samba)) return;
  const secret = readFileSync(join(d.stateDir, 'ldap-bind.secret'), 'utf8').trim();
  s = await startSamba({ ldapi: d.ldap, bindSecret: secret, nssDir: join(d.dir, 'nss') });
  const smb = await smbclient(s, 'Public', 'bob', OLD);
  t.not(smb.code, 0, 'SMB refuses the old password for the new bob');
  t.match(smb.out, /NT_STATUS_LOGON_FAILURE/, smb.out.trim());
});

t.test('a password change in flight does not set the new account\'s password', async (t) => {
  const old = await importSlow(t, d, 'carol', 1003);
  const change = () => http(d.query, 'POST', '/v1/password', { user: 'carol', old_password: OLD, new_password: 'Changed-pass-3', service: 'dashboard' });
  const r = await inFlight(t, d, change, () => recreate(d, 'carol', ['smb', 'dashboard']));
  t.not(r.body.reason, 'ok', `the change is refused: ${r.body.reason}`);
  const now = readStore(d).accounts.carol;
  t.not(now.rid, old.rid);
  t.equal((await authenticate(d, 'carol', NEW, 'dashboard')).body.reason, 'ok', 'the new carol keeps the password the admin set');
  t.equal((await authenticate(d, 'carol', 'Changed-pass-3', 'dashboard')).body.reason, 'bad_credentials', 'the in-flight change did not reach her');
});

t.test('the same account changed while hashing (not re-created): the proof still holds', async (t) => {
  // an e-mail change bumps the version of the same account (same rid): the login is judged
  // against the account as it is now, and succeeds
  await importSlow(t, d, 'dora', 1004);
  const r = await inFlight(t, d, () => authenticate(d, 'dora', OLD, 'smb'), async () => {
    const set = await http(d.admin, 'PATCH', '/v1/admin/users/dora', { email: 'dora@example.com' });
    if (set.status !== 200) throw new Error(set.text);
  });
  t.equal(r.body.reason, 'ok', 'the same account, still the same password: accepted');
  t.equal(r.body.user.email, 'dora@example.com', 'with the profile as it is now');
  const a = readStore(d).accounts.dora;
  t.ok(a.verifiers.scrypt && a.verifiers.nt && !a.verifiers.legacy, 'and upgraded to scrypt + NT hash');
  t.equal((await authenticate(d, 'dora', OLD, 'smb')).body.cached, true, 'and cached for her');
});
