// Figure 1: the query socket on a cache hit, next to the floor (a bare Node HTTP server
// on a Unix socket that parses the JSON body and answers a fixed small JSON).
//   npx ts-node --transpile-only bench/query.ts [--quick] [--conns 1,8,64] [--duration 3] [--reps 3]
import * as fs from 'node:fs';
import { fmtMs, fmtRate, fmtX, main, median, pinArgs, range, type FigureResult, type Params, type Row } from './lib/common';
import { buildStore, DEVICE_SCRYPT, startDaemon, startFloor, warm } from './lib/daemon';
import { LoadGen, type Expect, type JobResult, type ReqSpec } from './lib/loadgen';

export const TITLE = 'Query socket, cache hit (authenticate over HTTP/1.1 keep-alive on the Unix socket)';
export const BENCH_USERS = Array.from({ length: 8 }, (_, i) => ({ name: `bench${i}`, password: `Bench-pass-${i}x` }));

export interface Series { p50: number[]; p99: number[]; rate: number[]; errors: number; samples: string[]; cpuUs?: number[] }
export const series = (): Series => ({ p50: [], p99: [], rate: [], errors: 0, samples: [], cpuUs: [] });

/** CPU time (user + system, every thread) a process has used, in ms; NaN when unreadable. */
export function cpuMs(pid: number): number {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
  } catch { return NaN; }
}
const CLOCK_TICKS = 100; // sysconf(_SC_CLK_TCK) on Linux
export function add(s: Series, r: JobResult) {
  s.p50.push(r.stats.p50); s.p99.push(r.stats.p99); s.rate.push(r.rate); s.errors += r.errors;
  for (const x of r.errorSamples) if (s.samples.length < 3) s.samples.push(x);
}

export function specs(p: Params, users = BENCH_USERS): ReqSpec[] {
  return users.map((u) => ({ user: u.name, password: p.wrongPassword ? `${u.password}-WRONG` : u.password, service: 'dashboard', source: 'bench-client' }));
}
export const HIT: Expect = { statuses: [200], reasons: ['ok'], cached: true, userIsRequest: true };
export const FLOOR_OK: Expect = { statuses: [200], reasons: ['ok'], cached: true };

/** Measure the daemon's query socket (and the floor) at each concurrency; used by figures 1 and 7. */
export async function measureQuery(p: Params, o: { prefix: string[]; node?: string; duration: number; reps: number; conns: number[]; floor: boolean; readyTimeoutMs?: number; users?: number; quietAt?: number; work?: boolean }) {
  const users = BENCH_USERS.slice(0, o.users ?? BENCH_USERS.length);
  const d = await startDaemon({ store: buildStore({ users, filler: 1000, scrypt: DEVICE_SCRYPT }), prefix: o.prefix, node: o.node, logLevel: p.logLevel, readyTimeoutMs: o.readyTimeoutMs, nodeArgs: p.cpuProf && !o.node ? ['--cpu-prof', '--cpu-prof-dir', p.cpuProf] : [] });
  const floor = o.floor ? await startFloor('http', { prefix: o.prefix, node: o.node, readyTimeoutMs: o.readyTimeoutMs }) : null;
  // experiment: the floor plus the least a cache-hit decision must do (keyed hash, constant-time
  // compare, an audit line per decision, a reply naming the user): bench/lib/floor.js http-work
  const work = o.work ? await startFloor('http-work', { prefix: o.prefix, node: o.node, readyTimeoutMs: o.readyTimeoutMs }) : null;
  // experiment: the same daemon with log.level warn (no audit line per decision), measured in the same repetitions
  const quiet = o.quietAt ? await startDaemon({ store: buildStore({ users, filler: 1000, scrypt: DEVICE_SCRYPT }), prefix: o.prefix, node: o.node, logLevel: 'warn', readyTimeoutMs: o.readyTimeoutMs }) : null;
  // experiment: the same daemon without the query socket's front (node:http reads every request; daemon/http-fast.ts)
  const plain = o.quietAt ? await startDaemon({ store: buildStore({ users, filler: 1000, scrypt: DEVICE_SCRYPT }), prefix: o.prefix, node: o.node, logLevel: p.logLevel, readyTimeoutMs: o.readyTimeoutMs, env: { NASAUTH_QUERY_FRONT: '0' } }) : null;
  const lg = new LoadGen({ cpu: p.pin ? '1' : undefined });
  const out: Record<number, { daemon: Series; floor: Series; quiet: Series; work: Series; plain: Series }> = {};
  try {
    await warm(d.query, users);
    if (quiet) await warm(quiet.query, users);
    if (plain) await warm(plain.query, users);
    for (const c of o.conns) {
      const s = { daemon: series(), floor: series(), quiet: series(), work: series(), plain: series() };
      out[c] = s;
      for (let rep = 0; rep < o.reps; rep++) {
        // alternate the order so that drift hits both alike
        const order: Array<'daemon' | 'floor' | 'quiet' | 'work' | 'plain'> = floor ? (rep % 2 ? ['daemon', 'floor'] : ['floor', 'daemon']) : ['daemon'];
        if (quiet && c === o.quietAt) order.splice(rep % 2 ? 0 : order.length, 0, 'quiet');
        if (plain && c === o.quietAt) order.splice(rep % 2 ? order.length : 0, 0, 'plain');
        if (work) order.splice(rep % 2 ? order.length : 0, 0, 'work');
        for (const who of order) {
          const srv = { daemon: { sock: d.query, pid: d.pid }, quiet: quiet && { sock: quiet.query, pid: quiet.pid }, plain: plain && { sock: plain.query, pid: plain.pid }, floor: floor && { sock: floor.sock, pid: floor.pid }, work: work && { sock: work.sock, pid: work.pid } }[who]!;
          const sock = srv.sock;
          const pid = srv.pid;
          const c0 = cpuMs(pid);
          const r = await lg.run({
            kind: 'closed', socket: sock, conns: c, specs: specs(p, users),
            warmupMs: p.warmup * 1000, durationMs: o.duration * 1000, expect: who === 'floor' ? FLOOR_OK : HIT,
          });
          add(s[who], r);
          // server CPU per answered request over the whole interval (warm-up included)
          const n = r.ok + r.errors;
          if (n > 0) s[who].cpuUs!.push(((cpuMs(pid) - c0) * 1000) / (n * (1 + p.warmup / Math.max(o.duration, 1e-3))));
        }
      }
    }
  } finally {
    lg.close();
    await floor?.stop();
    await work?.stop();
    await quiet?.stop();
    await plain?.stop();
    await d.stop();
  }
  return out;
}

