// Issue 12 point 2, the windows after a password is proven: the lazy upgrade's and a
// password change's slow hash of the new verifier. The authority runs in this process
// on a real store in a temp folder, with one hashing slot; the test holds that slot with
// a job of its own, so the authority's next slow hash waits in the queue for exactly as
// long as the test wants. Meanwhile the admin deletes alice and adds a new alice.
import t, { type Test } from 'tap';
import { tempDir } from './helpers/tmp';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Authority, type Decision } from '../daemon/authority';
import { loadConfig } from '../daemon/config';
import { makeLogger } from '../daemon/log';
import { Store } from '../daemon/store';
import { testConfig } from './helpers/daemon';
import { waitFor } from './helpers/wait';

const OLD = Buffer.from('Old-pass-1');

function setup(t: Test) {
  const dir = tempDir('nasauth-identity-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'nasauth.yaml');
  writeFileSync(file, stringify(testConfig(dir, { scrypt: { max_in_flight: 1, max_queued: 8 }, nss: { enabled: false } })));
  const cfg = loadConfig(file);
  const { store } = Store.open(cfg.state_dir);
  const auth = new Authority(cfg, store, makeLogger('silent', null));
  /** Take the only hashing slot (queued behind whatever holds it now) until release(). */
  const hold = () => {
    let release!: () => void;
    let running = false;
    const done = auth.verifier.pool.run(() => { running = true; return new Promise<void>((r) => { release = r; }); });
    return { done, running: () => running, release: () => release() };
  };
  /** The admin deletes alice and adds a new alice without a password (no hashing needed). */
  const recreate = async () => {
    await auth.delUser('alice', 'admin');
    return auth.addUser({ name: 'alice', services: ['smb', 'dashboard'] }, null, 'admin');
  };
  return { auth, store, hold, recreate };
}

const req = (password: Buffer) => ({ user: 'alice', password, service: 'dashboard', source: 'test', channel: 'query' as const });

t.test('lazy upgrade: the old password is never written into a new alice', async (t) => {
  const { auth, store, hold, recreate } = setup(t);
  const old = await auth.addUser({ name: 'alice', services: ['smb', 'dashboard'] }, null, 'admin');
  const md5 = execFileSync('openssl', ['passwd', '-1', '-stdin'], { input: OLD, encoding: 'utf8' }).trim();
  // as an import leaves it: a legacy hash, version 1 (which a new account also starts at)
  await store.mutate((d) => { d.accounts.alice.verifiers = { legacy: md5 }; });

  const login = auth.authenticate(req(OLD)); // takes the slot for the md5-crypt check
  const h = hold(); // queued behind it: runs once the check is done
  await waitFor('the check done and the upgrade queued behind the held slot', () => h.running() && auth.verifier.pool.queued === 1);
  const fresh = await recreate();
  t.not(fresh.rid, old.rid, 'a new identity');
  h.release();
  const d: Decision = await login;
  t.not(d.reason, 'ok', `the old password does not log in to the new alice (${d.reason})`);
  t.same(store.account('alice')!.verifiers, {}, 'the new alice has no password: nothing was upgraded into her');
  t.notOk(auth.cache.check(fresh.rid, 'alice', OLD, store.account('alice')!.version), 'nothing is cached for her');
});

t.test('self-service change: the new password is never set on a new alice', async (t) => {
  const { auth, store, hold, recreate } = setup(t);
  const old = await auth.addUser({ name: 'alice', services: ['smb', 'dashboard'] }, OLD, 'admin');
  const change = auth.changePassword({ ...req(OLD), newPassword: Buffer.from('Changed-pass-2') }); // the slot: proving OLD
  const h = hold(); // then the slot is ours; the new verifier waits behind it
  await waitFor('the old password proven and the new verifier queued behind the held slot', () => h.running() && auth.verifier.pool.queued === 1);
  const fresh = await recreate();
  t.not(fresh.rid, old.rid);
  h.release();
  const d = await change;
  t.not(d.reason, 'ok', `the change is refused (${d.reason})`);
  t.same(store.account('alice')!.verifiers, {}, 'the new alice has no password: the change did not reach her');
});

t.test('root, LDAP and admin paths: a password set for alice never lands on a new alice', async (t) => {
  const { auth, store, hold, recreate } = setup(t);
  const old = await auth.addUser({ name: 'alice', services: ['smb', 'dashboard'] }, OLD, 'admin');
  const h = hold(); // the slot is ours first: the new verifier waits behind it
  await waitFor('the held slot', () => h.running());
  const set = auth.setPasswordChecked('alice', Buffer.from('Root-set-pass-3'), 'pam', 'root via PAM passwd');
  await waitFor('the new verifier queued', () => auth.verifier.pool.queued === 1);
  const fresh = await recreate();
  t.not(fresh.rid, old.rid);
  h.release();
  const d = await set;
  t.equal(d.reason, 'unknown_user', 'the account root named is gone: nothing set');
  t.same(store.account('alice')!.verifiers, {}, 'the new alice has no password');
});

t.test('the same account changed while the new verifier was made: the change still applies to it', async (t) => {
  const { auth, store, hold } = setup(t);
  const a = await auth.addUser({ name: 'alice', services: ['smb', 'dashboard'] }, OLD, 'admin');
  const h = hold();
  await waitFor('the held slot', () => h.running());
  const set = auth.setPasswordChecked('alice', Buffer.from('Root-set-pass-3'), 'admin', 'admin');
  await waitFor('the new verifier queued', () => auth.verifier.pool.queued === 1);
  await auth.setUser('alice', { email: 'alice@example.com' }, 'admin');
  h.release();
  t.equal((await set).reason, 'ok', 'same rid: the admin\'s password lands');
  const now = store.account('alice')!;
  t.equal(now.rid, a.rid);
  t.equal(now.email, 'alice@example.com', 'and the e-mail change is kept');
  t.equal((await auth.authenticate(req(Buffer.from('Root-set-pass-3')))).reason, 'ok');
});

t.test('authenticateNow: a cache hit is answered at once, everything else as a promise, with the same decisions as authenticate()', async (t) => {
  const { auth } = setup(t);
  const pw = Buffer.from('Right-pass-1');
  await auth.addUser({ name: 'alice', services: ['smb', 'dashboard'] }, pw, 'admin');
  const first = auth.authenticateNow(req(pw));
  t.ok(first instanceof Promise, 'the first login (no cache entry) is a promise: the slow hash runs');
  const d1 = await first;
  t.equal(d1.reason, 'ok');
  t.notOk(d1.cached, 'proven by the slow hash');
  const hit = auth.authenticateNow(req(pw));
  t.notOk(hit instanceof Promise, 'a cache hit is a decision at once');
  t.same(hit, await auth.authenticate(req(pw)), 'the same decision as authenticate()');
  t.equal((hit as Decision).reason, 'ok');
  t.ok((hit as Decision).cached, 'from the cache');
  const wrong = auth.authenticateNow(req(Buffer.from('Wrong-pass-1')));
  t.ok(wrong instanceof Promise, 'a wrong password is a promise (the slow hash runs)');
  t.equal((await wrong).reason, 'bad_credentials');
  // this config has no failure delay (rate_limit.failure_delay_ms 0): a refusal that needs
  // no hash is then a decision at once; with the delay it is a promise (delayFailure)
  const empty = auth.authenticateNow(req(Buffer.alloc(0)));
  t.equal((await empty).reason, 'bad_credentials', 'an empty password is refused without a hash');
});
