// A fuzz target per decoder, run for a bounded time (NASAUTH_FUZZ_SECONDS per target,
// default 2; longer by setting it): PAM frames (the decoder, and the live 0666 socket),
// the HTTP surfaces (query and admin sockets, raw bytes), LDAP BER (the framer and the
// live ldapi socket, with its filters), the YAML config and each import format. Inputs
// are mutations of the committed corpus (test/fuzz/corpus/<target>/), cut at random
// points where the decoder is incremental. Every decoder must answer with its documented
// error, never an exception, a hang or unbounded memory; live sockets must answer every
// connection with a well-formed reply (never a 500) or close it, and the daemon must
// keep running.
//
// A failure prints the target, seed and iteration, and writes the input to
// test/fuzz/crashes/; moved to test/fuzz/regressions/<target>/ it is replayed by every
// run (the crashes found so far are there). NASAUTH_FUZZ_SEED picks the seed.
import t, { type Test } from 'tap';
import { tempDir } from './helpers/tmp';
import { connect } from 'node:net';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FrameParser, LIMITS, decodeBody, decodeReply } from '../daemon/pam-frame';
import { BerError, MAX_MESSAGE_BYTES, MessageFramer, checkShape, peekIdAndOp, readBind, readHeader, readPasswordModify } from '../daemon/ldap-ber';
import { loadConfig } from '../daemon/config';
import { NasauthError } from '../daemon/errors';
import { ImportSourceError, parseGroup, parseMeta, parsePasswd, parseShadow, parseSmbpasswd } from '../daemon/import-parse';
import { REASON_NAMES, REASONS } from '../daemon/reasons';
import { addUser, cleanup, http, startDaemon, type Daemon } from './helpers/daemon';
import { chunks, mutate, prng, type Rng } from './fuzz/mutate';

const SECONDS = Number(process.env.NASAUTH_FUZZ_SECONDS ?? 2);
const SEED = Number(process.env.NASAUTH_FUZZ_SEED ?? Date.now() % 1_000_000);
const FUZZ = join(__dirname, 'fuzz');
t.comment(`fuzz seed ${SEED}, ${SECONDS} s per target (NASAUTH_FUZZ_SEED, NASAUTH_FUZZ_SECONDS)`);

const read = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort().map((f) => readFileSync(join(dir, f))) : []);

/** A check returns null when the decoder behaved, else what went wrong. */
type Check = (input: Buffer, rng: Rng) => Promise<string | null> | string | null;

async function fuzz(t: Test, target: string, check: Check, opts: { maxLen?: number; seconds?: number } = {}) {
  const corpus = read(join(FUZZ, 'corpus', target));
  t.ok(corpus.length > 0, `${target}: a corpus`);
  const seed = SEED ^ parseInt(createHash('sha1').update(target).digest('hex').slice(0, 6), 16);
  const rng = prng(seed);
  const fail = (why: string, input: Buffer, iter: number | string) => {
    mkdirSync(join(FUZZ, 'crashes'), { recursive: true });
    const f = join(FUZZ, 'crashes', `${target}-${createHash('sha1').update(input).digest('hex').slice(0, 12)}`);
    writeFileSync(f, input);
    t.fail(`${target}: ${why} (seed ${seed}, iteration ${iter}; input saved as ${f})`);
  };
  // regressions first: every input that ever failed
  for (const [i, input] of read(join(FUZZ, 'regressions', target)).entries()) {
    const why = await check(input, prng(i));
    if (why) fail(`regression ${i}: ${why}`, input, `regression ${i}`);
  }
  for (const input of corpus) { const why = await check(input, rng); if (why) fail(`corpus: ${why}`, input, 'corpus'); }
  const until = Date.now() + (opts.seconds ?? SECONDS) * 1000;
  let n = 0;
  let failures = 0;
  while (Date.now() < until && failures < 3) {
    const input = mutate(corpus[Math.floor(rng() * corpus.length)], corpus, rng, opts.maxLen);
    const why = await check(input, rng);
    if (why) { failures++; fail(why, input, n); }
    n++;
  }
  t.comment(`${target}: ${n} inputs`);
  t.equal(failures, 0, `${target}: ${n} mutated inputs, every one answered as documented`);
}

