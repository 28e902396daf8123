// Issue 12, point 5: one unprivileged process held all 128 connections of the 0666 PAM
// socket (a PING every few seconds kept the 30 s idle timeout from firing), and a real
// pamtester login through pam_nasauth.so then failed: ssh, AFP, FTP, su all refused.
// Now pam_nasauth.so running as root (every login service) uses the root-only
// privileged socket, which no unprivileged flood reaches; on the public socket a PING
// does not keep a connection alive, an idle connection is closed soon, and at the cap
// the longest-idle connection makes room for a new one. The query socket (the web
// server's group) evicts idle keep-alive connections the same way.
import t from 'tap';
import { encodeRequest, IDLE_TIMEOUT_MS, MAX_CONNECTIONS } from '../daemon/pam-frame';
import { QUERY_MAX_CONNECTIONS } from '../daemon/query-socket';
import { addUser, authenticate, cleanup, http, startDaemon } from './helpers/daemon';
import { buildModule, daemonPamDir, outcome, pamtester, rmrf } from './helpers/pam';
import { pamExchange, reasonOf } from './helpers/pamwire';
import { HOG, held, runAs, setprivMissing, NOBODY } from './helpers/unpriv';
import { waitFor } from './helpers/wait';
import { canRun, isRoot } from './helpers/env';
import { connect } from 'node:net';

const PING = encodeRequest('PING', []);

t.test('a real login as root while nobody holds every connection of the 0666 socket', async (t) => {
  if (!canRun(t, setprivMissing(), { installable: isRoot })) return;
  buildModule();
  const d = await startDaemon();
  const pamd = daemonPamDir(d);
  t.teardown(async () => { await d.stop(); cleanup(d); rmrf(pamd); });
  await addUser(d, 'alice', 'Correct-Horse1', ['--services', 'afp,smb']);
  await addUser(d, 'mona', 'Misty-Pond11', ['--services', 'afp', '--must-change']);
  // the attacker: all connections of the public socket, a PING on each every 300 ms,
  // reconnecting whatever is closed
  const hog = runAs(HOG, [d.pam, String(MAX_CONNECTIONS + 8), '300', PING.toString('hex')]);
  t.teardown(() => hog.stop());
  await waitFor('the hog to hold the public socket', () => held(hog) >= MAX_CONNECTIONS - 8);
  t.comment(`nobody holds ${held(hog)} connections of ${d.pam}`);

  const root = await pamtester({ pamd, service: 'netatalk', user: 'alice', ops: ['authenticate', 'acct_mgmt'], input: ['Correct-Horse1'] });
  t.equal(outcome(root), 'ok', `root's login (afpd, sshd, login, su) goes through: ${root.out.trim().split('\n').pop()}`);
  const wrong = await pamtester({ pamd, service: 'netatalk', user: 'alice', ops: ['authenticate'], input: ['Correct-Horse2'] });
  t.equal(outcome(wrong), 'AUTH_ERR', 'and a wrong password is still refused (not a transport failure)');
  const rootAcct = await pamtester({ pamd, service: 'netatalk', user: 'mona', ops: ['acct_mgmt'] });
  t.equal(outcome(rootAcct), 'NEW_AUTHTOK_REQD', 'root\'s account phase gets the real state');

  // an unprivileged PAM caller uses the public socket: it still gets a connection
  const user = await pamtester({ pamd, service: 'netatalk', user: 'alice', ops: ['authenticate', 'acct_mgmt'], input: ['Correct-Horse1'], uid: NOBODY });
  t.equal(outcome(user), 'ok', `an unprivileged caller gets in too (idle connections make room): ${user.out.trim().split('\n').pop()}`);
  const must = await pamtester({ pamd, service: 'netatalk', user: 'mona', ops: ['authenticate', 'acct_mgmt'], input: ['Misty-Pond11'], uid: NOBODY });
  t.equal(outcome(must), 'NEW_AUTHTOK_REQD', 'its account phase after its own authentication says must-change');
  t.ok(held(hog) > 0, 'the hog was still at it');
});

