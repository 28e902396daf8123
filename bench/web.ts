// Figure 9: the web page. A sign-in (cache miss and cache hit) and a signed-in page
// through nasauth-web (HTTP on loopback: the process as it runs, without TLS), side by
// side with the same question asked straight on the query socket; and the web
// process's resident memory, idle and after the load, next to a bare Node HTTP server.
//   npx ts-node --transpile-only bench/web.ts [--quick] [--reps 3]
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { fmtKB, fmtMs, fmtRate, fmtX, latStats, main, median, range, rssKB, ROOT, sleep, spawnTracked, type FigureResult, type Params, type Row } from './lib/common';
import { buildStore, DEVICE_SCRYPT, startDaemon, startFloor, warm, type BenchDaemon } from './lib/daemon';
import { BENCH_USERS } from './query';

export const TITLE = 'Web page (nasauth-web): sign-in and a page through the web process vs the query socket; its memory';
const WEB = join(ROOT, 'dist', 'nasauth-web.js');
const SETTLE_MS = 1000;

interface Reply { status: number; headers: Record<string, string | string[] | undefined>; body: string }
function call(agent: Agent, o: { socketPath?: string; port?: number; method: string; path: string; body?: string; headers?: Record<string, string> }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.body !== undefined) headers['content-length'] = String(Buffer.byteLength(o.body));
    const r = request({ agent, socketPath: o.socketPath, host: o.socketPath ? undefined : '127.0.0.1', port: o.port, method: o.method, path: o.path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    r.on('error', reject);
    r.end(o.body);
  });
}

interface WebProc { port: number; pid: number; stop(): Promise<void> }
/** As init.d/nasauth-web starts it on the device (NODE_OPTS, MALLOC_ARENA_MAX). */
export const WEB_NODE_OPTS = ['--max-old-space-size=64', '--max-semi-space-size=2'];
async function startWeb(d: BenchDaemon): Promise<WebProc> {
  const proc = spawnTracked(process.execPath, [...WEB_NODE_OPTS, WEB, '--listen', '127.0.0.1:0', '--query-socket', d.query], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, MALLOC_ARENA_MAX: '2' } });
  let out = '';
  proc.stdout!.on('data', (c) => { if (out.length < 8192) out += c; });
  const gone = new Promise<void>((r) => proc.once('exit', () => r()));
  for (let i = 0; ; i++) {
    const m = /"event":"ready".*?"url":"http:\/\/127\.0\.0\.1:(\d+)\//.exec(out);
    if (m) return { port: Number(m[1]), pid: proc.pid!, async stop() { proc.kill('SIGTERM'); await gone; } };
    if (proc.exitCode !== null || i > 1500) throw new Error(`nasauth-web did not start: ${out}`);
    await sleep(10);
  }
}

interface Series { lat: number[][]; errors: number; samples: string[] }
const series = (): Series => ({ lat: [], errors: 0, samples: [] });

/** Run `n` requests one after another; `ok` checks each reply. */
async function seq(n: number, one: () => Promise<Reply>, ok: (r: Reply) => string | null, s: Series) {
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const r = await one();
    lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
    const why = ok(r);
    if (why) { s.errors++; if (s.samples.length < 3) s.samples.push(why); }
  }
  s.lat.push(lat);
}

const stat = (s: Series) => {
  const per = s.lat.map((l) => latStats(l));
  return { p50: median(per.map((x) => x.p50)), p99: median(per.map((x) => x.p99)), p50s: per.map((x) => x.p50), rate: median(per.map((x) => 1000 / x.mean)) };
};

