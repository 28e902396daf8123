// The load generator: a separate process (never the daemon's), driven over IPC by the
// harness. A minimal HTTP/1.1 keep-alive client on raw Unix sockets (one request in
// flight per connection, like a browser or a dashboard backend), so that the client's
// own cost stays small next to the server's. Every answer is checked; a wrong one is
// counted as an error, never as a sample.
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, scrypt } from 'node:crypto';
import * as net from 'node:net';
import { join } from 'node:path';
import { latStats, track, type LatStats } from './common';

export interface Expect {
  statuses: number[];
  reasons: string[];
  cached?: boolean;
  /** the reply's user.name must be the request's user */
  userIsRequest?: boolean;
  /** an "allow" is always an error (flood of wrong passwords) */
  neverAllow?: boolean;
}
export interface ReqSpec { user: string; password: string; service: string; source: string }

export interface HttpJob {
  kind: 'closed' | 'paced' | 'count';
  socket: string;
  path?: string;
  conns: number;
  /** request of connection i: specs[i % specs.length] */
  specs: ReqSpec[];
  /** random user names, sources and passwords per request (the wrong-password flood) */
  flood?: boolean;
  warmupMs: number;
  durationMs: number;
  /** paced: requests per second over all connections */
  rate?: number;
  /** count: this many requests in all (durationMs is then a deadline) */
  total?: number;
  expect: Expect;
}
export interface ScryptJob { kind: 'scrypt'; ln: number; r: number; p: number; parallel: number; warmupMs: number; durationMs: number }
export type Job = HttpJob | ScryptJob;

export interface JobResult {
  stats: LatStats;
  ok: number;
  errors: number;
  errorSamples: string[];
  reasons: Record<string, number>;
  elapsedMs: number;
  /** completed (checked) requests per second */
  rate: number;
}

// ---- client side of the IPC (used by the harness) -------------------------------------

export class LoadGen {
  private proc: ChildProcess;
  private seq = 0;
  private waiting = new Map<number, { res: (r: JobResult) => void; rej: (e: Error) => void }>();
  private ready: Promise<void>;

