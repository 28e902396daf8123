// End to end through the real daemon (the shipped bundle) and its real sockets:
// the CLI adds users, the query socket answers, every reason code is reached.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { addUser, authenticate, cleanup, cli, http, metric, readStore, startDaemon } from './helpers/daemon';

t.test('add, authenticate, change password, disable, delete', async (t) => {
  const d = await startDaemon();
  t.teardown(async () => { await d.stop(); cleanup(d); });

  await addUser(d, 'alice', 'Correct-horse-1', ['--email', 'alice@example.com', '--full-name', 'Alice Ärger']);
  let r = await authenticate(d, 'alice', 'Correct-horse-1');
  t.equal(r.status, 200);
  t.equal(r.body.reason, 'ok');
  t.equal(r.body.decision, 'allow');
  t.equal(r.body.user.email, 'alice@example.com', 'profile comes with the proven password');
  t.equal(r.body.user.full_name, 'Alice Ärger');
  t.equal(r.body.cached, false, 'first success pays the slow hash');

  r = await authenticate(d, 'alice', 'Correct-horse-1');
  t.equal(r.body.cached, true, 'second success is a cache hit');
  let m = (await http(d.query, 'GET', '/v1/metrics')).text;
  t.equal(metric(m, 'nasauth_cache_hits_total'), 1, 'metrics count the hit');

  // user names are matched case-insensitively (Finder users type "Alice")
  r = await authenticate(d, 'Alice', 'Correct-horse-1');
  t.equal(r.body.reason, 'ok');

  r = await authenticate(d, 'alice', 'wrong-password');
  t.equal(r.body.reason, 'bad_credentials');
  t.notOk(r.body.user, 'no profile without the password');

  // change own password over the query socket
  r = await http(d.query, 'POST', '/v1/password', { user: 'alice', old_password: 'Correct-horse-1', new_password: 'Battery-staple-2' });
  t.equal(r.body.reason, 'ok', 'password changed');
  const hitsBefore = metric((await http(d.query, 'GET', '/v1/metrics')).text, 'nasauth_cache_hits_total');
  r = await authenticate(d, 'alice', 'Correct-horse-1');
  t.equal(r.body.reason, 'bad_credentials', 'old password refused at once (cache invalidated)');
  r = await authenticate(d, 'alice', 'Battery-staple-2');
  t.equal(r.body.reason, 'ok', 'new password accepted');
  t.equal(r.body.cached, false, 'the new password was not answered by an old cache entry');
  m = (await http(d.query, 'GET', '/v1/metrics')).text;
  t.equal(metric(m, 'nasauth_cache_hits_total'), hitsBefore, 'no cache hit served the old password');

  // wrong old password, and a policy violation
  r = await http(d.query, 'POST', '/v1/password', { user: 'alice', old_password: 'nope-nope-1', new_password: 'Another-one-3' });
  t.equal(r.body.reason, 'bad_credentials');
  r = await http(d.query, 'POST', '/v1/password', { user: 'alice', old_password: 'Battery-staple-2', new_password: 'short' });
  t.equal(r.body.reason, 'password_rejected');
  t.match(r.body.message, /at least 8 characters/);
  r = await authenticate(d, 'alice', 'Battery-staple-2');
  t.equal(r.body.reason, 'ok', 'a refused change changes nothing');

  // disable: the right password now says why
  let c = await cli(d, ['user', 'set', 'alice', '--disable']);
  t.equal(c.code, 0, c.stderr);
  r = await authenticate(d, 'alice', 'Battery-staple-2');
  t.equal(r.body.reason, 'account_disabled');
  t.equal(r.body.decision, 'deny');
  r = await authenticate(d, 'alice', 'wrong-password');
  t.equal(r.body.reason, 'bad_credentials', 'a wrong password tells nothing about the account state');
  c = await cli(d, ['user', 'set', 'alice', '--enable']);
  r = await authenticate(d, 'alice', 'Battery-staple-2');
  t.equal(r.body.reason, 'ok');

  // delete
  c = await cli(d, ['user', 'del', 'alice']);
  t.equal(c.code, 0);
  r = await authenticate(d, 'alice', 'Battery-staple-2');
  t.equal(r.body.reason, 'bad_credentials', 'deleted: the cache does not keep it alive');
  c = await cli(d, ['user', 'show', 'alice']);
  t.equal(c.code, 1);
  t.match(c.stderr, /no account named "alice"/);
  t.notOk(readStore(d).accounts.alice, 'gone from the store');
});

