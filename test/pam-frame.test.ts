// Fuzz the PAM frame decoder (daemon/pam-frame.ts): arbitrary chunking, truncation,
// oversize, garbage; then the live daemon socket: garbage in, the daemon stays up and
// answers the next good request. Seeded PRNG: a failure prints its seed and reproduces
// with NASAUTH_FUZZ_SEED=<seed>.
import t from 'tap';
import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FrameParser, LIMITS, OP, decodeReply, encodeReply, encodeRequest, describe, type PamRequest, type OpName } from '../daemon/pam-frame';
import { REASONS, REASON_NAMES } from '../daemon/reasons';
import { ROOT, addUser, authenticate, cleanup, startDaemon } from './helpers/daemon';
import { pamExchange, reasonOf } from './helpers/pamwire';
import { prng } from './fuzz/mutate';

const SEED = Number(process.env.NASAUTH_FUZZ_SEED ?? 0x5eed2024);
const rnd = prng(SEED);
const int = (n: number) => Math.floor(rnd() * n);
const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
const ascii = (n: number) => Array.from({ length: n }, () => String.fromCharCode(97 + int(26))).join('');

const SPEC: Record<OpName, Array<'service' | 'user' | 'password' | 'host'>> = {
  PING: [],
  AUTH: ['service', 'user', 'password', 'host', 'host'],
  ACCT: ['service', 'user', 'host'],
  CHPW: ['service', 'user', 'password', 'password', 'host'],
  CHPW_ROOT: ['service', 'user', 'password', 'host'],
};
const OPS = Object.keys(SPEC) as OpName[];

/** A random valid request, its encoding and the fields it should decode to. */
function randomRequest(): { op: OpName; frame: Buffer; fields: Array<string | Buffer> } {
  const op = OPS[int(OPS.length)];
  const fields = SPEC[op].map((k) => {
    const max = LIMITS[k];
    const n = k === 'user' || k === 'service' ? 1 + int(Math.min(max, 40)) : int(rnd() < 0.1 ? max + 1 : Math.min(max + 1, 64));
    return k === 'password' ? bytes(n) : ascii(n);
  });
  return { op, frame: encodeRequest(op, fields), fields };
}

function fieldsOf(r: PamRequest): Array<string | Buffer> {
  switch (r.op) {
    case 'PING': return [];
    case 'AUTH': return [r.service, r.user, r.password, r.rhost, r.ruser];
    case 'ACCT': return [r.service, r.user, r.rhost];
    case 'CHPW': return [r.service, r.user, r.password, r.newPassword, r.rhost];
    case 'CHPW_ROOT': return [r.service, r.user, r.newPassword, r.rhost];
  }
}

function feedChunked(p: FrameParser, stream: Buffer) {
  const events = [];
  let at = 0;
  while (at < stream.length) {
    const n = 1 + int(rnd() < 0.3 ? 3 : 700);
    events.push(...p.push(Buffer.from(stream.subarray(at, at + n))));
    at += n;
  }
  return events;
}

t.comment(`fuzz seed ${SEED} (NASAUTH_FUZZ_SEED to reproduce)`);

t.test('random chunking of valid streams decodes every request exactly', async (t) => {
  for (let round = 0; round < 200; round++) {
    const reqs = Array.from({ length: 1 + int(12) }, randomRequest);
    const p = new FrameParser();
    const events = feedChunked(p, Buffer.concat(reqs.map((r) => r.frame)));
    t.equal(events.length, reqs.length, `seed ${SEED} round ${round}: one event per request`);
    t.ok(events.every((e) => e.kind === 'request'), `round ${round}: no errors`);
    for (let i = 0; i < reqs.length; i++) {
      const e = events[i];
      if (e?.kind !== 'request') break;
      t.equal(e.request.op, reqs[i].op);
      t.same(fieldsOf(e.request).map((f) => (Buffer.isBuffer(f) ? f.toString('hex') : f)), reqs[i].fields.map((f) => (Buffer.isBuffer(f) ? f.toString('hex') : f)));
    }
    t.equal(p.pending, 0, 'nothing left over');
    if (t.passing() === false) break;
  }
});

