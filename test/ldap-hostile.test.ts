// The LDAP view under hostile input on its ldapi socket: who sees NT hashes, filters
// too deep or too big, unknown critical controls, garbage, floods. Raw BER, so that
// nothing in a client library smooths over what the server really answers.
import t from 'tap';
import * as net from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { addUser, authenticate, cleanup, http, startDaemon, type Daemon } from './helpers/daemon';
import { integer, octets, readHeader, seq, tlv, MAX_MESSAGE_BYTES } from '../daemon/ldap-ber';

interface Msg { id: number; op: number; code?: number; message?: string; dn?: string; attrs?: Record<string, string[]> }

function parseMsg(b: Buffer): Msg {
  const at = (off: number) => { const h = readHeader(b, off)!; return { ...h, start: off + h.hdr, end: off + h.hdr + h.len }; };
  const outer = at(0);
  const idE = at(outer.start);
  let id = 0; for (let i = idE.start; i < idE.end; i++) id = id * 256 + b[i];
  const op = at(idE.end);
  const m: Msg = { id, op: op.tag };
  if (op.tag === 0x64) {
    const dn = at(op.start);
    m.dn = b.subarray(dn.start, dn.end).toString();
    const list = at(dn.end);
    m.attrs = {};
    for (let p = list.start; p < list.end;) {
      const a = at(p); const n = at(a.start); const set = at(n.end);
      const vals: string[] = [];
      for (let q = set.start; q < set.end;) { const v = at(q); vals.push(b.subarray(v.start, v.end).toString()); q = v.end; }
      m.attrs[b.subarray(n.start, n.end).toString()] = vals;
      p = a.end;
    }
  } else if (op.len > 0 && op.tag !== 0x42) {
    const code = at(op.start); m.code = b[code.end - 1];
    const dn = at(code.end); const msg = at(dn.end);
    m.message = b.subarray(msg.start, msg.end).toString();
  }
  return m;
}

