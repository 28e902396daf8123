// The portal's sessions on the real query socket (the bundle, as shipped): every check
// nasauthd makes on every call, the version binding, the users table's actions through
// the same Authority methods as the CLI, and hostile input.
import t from 'tap';
import { addUser, cleanup, cli, http, metric, readStore, startDaemon, type Daemon } from './helpers/daemon';

let d: Daemon;
t.before(async () => {
  d = await startDaemon({ config: { rate_limit: { lockout_after: 4, backoff_after: 3 } } });
  await addUser(d, 'root-admin', 'Admin-pass-1', ['--role', 'admin']);
  await addUser(d, 'alice', 'Wonder-pass-1', ['--email', 'alice@example.com']);
  await addUser(d, 'bob', 'Builder-pass-1', ['--services', 'smb,timemachine']);
});
t.teardown(async () => { await d?.stop(); if (d) cleanup(d); });

const signIn = (user: string, password: string, source = '192.0.2.10') => http(d.query, 'POST', '/v1/sessions', { user, password, source });
const as = (token: string, method: string, path: string, body?: unknown, source = '192.0.2.10') =>
  http(d.query, method, path, body, { authorization: `Bearer ${token}`, 'x-nasauth-source': source });
async function tokenOf(user: string, password: string): Promise<string> {
  const r = await signIn(user, password);
  if (!r.body?.session?.token) throw new Error(`no session for ${user}: ${r.text}`);
  return r.body.session.token;
}

t.test('sign in: a session only for ok, the real reason otherwise', async (t) => {
  let r = await signIn('alice', 'Wonder-pass-1');
  t.equal(r.status, 200);
  t.equal(r.body.reason, 'ok');
  t.match(r.body.session.token, /^[A-Za-z0-9_-]{43}$/);
  t.equal(r.body.session.idle_seconds, 1800);
  t.equal(r.body.user.name, 'alice');
  r = await signIn('alice', 'wrong-pass-1');
  t.equal(r.body.reason, 'bad_credentials');
  t.notOk(r.body.session, 'no session for a wrong password');
  r = await signIn('bob', 'Builder-pass-1');
  t.equal(r.body.reason, 'service_denied', 'right password, no dashboard: the true reason');
  t.notOk(r.body.session);
  t.equal(r.body.user.name, 'bob', 'with the profile, so the page can say what bob may use');
  r = await http(d.query, 'POST', '/v1/sessions', { user: 'alice', password: 'Wonder-pass-1', service: 'smb' });
  t.equal(r.status, 400, 'the service is always the dashboard: no field for it');
});

t.test('the session: who, what, until when; sign out', async (t) => {
  const tok = await tokenOf('alice', 'Wonder-pass-1');
  let r = await as(tok, 'GET', '/v1/session');
  t.equal(r.status, 200);
  t.equal(r.body.user.name, 'alice');
  t.equal(r.body.user.email, 'alice@example.com');
  t.same(r.body.access, { smb: true, timemachine: true, afp: true, dashboard: true, ssh: false, ftp: false, webdav: false });
  t.match(r.body.session, { created_at: String, expires_at: String, idle_expires_at: String });
  r = await as(tok, 'GET', '/v1/users');
  t.equal(r.status, 403, 'the users table is for admins');
  t.equal(r.body.error.reason, 'service_denied');
  r = await as(tok, 'DELETE', '/v1/session');
  t.same(r.body, { ended: 1 });
  r = await as(tok, 'GET', '/v1/session');
  t.equal(r.status, 401, 'signed out');
  t.equal(r.body.error.reason, 'bad_credentials');
  const m = (await http(d.query, 'GET', '/v1/metrics')).text;
  t.ok(metric(m, 'nasauth_sessions') >= 0, 'sessions are a metric');
});

t.test('own e-mail and name: the session stays; other changes end every session', async (t) => {
  const a = await tokenOf('alice', 'Wonder-pass-1');
  const b = await tokenOf('alice', 'Wonder-pass-1');
  let r = await as(a, 'PATCH', '/v1/session/profile', { email: 'alice@family.example', full_name: 'Alice A.' });
  t.equal(r.status, 200, r.text);
  t.equal(r.body.user.email, 'alice@family.example');
  r = await as(a, 'GET', '/v1/session');
  t.equal(r.status, 200, 'the session that made the change goes on');
  r = await as(b, 'GET', '/v1/session');
  t.equal(r.status, 401, 'the other session of alice saw the version move: ended');
  r = await as(a, 'PATCH', '/v1/session/profile', { email: 'not an address' });
  t.equal(r.status, 400);
  t.equal(r.body.error.field, 'email');
  r = await as(a, 'PATCH', '/v1/session/profile', { role: 'admin' });
  t.equal(r.status, 400, 'no role through self-service');
  t.equal(readStore(d).accounts.alice.role, 'user');
  // a change by the admin (CLI) ends it at once
  const set = await cli(d, ['user', 'set', 'alice', '--full-name', 'Alice B.']);
  t.equal(set.code, 0, set.stderr);
  r = await as(a, 'GET', '/v1/session');
  t.equal(r.status, 401);
});