t.test('text fields: any bytes decode as the WHATWG UTF-8 decoder does, whole or in pieces', async (t) => {
  // names are decoded leniently (invalid UTF-8 becomes U+FFFD); ASCII takes a shortcut
  // without a view object, so every other byte mix must still go through the decoder
  const dec = new TextDecoder('utf-8');
  const pieces = [Buffer.from('é'), Buffer.from('€'), Buffer.from('😀'), Buffer.from([0xc3]), Buffer.from([0xff]), Buffer.from([0xe2, 0x82]), Buffer.from([0x80]), Buffer.from('a'), Buffer.from('Z')];
  for (let round = 0; round < 300; round++) {
    const user = Buffer.concat(Array.from({ length: 1 + int(12) }, () => pieces[int(pieces.length)]));
    const host = rnd() < 0.5 ? bytes(int(40)) : Buffer.from(ascii(int(40)));
    if (user.includes(0)) continue;
    const frame = encodeRequest('ACCT', ['afp', user, host]);
    const want = [dec.decode(user), dec.decode(host)];
    const whole = new FrameParser().push(frame);
    const p = new FrameParser();
    const split = [...frame].flatMap((b) => p.push(Buffer.from([b])));
    for (const [how, ev] of [['whole', whole], ['byte by byte', split]] as const) {
      t.equal(ev.length, 1, `round ${round} ${how}: one event`);
      const e = ev[0];
      if (e?.kind !== 'request' || e.request.op !== 'ACCT') { t.fail(`round ${round} ${how}: ${JSON.stringify(e)}`); continue; }
      t.same([e.request.user, e.request.rhost], want, `round ${round} ${how}`);
    }
    if (t.passing() === false) break;
  }
});

t.test('truncated streams: no event for the cut frame, no error, the rest held', async (t) => {
  for (let round = 0; round < 200; round++) {
    const r = randomRequest();
    const cut = int(r.frame.length);
    const p = new FrameParser();
    const ev = p.push(r.frame.subarray(0, cut));
    t.same(ev, [], `round ${round}: cut at ${cut} of ${r.frame.length}`);
    t.equal(p.pending, cut);
    t.ok(p.pending <= LIMITS.request, 'never more than one frame held');
    const rest = p.push(r.frame.subarray(cut));
    t.equal(rest.length, 1, 'completing it yields the request');
  }
});

t.test('oversized and malformed frames are one error, then nothing', async (t) => {
  const cases: Array<[string, Buffer]> = [
    ['length over the limit', Buffer.from([0, 0, 0x08, 0x00])],
    ['length 4 GiB', Buffer.from([0xff, 0xff, 0xff, 0xff])],
    ['length under a header', Buffer.from([0, 0, 0, 3, 1, 1, 0])],
    ['version 2', encodeRequest('PING', [], { version: 2 })],
    ['version 0', encodeRequest('PING', [], { version: 0 })],
    ['reserved set', encodeRequest('PING', [], { reserved: 1 })],
    ['unknown opcode', encodeRequest(99, [])],
    ['opcode 0', encodeRequest(0, [])],
    ['missing field', encodeRequest('ACCT', ['afp', 'alice'])],
    ['extra field', encodeRequest('ACCT', ['afp', 'alice', '', 'x'])],
    ['PING with a field', encodeRequest('PING', ['x'])],
    ['user over 256', encodeRequest('ACCT', ['afp', 'u'.repeat(257), ''])],
    ['service over 64', encodeRequest('ACCT', ['s'.repeat(65), 'alice', ''])],
    ['password over 512', encodeRequest('AUTH', ['afp', 'alice', Buffer.alloc(513, 0x41), '', ''])],
    ['empty user', encodeRequest('ACCT', ['afp', '', ''])],
    ['NUL in user', encodeRequest('ACCT', ['afp', 'al\0ice', ''])],
    ['field runs past the frame', (() => { const b = encodeRequest('ACCT', ['afp', 'alice', '']); b.writeUInt16BE(200, 8 + 2 + 3 + 2 + 5); return b; })()],
  ];
  for (const [name, frame] of cases) {
    const p = new FrameParser();
    const ev = p.push(frame);
    t.equal(ev.length, 1, `${name}: one event`);
    t.equal(ev[0]?.kind, 'error', `${name}: an error`);
    t.ok(p.broken, `${name}: the parser stays failed`);
    t.same(p.push(encodeRequest('PING', [])), [], `${name}: later input is ignored`);
    t.equal(p.pending, 0, `${name}: nothing buffered`);
  }
  // An oversized length is refused from its 4 bytes: the body is never buffered.
  const p = new FrameParser();
  t.equal(p.push(Buffer.from([0, 0x10, 0, 0]))[0]?.kind, 'error');
  t.same(p.push(Buffer.alloc(1 << 20, 0x41)), []);
  t.equal(p.pending, 0);
});