  constructor(opts: { cpu?: string } = {}) {
    this.proc = track(fork(join(__dirname, 'loadgen.ts'), [], { execArgv: ['-r', 'ts-node/register/transpile-only'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    if (opts.cpu !== undefined) spawnSync('taskset', ['-a', '-p', '-c', opts.cpu, String(this.proc.pid)], { stdio: 'ignore' });
    this.ready = new Promise((res, rej) => {
      this.proc.once('message', () => res());
      this.proc.once('exit', (code) => rej(new Error(`load generator exited with ${code}`)));
    });
    this.ready.catch(() => undefined); // reported by run()
    this.proc.on('message', (m: { id?: number; result?: JobResult; error?: string }) => {
      if (m.id === undefined) return;
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.error) w.rej(new Error(m.error)); else w.res(m.result!);
    });
    this.proc.on('exit', () => { for (const w of this.waiting.values()) w.rej(new Error('load generator died')); this.waiting.clear(); });
  }

  get pid() { return this.proc.pid!; }

  async run(job: Job): Promise<JobResult> {
    await this.ready;
    const id = ++this.seq;
    return new Promise((res, rej) => {
      this.waiting.set(id, { res, rej });
      this.proc.send({ id, job });
    });
  }

  close() { try { this.proc.kill('SIGTERM'); } catch { /* gone */ } }
}

// ---- the generator itself ---------------------------------------------------------------

interface Reply { status: number; body: string }

class Conn {
  private sock: net.Socket;
  private buf: Buffer = Buffer.alloc(0);
  private pending: { res: (r: Reply) => void; rej: (e: Error) => void } | null = null;
  private dead: Error | null = null;
  readonly opened: Promise<void>;

  constructor(path: string) {
    this.sock = net.connect(path);
    this.sock.setNoDelay(true);
    this.opened = new Promise((res, rej) => { this.sock.once('connect', () => res()); this.sock.once('error', rej); });
    this.sock.on('data', (c) => { this.buf = this.buf.length ? Buffer.concat([this.buf, c]) : c; this.parse(); });
    const fail = (e: Error) => { this.dead = e; const p = this.pending; this.pending = null; if (p) p.rej(e); };
    this.sock.on('error', fail);
    this.sock.on('close', () => fail(new Error('connection closed by the server')));
  }

  get alive() { return !this.dead; }

  private parse() {
    if (!this.pending) return;
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = this.buf.toString('latin1', 0, end);
    const m = /content-length:\s*(\d+)/i.exec(head);
    const len = m ? Number(m[1]) : 0;
    if (this.buf.length < end + 4 + len) return;
    const status = Number(head.slice(9, 12));
    const body = this.buf.toString('utf8', end + 4, end + 4 + len);
    this.buf = this.buf.subarray(end + 4 + len);
    const p = this.pending;
    this.pending = null;
    p.res({ status, body });
  }

  request(data: Buffer): Promise<Reply> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise((res, rej) => {
      this.pending = { res, rej };
      this.sock.write(data);
    });
  }

  close() { this.sock.destroy(); }
}

function httpRequest(path: string, body: string): Buffer {
  const b = Buffer.from(body, 'utf8');
  return Buffer.concat([Buffer.from(`POST ${path} HTTP/1.1\r\nHost: nas\r\nContent-Type: application/json\r\nContent-Length: ${b.length}\r\n\r\n`, 'latin1'), b]);
}

export function check(r: Reply, e: Expect, user: string): string | null {
  if (!e.statuses.includes(r.status)) return `HTTP ${r.status}: ${r.body.slice(0, 120)}`;
  let b: { decision?: string; reason?: string; cached?: boolean; user?: { name?: string } };
  try { b = JSON.parse(r.body); } catch { return `not JSON: ${r.body.slice(0, 80)}`; }
  if (e.neverAllow && b.decision === 'allow') return `a wrong password was ALLOWED (${b.reason})`;
  if (!e.reasons.includes(b.reason ?? '')) return `reason ${b.reason}`;
  if ((b.reason === 'ok') !== (b.decision === 'allow')) return `decision ${b.decision} with reason ${b.reason}`;
  if (e.cached !== undefined && b.cached !== e.cached) return `cached ${b.cached}, expected ${e.cached}`;
  if (e.userIsRequest && b.user?.name !== user) return `user ${b.user?.name}, expected ${user}`;
  return null;
}

const now = () => Number(process.hrtime.bigint()) / 1e6;
const rnd = (n: number) => randomBytes(n).toString('hex');

async function runHttp(job: HttpJob): Promise<JobResult> {
  const path = job.path ?? '/v1/authenticate';
  const conns: Conn[] = [];
  for (let i = 0; i < job.conns; i++) conns.push(new Conn(job.socket));
  await Promise.all(conns.map((c) => c.opened));
  const fixed = job.specs.map((s) => ({ s, data: httpRequest(path, JSON.stringify(s)) }));
  const floodSources = Array.from({ length: 2048 }, (_, i) => `flood-src-${i}-${rnd(2)}`);
  const next = (i: number): { user: string; data: Buffer } => {
    if (!job.flood) { const f = fixed[i % fixed.length]; return { user: f.s.user, data: f.data }; }
    const user = `f${rnd(4)}`;
    const src = floodSources[Math.floor(Math.random() * floodSources.length)];
    return { user, data: httpRequest(path, JSON.stringify({ user, password: `wrong-${rnd(6)}`, service: 'dashboard', source: src })) };
  };

  const lat: number[] = [];
  let ok = 0;
  let errors = 0;
  const samples: string[] = [];
  const reasons: Record<string, number> = {};
  const t0 = now();
  const measureFrom = t0 + job.warmupMs;
  const stopAt = measureFrom + job.durationMs;
  let remaining = job.total ?? Infinity;
  let lastDone = measureFrom;
  const interval = job.rate ? (1000 * job.conns) / job.rate : 0;

  const loop = async (i: number) => {
    let conn = conns[i];
    let due = job.kind === 'paced' ? t0 + (interval * i) / job.conns : 0;
    for (;;) {
      if (job.kind === 'paced') {
        const wait = due - now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        due = Math.max(due + interval, now());
      }
      const start = now();
      if (job.kind === 'count' ? remaining <= 0 || start >= stopAt : start >= stopAt) break;
      const counting = job.kind === 'count' || start >= measureFrom;
      if (job.kind === 'count') remaining -= 1;
      const { user, data } = next(i);
      let err: string | null;
      try {
        const r = await conn.request(data);
        err = check(r, job.expect, user);
        if (counting) {
          try { const why = JSON.parse(r.body).reason ?? `http ${r.status}`; reasons[why] = (reasons[why] ?? 0) + 1; } catch { reasons[`http ${r.status}`] = (reasons[`http ${r.status}`] ?? 0) + 1; }
        }
      } catch (e) {
        err = `transport: ${(e as Error).message}`;
        if (!conn.alive) {
          conn = new Conn(job.socket);
          try { await conn.opened; } catch { await new Promise((r) => setTimeout(r, 10)); }
          conns[i] = conn;
        }
      }
      const end = now();
      if (!counting) continue;
      lastDone = Math.max(lastDone, end);
      if (err) { errors += 1; if (samples.length < 5) samples.push(err); } else { ok += 1; lat.push(end - start); }
    }
  };
  await Promise.all(conns.map((_, i) => loop(i)));
  for (const c of conns) c.close();
  const begin = job.kind === 'count' ? t0 : measureFrom;
  const elapsedMs = Math.max(1e-3, lastDone - begin);
  return { stats: latStats(lat), ok, errors, errorSamples: samples, reasons, elapsedMs, rate: ((ok + errors) * 1000) / elapsedMs };
}

async function runScrypt(job: ScryptJob): Promise<JobResult> {
  const N = 2 ** job.ln;
  const opts = { N, r: job.r, p: job.p, maxmem: 256 * N * job.r + 1024 * 1024 };
  const lat: number[] = [];
  const t0 = now();
  const measureFrom = t0 + job.warmupMs;
  const stopAt = measureFrom + job.durationMs;
  let lastDone = measureFrom;
  const one = (): Promise<void> => new Promise((res, rej) => scrypt(Buffer.from('Bench-pass-1'), randomBytes(16), 32, opts, (e) => (e ? rej(e) : res())));
  const loop = async () => {
    for (;;) {
      const s = now();
      if (s >= stopAt) break;
      await one();
      const e = now();
      if (s >= measureFrom) { lat.push(e - s); lastDone = Math.max(lastDone, e); }
    }
  };
  await Promise.all(Array.from({ length: job.parallel }, loop));
  const elapsedMs = Math.max(1e-3, lastDone - measureFrom);
  return { stats: latStats(lat), ok: lat.length, errors: 0, errorSamples: [], reasons: {}, elapsedMs, rate: (lat.length * 1000) / elapsedMs };
}

if (require.main === module && process.send) {
  process.on('message', (m: { id: number; job: Job }) => {
    const p = m.job.kind === 'scrypt' ? runScrypt(m.job) : runHttp(m.job);
    p.then((result) => process.send!({ id: m.id, result }), (e) => process.send!({ id: m.id, error: (e as Error).stack ?? String(e) }));
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ ready: true });
}