t.test('every reason code is reachable', async (t) => {
  const d = await startDaemon({ config: { rate_limit: { backoff_after: 3, backoff_base_ms: 60000, backoff_max_ms: 60000, lockout_after: 5, lockout_seconds: 600, source_failures: 1000 } } });
  t.teardown(async () => { await d.stop(); cleanup(d); });
  await addUser(d, 'bob', 'B-secret-one1', ['--services', 'smb']);
  await addUser(d, 'carol', 'C-secret-one1', ['--must-change']);
  await addUser(d, 'dave', 'D-secret-one1', ['--disabled']);
  await addUser(d, 'erin', 'E-secret-one1');

  const seen = new Set<string>();
  const note = (r: { body: any }) => { seen.add(r.body.reason ?? r.body.error?.reason); return r; }; // eslint-disable-line @typescript-eslint/no-explicit-any

  t.equal(note(await authenticate(d, 'bob', 'B-secret-one1', 'smb')).body.reason, 'ok');
  // the user story: a correct password for an account without dashboard access
  const sd = note(await authenticate(d, 'bob', 'B-secret-one1', 'dashboard'));
  t.equal(sd.body.reason, 'service_denied', 'the true reason, never "incorrect credentials"');
  t.equal(sd.body.user.name, 'bob');
  t.equal(note(await authenticate(d, 'bob', 'B-secret-one1', 'no-such-service')).body.reason, 'service_denied');
  // PAM service names are aliases: samba → smb
  t.equal((await authenticate(d, 'bob', 'B-secret-one1', 'samba')).body.reason, 'ok');
  t.equal(note(await authenticate(d, 'carol', 'C-secret-one1')).body.reason, 'must_change_password');
  t.equal(note(await authenticate(d, 'dave', 'D-secret-one1')).body.reason, 'account_disabled');
  t.equal(note(await authenticate(d, 'nobody-here', 'whatever-1')).body.reason, 'bad_credentials');
  t.equal(note(await http(d.query, 'POST', '/v1/authorize', { user: 'nobody-here', service: 'smb' })).body.reason, 'unknown_user');
  t.equal((await http(d.query, 'POST', '/v1/authorize', { user: 'bob', service: 'smb' })).body.reason, 'ok');
  t.equal((await http(d.query, 'POST', '/v1/authorize', { user: 'bob', service: 'afp' })).body.reason, 'service_denied');
  t.equal(note(await http(d.query, 'POST', '/v1/password', { user: 'erin', old_password: 'E-secret-one1', new_password: 'abc' })).body.reason, 'password_rejected');
  t.equal(note(await http(d.query, 'POST', '/v1/authenticate', Buffer.from('{"user":'))).body.error.reason, 'bad_request');

  // carol changes her password: must_change does not block the change, and clears the flag
  t.equal((await http(d.query, 'POST', '/v1/password', { user: 'carol', old_password: 'C-secret-one1', new_password: 'C-new-secret2' })).body.reason, 'ok');
  t.equal((await authenticate(d, 'carol', 'C-new-secret2')).body.reason, 'ok');

  // backoff then lockout for erin (a real name) and for a name that does not exist: same answers
  for (const name of ['erin', 'ghost']) {
    const answers: string[] = [];
    for (let i = 0; i < 3; i++) answers.push((await authenticate(d, name, 'bad-guess-' + i)).body.reason);
    t.same(answers, ['bad_credentials', 'bad_credentials', 'bad_credentials'], `${name}: first failures`);
    const rl = note(await authenticate(d, name, 'bad-guess-x'));
    t.equal(rl.body.reason, 'rate_limited', `${name}: backoff after 3 failures`);
    t.ok(rl.body.retry_after > 0, 'with retry_after');
  }
  // the right password during backoff is not tested against (no oracle), it is rate limited too
  t.equal((await authenticate(d, 'erin', 'E-secret-one1')).body.reason, 'rate_limited');
  // the admin's unlock clears the backoff too; the count starts again from zero
  await cli(d, ['unlock', 'erin']);
  for (let i = 0; i < 2; i++) await authenticate(d, 'erin', 'bad-again-' + i);
  const s = await cli(d, ['--json', 'status']);
  t.equal(s.code, 0);
  // the lockout itself: a daemon whose backoff does not make the test wait
  await d.stop();

  const d2 = await startDaemon({ config: { rate_limit: { backoff_after: 5, backoff_base_ms: 0, backoff_max_ms: 0, lockout_after: 5, lockout_seconds: 600, source_failures: 1000 } } });
  t.teardown(async () => { await d2.stop(); cleanup(d2); });
  await addUser(d2, 'frank', 'F-secret-one1');
  const r5: string[] = [];
  for (let i = 0; i < 5; i++) r5.push((await authenticate(d2, 'frank', 'bad-' + i)).body.reason);
  t.same(r5, ['bad_credentials', 'bad_credentials', 'bad_credentials', 'bad_credentials', 'locked_out'], 'the 5th failure locks');
  const lo = note(await authenticate(d2, 'frank', 'F-secret-one1'));
  t.equal(lo.body.reason, 'locked_out', 'locked even with the right password');
  t.ok(lo.body.retry_after > 500 && lo.body.retry_after <= 600);
  const st = await cli(d2, ['status']);
  t.match(st.stdout, /locked\s+frank until/, 'the admin sees the lockout');
  t.ok(readStore(d2).accounts.frank.lockout_until > Date.now(), 'the lockout is in the store (survives a restart)');
  t.equal((await cli(d2, ['unlock', 'frank'])).code, 0);
  t.equal((await authenticate(d2, 'frank', 'F-secret-one1')).body.reason, 'ok', 'cleared by the admin');

  // busy: one slow hash at a time, no queue, an expensive scrypt
  const d3 = await startDaemon({ config: { scrypt: { log_n: 15, r: 8, p: 1, max_in_flight: 1, max_queued: 0 } } });
  t.teardown(async () => { await d3.stop(); cleanup(d3); });
  const many = await Promise.all(Array.from({ length: 6 }, (_, i) => authenticate(d3, `user${i}`, 'whatever-pass')));
  const busy = many.filter((r) => r.body.reason === 'busy');
  t.ok(busy.length > 0, 'excess slow-hash work is refused, not queued without bound');
  t.equal(busy[0].status, 503);
  t.ok(busy[0].headers['retry-after']);
  note(busy[0]);

  // unavailable: see core-disk.test.ts (a full disk); source rate limit: see below
  for (const r of ['ok', 'bad_credentials', 'account_disabled', 'service_denied', 'locked_out', 'must_change_password', 'rate_limited', 'unknown_user', 'password_rejected', 'busy', 'bad_request']) {
    t.ok(seen.has(r), `reached ${r}`);
  }
});

