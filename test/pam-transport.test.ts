// Every way the daemon can be missing or wrong ends as PAM_AUTHINFO_UNAVAIL, never as
// success, and within the module's timeout: no socket, a stale socket file, a daemon
// that accepts and never answers, garbage replies, a socket not owned by root (then no
// byte of the password is sent). Needs root (mount namespaces, chown).
import t from 'tap';
import { fileCanRun, needRoot } from './helpers/env';
import { tempDir } from './helpers/tmp';
import { chownSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { encodeReply } from '../daemon/pam-frame';
import { addUser, cleanup, startDaemon } from './helpers/daemon';
import { buildModule, fakeServer, foreignServer, makePamDir, outcome, pamtester, rmrf, serviceFile } from './helpers/pam';

type TapTest = Pick<typeof t, 'equal' | 'not'>;

if (fileCanRun(needRoot())) {
  buildModule();
  const dir = tempDir('nasauth-fake-');
  chmodSync(dir, 0o755);
  t.teardown(() => rmrf(dir));

  const TIMEOUT_S = 2;
  const stack = (socket: string, priv?: string) => makePamDir({ netatalk: serviceFile({ socket, priv: priv ?? socket, args: [`timeout=${TIMEOUT_S}`] }) });
  const all = async (t: TapTest, pamd: string, what: string) => {
    for (const [ops, input] of [[['authenticate'], ['Any-Password1']], [['acct_mgmt'], []], [['chauthtok'], ['Any-Password1', 'Any-Password1']]] as Array<[string[], string[]]>) {
      const r = await pamtester({ pamd, service: 'netatalk', user: 'alice', ops, input });
      t.equal(outcome(r), 'AUTHINFO_UNAVAIL', `${what}: ${ops[0]}`);
      t.not(r.code, 0, `${what}: ${ops[0]} fails`);
    }
  };

  t.test('no socket at all', async (t) => {
    const pamd = stack(join(dir, 'absent.sock'));
    t.teardown(() => rmrf(pamd));
    await all(t, pamd, 'absent');
  });

  t.test('a regular file where the socket should be', async (t) => {
    const p = join(dir, 'file.sock');
    writeFileSync(p, 'not a socket');
    const pamd = stack(p);
    t.teardown(() => rmrf(pamd));
    await all(t, pamd, 'regular file');
  });

  t.test('stale socket file of a killed daemon', async (t) => {
    const d = await startDaemon();
    await addUser(d, 'alice', 'Correct-Horse1');
    const pamd = stack(d.pam, d.pamPriv);
    t.teardown(() => { cleanup(d); rmrf(pamd); });
    t.equal(outcome(await pamtester({ pamd, service: 'netatalk', user: 'alice', ops: ['authenticate'], input: ['Correct-Horse1'] })), 'ok', 'works while it runs');
    await d.kill9();
    await all(t, pamd, 'stale socket');
  });

  t.test('a hung daemon (accepts, never answers): given up after timeout=', async (t) => {
    const fake = await fakeServer(dir, 'hung.sock', () => { /* never answer */ });
    const pamd = stack(fake.path);
    t.teardown(async () => { await fake.close(); rmrf(pamd); });
    const r = await pamtester({ pamd, service: 'netatalk', user: 'alice', ops: ['authenticate'], input: ['Any-Password1'] });
    t.equal(outcome(r), 'AUTHINFO_UNAVAIL');
    t.ok(fake.received() > 0, 'the request was sent');
    t.ok(r.ms >= TIMEOUT_S * 1000 - 100, `it waited for the timeout (${Math.round(r.ms)} ms), then gave up`);
  });

  const replies: Array<[string, (s: import('node:net').Socket, data: Buffer) => void]> = [
    ['HTTP instead of frames', (s) => s.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n')],
    ['random bytes', (s) => s.end(Buffer.from('a1b2c3d4e5f60718293a4b5c6d7e8f90'.repeat(8), 'hex'))],
    ['an oversized reply length', (s) => { const b = encodeReply(0, 0, 'ok'); b.writeUInt32BE(1 << 20, 0); s.end(b); }],
    ['another protocol version', (s) => { const b = encodeReply(0, 0, 'ok'); b[4] = 2; s.end(b); }],
    ['a reply cut short', (s) => s.end(encodeReply(0, 0, 'accepted').subarray(0, 12))],
    ['a message length that disagrees with the frame', (s) => { const b = encodeReply(0, 0, 'accepted'); b.writeUInt16BE(3, 8); s.end(b); }],
    ['a close without a reply', (s) => s.end()],
  ];
  for (const [name, behave] of replies) {
    t.test(`a fake server answering with ${name}`, async (t) => {
      const fake = await fakeServer(dir, `fake-${name.replace(/\W+/g, '-')}.sock`, (s, data) => { if (data.length >= 8) behave(s, data); });
      const pamd = stack(fake.path);
      t.teardown(async () => { await fake.close(); rmrf(pamd); });
      await all(t, pamd, name);
    });
  }

  t.test('a reply that arrives in pieces is read whole (the module reads more only when it must)', async (t) => {
    const fake = await fakeServer(dir, 'pieces.sock', (s, data) => {
      if (data.length < 8) return;
      // account_disabled: the module shows its message, so the test sees every byte of it
      const b = encodeReply(2, 0, 'disabled: read from three pieces');
      // inside the length, inside the header, then the message in two parts
      s.write(b.subarray(0, 3));
      setTimeout(() => s.write(b.subarray(3, 7)), 40);
      setTimeout(() => s.write(b.subarray(7, 20)), 80);
      setTimeout(() => s.end(b.subarray(20)), 120);
    });
    const pamd = stack(fake.path);
    t.teardown(async () => { await fake.close(); rmrf(pamd); });
    const r = await pamtester({ pamd, service: 'netatalk', user: 'alice', ops: ['authenticate'], input: ['Any-Password1'] });
    t.not(r.code, 0, 'refused, as the reply says');
    t.match(r.out, /disabled: read from three pieces/, 'the whole message, read from four writes');
  });

  t.test('an unknown reason code is PAM_ABORT (the table default), not success', async (t) => {
    const fake = await fakeServer(dir, 'unknown-reason.sock', (s, data) => { if (data.length >= 8) s.end(encodeReply(200, 0, 'from the future')); });
    const pamd = stack(fake.path);
    t.teardown(async () => { await fake.close(); rmrf(pamd); });
    const r = await pamtester({ pamd, service: 'netatalk', user: 'alice', ops: ['authenticate'], input: ['Any-Password1'] });
    t.match(r.out, /Critical error - immediate abort/);
    t.not(r.code, 0);
  });

  t.test('a socket served by a non-root process: refused before a byte of the password is sent', async (t) => {
    const fake = await foreignServer(dir, 'foreign.sock', 65534);
    const pamd = stack(fake.path);
    t.teardown(async () => { await fake.close(); rmrf(pamd); });
    await all(t, pamd, 'owned by nobody');
    t.equal(fake.received(), 0, 'nothing was sent: the module checked who serves the socket (SO_PEERCRED) first');
    // owner= names the expected owner explicitly
    const ok = makePamDir({ netatalk: serviceFile({ socket: fake.path, priv: fake.path, args: ['owner=65534', `timeout=${TIMEOUT_S}`] }) });
    t.teardown(() => rmrf(ok));
    t.equal(outcome(await pamtester({ pamd: ok, service: 'netatalk', user: 'alice', ops: ['acct_mgmt'] })), 'ok', 'accepted with owner=65534');
  });

  t.test('ignore_authinfo_unavail turns "daemon down" into PAM_IGNORE (the next module decides)', async (t) => {
    const mod = buildModule();
    const deny = makePamDir({ netatalk: `auth [success=done ignore=ignore default=die] ${mod} socket=${join(dir, 'absent.sock')} ignore_authinfo_unavail\nauth required pam_deny.so\n` });
    t.teardown(() => rmrf(deny));
    const r = await pamtester({ pamd: deny, service: 'netatalk', user: 'alice', ops: ['authenticate'], input: ['x'] });
    t.equal(outcome(r), 'AUTH_ERR', 'ignored; pam_deny after it refuses');
  });
}