export async function figure9(p: Params): Promise<FigureResult> {
  const users = BENCH_USERS.slice(0, 4);
  const nHit = p.quick ? 100 : 1000;
  const nMiss = p.quick ? 4 : 40;
  const wrong = (pw: string) => (p.wrongPassword ? `${pw}-WRONG` : pw);
  const rows: Row[] = [];
  const notes: string[] = [];
  const s = { missWeb: series(), missQuery: series(), hitWeb: series(), hitQuery: series(), pageWeb: series(), pageQuery: series() };
  const rss = { webIdle: [] as number[], webAfter: [] as number[], floor: [] as number[], daemonIdle: [] as number[] };

  for (let rep = 0; rep < p.reps; rep++) {
    const f = await startFloor('http');
    await sleep(SETTLE_MS);
    rss.floor.push(f.rss());
    await f.stop();
    // two daemons: one with the cache off (every sign-in runs scrypt), one with it on
    for (const mode of ['miss', 'hit'] as const) {
      const d = await startDaemon({ store: buildStore({ users, filler: 1000, scrypt: DEVICE_SCRYPT }), logLevel: p.logLevel, config: mode === 'miss' ? { cache: { enabled: false } } : {} });
      const web = await startWeb(d);
      const wa = new Agent({ keepAlive: true, maxSockets: 1 });
      const qa = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        if (mode === 'hit') {
          await sleep(SETTLE_MS);
          rss.webIdle.push(rssKB(web.pid));
          rss.daemonIdle.push(d.rss());
          await warm(d.query, users);
        }
        // the sign-in form's CSRF token and cookie, once (a browser's GET /signin)
        const g = await call(wa, { port: web.port, method: 'GET', path: '/signin' });
        const csrf = /name="_csrf" value="([^"]+)"/.exec(g.body)?.[1] ?? '';
        const cookie = ([] as string[]).concat(g.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]).join('; ');
        let k = 0;
        const u = () => users[k++ % users.length];
        const webSignIn = () => { const x = u(); return call(wa, { port: web.port, method: 'POST', path: '/signin', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: csrf, user: x.name, password: wrong(x.password) }).toString() }); };
        const webOk = (r: Reply) => (r.status === 303 && r.headers.location === '/account' && /nasauth=/.test(String(r.headers['set-cookie'])) ? null : `web sign-in: ${r.status} ${r.headers.location ?? ''}`);
        const querySignIn = () => { const x = u(); return call(qa, { socketPath: d.query, method: 'POST', path: '/v1/sessions', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: x.name, password: wrong(x.password), source: '127.0.0.1' }) }); };
        const cached = mode === 'hit';
        const queryOk = (r: Reply) => { try { const j = JSON.parse(r.body); return j.reason === 'ok' && j.session?.token && j.cached === cached ? null : `query sign-in: ${j.reason} cached ${j.cached}`; } catch { return `query sign-in: ${r.status}`; } };
        const n = mode === 'miss' ? nMiss : nHit;
        const [first, second] = rep % 2 ? ['query', 'web'] : ['web', 'query'];
        for (const who of [first, second]) {
          if (who === 'web') await seq(n, webSignIn, webOk, mode === 'miss' ? s.missWeb : s.hitWeb);
          else await seq(n, querySignIn, queryOk, mode === 'miss' ? s.missQuery : s.hitQuery);
        }
        if (mode === 'hit') {
          // a signed-in page: GET /account through the web vs GET /v1/session straight
          const x = users[0];
          const si = await call(wa, { port: web.port, method: 'POST', path: '/signin', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: csrf, user: x.name, password: x.password }).toString() });
          const sess = ([] as string[]).concat(si.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]).find((c) => c.startsWith('nasauth=')) ?? '';
          const q = JSON.parse((await call(qa, { socketPath: d.query, method: 'POST', path: '/v1/sessions', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: x.name, password: x.password }) })).body);
          const token = q.session?.token ?? '';
          for (const who of [first, second]) {
            if (who === 'web') await seq(nHit, () => call(wa, { port: web.port, method: 'GET', path: '/account', headers: { cookie: `${cookie}; ${sess}` } }), (r) => (r.status === 200 && r.body.includes('My account') && r.body.includes(x.name) ? null : `web page: ${r.status}`), s.pageWeb);
            else await seq(nHit, () => call(qa, { socketPath: d.query, method: 'GET', path: '/v1/session', headers: { authorization: `Bearer ${token}` } }), (r) => { try { return JSON.parse(r.body).user?.name === x.name ? null : `session: ${r.status}`; } catch { return `session: ${r.status}`; } }, s.pageQuery);
          }
          rss.webAfter.push(rssKB(web.pid));
        }
      } finally {
        wa.destroy();
        qa.destroy();
        await web.stop();
        await d.stop();
      }
    }
  }

  let errors = 0;
  const pair = (label: string, web: Series, q: Series, what: string, n: number) => {
    const a = stat(web);
    const b = stat(q);
    errors += web.errors + q.errors;
    rows.push({ what: `query socket: ${what}`, peer: true, median: fmtMs(b.p50), p99: fmtMs(b.p99), rate: fmtRate(b.rate), noise: `p50 ${range(b.p50s, fmtMs)}`, errors: q.errors });
    rows.push({ what: `through nasauth-web: ${label} (${n} in a row, 1 conn)`, median: fmtMs(a.p50), p99: fmtMs(a.p99), rate: fmtRate(a.rate), noise: `p50 ${range(a.p50s, fmtMs)}`, ratio: `${fmtX(a.p50 / b.p50)} p50, ${a.p50 >= b.p50 ? '+' : '−'}${fmtMs(Math.abs(a.p50 - b.p50))}`, errors: web.errors });
    for (const x of [...web.samples, ...q.samples]) notes.push(`wrong answer (${label}): ${x}`);
  };
  pair('sign-in, cache miss (scrypt log_n 14)', s.missWeb, s.missQuery, 'POST /v1/sessions, cache miss', nMiss);
  pair('sign-in, cache hit', s.hitWeb, s.hitQuery, 'POST /v1/sessions, cache hit', nHit);
  pair('a signed-in page (GET /account)', s.pageWeb, s.pageQuery, 'GET /v1/session (the page asks this and the password rules)', nHit);
  const idle = median(rss.webIdle);
  rows.push({ what: 'bare Node HTTP server idle (bench/lib/floor.js)', peer: true, median: fmtKB(median(rss.floor)), p99: '', noise: range(rss.floor, fmtKB), errors: 0 });
  rows.push({
    what: 'nasauth-web idle RSS', median: fmtKB(idle), p99: '', noise: range(rss.webIdle, fmtKB), ratio: `+${fmtKB(idle - median(rss.floor))}`, errors: 0,
    goal: '≤ 64 MB (a 1 GB box runs everything)', met: idle <= 64 * 1024,
  });
  rows.push({ what: `nasauth-web RSS after ${3 * nHit} requests`, median: fmtKB(median(rss.webAfter)), p99: '', noise: range(rss.webAfter, fmtKB), ratio: `+${fmtKB(median(rss.webAfter) - idle)} over idle`, errors: 0 });
  notes.push(`nasauthd idle beside it (1008 accounts): ${fmtKB(median(rss.daemonIdle))}.`);
  return {
    id: '9', title: TITLE, status: errors ? 'fail' : 'ok', rows, notes, errors, seconds: 0,
    reason: errors ? 'answers were not successful sign-ins or pages' : undefined,
    data: { rss },
    method: [
      `nasauthd (dist/nasauthd.js, device scrypt, ${users.length} bench users + 1000 filler accounts, audit log at ${p.logLevel} to a file) and nasauth-web (dist/nasauth-web.js, plain HTTP on 127.0.0.1: TLS is the same cost for any web server and is left out) as they run on the device (MALLOC_ARENA_MAX=2; nasauth-web with the init script's node flags ${WEB_NODE_OPTS.join(' ')}).`,
      'The client is this process: one keep-alive connection, one request at a time, to each side. Web sign-in = POST /signin with the form and its CSRF token (the token and its cookie fetched once), answered 303 with a session cookie; nasauth-web then made one POST /v1/sessions. The query side is that same POST /v1/sessions, straight. Every reply is checked (303 to /account with a cookie; ok, a token, and `cached` as expected).',
      `Cache miss: a daemon with cache.enabled false, so every sign-in runs scrypt (${nMiss} in a row); cache hit: the default daemon, warmed (${nHit} in a row). The page: GET /account with the session cookie (nasauth-web asks GET /v1/session and GET /v1/password-policy, renders the template) vs GET /v1/session straight. Order alternates between repetitions.`,
      `RSS: VmRSS from /proc, ${SETTLE_MS / 1000} s after start (idle) and after the load; the peer is the bare Node HTTP server of figure 1, idle.`,
    ],
  };
}

if (require.main === module) void main([{ id: '9', title: TITLE, run: figure9 }], false);
