// The query socket's front (daemon/http-fast.ts) against node:http: the same bytes sent to
// a daemon with the front and to one without it (NASAUTH_QUERY_FRONT=0) get the same
// answers, byte for byte but the Date header, whether the front answers them itself or
// hands the connection over; and the front's counters say which one answered, so a
// request the front should recognise cannot silently go to node:http (or the reverse).
import t from 'tap';
import { connect } from 'node:net';
import { addUser, cleanup, http, metric, startDaemon, type Daemon } from './helpers/daemon';
import { waitFor } from './helpers/wait';

interface Exchange { responses: string[]; closed: boolean }

/** Responses parsed off the raw bytes (Date removed): by Content-Length, 1xx without a body. */
function exchange(path: string, chunks: Array<string | Buffer>, want: number, o: { end?: boolean; gapMs?: number } = {}): Promise<Exchange> {
  return new Promise((resolve) => {
    const s = connect(path);
    let data = Buffer.alloc(0);
    const responses: string[] = [];
    let closed = false;
    let done = false;
    const finish = () => { if (!done) { done = true; clearTimeout(deadline); s.destroy(); resolve({ responses, closed }); } };
    const deadline = setTimeout(finish, 5000);
    const parse = () => {
      for (;;) {
        const he = data.indexOf('\r\n\r\n');
        if (he < 0) return;
        const head = data.subarray(0, he).toString('latin1');
        const status = Number(head.slice(9, 12));
        const m = /\r\ncontent-length: *(\d+)/i.exec(head);
        const len = status < 200 ? 0 : m ? Number(m[1]) : -1;
        if (len < 0) { if (!closed) return; } else if (data.length < he + 4 + len) return;
        const end = len < 0 ? data.length : he + 4 + len;
        responses.push(data.subarray(0, end).toString('latin1').replace(/\r\nDate: [^\r]*/, '').replace(/"password_changed_at":"[^"]*"/, '"password_changed_at":"(when the account was made)"'));
        data = data.subarray(end);
      }
    };
    const settled = () => {
      const finals = responses.filter((r) => !/^HTTP\/1\.1 1\d\d/.test(r)).length;
      if (closed || (finals >= want && !o.end && !/\r\nconnection: close/i.test(responses[responses.length - 1] ?? ''))) finish();
    };
    s.on('data', (b) => { data = Buffer.concat([data, b]); parse(); settled(); });
    s.on('close', () => { closed = true; parse(); finish(); });
    s.on('error', () => undefined);
    s.on('connect', async () => {
      for (const c of chunks) {
        s.write(c);
        if (o.gapMs !== undefined) await new Promise((r) => setTimeout(r, o.gapMs));
      }
      if (o.end) s.end();
    });
  });
}

const body = (o: unknown) => JSON.stringify(o);
const HEADERS = 'Host: nas\r\nContent-Type: application/json\r\n';
function req(b: string | Buffer, o: { headers?: string; line?: string; length?: string | null } = {}): Buffer {
  const bytes = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
  const len = o.length === undefined ? `Content-Length: ${bytes.length}\r\n` : o.length === null ? '' : `Content-Length: ${o.length}\r\n`;
  return Buffer.concat([Buffer.from(`${o.line ?? 'POST /v1/authenticate HTTP/1.1'}\r\n${o.headers ?? HEADERS}${len}\r\n`, 'latin1'), bytes]);
}
const OK = body({ user: 'alice', password: 'Correct-horse-1', service: 'smb' });
const WRONG = body({ user: 'bob', password: 'not-his-password', service: 'smb' });
const cat = (...b: Buffer[]) => Buffer.concat(b);

interface Case { name: string; send: Array<string | Buffer>; want?: number; front: number; handover: number; end?: boolean; gapMs?: number; closes?: boolean }
const CASES: Case[] = [
  { name: 'a cache hit, keep-alive', send: [req(OK)], front: 1, handover: 0 },
  { name: 'the same, Connection: close', send: [req(OK, { headers: `${HEADERS}Connection: close\r\n` })], front: 1, handover: 0, closes: true },
  { name: 'the same, Connection: keep-alive (any case)', send: [req(OK, { headers: `host: nas\r\nCONNECTION: Keep-Alive\r\n` })], front: 1, handover: 0 },
  { name: "curl's headers", send: [req(OK, { headers: 'Host: nas\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\nContent-Type: application/x-www-form-urlencoded\r\n' })], front: 1, handover: 0 },
  { name: 'a wrong password (a slow decision)', send: [req(WRONG)], front: 1, handover: 0 },
  { name: 'an unknown user', send: [req(body({ user: 'nobody-here', password: 'x', service: 'smb' }))], front: 1, handover: 0 },
  { name: 'JSON cut short', send: [req('{"user":')], front: 1, handover: 0 },
  { name: 'a body that is not UTF-8', send: [req(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]))], front: 1, handover: 0 },
  { name: 'an array', send: [req('[1]')], front: 1, handover: 0 },
  { name: 'an unknown field', send: [req(body({ user: 'alice', password: 'Correct-horse-1', service: 'smb', admin: true }))], front: 1, handover: 0 },
  { name: 'a password that is a number', send: [req(body({ user: 'alice', password: 42, service: 'smb' }))], front: 1, handover: 0 },
  { name: 'a name too long', send: [req(body({ user: 'a'.repeat(300), password: 'x', service: 'smb' }))], front: 1, handover: 0 },
  { name: 'Content-Length: 0', send: [req('', { length: '0' })], front: 1, handover: 0 },
  { name: 'Content-Length after spaces', send: [req(OK, { length: `  ${Buffer.byteLength(OK)}` })], front: 1, handover: 0 },
  { name: 'Content-Length with a space after it', send: [req(OK, { length: `${Buffer.byteLength(OK)} ` })], front: 0, handover: 1 },
  { name: 'Content-Length with a tab after it', send: [req(OK, { length: `${Buffer.byteLength(OK)}\t` })], front: 0, handover: 1 },
  { name: 'Connection: close with a space after it', send: [req(OK, { headers: `${HEADERS}Connection: close \r\n` })], front: 0, handover: 1 },
  { name: 'a non-ASCII name (not a valid account name)', send: [req(body({ user: 'zoë', password: 'Correct-horse-1', service: 'smb' }))], front: 1, handover: 0 },
  { name: 'two pipelined, the hit first', send: [cat(req(OK), req(WRONG))], want: 2, front: 2, handover: 0 },
  { name: 'two pipelined, the slow one first', send: [cat(req(WRONG), req(OK))], want: 2, front: 2, handover: 0 },
  { name: 'a hit, then another route on the same connection', send: [cat(req(OK), Buffer.from('GET /v1/nothing HTTP/1.1\r\nHost: nas\r\n\r\n'))], want: 2, front: 1, handover: 1 },
  { name: 'a slow one, then another route', send: [cat(req(WRONG), Buffer.from('GET /v1/nothing HTTP/1.1\r\nHost: nas\r\n\r\n'))], want: 2, front: 1, handover: 1 },
  { name: 'another route, then a hit (node:http keeps the connection)', send: [cat(Buffer.from('GET /v1/nothing HTTP/1.1\r\nHost: nas\r\n\r\n'), req(OK))], want: 2, front: 0, handover: 1 },
  { name: 'the request split into single bytes', send: [...req(OK)].map((b) => Buffer.from([b])), gapMs: 1, front: 1, handover: 0 },
  { name: 'split after the head', send: [req(OK).subarray(0, 60), req(OK).subarray(60)], gapMs: 20, front: 1, handover: 0 },
  { name: 'no Content-Length', send: [req(OK, { length: null })], front: 0, handover: 1 },
  { name: 'a chunked body', send: [req(`${Buffer.byteLength(OK).toString(16)}\r\n${OK}\r\n0\r\n\r\n`, { length: null, headers: `${HEADERS}Transfer-Encoding: chunked\r\n` })], front: 0, handover: 1 },
  { name: 'Content-Length twice', send: [req(OK, { headers: `${HEADERS}Content-Length: ${Buffer.byteLength(OK)}\r\n` })], front: 0, handover: 1 },
  { name: 'Content-Length with a sign', send: [req(OK, { length: `+${Buffer.byteLength(OK)}` })], front: 0, handover: 1 },
  { name: 'a declared 1 MiB body', send: [req('{', { length: '1048576' })], front: 0, handover: 1 },
  { name: 'no Host', send: [req(OK, { headers: 'Content-Type: application/json\r\n' })], front: 0, handover: 1 },
  { name: 'Host twice', send: [req(OK, { headers: 'Host: nas\r\nHost: other\r\n' })], front: 1, handover: 0 },
  { name: 'Content-Length over the limit in five digits', send: [req('{', { length: '20000' })], front: 0, handover: 1 },
  { name: 'a space after the request line', send: [req(OK, { line: 'POST /v1/authenticate HTTP/1.1 ' })], front: 0, handover: 1 },
  { name: 'a lower-case method', send: [req(OK, { line: 'post /v1/authenticate HTTP/1.1' })], front: 0, handover: 1 },
  { name: 'HTTP/1.0', send: [req(OK, { line: 'POST /v1/authenticate HTTP/1.0' })], front: 0, handover: 1 },
  { name: 'a query string', send: [req(OK, { line: 'POST /v1/authenticate?from=test HTTP/1.1' })], front: 0, handover: 1 },
  { name: 'another header', send: [req(OK, { headers: `${HEADERS}X-Request-Id: 42\r\n` })], front: 0, handover: 1 },
  { name: 'Expect: 100-continue', send: [req(OK, { headers: `${HEADERS}Expect: 100-continue\r\n` })], front: 0, handover: 1 },
  { name: 'Connection: upgrade', send: [req(OK, { headers: `${HEADERS}Connection: upgrade\r\n` })], front: 0, handover: 1 },
  { name: 'a folded header line', send: [req(OK, { headers: `Host: nas\r\nUser-Agent: a\r\n b\r\n` })], front: 0, handover: 1 },
  { name: 'line feeds without carriage returns', send: [Buffer.from(`POST /v1/authenticate HTTP/1.1\nHost: nas\nContent-Length: ${Buffer.byteLength(OK)}\n\n${OK}`)], front: 0, handover: 1 },
  { name: 'a header value with a byte over 0x7e', send: [req(OK, { headers: 'Host: nas\r\nUser-Agent: caf\xe9\r\n' })], front: 0, handover: 1 },
  { name: 'a NUL in a header', send: [req(OK, { headers: 'Host: n\0as\r\n' })], front: 0, handover: 1 },
  { name: 'a head over 4 KiB (node:http takes up to 8 KiB)', send: [req(OK, { headers: `Host: nas\r\nUser-Agent: ${'a'.repeat(5000)}\r\n` })], front: 0, handover: 1 },
  { name: 'binary garbage', send: [Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0, 0, 0, 0x0d, 0x0a, 0x0d, 0x0a])], front: 0, handover: 1 },
  { name: 'a body cut short by the end of the connection', send: [req(OK).subarray(0, req(OK).length - 5)], end: true, front: 0, handover: 0, closes: true },
  { name: 'a head cut short by the end of the connection', send: ['POST /v1/authenticate HTTP/1.1\r\nHost: n'], end: true, front: 0, handover: 0, closes: true },
  { name: 'a whole request, then the end of the connection', send: [req(OK)], end: true, front: 1, handover: 0, closes: true },
];