t.test('public PAM socket: idle and PING-only connections are closed; at the cap the idlest makes room', async (t) => {
  const d = await startDaemon();
  t.teardown(async () => { await d.stop(); cleanup(d); });
  await addUser(d, 'alice', 'Correct-Horse1', ['--services', 'afp']);
  const open = (path: string) => new Promise<{ closed: () => boolean; write: (b: Buffer) => void; destroy: () => void; replies: () => number }>((resolve, reject) => {
    const s = connect(path);
    let closed = false;
    let replies = 0;
    s.on('data', (c) => { replies += c.length; });
    s.on('close', () => { closed = true; });
    s.on('error', () => undefined);
    s.once('connect', () => resolve({ closed: () => closed, write: (b) => s.write(b), destroy: () => s.destroy(), replies: () => replies }));
    s.once('error', reject);
  });
  const patience = IDLE_TIMEOUT_MS + 15_000; // the test's patience, not a speed claim

  const silent = await open(d.pam);
  const pinger = await open(d.pam);
  const iv = setInterval(() => pinger.write(PING), 200);
  t.teardown(() => clearInterval(iv));
  const answered = await open(d.pam);
  answered.write(encodeRequest('AUTH', ['netatalk', 'alice', 'Correct-Horse1', '', '']));
  await waitFor('the AUTH answer', () => answered.replies() > 0);
  await waitFor('a connection that never sends to be closed', () => silent.closed(), patience);
  await waitFor('a connection that only PINGs to be closed', () => pinger.closed(), patience);
  await waitFor('a connection to be closed soon after its answer', () => answered.closed(), patience);
  t.ok(pinger.replies() > 0, 'the PINGs were answered meanwhile');
  clearInterval(iv);

  // the cap: fill it with idle connections; the next one is let in and answered
  const idle: Array<Awaited<ReturnType<typeof open>>> = [];
  for (let i = 0; i < MAX_CONNECTIONS; i++) idle.push(await open(d.pam));
  t.teardown(() => { for (const c of idle) c.destroy(); });
  const r = await pamExchange(d.pam, encodeRequest('AUTH', ['netatalk', 'alice', 'Correct-Horse1', '', '']));
  t.equal(reasonOf(r.replies[0]), 'ok', 'a new connection at the cap is answered');
  await waitFor('an idle connection to be closed to make room', () => idle.some((c) => c.closed()));
  t.pass('an idle connection made room');
});

t.test('the privileged socket takes ACCT; the public one tells no account state', async (t) => {
  const d = await startDaemon();
  t.teardown(async () => { await d.stop(); cleanup(d); });
  await addUser(d, 'alice', 'Correct-Horse1', ['--services', 'afp']);
  await addUser(d, 'dora', 'Dormant-Door1', ['--services', 'afp', '--disabled']);
  await addUser(d, 'mona', 'Misty-Pond11', ['--services', 'afp', '--must-change']);
  await addUser(d, 'sam', 'Sunny-Side11', ['--services', 'smb']);
  const acct = (path: string, user: string) => pamExchange(path, encodeRequest('ACCT', ['netatalk', user, '']));
  const users = ['alice', 'dora', 'mona', 'sam', 'nobody-here'];
  const pub = await Promise.all(users.map((u) => acct(d.pam, u)));
  const shapes = pub.map((r) => JSON.stringify(r.replies[0]));
  t.equal(new Set(shapes).size, 1, `the public socket answers every name alike: ${shapes[0]}`);
  t.equal(reasonOf(pub[0].replies[0]), 'bad_request', 'ACCT is refused there');
  const priv = await Promise.all(users.map((u) => acct(d.pamPriv, u)));
  t.same(priv.map((r) => reasonOf(r.replies[0])), ['ok', 'account_disabled', 'must_change_password', 'service_denied', 'unknown_user'], 'the privileged socket tells root the state');
  // the refusal does not cost the connection: a PAM caller may go on
  const two = await pamExchange(d.pam, Buffer.concat([encodeRequest('ACCT', ['netatalk', 'alice', '']), PING]), 2);
  t.same(two.replies.map(reasonOf), ['bad_request', 'ok'], 'answered, and the connection stays usable');
});

t.test('query socket: one client holding every keep-alive connection does not lock others out', async (t) => {
  if (!canRun(t, setprivMissing(), { installable: isRoot })) return;
  const d = await startDaemon();
  t.teardown(async () => { await d.stop(); cleanup(d); });
  await addUser(d, 'alice', 'Correct-Horse1', ['--services', 'dashboard']);
  const get = Buffer.from('GET /v1/health HTTP/1.1\r\nHost: nas\r\n\r\n');
  // as root here: on the device only the web server's group reaches this socket
  const hog = runAs(HOG, [d.query, String(QUERY_MAX_CONNECTIONS + 8), '1000', get.toString('hex')], 0);
  t.teardown(() => hog.stop());
  await waitFor('the hog to hold the query socket', () => held(hog) >= QUERY_MAX_CONNECTIONS - 8);
  t.comment(`one client holds ${held(hog)} keep-alive connections`);
  for (let i = 0; i < 5; i++) {
    const r = await authenticate(d, 'alice', 'Correct-Horse1');
    t.equal(r.body.reason, 'ok', `another client's request ${i + 1} is answered`);
  }
  t.equal((await http(d.query, 'GET', '/v1/health')).status, 200);
});