t.test('disable, dashboard taken away, delete and re-create: refused with the reason', async (t) => {
  let tok = await tokenOf('alice', 'Wonder-pass-1');
  await cli(d, ['user', 'set', 'alice', '--disable']);
  let r = await as(tok, 'GET', '/v1/session');
  t.equal(r.status, 401);
  t.equal(r.body.error.reason, 'account_disabled');
  await cli(d, ['user', 'set', 'alice', '--enable']);
  r = await as(tok, 'GET', '/v1/session');
  t.equal(r.status, 401, 'enabling again does not bring the session back');

  tok = await tokenOf('alice', 'Wonder-pass-1');
  await cli(d, ['service', 'deny', 'alice', 'dashboard']);
  r = await as(tok, 'GET', '/v1/session');
  t.equal(r.body.error.reason, 'service_denied');
  await cli(d, ['service', 'allow', 'alice', 'dashboard']);

  await addUser(d, 'carl', 'Sagan-pass-1');
  tok = await tokenOf('carl', 'Sagan-pass-1');
  t.equal((await cli(d, ['user', 'del', 'carl'])).code, 0);
  await addUser(d, 'carl', 'Sagan-pass-1');
  r = await as(tok, 'GET', '/v1/session');
  t.equal(r.status, 401, 'a new carl (new rid) is not the old session\'s carl: the delete ended the session');
});

t.test('own password: old one proven again; this session stays, the others end', async (t) => {
  await addUser(d, 'dora', 'Explorer-pw-1');
  const a = await tokenOf('dora', 'Explorer-pw-1');
  const b = await tokenOf('dora', 'Explorer-pw-1');
  let r = await as(a, 'POST', '/v1/session/password', { old_password: 'wrong-pass-9', new_password: 'Explorer-pw-2' });
  t.equal(r.body.reason, 'bad_credentials', 're-authentication is required');
  r = await as(a, 'POST', '/v1/session/password', { old_password: 'Explorer-pw-1', new_password: 'short' });
  t.equal(r.body.reason, 'password_rejected');
  t.match(r.body.message, /at least 8 characters/);
  r = await as(a, 'POST', '/v1/session/password', { old_password: 'Explorer-pw-1', new_password: 'Explorer-pw-2' });
  t.equal(r.body.reason, 'ok');
  t.equal((await as(a, 'GET', '/v1/session')).status, 200, 'this session goes on');
  t.equal((await as(b, 'GET', '/v1/session')).status, 401, 'the other one ended');
  t.equal((await signIn('dora', 'Explorer-pw-1')).body.reason, 'bad_credentials', 'the old password is gone');
  const c = await tokenOf('dora', 'Explorer-pw-2');
  r = await as(a, 'DELETE', '/v1/session/all');
  t.same(r.body, { ended: 2 }, 'sign out everywhere');
  t.equal((await as(c, 'GET', '/v1/session')).status, 401);
  t.equal((await as(a, 'GET', '/v1/session')).status, 401);
});