const errText = (e: unknown) => `${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`.slice(0, 300);

// ---- pure decoders -------------------------------------------------------------------

t.test('PAM frames: the incremental decoder', async (t) => {
  await fuzz(t, 'pam', (input, rng) => {
    const p = new FrameParser();
    let events;
    try { events = chunks(input, rng).flatMap((c) => p.push(c)); } catch (e) { return `FrameParser threw ${errText(e)}`; }
    if (p.pending > LIMITS.request) return `holds ${p.pending} bytes, over one frame`;
    const errs = events.filter((e) => e.kind === 'error');
    if (errs.length > 1) return 'more than one error event';
    if (errs.length === 1 && events[events.length - 1].kind !== 'error') return 'events after the error';
    try { const r = decodeBody(input.subarray(4)); if (typeof r !== 'string' && typeof r !== 'object') return 'decodeBody returned neither'; } catch (e) { return `decodeBody threw ${errText(e)}`; }
    return null;
  });
});

t.test('LDAP BER: the framer and the readers', async (t) => {
  await fuzz(t, 'ldap', (input, rng) => {
    const f = new MessageFramer();
    try {
      for (const c of chunks(input, rng)) {
        for (const ev of f.push(c)) {
          if (ev.kind !== 'message') continue;
          // the readers may refuse (BerError), never throw anything else
          for (const read of [() => checkShape(ev.raw), () => peekIdAndOp(ev.raw, 0, ev.raw.length), () => readHeader(ev.raw, 0)]) read();
          const op = peekIdAndOp(ev.raw, 0, ev.raw.length)?.op;
          try { if (op === 0x60) readBind(ev.raw); if (op === 0x77) readPasswordModify(ev.raw); } catch (e) { if (!(e instanceof BerError)) return `a reader threw ${errText(e)}`; }
        }
        const held = (f as unknown as { buf: Buffer }).buf.length;
        if (held > MAX_MESSAGE_BYTES + 1024) return `the framer holds ${held} bytes`;
      }
    } catch (e) { return `threw ${errText(e)}`; }
    return null;
  }, { maxLen: 512 * 1024 });
});

const tmp = tempDir('nasauth-fuzz-');
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

t.test('YAML config', async (t) => {
  const file = join(tmp, 'nasauth.yaml');
  await fuzz(t, 'config', (input) => {
    writeFileSync(file, input);
    try { loadConfig(file, tmp); } catch (e) {
      if (!(e instanceof NasauthError) || e.code !== 'NASAUTH_CONFIG') return `not a config error: ${errText(e)}`;
      if (!e.message.startsWith(file)) return `the error does not name the file: ${e.message.slice(0, 120)}`;
    }
    return null;
  });
});

for (const [target, parse, name] of [
  ['import-passwd', parsePasswd, 'passwd'], ['import-shadow', parseShadow, 'shadow'], ['import-group', parseGroup, 'group'],
  ['import-smbpasswd', parseSmbpasswd, 'smbpasswd'], ['import-meta-yaml', parseMeta, 'nasauth-users.yaml'], ['import-meta-csv', parseMeta, 'nasauth-users.csv'],
] as const) {
  t.test(`import: ${name}`, async (t) => {
    const file = join(tmp, name);
    await fuzz(t, target, (input) => {
      writeFileSync(file, input);
      try { const r = (parse as (f: string) => unknown[])(file); if (!Array.isArray(r)) return 'not a list'; } catch (e) {
        if (!(e instanceof ImportSourceError)) return `not an ImportSourceError: ${errText(e)}`;
        if (!e.message.startsWith(file)) return `the error does not name the file: ${e.message.slice(0, 120)}`;
      }
      return null;
    }, { seconds: Math.max(0.5, SECONDS / 2) });
  });
}

// ---- live sockets --------------------------------------------------------------------