class Raw {
  private buf = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  closed = false;
  private constructor(readonly sock: net.Socket) {
    sock.on('data', (c) => { this.buf = Buffer.concat([this.buf, c]); this.wake(); });
    sock.on('close', () => { this.closed = true; this.wake(); });
    sock.on('error', () => undefined);
  }
  private wake() { const w = this.waiters; this.waiters = []; for (const f of w) f(); }
  static open(path: string): Promise<Raw> {
    return new Promise((res, rej) => { const s = net.createConnection(path); s.once('connect', () => res(new Raw(s))); s.once('error', rej); });
  }
  send(b: Buffer) { this.sock.write(b); }
  /** the next whole message, or null when the server closed the connection */
  async next(): Promise<Msg | null> {
    for (;;) {
      const h = this.buf.length ? readHeader(this.buf, 0) : null;
      if (h && this.buf.length >= h.hdr + h.len) {
        const one = this.buf.subarray(0, h.hdr + h.len);
        this.buf = this.buf.subarray(h.hdr + h.len);
        return parseMsg(one);
      }
      if (this.closed) return null;
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }
  /** messages up to and including the one with `op` (a search's done, a result) */
  async until(op: number): Promise<Msg[]> {
    const out: Msg[] = [];
    for (;;) { const m = await this.next(); if (!m) return out; out.push(m); if (m.op === op) return out; }
  }
  close() { this.sock.destroy(); }
}

const bind = (id: number, dn: string, pw: string) => seq([integer(id), seq([integer(3), octets(dn), octets(pw, 0x80)], 0x60)]);
const present = (a: string) => tlv(0x87, Buffer.from(a));
const eq = (a: string, v: string | Buffer) => seq([octets(a), octets(v)], 0xa3);
const and = (...fs: Buffer[]) => seq(fs, 0xa0);
function search(id: number, base: string, filter: Buffer, attrs: string[] = [], controls?: Buffer[]) {
  const op = seq([octets(base), integer(base === '' ? 0 : 2, 0x0a), integer(0, 0x0a), integer(0), integer(0), tlv(0x01, Buffer.from([0])), filter, seq(attrs.map((a) => octets(a)))], 0x63);
  return seq([integer(id), op, ...(controls ? [seq(controls, 0xa0)] : [])]);
}
const control = (oid: string, critical: boolean) => seq([octets(oid), tlv(0x01, Buffer.from([critical ? 0xff : 0]))]);

const SUFFIX = 'dc=nas,dc=local';
const ADMIN = 'cn=samba,dc=nas,dc=local';

let d: Daemon;
let secret: string;
t.before(async () => {
  d = await startDaemon({ config: { sockets: { ldap: { enabled: true } } } });
  await addUser(d, 'alice', 'Secret-pass1', ['--services', 'smb']);
  secret = readFileSync(join(d.stateDir, 'ldap-bind.secret'), 'utf8').trim();
});
t.teardown(async () => { await d?.stop(); if (d) cleanup(d); });

/** the daemon still answers: a fresh admin connection finds alice, and the query socket is healthy */
async function stillUp(t: any) { // eslint-disable-line @typescript-eslint/no-explicit-any
  const c = await Raw.open(d.ldap);
  c.send(bind(1, ADMIN, secret));
  t.equal((await c.next())?.code, 0, 'a fresh bind works');
  c.send(search(2, SUFFIX, and(eq('uid', 'alice'), eq('objectClass', 'sambaSamAccount')), ['uid']));
  const r = await c.until(0x65);
  t.equal(r.filter((m) => m.op === 0x64).length, 1, 'and a search finds alice');
  c.close();
  t.equal((await http(d.query, 'GET', '/v1/health')).status, 200, 'the query socket answers');
}

t.test('the socket is root-only', async (t) => {
  const { statSync } = await import('node:fs');
  t.equal(statSync(d.ldap).mode & 0o777, 0o600);
});

t.test('NT hashes go to the admin identity only', async (t) => {
  const c = await Raw.open(d.ldap);
  c.send(search(1, '', present('objectClass'), ['supportedExtension', 'supportedControl', 'namingContexts', 'supportedLDAPVersion']));
  let r = await c.until(0x65);
  t.equal(r[r.length - 1].code, 0, 'anonymous may read the RootDSE');
  const root = r.find((m) => m.op === 0x64)!;
  t.ok(root.attrs!.supportedExtension.includes('1.3.6.1.4.1.4203.1.11.1'), 'Password Modify is advertised');
  t.same(root.attrs!.namingContexts, [SUFFIX]);
  t.same(root.attrs!.supportedLDAPVersion, ['3']);

  c.send(search(2, SUFFIX, eq('uid', 'alice'), ['sambaNTPassword', 'uid']));
  r = await c.until(0x65);
  t.equal(r.filter((m) => m.op === 0x64).length, 0, 'anonymous gets no entries');
  t.equal(r[r.length - 1].code, 50, 'insufficientAccessRights');

  c.send(bind(3, ADMIN, 'not-the-secret-at-all'));
  t.equal((await c.next())?.code, 49, 'a wrong bind secret is invalidCredentials');
  c.send(search(4, SUFFIX, eq('sambaNTPassword', 'x'), []));
  t.equal((await c.until(0x65)).pop()?.code, 50, 'and leaves the connection anonymous');
  c.send(bind(5, ADMIN, ''));
  t.equal((await c.next())?.code, 53, 'an unauthenticated bind (name, no password) is refused');

  c.send(bind(6, ADMIN, secret));
  t.equal((await c.next())?.code, 0);
  c.send(search(7, SUFFIX, and(eq('UID', 'ALICE'), eq('objectclass', 'SAMBASAMACCOUNT')), ['SambaNTPassword', 'uidNumber']));
  r = await c.until(0x65);
  const e = r.find((m) => m.op === 0x64)!;
  t.match(e.attrs!.sambaNTPassword[0], /^[0-9A-F]{32}$/, 'the admin gets the NT hash (case-insensitive names and values)');
  t.ok(e.attrs!.uidNumber, 'mixed-case attribute list honoured');
  t.notOk(e.attrs!.sambaAcctFlags, 'only what was asked for');

  c.send(bind(8, '', ''));
  t.equal((await c.next())?.code, 0, 'an anonymous re-bind succeeds');
  c.send(search(9, SUFFIX, eq('uid', 'alice'), ['sambaNTPassword']));
  r = await c.until(0x65);
  t.equal(r[r.length - 1].code, 50, 'and drops the admin identity');
  c.close();
});

t.test('writes: hashes are refused, only the plaintext path changes a password', async (t) => {
  const c = await Raw.open(d.ldap);
  c.send(bind(1, ADMIN, secret));
  await c.next();
  const mod = (id: number, attr: string, v: string) => seq([integer(id), seq([octets(`uid=alice,ou=people,${SUFFIX}`), seq([seq([integer(2, 0x0a), seq([octets(attr), seq([octets(v)], 0x31)])])])], 0x66)]);
  for (const attr of ['sambaNTPassword', 'sambaLMPassword', 'userPassword']) {
    c.send(mod(2, attr, '8846F7EAEE8FB117AD06BDD830B7586C'));
    const r = (await c.next())!;
    t.equal(r.code, 53, `${attr}: unwillingToPerform`);
    t.match(r.message, /Password Modify|plaintext/, 'with a message that says what to do');
  }
  t.ok(await d.waitLog(/"ldap":"modify".*"result":53/), 'refusals are logged');
  t.notMatch(d.logs(), /8846F7EAEE8FB117AD06BDD830B7586C/, 'without the value');
  c.send(mod(3, 'displayName', 'Mallory'));
  t.equal((await c.next())?.code, 53, 'other attributes belong to the CLI');
  c.send(mod(4, 'sambaPwdLastSet', '0'));
  t.equal((await c.next())?.code, 0, 'harmless bookkeeping smbd writes is accepted (and ignored)');
  t.equal((await authenticate(d, 'alice', 'Secret-pass1', 'smb')).body.reason, 'ok', 'the password is untouched');

  // Password Modify (RFC 3062): anonymous may not; the admin may; the policy applies
  const pm = (id: number, user: string, pw: Buffer) => seq([integer(id), seq([octets('1.3.6.1.4.1.4203.1.11.1', 0x80), octets(seq([octets(user, 0x80), octets(pw, 0x82)]), 0x81)], 0x77)]);
  const anon = await Raw.open(d.ldap);
  anon.send(pm(1, `uid=alice,ou=people,${SUFFIX}`, Buffer.from('Other-pass-9')));
  t.equal((await anon.next())?.code, 50, 'anonymous password modify: insufficientAccessRights');
  anon.close();
  c.send(pm(5, `uid=alice,ou=people,${SUFFIX}`, Buffer.from('short')));
  const bad = (await c.next())!;
  t.equal(bad.code, 19, 'a policy violation is constraintViolation');
  t.match(bad.message, /at least 8 characters/);
  c.send(pm(6, `uid=alice,ou=people,${SUFFIX}`, Buffer.from('Ünïcode-pass-7')));
  t.equal((await c.next())?.code, 0, 'the admin sets a password from the plaintext');
  t.equal((await authenticate(d, 'alice', 'Ünïcode-pass-7', 'smb')).body.reason, 'ok', 'every verifier took it');
  c.close();
});

t.test('a deeply nested filter is refused cleanly', async (t) => {
  const c = await Raw.open(d.ldap);
  c.send(bind(1, ADMIN, secret));
  await c.next();
  let f = present('objectClass');
  for (let i = 0; i < 10000; i++) f = tlv(0xa2, f);
  c.send(search(2, SUFFIX, f));
  const r = (await c.until(0x65)).pop()!;
  t.equal(r.code, 53, 'unwillingToPerform');
  t.match(r.message, /nested deeper/);
  c.send(search(3, SUFFIX, eq('uid', 'alice'), ['uid']));
  t.equal((await c.until(0x65)).filter((m) => m.op === 0x64).length, 1, 'the same connection still works');
  c.close();
  await stillUp(t);
});

t.test('a 1 MiB filter is refused cleanly', async (t) => {
  const c = await Raw.open(d.ldap);
  c.send(bind(1, ADMIN, secret));
  await c.next();
  c.send(search(2, SUFFIX, eq('uid', Buffer.alloc(1024 * 1024, 0x61))));
  const r = (await c.until(0x65)).pop()!;
  t.equal(r.code, 11, 'adminLimitExceeded');
  t.match(r.message, new RegExp(`at most ${MAX_MESSAGE_BYTES}`));
  c.send(search(3, SUFFIX, eq('uid', 'alice'), ['uid']));
  t.equal((await c.until(0x65)).filter((m) => m.op === 0x64).length, 1, 'the bytes were skipped; the connection still works');
  c.close();
  // a filter with too many terms, under the size limit
  const c2 = await Raw.open(d.ldap);
  c2.send(bind(1, ADMIN, secret));
  await c2.next();
  c2.send(search(2, SUFFIX, seq(Array.from({ length: 6000 }, () => eq('uid', 'x')), 0xa1)));
  t.equal((await c2.until(0x65)).pop()?.code, 53, 'a filter with 6000 terms is refused');
  c2.close();
  await stillUp(t);
});

t.test('controls: an unknown critical control fails the operation, a non-critical one is ignored', async (t) => {
  const c = await Raw.open(d.ldap);
  c.send(bind(1, ADMIN, secret));
  await c.next();
  c.send(search(2, SUFFIX, eq('uid', 'alice'), ['uid'], [control('1.2.3.4.5.6.7', true)]));
  let r = await c.until(0x65);
  t.equal(r.filter((m) => m.op === 0x64).length, 0, 'no entries');
  t.equal(r.pop()?.code, 12, 'unavailableCriticalExtension');
  c.send(search(3, SUFFIX, eq('uid', 'alice'), ['uid'], [control('1.2.3.4.5.6.7', false)]));
  r = await c.until(0x65);
  t.equal(r.filter((m) => m.op === 0x64).length, 1, 'non-critical: answered');
  c.send(seq([integer(4), seq([integer(3), octets(ADMIN), octets(secret, 0x80)], 0x60), seq([control('1.2.3.4.5.6.7', true)], 0xa0)]));
  t.equal((await c.next())?.code, 12, 'on a bind too');
  c.close();
});

t.test('garbage BER closes the connection; the daemon stays up', async (t) => {
  for (const junk of [Buffer.from('GET / HTTP/1.1\r\n\r\n'), Buffer.from([0x30, 0x80, 0, 0]), Buffer.from([0x30, 0x85, 1, 2, 3, 4, 5]), Buffer.from([0x30, 0x03, 0x02, 0x05, 0x01]), Buffer.from([0x30, 0x05, 0x02, 0x01, 0x01, 0x7f, 0x00])]) {
    const c = await Raw.open(d.ldap);
    c.send(junk);
    let m: Msg | null;
    do { m = await c.next(); } while (m && m.id === 0 && !c.closed && m.op !== 0x78);
    while (await c.next()) { /* drain until closed */ }
    t.ok(c.closed, `closed after ${junk.subarray(0, 8).toString('hex')}`);
  }
  await stillUp(t);
});

t.test('UNBIND closes the connection', async (t) => {
  const c = await Raw.open(d.ldap);
  c.send(bind(1, ADMIN, secret));
  await c.next();
  c.send(seq([integer(2), tlv(0x42, Buffer.alloc(0))]));
  t.equal(await c.next(), null, 'closed, no reply');
});

t.test('a flood of 500 connections', async (t) => {
  const conns = await Promise.all(Array.from({ length: 500 }, () => Raw.open(d.ldap).catch(() => null)));
  const open = conns.filter((c): c is Raw => c !== null);
  t.ok(open.length > 0, `${open.length} of 500 connected`);
  // every one asks something at once
  for (const [i, c] of open.entries()) c.send(search(i + 1, '', present('objectClass'), ['namingContexts']));
  const answers = await Promise.all(open.map((c) => c.until(0x65)));
  t.equal(answers.filter((r) => r.pop()?.code === 0).length, open.length, 'all of them answered');
  for (const c of open) c.close();
  await stillUp(t);
});