t.test('garbage never throws; at most one error, and it is the last event', async (t) => {
  for (let round = 0; round < 500; round++) {
    const mix = Array.from({ length: 1 + int(5) }, () => (rnd() < 0.5 ? randomRequest().frame : bytes(int(300))));
    // garbage is most interesting when it looks almost right: flip bytes in valid frames too
    const stream = Buffer.concat(mix);
    for (let i = 0; i < int(4); i++) stream[int(stream.length)] = int(256);
    const p = new FrameParser();
    let events;
    try { events = feedChunked(p, stream); } catch (e) { t.fail(`seed ${SEED} round ${round}: threw ${(e as Error).message}`); break; }
    const errs = events.filter((e) => e.kind === 'error').length;
    t.ok(errs <= 1, `round ${round}: at most one error`);
    if (errs) t.equal(events[events.length - 1].kind, 'error', 'the error ends the stream');
    t.ok(p.pending < LIMITS.request, 'bounded buffer');
  }
});

t.test('replies: encode/decode, message clipped on a character boundary, retry_after bounded', async (t) => {
  const r = decodeReply(encodeReply(4, 30, 'locked'));
  t.same(r, { version: 1, code: 4, retryAfter: 30, message: 'locked' });
  const long = decodeReply(encodeReply(9, 0, 'é'.repeat(200)));
  t.ok(typeof long !== 'string' && Buffer.byteLength(long.message) <= LIMITS.message && !long.message.includes('\ufffd'), 'clipped to whole characters');
  const big = decodeReply(encodeReply(7, 1e9, ''));
  t.ok(typeof big !== 'string' && big.retryAfter === 0xffff);
  t.ok(encodeReply(12, 0, 'x'.repeat(1000)).length <= LIMITS.reply);
});

t.test('describe() never shows a password', async (t) => {
  const p = new FrameParser();
  const [ev] = p.push(encodeRequest('CHPW', ['afp', 'alice', 'Old-Secret1', 'New-Secret2', '']));
  t.equal(ev.kind, 'request');
  if (ev.kind !== 'request') return;
  const text = JSON.stringify(describe(ev.request));
  t.notMatch(text, /Secret/);
  t.match(text, /\*\*\*/);
});

t.test('the C header lists every reason with the same code and name', async (t) => {
  const h = readFileSync(join(ROOT, 'pam', 'nasauth_proto.h'), 'utf8');
  const names = /NASAUTH_REASON_NAMES \{([^}]*)\}/.exec(h)?.[1].match(/"([a-z_]+)"/g)?.map((s) => s.slice(1, -1));
  t.same(names, [...REASON_NAMES].sort((a, b) => REASONS[a].code - REASONS[b].code), 'names table in code order');
  for (const r of REASON_NAMES) t.match(h, new RegExp(`#define NASAUTH_R_${r.toUpperCase()}\\s+${REASONS[r].code}\\b`), r);
  for (const [k, v] of Object.entries(OP)) t.match(h, new RegExp(`#define NASAUTH_OP_${k}\\s+${v}\\b`), `opcode ${k}`);
  for (const [k, v] of [['SERVICE', LIMITS.service], ['USER', LIMITS.user], ['PASSWORD', LIMITS.password], ['HOST', LIMITS.host], ['MESSAGE', LIMITS.message], ['REQUEST', LIMITS.request], ['REPLY', LIMITS.reply]] as const) {
    t.match(h, new RegExp(`#define NASAUTH_MAX_${k}\\s+${v}\\b`), `limit ${k}`);
  }
});

// ---- the live daemon -----------------------------------------------------------------

/** Send bytes on a fresh connection; collect replies until the daemon closes or `want` replies came. */
const exchange = (path: string, data: Buffer | Buffer[], want = 1) => pamExchange(path, data, want);