/** Send `parts` (then half-close), collect everything until the server closes. null: it did not close in time. */
function exchange(path: string, parts: Buffer[], deadlineMs = 15_000): Promise<Buffer | null | Error> {
  return new Promise((resolve) => {
    const s = connect(path);
    const got: Buffer[] = [];
    let done = false;
    const finish = (v: Buffer | null | Error) => { if (!done) { done = true; clearTimeout(timer); s.destroy(); resolve(v); } };
    const timer = setTimeout(() => finish(null), deadlineMs);
    s.on('connect', async () => {
      for (const p of parts) { if (s.destroyed) break; s.write(p); if (parts.length > 1) await new Promise((r) => setImmediate(r)); }
      if (!s.destroyed) s.end();
    });
    s.on('data', (c) => got.push(c));
    s.on('close', () => finish(Buffer.concat(got)));
    s.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE' || e.code === 'ECONNRESET') return; finish(e); });
  });
}

let d: Daemon;
const KNOWN_CODES = new Set<number>(REASON_NAMES.map((r) => REASONS[r].code));
t.before(async () => {
  d = await startDaemon({ config: { sockets: { ldap: { enabled: true } }, rate_limit: { backoff_after: 1000, lockout_after: 10000, source_failures: 1000000 } } });
  await addUser(d, 'alice', 'Correct-Horse1');
});
t.teardown(async () => { await d?.stop(); if (d) cleanup(d); });
const alive = async () => d.proc.exitCode === null && (await http(d.query, 'GET', '/v1/health')).status === 200;

t.test('live: the 0666 PAM socket', async (t) => {
  await fuzz(t, 'pam', async (input, rng) => {
    const r = await exchange(d.pam, chunks(input, rng));
    if (r === null) return 'the connection was not closed (hang)';
    if (r instanceof Error) return `transport: ${r.message}`;
    for (let at = 0; at < r.length;) {
      if (r.length - at < 4) return 'a cut reply';
      const n = 4 + r.readUInt32BE(at);
      const rep = decodeReply(r.subarray(at, at + n));
      if (typeof rep === 'string') return `a malformed reply: ${rep}`;
      if (!KNOWN_CODES.has(rep.code)) return `reason code ${rep.code} is not in the table`;
      if (rep.code === REASONS.internal_error.code) return `internal_error: ${rep.message}`;
      at += n;
    }
    return null;
  });
  t.ok(await alive(), 'the daemon still answers');
});

const HTTP_OK = new Set([200, 201, 400, 404, 405, 409, 413, 422, 431, 503, 507]);
for (const [target, sock] of [['http-query', () => d.query], ['http-admin', () => d.admin]] as const) {
  t.test(`live: ${target === 'http-query' ? 'the query socket' : 'the admin socket'} (raw HTTP)`, async (t) => {
    await fuzz(t, target, async (input, rng) => {
      const r = await exchange(sock(), chunks(input, rng));
      if (r === null) return 'the connection was not closed (hang)';
      if (r instanceof Error) return `transport: ${r.message}`;
      for (const m of r.toString('latin1').matchAll(/HTTP\/1\.1 (\d{3}) /g)) {
        if (!HTTP_OK.has(Number(m[1]))) return `HTTP ${m[1]}: ${r.toString('utf8').slice(r.indexOf(m[0]), r.indexOf(m[0]) + 300)}`;
      }
      if (r.length > 0 && !r.toString('latin1').startsWith('HTTP/1.1 ')) return `not an HTTP reply: ${r.subarray(0, 80).toString('latin1')}`;
      return null;
    });
    t.ok(await alive(), 'the daemon still answers');
  });
}