t.test('the users table: every action, through the same checks as the CLI', async (t) => {
  const adm = await tokenOf('root-admin', 'Admin-pass-1');
  let r = await as(adm, 'GET', '/v1/users');
  t.equal(r.status, 200);
  const alice = r.body.users.find((u: { name: string }) => u.name === 'alice');
  t.match(alice, { name: 'alice', role: 'user', enabled: true, verifier: 'scrypt', nt_hash: true, access: { dashboard: true, ssh: false } });
  t.ok('last_refusal' in alice);
  t.notOk(JSON.stringify(r.body).match(/\$scrypt|\$7\$|"nt":"/), 'no verifier leaves the daemon');
  t.ok(r.body.services.includes('dashboard'));

  r = await as(adm, 'POST', '/v1/users', { name: 'erin', email: 'erin@example.com', full_name: 'Erin', services: ['smb', 'dashboard'] });
  t.equal(r.status, 201, r.text);
  const otp = r.body.one_time_password;
  t.match(otp, /^[A-Za-z0-9]{4}-[A-Za-z0-9]{4}-[A-Za-z0-9]{4}-[A-Za-z0-9]{4}$/, 'a one-time password, shown once');
  t.equal(r.body.user.must_change_password, true);
  t.equal((await signIn('erin', otp)).body.reason, 'must_change_password', 'it must be changed at first sign-in');
  r = await http(d.query, 'POST', '/v1/password', { user: 'erin', old_password: otp, new_password: 'Sunny-pass-2' });
  t.equal(r.body.reason, 'ok');
  const erin = await tokenOf('erin', 'Sunny-pass-2');

  r = await as(adm, 'POST', '/v1/users', { name: 'erin' });
  t.equal(r.status, 409, 'exists');
  r = await as(adm, 'POST', '/v1/users', { name: 'Bad Name!' });
  t.equal(r.status, 400);
  t.equal(r.body.error.field, 'name');

  r = await as(adm, 'PATCH', '/v1/users/erin', { email: 'erin@family.example', role: 'user', services: ['smb', 'dashboard', 'afp'] });
  t.equal(r.status, 200, r.text);
  t.equal(readStore(d).accounts.erin.email, 'erin@family.example');
  t.equal((await as(erin, 'GET', '/v1/session')).status, 401, 'the admin\'s edit ended erin\'s session');
  r = await as(adm, 'PATCH', '/v1/users/erin', { uid: 0 });
  t.equal(r.status, 400, 'uid is not for the web');
  r = await as(adm, 'PATCH', '/v1/users/erin', { email: 'x@example.com', rid: 1 });
  t.equal(r.status, 409, 'a stale rid: not this account');

  r = await as(adm, 'POST', '/v1/users/erin/password', {});
  t.equal(r.status, 200, r.text);
  t.equal((await signIn('erin', 'Sunny-pass-2')).body.reason, 'bad_credentials');
  const otp2 = r.body.one_time_password;
  t.equal((await signIn('erin', otp2)).body.reason, 'must_change_password', 'reset: must change');

  for (let i = 0; i < 4; i++) await signIn('erin', `wrong-${i}-pass`, '198.51.100.7');
  r = await as(adm, 'GET', '/v1/users/erin');
  t.match(r.body.user.last_refusal, { reason: 'rate_limited', source: '198.51.100.7', service: 'dashboard' }, 'the last refusal, for the admin');
  t.equal((await signIn('erin', otp2)).body.reason, 'rate_limited', 'backing off');
  r = await as(adm, 'POST', '/v1/users/erin/unlock');
  t.equal(r.status, 200);
  t.equal(r.body.user.locked_until, null);
  t.equal((await signIn('erin', otp2)).body.reason, 'must_change_password', 'unlocked: the right password gets its real answer');

  r = await as(adm, 'GET', '/v1/users/bob/doctor?service=dashboard');
  t.equal(r.status, 200);
  t.ok(r.body.diagnosis.checks.some((c: { blocks?: boolean }) => c.blocks), 'something keeps bob out');
  t.match(JSON.stringify(r.body.diagnosis.checks), /bob may not use the NAS web page/, 'doctor\'s findings, in plain words');

  r = await as(adm, 'PATCH', '/v1/users/erin', { enabled: false });
  t.equal(r.body.user.enabled, false);
  r = await as(adm, 'DELETE', '/v1/users/erin');
  t.same(r.body, { deleted: 'erin' });
  t.notOk(readStore(d).accounts.erin);
  r = await as(adm, 'DELETE', '/v1/users/erin');
  t.equal(r.status, 404);
});

t.test('never the last admin, on the web and in the CLI; own edits keep the admin signed in', async (t) => {
  const adm = await tokenOf('root-admin', 'Admin-pass-1');
  let r = await as(adm, 'DELETE', '/v1/users/root-admin');
  t.equal(r.status, 409);
  t.match(r.body.error.message, /last enabled administrator/);
  r = await as(adm, 'PATCH', '/v1/users/root-admin', { role: 'user' });
  t.equal(r.status, 409);
  r = await as(adm, 'PATCH', '/v1/users/root-admin', { enabled: false });
  t.equal(r.status, 409);
  let c = await cli(d, ['user', 'del', 'root-admin']);
  t.equal(c.code, 1, 'the CLI gets the same refusal');
  t.match(c.stderr, /last enabled administrator/);
  c = await cli(d, ['user', 'set', 'root-admin', '--role', 'user']);
  t.equal(c.code, 1);
  t.equal(readStore(d).accounts['root-admin'].role, 'admin');
  r = await as(adm, 'PATCH', '/v1/users/root-admin', { email: 'admin@family.example' });
  t.equal(r.status, 200, 'the admin\'s own e-mail, in the same place as everybody\'s');
  t.equal((await as(adm, 'GET', '/v1/users')).status, 200, 'and the admin stays signed in');
  await addUser(d, 'second-admin', 'Admin-pass-2', ['--role', 'admin']);
  c = await cli(d, ['user', 'set', 'root-admin', '--role', 'user']);
  t.equal(c.code, 0, 'with another admin, demoting is fine');
  r = await as(adm, 'GET', '/v1/users');
  t.equal(r.status, 401, 'a role change ends the account\'s sessions');
  const again = await tokenOf('root-admin', 'Admin-pass-1');
  t.equal((await as(again, 'GET', '/v1/users')).status, 403, 'signed in again, no longer an admin');
});

t.test('hostile input on every portal route', async (t) => {
  const tok = await tokenOf('alice', 'Wonder-pass-1');
  const cases: Array<[string, string, unknown, Record<string, string>, number]> = [
    ['GET', '/v1/session', undefined, {}, 401],
    ['GET', '/v1/session', undefined, { authorization: 'Bearer' }, 401],
    ['GET', '/v1/session', undefined, { authorization: `Basic ${tok}` }, 401],
    ['GET', '/v1/session', undefined, { authorization: `Bearer ${'A'.repeat(43)}` }, 401],
    ['GET', '/v1/session', undefined, { authorization: `Bearer ${tok}x` }, 401],
    ['GET', '/v1/session', undefined, { authorization: `Bearer ${tok}`, 'x-nasauth-source': 'x'.repeat(200) }, 400],
    ['POST', '/v1/sessions', { user: 'alice' }, {}, 400],
    ['POST', '/v1/sessions', { user: 'alice', password: 1 }, {}, 400],
    ['POST', '/v1/sessions', { user: 'a'.repeat(300), password: 'x' }, {}, 400],
    ['POST', '/v1/sessions', Buffer.from('{"user":"alice","password":"\xff"'), {}, 400],
    ['POST', '/v1/sessions', Buffer.alloc(20_000, 0x20), {}, 413],
    ['GET', '/v1/sessions', undefined, {}, 405],
    ['PUT', '/v1/session', undefined, { authorization: `Bearer ${tok}` }, 405],
    ['GET', '/v1/session/nope', undefined, { authorization: `Bearer ${tok}` }, 404],
    ['PATCH', '/v1/session/profile', {}, { authorization: `Bearer ${tok}` }, 400],
    ['PATCH', '/v1/session/profile', { full_name: 'a\nb' }, { authorization: `Bearer ${tok}` }, 400],
    ['PATCH', '/v1/session/profile', { full_name: 'x'.repeat(300) }, { authorization: `Bearer ${tok}` }, 400],
  ];
  for (const [m, p, b, h, want] of cases) {
    const r = await http(d.query, m, p, b, h);
    t.equal(r.status, want, `${m} ${p} ${JSON.stringify(h).slice(0, 60)} → ${want}`);
    if (r.status >= 400) t.type(r.body?.error?.message, 'string', 'with a message');
  }
  t.equal((await as(tok, 'GET', '/v1/session')).status, 200, 'the session survived all of it');
  const names = ['%', '%2e%2e', 'x'.repeat(100)];
  const adm = await tokenOf('second-admin', 'Admin-pass-2');
  for (const n of names) {
    const r = await as(adm, 'GET', `/v1/users/${n}`);
    t.ok([400, 404].includes(r.status), `GET /v1/users/${n.slice(0, 12)}: ${r.status}`);
  }
});

t.test('no token, cookie or password in the log', async (t) => {
  const r = await signIn('alice', 'Wonder-pass-1');
  const tok = r.body.session.token;
  await as(tok, 'GET', '/v1/session');
  await as(tok, 'DELETE', '/v1/session');
  const logs = d.logs();
  t.notOk(logs.includes(tok), 'the token is never logged');
  t.notOk(logs.includes(tok.slice(16)), 'nor its secret part');
  for (const pw of ['Wonder-pass-1', 'Admin-pass-1', 'Explorer-pw-2', 'Sunny-pass-2']) t.notOk(logs.includes(pw), `no password ${pw}`);
  t.match(logs, /"audit":"session_start","user":"alice"/, 'sessions are audited');
});
