// Issue 12 point 4: POST /v1/profile applies the same policy as /v1/authenticate. A
// dashboard that trusts `decision` must not let a disabled, service-denied or
// must-change account in; the real reason comes only after the password is proven.
import t from 'tap';
import { addUser, cleanup, http, startDaemon, type Daemon } from './helpers/daemon';

let d: Daemon;
t.before(async () => {
  d = await startDaemon();
  await addUser(d, 'alice', 'Secret-pass1', ['--services', 'dashboard,smb']);
  await addUser(d, 'carol', 'Secret-pass1', ['--services', 'dashboard', '--disabled']);
  await addUser(d, 'dave', 'Secret-pass1', ['--services', 'smb,afp']);
  await addUser(d, 'erin', 'Secret-pass1', ['--services', 'dashboard', '--must-change']);
});
t.teardown(async () => { await d?.stop(); if (d) cleanup(d); });

const profile = (user: string, password: string) => http(d.query, 'POST', '/v1/profile', { user, password, source: '192.0.2.7' });
const authenticate = (user: string, password: string) => http(d.query, 'POST', '/v1/authenticate', { user, password, service: 'dashboard', source: '192.0.2.7' });

t.test('the same decision as authenticate for the dashboard', async (t) => {
  for (const [user, reason] of [['alice', 'ok'], ['carol', 'account_disabled'], ['dave', 'service_denied'], ['erin', 'must_change_password']] as const) {
    const p = await profile(user, 'Secret-pass1');
    t.equal(p.status, 200);
    t.equal(p.body.reason, reason, `${user}: ${reason}`);
    t.equal(p.body.decision, reason === 'ok' ? 'allow' : 'deny', `${user}: the decision follows the reason`);
    t.equal(p.body.user?.name, user, `${user}: the profile, since the password was proven`);
    const a = await authenticate(user, 'Secret-pass1');
    t.equal(a.body.reason, p.body.reason, `${user}: profile and authenticate agree`);
  }
});

t.test('a wrong password or an unknown name: bad_credentials and nothing else', async (t) => {
  for (const [user, pw] of [['carol', 'Wrong-pass1'], ['dave', 'Wrong-pass1'], ['nobody', 'Secret-pass1']]) {
    const p = await profile(user, pw);
    t.equal(p.body.reason, 'bad_credentials', `${user}`);
    t.equal(p.body.decision, 'deny');
    t.notOk(p.body.user, 'no profile');
  }
});

t.test('the audit line names the operation', async (t) => {
  await profile('dave', 'Secret-pass1');
  t.match(d.logs(), /"audit":"profile","user":"dave","service":"dashboard".*"reason":"service_denied"/);
});