let withFront: Daemon;
let without: Daemon;
t.before(async () => {
  [withFront, without] = await Promise.all([startDaemon(), startDaemon({ env: { NASAUTH_QUERY_FRONT: '0' } })]);
  for (const d of [withFront, without]) {
    await addUser(d, 'alice', 'Correct-horse-1');
    await addUser(d, 'bob', 'Battery-staple-2');
    // the cache holds alice's password: the hits below are hits
    await http(d.query, 'POST', '/v1/authenticate', { user: 'alice', password: 'Correct-horse-1', service: 'smb' });
  }
});
t.teardown(async () => { for (const d of [withFront, without]) { await d.stop(); cleanup(d); } });

const fronts = async (d: Daemon) => {
  const m = (await http(d.query, 'GET', '/v1/metrics')).text;
  return { front: metric(m, 'nasauth_query_front_requests_total'), handover: metric(m, 'nasauth_query_front_handovers_total') };
};

t.test('the same answers with the front and without it, and the front answers what it should', async (t) => {
  for (const c of CASES) {
    const before = await fronts(withFront);
    const a = await exchange(withFront.query, c.send, c.want ?? 1, { end: c.end, gapMs: c.gapMs });
    const after = await fronts(withFront);
    const b = await exchange(without.query, c.send, c.want ?? 1, { end: c.end, gapMs: c.gapMs });
    t.ok(a.responses.length > 0 || c.closes, `${c.name}: answered`);
    t.same(a.responses, b.responses, `${c.name}: the same answers`);
    // the metrics request itself went to node:http (a handover of its own connection)
    t.same({ front: after.front - before.front, handover: after.handover - before.handover - 1 }, { front: c.front, handover: c.handover }, `${c.name}: answered by ${c.front ? 'the front' : 'node:http'}`);
    if (c.closes) t.ok(a.closed && b.closed, `${c.name}: the connection is closed`);
  }
  t.match((await http(without.query, 'GET', '/v1/metrics')).text, /^(?![\s\S]*nasauth_query_front)/, 'no front counters without the front');
});