t.test('live daemon: garbage in, bad_request and close, the daemon keeps answering', async (t) => {
  const d = await startDaemon();
  t.teardown(async () => { await d.stop(); cleanup(d); });
  await addUser(d, 'frank', 'Blue-Lagoon1', ['--services', 'afp']);
  const auth = (pw: string) => encodeRequest('AUTH', ['netatalk', 'frank', pw, '', '']);

  const ok = await exchange(d.pam, auth('Blue-Lagoon1'));
  t.equal(reasonOf(ok.replies[0]), 'ok', 'a good AUTH over the PAM socket');
  t.equal(reasonOf((await exchange(d.pam, auth('Blue-Lagoon2'))).replies[0]), 'bad_credentials');

  for (const [name, bytesIn] of [
    ['HTTP on the PAM socket', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
    ['oversized length', Buffer.from([0, 1, 0, 0, 1, 2, 0, 0])],
    ['wrong version', encodeRequest('PING', [], { version: 9 })],
    ['unknown opcode', encodeRequest(200, [])],
    ['user over the limit', encodeRequest('ACCT', ['afp', 'x'.repeat(300), ''])],
  ] as Array<[string, Buffer]>) {
    const r = await exchange(d.pam, bytesIn, 2);
    t.equal(reasonOf(r.replies[0]), 'bad_request', `${name}: bad_request`);
    t.equal(r.replies.length, 1, `${name}: one reply`);
    t.ok(r.closed, `${name}: connection closed`);
  }
  for (let i = 0; i < 50; i++) await exchange(d.pam, bytes(1 + int(3000)), 2);
  t.equal(d.proc.exitCode, null, 'the daemon is still running');
  t.equal(reasonOf((await exchange(d.pam, encodeRequest('PING', []))).replies[0]), 'ok', 'PING after the garbage');
  t.equal(reasonOf((await exchange(d.pam, auth('Blue-Lagoon1'))).replies[0]), 'ok', 'AUTH after the garbage');
  t.equal((await authenticate(d, 'frank', 'Blue-Lagoon1', 'afp')).body.reason, 'ok', 'the query socket too');
});

t.test('live daemon: byte-by-byte, pipelined, several requests per connection', async (t) => {
  const d = await startDaemon();
  t.teardown(async () => { await d.stop(); cleanup(d); });
  await addUser(d, 'gwen', 'Green-Meadow1', ['--services', 'afp']);
  const frame = encodeRequest('AUTH', ['netatalk', 'gwen', 'Green-Meadow1', '192.0.2.1', '']);
  const slow = await exchange(d.pam, [...frame].map((b) => Buffer.from([b])));
  t.equal(reasonOf(slow.replies[0]), 'ok', 'one byte per write');
  const three = await exchange(d.pamPriv, Buffer.concat([encodeRequest('PING', []), frame, encodeRequest('ACCT', ['netatalk', 'nobody-here', ''])]), 3);
  t.same(three.replies.map(reasonOf), ['ok', 'ok', 'unknown_user'], 'pipelined answers in order (ACCT: the privileged socket)');
  const many = await exchange(d.pam, Buffer.concat(Array.from({ length: 20 }, () => encodeRequest('PING', []))), 20);
  t.ok(many.replies.length <= 9 && reasonOf(many.replies[many.replies.length - 1]) === 'bad_request', 'more than 8 read ahead: refused and closed');
});

t.test('live daemon: CHPW_ROOT only on the privileged socket', async (t) => {
  const d = await startDaemon();
  t.teardown(async () => { await d.stop(); cleanup(d); });
  await addUser(d, 'hugo', 'Harbor-Light1', ['--services', 'smb']);
  const root = (user: string, pw: string, service = 'samba') => encodeRequest('CHPW_ROOT', [service, user, pw, '']);
  const r = await exchange(d.pam, Buffer.concat([root('hugo', 'Harbor-Light2'), encodeRequest('PING', [])]), 2);
  t.same(r.replies.map(reasonOf), ['bad_request', 'ok'], 'refused on the ordinary socket; the connection stays usable');
  t.equal((await authenticate(d, 'hugo', 'Harbor-Light1', 'smb')).body.reason, 'ok', 'password unchanged');
  t.equal(reasonOf((await exchange(d.pamPriv, root('nobody-here', 'Harbor-Light2'))).replies[0]), 'unknown_user', 'unknown account');
  t.equal(reasonOf((await exchange(d.pamPriv, root('hugo', 'Harbor-Light2', 'netatalk'))).replies[0]), 'service_denied', 'account may not use that service');
  t.equal(reasonOf((await exchange(d.pamPriv, root('hugo', 'short'))).replies[0]), 'password_rejected', 'policy applies');
  t.equal(reasonOf((await exchange(d.pamPriv, root('hugo', 'Harbor-Light2'))).replies[0]), 'ok', 'set by root');
  t.equal((await authenticate(d, 'hugo', 'Harbor-Light2', 'smb')).body.reason, 'ok', 'the new password works');
  t.equal((await authenticate(d, 'hugo', 'Harbor-Light1', 'smb')).body.reason, 'bad_credentials', 'the old one does not');
  t.ok(await d.waitLog(/"by":"root via PAM samba"/), 'audited as root via PAM');
});

t.test('live daemon: a client that half-closes after writing still gets its answers', async (t) => {
  const d = await startDaemon();
  t.teardown(async () => { await d.stop(); cleanup(d); });
  const replies = await new Promise<Buffer>((resolve, reject) => {
    const s = connect(d.pamPriv, () => s.end(Buffer.concat([encodeRequest('PING', []), encodeRequest('ACCT', ['netatalk', 'nobody-here', ''])])));
    const chunks: Buffer[] = [];
    s.on('data', (c) => chunks.push(c));
    s.on('close', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
  });
  const first = replies.subarray(0, 4 + replies.readUInt32BE(0));
  const second = replies.subarray(first.length);
  t.same([reasonOf(decodeReply(first)), reasonOf(decodeReply(second))], ['ok', 'unknown_user'], 'both answered, then closed');
});