// The query socket's front (daemon/http-fast.ts) answers some requests itself and hands
// the rest to node:http: a daemon with it and one without it (NASAUTH_QUERY_FRONT=0),
// fresh and alike, get the same inputs and must give the same answers (but the Date, the
// account's creation time, the uptime, a rate limit's wait, the lengths and the metrics'
// numbers; the bodies are compared whole), with the differences
// node:http makes between two ways of reading the same bytes: it answers a request a
// turn after parsing it, so an error later in the same read, or the client's end,
// loses the answers still pending, and which are pending depends on how its reads were
// cut (reading from the socket's handle it answers between requests; reading bytes
// handed to it, as the front hands them, after the whole read). So the two lists of
// answers must be equal, or one a beginning of the other (answers lost at the client's
// end), or both end in a refusal that closes the connection with the answers before it on
// one side a part of those on the other (answers lost at an error; which error node:http
// names then depends on its reads too). A request the front answers that node:http would
// refuse cannot hide in that: alone, or last, its answer would stand against a refusal.
t.test('live: the query socket with its front and without it answer alike', async (t) => {
  // no wait that depends on when each daemon saw a failure: no backoff, and a lockout that
  // outlasts the run (both lock at the same count)
  const cfg = { rate_limit: { backoff_after: 1000, backoff_base_ms: 0, backoff_max_ms: 0, lockout_after: 10000, lockout_seconds: 30 * 86400, source_failures: 1000000 } };
  const [a, b] = await Promise.all([startDaemon({ config: cfg }), startDaemon({ config: cfg, env: { NASAUTH_QUERY_FRONT: '0' } })]);
  t.teardown(async () => { for (const x of [a, b]) { await x.stop(); cleanup(x); } });
  for (const x of [a, b]) await addUser(x, 'alice', 'Correct-Horse1');
  const norm = (r: Buffer | null | Error) => (r instanceof Buffer ? r.toString('latin1')
    .replace(/\r\nDate: [^\r]*/g, '')
    .replace(/"password_changed_at":"[^"]*"/g, '"password_changed_at":"-"')
    .replace(/"uptime_seconds":\d+/g, '"uptime_seconds":-')
    // a rate limit's wait is counted from when each daemon saw the failures
    .replace(/"retry_after":\d+/g, '"retry_after":-').replace(/\r\nretry-after: \d+/g, '\r\nretry-after: -').replace(/\r\ncontent-length: \d+/g, '\r\ncontent-length: -')
    .replace(/content-type: text\/plain[^\r]*\r\ncontent-length: \d+\r\n[\s\S]*?nasauth_uptime_seconds \d+\n/g, '(metrics)') : String(r));
  // each input in one write (at most 16 KiB, one read): node:http's own answers depend on
  // how its reads were cut (an error in a later read than a request's keeps that answer,
  // in the same read loses it), so the reference must be read the same way each time;
  // test/query-front.test.ts sends requests cut into pieces
  await fuzz(t, 'http-front', async (input) => {
    const parts = [input];
    const [ra, rb] = await Promise.all([exchange(a.query, parts), exchange(b.query, parts)]);
    if (ra === null) return 'the connection was not closed (hang)';
    const [na, nb] = [norm(ra), norm(rb)];
    if (na === nb) return null;
    const split = (x: string) => x.split(/(?=HTTP\/1\.1 \d{3} )/).filter(Boolean);
    const [fa, fb] = [split(na), split(nb)];
    const [short, long] = fa.length <= fb.length ? [fa, fb] : [fb, fa];
    const within = (xs: string[], ys: string[]) => { let j = 0; for (const x of xs) { while (j < ys.length && ys[j] !== x) j++; if (j++ >= ys.length) return false; } return true; };
    if (short.every((x, i) => x === long[i])) return null; // answers lost at the client's end
    const refusal = (x: string | undefined) => x !== undefined && /^HTTP\/1\.1 4\d\d /.test(x) && /\r\nconnection: close\r\n/i.test(x);
    if (refusal(short[short.length - 1]) && refusal(long[long.length - 1])
      && within(short.slice(0, -1), long.slice(0, -1))) return null; // answers lost at an error
    return `answers differ:\n--- with the front\n${na.slice(0, 600)}\n--- node:http\n${nb.slice(0, 600)}`;
  }, { maxLen: 16 * 1024 });
  for (const x of [a, b]) t.equal((await http(x.query, 'GET', '/v1/health')).status, 200, 'still answering');
});

t.test('live: the LDAP view (ldapi), filters included', async (t) => {
  await fuzz(t, 'ldap', async (input, rng) => {
    const r = await exchange(d.ldap, chunks(input, rng), 20_000);
    if (r === null) return 'the connection was not closed (hang)';
    if (r instanceof Error) return `transport: ${r.message}`;
    // every reply is whole BER: a sequence of LDAPMessages
    for (let at = 0; at < r.length;) {
      let h;
      try { h = readHeader(r, at); } catch (e) { return `a malformed reply: ${errText(e)}`; }
      if (!h || r[at] !== 0x30) return `a malformed or cut reply at byte ${at}`;
      at += h.hdr + h.len;
    }
    return null;
  }, { maxLen: 300 * 1024 });
  t.ok(await alive(), 'the daemon still answers');
});
