// Two NAS boxes, two directory servers: a provider slapd and a second slapd that
// replicates it (syncrepl, refreshAndPersist). NAS 1 follows the provider, NAS 2 the
// replica. A password changed through NAS 1 works on NAS 2 (and the old one stops there
// at its next online check); a user added on the provider reaches NAS 2; a change asked
// of the read-only replica is refused with the directory's own words.
import t from 'tap';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ntHash } from '../daemon/password';
import { authenticate, cleanup, cli, http, readStore, startDaemon, type Daemon } from './helpers/daemon';
import { tempDir } from './helpers/tmp';
import { canRun } from './helpers/env';
import { PEOPLE, posixGroupLdif, slapdMissing, startSlapd, upstreamConfig, userLdif, writeSecret, type Slapd } from './helpers/slapd';
import { waitFor } from './helpers/wait';

if (!canRun(t, slapdMissing())) {
  // reported by canRun
} else {
  const tmp = tempDir('nasauth-uprepl-');
  let provider: Slapd;
  let replica: Slapd;
  let nas1: Daemon;
  let nas2: Daemon;
  t.teardown(async () => {
    for (const d of [nas1, nas2]) { await d?.stop(); if (d) cleanup(d); }
    for (const s of [replica, provider]) { await s?.stop(); s?.cleanup(); }
    rmSync(tmp, { recursive: true, force: true });
  });
  const secret = writeSecret(tmp);
  const nasConfig = (s: Slapd) => upstreamConfig(s, { secretFile: secret, extra: { cached_auth_seconds: 0, refresh: { interval_seconds: 3600, jitter_seconds: 60, page_size: 100, max_users: 1000, max_groups: 1000 } } });
  const replicated = (filter: string, want: RegExp) => waitFor(`the replica to have ${filter}`, () => want.test(replica.search(PEOPLE, filter, ['*'])), 30_000, 100);

  t.before(async () => {
    provider = await startSlapd({
      ldap: true, provider: true,
      seed: [userLdif({ name: 'alice', uid: 23001, password: 'Pass-a-one-1', samba: true }), userLdif({ name: 'bob', uid: 23002, password: 'Pass-b-one-1' }), posixGroupLdif('staff', 33001, ['alice', 'bob'])].join(''),
    });
    replica = await startSlapd({ consumerOf: provider });
    await replicated('(uid=alice)', /^uid: alice$/m);
    nas1 = await startDaemon({ config: nasConfig(provider) });
    nas2 = await startDaemon({ config: nasConfig(replica) });
    for (const d of [nas1, nas2]) await waitFor('the first refresh', () => /"upstream":"refresh","why":"schedule","ok":true/.test(d.logs()));
  });

  t.test('both NAS boxes know the same people', async (t) => {
    for (const d of [nas1, nas2]) {
      t.equal((await authenticate(d, 'alice', 'Pass-a-one-1')).body.reason, 'ok', `alice on ${d === nas1 ? 'NAS 1' : 'NAS 2'}`);
      t.equal((await authenticate(d, 'bob', 'Pass-b-one-1')).body.reason, 'ok', `bob on ${d === nas1 ? 'NAS 1' : 'NAS 2'}`);
    }
  });

  t.test('a password changed through NAS 1 works on NAS 2; the old one stops there', async (t) => {
    const r = await http(nas1.query, 'POST', '/v1/password', { user: 'alice', old_password: 'Pass-a-one-1', new_password: 'Pass-a-two-2' });
    t.equal(r.body.reason, 'ok', r.body.message);
    t.ok(provider.bindOk('alice', 'Pass-a-two-2'), 'the provider has it');
    await waitFor('the replica to take the new password', () => replica.bindOk('alice', 'Pass-a-two-2'), 30_000, 100);
    const on2 = await authenticate(nas2, 'alice', 'Pass-a-two-2');
    t.equal(on2.body.reason, 'ok', 'NAS 2: the new password');
    t.equal((await authenticate(nas2, 'alice', 'Pass-a-one-1')).body.reason, 'bad_credentials', 'NAS 2: not the old one');
    // NAS 1 also wrote the Samba hash: NAS 2's refresh takes it, so SMB there follows
    // even for a user who has not signed in on NAS 2 since
    const newNt = ntHash(Buffer.from('Pass-a-two-2')).toString('hex').toUpperCase();
    await replicated('(uid=alice)', new RegExp(`^sambaNTPassword: ${newNt}$`, 'm'));
    const out = await cli(nas2, ['directory', 'refresh']);
    t.equal(out.code, 0, out.stdout);
    t.equal(readStore(nas2).accounts.alice.verifiers.nt, newNt, 'NAS 2 holds the new NT hash for SMB');
  });

  t.test('a user added on the provider reaches NAS 2 through the replica', async (t) => {
    provider.add(userLdif({ name: 'carol', uid: 23003, password: 'Pass-c-one-1' }));
    await replicated('(uid=carol)', /^uid: carol$/m);
    const out = await cli(nas2, ['directory', 'refresh']);
    t.match(out.stdout, /3 users/, out.stdout);
    t.match(readFileSync(join(nas2.dir, 'nss', 'passwd'), 'utf8'), /^carol:x:23003:/m, 'carol is in NAS 2\'s NSS files');
    t.equal((await authenticate(nas2, 'carol', 'Pass-c-one-1')).body.reason, 'ok', 'and signs in there');
  });

  t.test('a change asked of the read-only replica is refused, in the directory\'s words', async (t) => {
    const r = await http(nas2.query, 'POST', '/v1/password', { user: 'bob', old_password: 'Pass-b-one-1', new_password: 'Pass-b-two-2' });
    t.equal(r.body.reason, 'password_rejected', r.body.message);
    t.match(r.body.message, /^the directory refused the new password: /, 'the directory\'s own reason follows');
    t.ok(provider.bindOk('bob', 'Pass-b-one-1'), 'nothing changed');
    t.equal((await authenticate(nas2, 'bob', 'Pass-b-one-1')).body.reason, 'ok', 'bob keeps his password on NAS 2');
  });
}