t.test('per-source limit: one source flooding does not lock out others', async (t) => {
  const d = await startDaemon({ config: { rate_limit: { backoff_after: 100, lockout_after: 1000, source_failures: 10, source_window_seconds: 60 } } });
  t.teardown(async () => { await d.stop(); cleanup(d); });
  await addUser(d, 'gina', 'G-secret-one1');
  for (let i = 0; i < 10; i++) await authenticate(d, `guess${i}`, 'x-x-x-x-x', 'dashboard', '198.51.100.9');
  t.equal((await authenticate(d, 'gina', 'G-secret-one1', 'dashboard', '198.51.100.9')).body.reason, 'rate_limited', 'the flooding source is limited');
  t.equal((await authenticate(d, 'gina', 'G-secret-one1', 'dashboard', '192.0.2.1')).body.reason, 'ok', 'another source is not');
});

t.test('a refused password answers after the failure delay; a proven one does not wait', async (t) => {
  const d = await startDaemon({ config: { rate_limit: { failure_delay_ms: 400 } } });
  t.teardown(async () => { await d.stop(); cleanup(d); });
  await addUser(d, 'hugo', 'H-secret-one1', ['--services', 'smb']);
  await authenticate(d, 'hugo', 'H-secret-one1', 'smb');
  let t0 = Date.now();
  t.equal((await authenticate(d, 'hugo', 'wrong-wrong-1', 'smb')).body.reason, 'bad_credentials');
  t.ok(Date.now() - t0 >= 390, 'the refusal waited for failure_delay_ms (a lower bound, not a speed test)');
  t0 = Date.now();
  t.equal((await authenticate(d, 'nobody-at-all', 'wrong-wrong-1', 'smb')).body.reason, 'bad_credentials');
  t.ok(Date.now() - t0 >= 390, 'an unknown user waits the same');
  // the right password with no dashboard access is proven: the true reason comes at once
  const sd = await authenticate(d, 'hugo', 'H-secret-one1', 'dashboard');
  t.equal(sd.body.reason, 'service_denied');
});

t.test('first start creates admin with a one-time password that must be changed', async (t) => {
  const d = await startDaemon({ createAdmin: true });
  t.teardown(async () => { await d.stop(); cleanup(d); });
  // a root-only file (test/harden-otp.test.ts covers its life), never the log
  const m = /^(\S+)\n/.exec(readFileSync(join(d.stateDir, 'initial-admin-password'), 'utf8'));
  t.ok(m, 'in the state folder');
  t.notMatch(d.logs(), m![1], 'never in the log');
  t.notMatch(d.stderr(), m![1], 'nor on a stderr that is not a terminal');
  const r = await authenticate(d, 'admin', m![1]);
  t.equal(r.body.reason, 'must_change_password');
  t.equal(r.body.user.role, 'admin');
  const ch = await http(d.query, 'POST', '/v1/password', { user: 'admin', old_password: m![1], new_password: 'Owner-chosen-1' });
  t.equal(ch.body.reason, 'ok');
  t.equal((await authenticate(d, 'admin', 'Owner-chosen-1')).body.reason, 'ok');
  // the admin's e-mail is an ordinary field (the user story: it was on another tab)
  t.equal((await cli(d, ['user', 'set', 'admin', '--email', 'owner@example.org'])).code, 0);
  t.match((await cli(d, ['user', 'show', 'admin'])).stdout, /e-mail\s+owner@example.org/);
  // a restart does not create a second admin or print a password again
  await d.stop();
  const again = await startDaemon({ dir: d.dir });
  t.teardown(() => again.stop());
  t.notMatch(again.stderr(), /one-time password/);
  t.notOk(existsSync(join(d.stateDir, 'initial-admin-password')), 'the file went with the change');
  t.equal((await authenticate(again, 'admin', 'Owner-chosen-1')).body.reason, 'ok');
});