t.test('a client that sends many requests at once and reads late gets every answer, in order', async (t) => {
  // the answers outgrow the socket's buffers: the front waits for 'drain' and stops reading meanwhile
  const n = 3000;
  const s = connect(withFront.query);
  s.on('error', () => undefined);
  await new Promise((r) => s.once('connect', r));
  s.pause();
  const one = req(OK);
  const reqs = Buffer.concat([...Array.from({ length: n }, () => one), req(WRONG)]);
  s.write(reqs);
  await new Promise((r) => setTimeout(r, 300)); // the daemon fills its side and waits
  let text = '';
  s.on('data', (b) => { text += b.toString('latin1'); });
  s.resume();
  await waitFor(`${n + 1} answers`, () => (text.match(/HTTP\/1\.1 \d{3} /g) ?? []).length === n + 1, 20_000);
  const reasons = [...text.matchAll(/"reason":"([a-z_]+)"/g)].map((m) => m[1]);
  t.equal(reasons.filter((r) => r === 'ok').length, n, 'every hit answered ok');
  t.match(reasons[reasons.length - 1], /^(bad_credentials|rate_limited)$/, 'the last request (a wrong password) answered last');
  s.destroy();
});

t.test('at the cap, the front closes the connection idle longest, never one awaiting its answer', async (t) => {
  // a second daemon pair is not needed: the cap is the front's here (256 connections)
  const d = await startDaemon({ config: { rate_limit: { failure_delay_ms: 1500 } } });
  t.teardown(async () => { await d.stop(); cleanup(d); });
  await addUser(d, 'alice', 'Correct-horse-1');
  await addUser(d, 'bob', 'Battery-staple-2');
  await http(d.query, 'POST', '/v1/authenticate', { user: 'alice', password: 'Correct-horse-1', service: 'smb' });
  interface C { s: ReturnType<typeof connect>; data: string; closed: boolean }
  const open = async (): Promise<C> => {
    const s = connect(d.query);
    const c: C = { s, data: '', closed: false };
    s.on('data', (b) => { c.data += b; });
    s.on('close', () => { c.closed = true; });
    s.on('error', () => undefined);
    await new Promise((r) => s.once('connect', r));
    return c;
  };
  const answers = (c: C) => (c.data.match(/HTTP\/1\.1 \d{3} /g) ?? []).length;
  // the oldest connection waits for a refusal (1.5 s failure delay): busy
  const slow = await open();
  slow.s.write(req(WRONG));
  const conns: C[] = [];
  for (let i = 0; i < 255; i++) {
    const c = await open();
    c.s.write(req(OK));
    conns.push(c);
  }
  await waitFor('255 answers', () => conns.every((c) => answers(c) === 1));
  t.equal(answers(slow), 0, 'the refusal is still delayed');
  const extra = await open();
  extra.s.write(req(OK));
  await waitFor('the new connection answered', () => answers(extra) === 1);
  await waitFor('the idle connection opened first closed', () => conns[0].closed);
  t.notOk(slow.closed, 'the connection awaiting its answer stays');
  t.equal(conns.filter((c) => c.closed).length, 1, 'one connection made room');
  await waitFor('the delayed refusal', () => answers(slow) === 1, 5000);
  t.match(slow.data, /"reason":"bad_credentials"/);
  for (const c of [slow, extra, ...conns]) c.s.destroy();
});