export async function figure1(p: Params): Promise<FigureResult> {
  const prefix = pinArgs(p, 'server');
  const quietAt = p.logLevel === 'info' && p.conns.includes(8) ? 8 : undefined;
  const res = await measureQuery(p, { prefix, duration: p.duration, reps: p.reps, conns: p.conns, floor: true, quietAt, work: true });
  const rows: Row[] = [];
  let errors = 0;
  const notes: string[] = [];
  for (const c of p.conns) {
    const { daemon: d, floor: f } = res[c];
    errors += d.errors + f.errors;
    const r50 = median(d.p50) / median(f.p50);
    const r99 = median(d.p99) / median(f.p99);
    rows.push({ what: `floor: bare Node HTTP server, ${c} conn`, peer: true, median: fmtMs(median(f.p50)), p99: fmtMs(median(f.p99)), rate: fmtRate(median(f.rate)), noise: `p50 ${range(f.p50, fmtMs)}; ${range(f.rate, fmtRate)}`, errors: f.errors });
    const tput = median(d.rate) / median(f.rate);
    const met = tput >= 0.6 && r50 <= 2;
    rows.push({
      what: `nasauthd cache hit, ${c} conn`, median: fmtMs(median(d.p50)), p99: fmtMs(median(d.p99)), rate: fmtRate(median(d.rate)),
      noise: `p50 ${range(d.p50, fmtMs)}; ${range(d.rate, fmtRate)}`, ratio: `${fmtX(tput)} throughput, ${fmtX(r50)} p50, ${fmtX(r99)} p99`, errors: d.errors,
      goal: '≥ 0.6× the floor\'s throughput, p50 ≤ 2× the floor\'s', met,
    });
    const w = res[c].work;
    if (w.rate.length) {
      errors += w.errors;
      const wt = median(w.rate) / median(f.rate);
      rows.push({
        what: `experiment: floor + the least a decision must do (keyed hash, constant-time compare, audit line, reply naming the user), ${c} conn`,
        median: fmtMs(median(w.p50)), p99: fmtMs(median(w.p99)), rate: fmtRate(median(w.rate)), noise: `p50 ${range(w.p50, fmtMs)}; ${range(w.rate, fmtRate)}`,
        ratio: `${fmtX(wt)} throughput, ${fmtX(median(w.p50) / median(f.p50))} p50; nasauthd ${fmtX(median(d.rate) / median(w.rate))} of its throughput`, errors: w.errors,
      });
      const wc = median(w.cpuUs ?? []);
      if (Number.isFinite(wc)) notes.push(`server CPU per request at ${c} conn, the floor + the least a decision must do: ${wc.toFixed(1)} µs`);
    }
    for (const s of d.samples) notes.push(`wrong answer at ${c} conn: ${s}`);
    const dc = median(d.cpuUs ?? []);
    const fc = median(f.cpuUs ?? []);
    if (Number.isFinite(dc) && Number.isFinite(fc)) notes.push(`server CPU per request at ${c} conn (user + system, every thread, /proc): nasauthd ${dc.toFixed(1)} µs, floor ${fc.toFixed(1)} µs: ${fmtX(dc / fc)} (steadier than throughput on a busy machine)`);
  }
  if (quietAt) {
    const q = res[quietAt].quiet;
    const f = res[quietAt].floor;
    errors += q.errors;
    rows.push({
      what: `experiment: nasauthd cache hit, ${quietAt} conn, audit log off (log.level warn)`, median: fmtMs(median(q.p50)), p99: fmtMs(median(q.p99)), rate: fmtRate(median(q.rate)),
      noise: `p50 ${range(q.p50, fmtMs)}; ${range(q.rate, fmtRate)}`, ratio: `${fmtX(median(q.p50) / median(f.p50))} p50, ${fmtX(median(q.p99) / median(f.p99))} p99`, errors: q.errors,
    });
    const pl = res[quietAt].plain;
    errors += pl.errors;
    rows.push({
      what: `experiment: nasauthd cache hit, ${quietAt} conn, without its front (NASAUTH_QUERY_FRONT=0: node:http reads every request)`, median: fmtMs(median(pl.p50)), p99: fmtMs(median(pl.p99)), rate: fmtRate(median(pl.rate)),
      noise: `p50 ${range(pl.p50, fmtMs)}; ${range(pl.rate, fmtRate)}`, ratio: `${fmtX(median(pl.rate) / median(f.rate))} throughput, ${fmtX(median(pl.p50) / median(f.p50))} p50`, errors: pl.errors,
    });
    const plc = median(pl.cpuUs ?? []);
    if (Number.isFinite(plc)) notes.push(`server CPU per request at ${quietAt} conn, nasauthd without its front: ${plc.toFixed(1)} µs`);
    notes.push(`Audit log cost: at ${quietAt} connections ${fmtRate(median(res[quietAt].daemon.rate))} with one pino line per decision (log.level info, the device default), ${fmtRate(median(q.rate))} with log.level warn, measured in the same repetitions (a second daemon, alternating).`);
  }
  return {
    id: '1', title: TITLE, status: errors ? 'fail' : 'ok', rows, notes, errors, seconds: 0,
    reason: errors ? 'answers were not cache-hit successes' : undefined,
    data: res as unknown as Record<string, unknown>,
    method: [
      `The daemon is dist/nasauthd.js (esbuild bundle) with device scrypt parameters (log_n ${DEVICE_SCRYPT.log_n}, r ${DEVICE_SCRYPT.r}), ${BENCH_USERS.length} bench users + 1000 filler accounts, audit log at level ${p.logLevel} to a file (one JSON line per decision, as on the device).`,
      `The client is a separate Node process (bench/lib/loadgen.ts): raw HTTP/1.1 keep-alive over the Unix socket, one request in flight per connection, closed loop, ${p.warmup} s warm-up then ${p.duration} s measured, ${p.reps} repetitions alternating daemon and floor.`,
      `Every reply is parsed and checked: HTTP 200, reason ok, decision allow, cached true, user.name = the requested user (floor: its fixed reply). The cache is warmed with one slow login per user first.`,
      p.pin ? 'Server (daemon or floor) pinned to CPU 0 with taskset, load generator to CPU 1: "on one core" means the daemon process has one core.' : 'No CPU pinning (--no-pin, or fewer than 2 CPUs).',
      'The floor is bench/lib/floor.js: node:http, reads the body, JSON.parse, answers a fixed small JSON; the same framing and the same client.',
      'The experiment row "floor + the least a decision must do" is bench/lib/floor.js http-work: the floor plus what the rules of issue 15 keep on every cache hit (the keyed hash of name and password as daemon/cache.ts computes it, a constant-time compare, one audit line per decision batched to a file, a reply naming the user), without the limiter, the account lookup or the policy. It is a lower bound for any daemon that keeps those checks and reads its requests with node:http, measured in the same repetitions. nasauthd can beat it: its query socket\'s front answers the commonest request without node:http (daemon/http-fast.ts); the row "without its front" is the same daemon with node:http reading every request.',
    ],
  };
}

if (require.main === module) void main([{ id: '1', title: TITLE, run: figure1 }], false);
