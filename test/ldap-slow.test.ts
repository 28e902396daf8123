// Issue 12, point 7: a half-sent LDAP message must not hold a connection until the
// 15-minute idle timeout. The view closes a connection whose message stays incomplete
// for MESSAGE_READ_TIMEOUT_MS (a Notice of Disconnection first), while a connection that
// is merely idle between whole messages stays open (smbd keeps one per process).
import t from 'tap';
import * as net from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanup, startDaemon } from './helpers/daemon';
import { waitFor } from './helpers/wait';
import { integer, octets, readHeader, seq, MAX_MESSAGE_BYTES } from '../daemon/ldap-ber';
import { MESSAGE_READ_TIMEOUT_MS } from '../daemon/ldap-view';

const ADMIN = 'cn=samba,dc=nas,dc=local';
const bind = (id: number, dn: string, pw: string) => seq([integer(id), seq([integer(3), octets(dn), octets(pw, 0x80)], 0x60)]);

function open(path: string) {
  const s = net.createConnection(path);
  const st = { data: Buffer.alloc(0), closed: false, at: 0 };
  s.on('data', (c) => { st.data = Buffer.concat([st.data, c]); });
  s.on('close', () => { st.closed = true; st.at = Date.now(); });
  s.on('error', () => undefined);
  return { s, st, ready: new Promise<void>((r) => s.once('connect', () => r())) };
}

t.test('a half-sent message is dropped after the per-message read timeout', async (t) => {
  const d = await startDaemon({ config: { sockets: { ldap: { enabled: true } } } });
  t.teardown(async () => { await d.stop(); cleanup(d); });
  const secret = readFileSync(join(d.stateDir, 'ldap-bind.secret'), 'utf8').trim();
  const whole = bind(1, ADMIN, secret);

  // three clients: one sends half a bind, one half of an oversize message's body, one
  // binds and then stays idle between messages
  const half = open(d.ldap);
  const big = open(d.ldap);
  const idle = open(d.ldap);
  t.teardown(() => { half.s.destroy(); big.s.destroy(); idle.s.destroy(); });
  await Promise.all([half.ready, big.ready, idle.ready]);
  half.s.write(whole.subarray(0, 7));
  const huge = seq([integer(9), octets('x'.repeat(MAX_MESSAGE_BYTES + 10), 0x63)]);
  big.s.write(huge.subarray(0, 4096));
  idle.s.write(whole);
  await waitFor('the idle client\'s bind answer', () => idle.st.data.length > 0);
  const sent = Date.now();

  // the deadline is the test's patience, not a speed claim: the 15-minute idle timeout
  // is what held these connections before
  await waitFor('the half-sent message\'s connection to close', () => half.st.closed, MESSAGE_READ_TIMEOUT_MS + 20_000);
  await waitFor('the half-sent oversize message\'s connection to close', () => big.st.closed, MESSAGE_READ_TIMEOUT_MS + 20_000);
  t.ok(half.st.at - sent >= MESSAGE_READ_TIMEOUT_MS - 1500, 'not before the read timeout');
  const h = readHeader(half.st.data, 0);
  t.ok(h && half.st.data.includes(Buffer.from('1.3.6.1.4.1.1466.20036')), 'a Notice of Disconnection was sent first');
  t.notOk(idle.st.closed, 'a connection idle between whole messages stays open');
  // and it still works
  const before = idle.st.data.length;
  idle.s.write(bind(2, ADMIN, secret));
  await waitFor('the idle client\'s second answer', () => idle.st.data.length > before);
  t.match(d.logs(), /"why":"a message stayed incomplete for \d+ ms"/, 'the closing is logged');
});
