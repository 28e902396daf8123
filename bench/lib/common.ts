// Shared pieces of the benchmark harness: parameters (flags, then env, then defaults),
// statistics, the machine description, the result model, the one printed table and the
// generated docs/benchmarks.md.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { ratioText, renderChart, type Previous } from './chart';
import { goalsOf, type Goal } from './goals';

export const ROOT = resolve(__dirname, '..', '..');
export const DEFAULT_DOC = join(ROOT, 'docs', 'benchmarks.md');
export const DEFAULT_RESULTS = join(ROOT, 'bench', 'results', 'latest.json');

// ---- parameters ------------------------------------------------------------------

export interface Params {
  quick: boolean;
  /** seconds of each measured load interval (figure 1, flood probes, ARM) */
  duration: number;
  /** seconds of warm-up before each measured interval */
  warmup: number;
  /** repetitions of each measured interval (noise = min/max over them) */
  reps: number;
  conns: number[];
  /** PAM transactions per repetition (pam_nasauth, echo floor, pam_permit) */
  pamN: number;
  /** pam_unix+yescrypt transactions per repetition */
  pamUnixN: number;
  /** smbclient runs per backend */
  smbRuns: number;
  /** smbclient logins per backend before the counted runs (the daemon's JIT settles; figure 4) */
  smbWarmup: number;
  /** cache-hit authentications before the "after load" RSS reading (figure 5) */
  auths: number;
  floodConns: number;
  /** flood probe: cache-hit requests per second from "other users" */
  probeRate: number;
  /** daemon starts per store size (figure 6) */
  startReps: number;
  /** daemon starts per store size under qemu-arm (figure 7) */
  armStartReps: number;
  armDuration: number;
  /** deliberately time a wrong password: the correctness checks must fail the figure */
  wrongPassword: boolean;
  /** pin the server to CPU 0 and the load generator to CPU 1 (when there are ≥ 2) */
  pin: boolean;
  figures: string[];
  doc: string;
  results: string;
  /** audit log level of the daemon under test (the device default is info) */
  logLevel: string;
  /** seconds a figure may take before it is stopped and reported as not measured */
  figureTimeout: number;
  /** figure 1: write a V8 CPU profile of the daemon into this folder (node --cpu-prof) */
  cpuProf: string | null;
  /** measure nothing: write the report and the chart again from the results file */
  render: boolean;
}

const FULL: Omit<Params, 'quick' | 'wrongPassword' | 'pin' | 'figures' | 'doc' | 'results' | 'logLevel' | 'cpuProf' | 'render'> = {
  duration: 3, warmup: 1, reps: 3, conns: [1, 8, 64], pamN: 2000, pamUnixN: 20, smbRuns: 21, smbWarmup: 80,
  auths: 100_000, floodConns: 64, probeRate: 1000, startReps: 7, armStartReps: 5, armDuration: 3, figureTimeout: 300,
};
const QUICK: typeof FULL = {
  duration: 0.4, warmup: 0.2, reps: 1, conns: [1, 8, 64], pamN: 100, pamUnixN: 2, smbRuns: 2, smbWarmup: 2,
  auths: 2000, floodConns: 32, probeRate: 500, startReps: 2, armStartReps: 1, armDuration: 0.5, figureTimeout: 180,
};

function flagValue(argv: string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${name}`) return argv[i + 1] !== undefined && !argv[i + 1].startsWith('--') ? argv[i + 1] : 'true';
    if (argv[i].startsWith(`--${name}=`)) return argv[i].slice(name.length + 3);
  }
  return undefined;
}
const envName = (flag: string) => `BENCH_${flag.replace(/-/g, '_').toUpperCase()}`;

export const USAGE = `Parameters (flag, or the environment variable BENCH_<FLAG> in upper snake case):
  --quick               tiny N and short intervals (the smoke test's mode)
  --duration S          seconds per measured load interval      (full 3, quick 0.4)
  --warmup S            warm-up seconds before each interval     (full 1, quick 0.2)
  --reps N              repetitions (noise = min/max over them)  (full 3, quick 1)
  --conns 1,8,64        concurrent keep-alive connections (figure 1)
  --pam-n N             PAM transactions per repetition         (full 2000)
  --pam-unix-n N        pam_unix+yescrypt transactions           (full 20)
  --smb-runs N          smbclient runs per backend               (full 21)
  --smb-warmup N        uncounted smbclient logins per backend   (full 80, quick 2)
  --auths N             cache-hit authentications (figure 5)     (full 100000)
  --flood-conns N       wrong-password flood connections         (full 64)
  --probe-rate R        cache-hit probe requests/s during flood  (full 1000)
  --start-reps N        daemon starts per size (figure 6)        (full 7)
  --arm-start-reps N    daemon starts per size under qemu-arm    (full 5)
  --arm-duration S      seconds per interval under qemu-arm      (full 3)
  --figures 1,2,...     only these figures (bench/run.ts)
  --wrong-password      time a wrong password: the checks must count errors and fail
  --no-pin              do not pin server/client to CPUs 0/1
  --log-level L         the daemon's log level (default info, as on the device)
  --figure-timeout S    per-figure time limit                    (full 300, quick 180)
  --cpu-prof DIR        figure 1: the daemon writes a V8 CPU profile there (node --cpu-prof)
  --render              measure nothing: write the report and its chart again from the results
  --doc PATH            the generated report (default docs/benchmarks.md)
  --results PATH        the results file it is generated from (default bench/results/latest.json)
`;

export function params(argv = process.argv.slice(2)): Params {
  if (argv.includes('--help') || argv.includes('-h')) { process.stdout.write(USAGE); process.exit(0); }
  const get = (name: string): string | undefined => flagValue(argv, name) ?? process.env[envName(name)];
  const bool = (name: string) => { const v = get(name); return v !== undefined && v !== '0' && v !== 'false' && v !== ''; };
  const quick = bool('quick');
  const base = quick ? QUICK : FULL;
  const num = (name: string, d: number) => {
    const v = get(name);
    if (v === undefined) return d;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}: expected a number, got ${v}`);
    return n;
  };
  const list = (name: string, d: number[]) => { const v = get(name); return v ? v.split(',').map(Number).filter((x) => x > 0) : d; };
  const pinFlag = get('pin');
  return {
    quick,
    duration: num('duration', base.duration),
    warmup: num('warmup', base.warmup),
    reps: Math.max(1, Math.round(num('reps', base.reps))),
    conns: list('conns', base.conns),
    pamN: Math.max(1, Math.round(num('pam-n', base.pamN))),
    pamUnixN: Math.max(1, Math.round(num('pam-unix-n', base.pamUnixN))),
    smbRuns: Math.max(1, Math.round(num('smb-runs', base.smbRuns))),
    smbWarmup: Math.max(1, Math.round(num('smb-warmup', base.smbWarmup))),
    auths: Math.max(1, Math.round(num('auths', base.auths))),
    floodConns: Math.max(1, Math.round(num('flood-conns', base.floodConns))),
    probeRate: Math.max(1, num('probe-rate', base.probeRate)),
    startReps: Math.max(1, Math.round(num('start-reps', base.startReps))),
    armStartReps: Math.max(1, Math.round(num('arm-start-reps', base.armStartReps))),
    armDuration: num('arm-duration', base.armDuration),
    wrongPassword: bool('wrong-password'),
    pin: !argv.includes('--no-pin') && pinFlag !== '0' && pinFlag !== 'false' && os.cpus().length >= 2,
    figures: (get('figures') ?? '1,2,3,4,5,6,7,8,9,10,11').split(',').map((s) => s.trim()).filter(Boolean),
    doc: resolve(get('doc') ?? DEFAULT_DOC),
    results: resolve(get('results') ?? DEFAULT_RESULTS),
    logLevel: get('log-level') ?? 'info',
    figureTimeout: num('figure-timeout', base.figureTimeout),
    cpuProf: get('cpu-prof') ? resolve(get('cpu-prof')!) : null,
    render: bool('render'),
  };
}

// ---- statistics ------------------------------------------------------------------

export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
export const min = (xs: number[]) => xs.reduce((a, b) => Math.min(a, b), Infinity);
export const max = (xs: number[]) => xs.reduce((a, b) => Math.max(a, b), -Infinity);

export interface LatStats { n: number; p50: number; p99: number; min: number; max: number; mean: number }
/** Latency statistics (ms) of one sample. */
export function latStats(ms: number[]): LatStats {
  const s = Float64Array.from(ms).sort();
  let sum = 0;
  for (const x of s) sum += x;
  return { n: s.length, p50: quantile(s, 0.5), p99: quantile(s, 0.99), min: s[0] ?? NaN, max: s[s.length - 1] ?? NaN, mean: s.length ? sum / s.length : NaN };
}

// ---- formatting ------------------------------------------------------------------

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(1)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}
export function fmtRate(r: number): string {
  if (!Number.isFinite(r)) return '—';
  if (r >= 1000) return `${(r / 1000).toFixed(1)}k/s`;
  if (r >= 10) return `${r.toFixed(0)}/s`;
  return `${r.toFixed(1)}/s`;
}
export function fmtKB(kb: number): string {
  if (!Number.isFinite(kb)) return '—';
  return kb >= 1024 ? `${(kb / 1024).toFixed(1)} MB` : `${kb.toFixed(0)} KB`;
}
export const fmtX = (x: number) => (Number.isFinite(x) ? `${x.toFixed(x < 10 ? 2 : 1)}×` : '—');
export const range = (xs: number[], f: (x: number) => string) => (xs.length > 1 ? `${f(min(xs))}–${f(max(xs))}` : xs.length ? `${f(xs[0])} (1 rep)` : '—');

// ---- the result model ------------------------------------------------------------

export interface Row {
  /** what was measured */
  what: string;
  /** the row is the peer (the floor or the comparison) of the figure */
  peer?: boolean;
  median: string;
  p99: string;
  rate?: string;
  /** min–max over repetitions */
  noise?: string;
  /** ratio to the peer */
  ratio?: string;
  errors: number;
  /** the goal beside this result, and whether it was met */
  goal?: string;
  met?: boolean | null;
}

export interface FigureResult {
  id: string;
  title: string;
  /** 'ok': measured with no error; 'fail': some timed answer was wrong; 'not measured': reason says why */
  status: 'ok' | 'fail' | 'not measured';
  reason?: string;
  rows: Row[];
  notes: string[];
  /** how it was measured, for the report */
  method: string[];
  errors: number;
  seconds: number;
  /** raw numbers, for other figures and for later analysis */
  data?: Record<string, unknown>;
  meta?: RunMeta;
  /** issue 15's goals as ratios to the floor (bench/lib/goals.ts), filled in when the report is written */
  goals?: Goal[];
}

export interface RunMeta {
  date: string; cpu: string; cores: number; ramGB: number; node: string; kernel: string;
  mode: 'full' | 'quick'; load: string; params: string;
}

export function machineMeta(p: Params): RunMeta {
  const cpus = os.cpus();
  const la = os.loadavg().map((x) => x.toFixed(2)).join(' ');
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    ramGB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    mode: p.quick ? 'quick' : 'full',
    load: la,
    params: `duration ${p.duration}s, warmup ${p.warmup}s, reps ${p.reps}, conns ${p.conns.join('/')}, pam-n ${p.pamN}, pam-unix-n ${p.pamUnixN}, smb-runs ${p.smbRuns}, smb-warmup ${p.smbWarmup}, auths ${p.auths}, flood-conns ${p.floodConns}, probe-rate ${p.probeRate}/s, start-reps ${p.startReps}, pin ${p.pin}, log ${p.logLevel}${p.wrongPassword ? ', WRONG PASSWORD (negative control)' : ''}`,
  };
}

export function notMeasured(id: string, title: string, reason: string, method: string[] = []): FigureResult {
  return { id, title, status: 'not measured', reason, rows: [], notes: [], method, errors: 0, seconds: 0 };
}

// ---- processes ---------------------------------------------------------------------

const children = new Set<ChildProcess>();
/** Spawn and remember a child, so that a stopped or timed-out figure leaves nothing running. */
export function track(p: ChildProcess): ChildProcess {
  children.add(p);
  p.once('exit', () => children.delete(p));
  return p;
}
export function killAll() {
  for (const p of children) {
    try { if (p.pid) process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
  }
  children.clear();
}
process.once('exit', killAll);

export function spawnTracked(cmd: string, args: string[], opts: Parameters<typeof spawn>[2] = {}): ChildProcess {
  return track(spawn(cmd, args, opts));
}

export function run(cmd: string, args: string[], opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  return new Promise((res, rej) => {
    const t0 = process.hrtime.bigint();
    const p = spawnTracked(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (c) => { stdout += c; });
    p.stderr!.on('data', (c) => { stderr += c; });
    p.on('error', rej);
    const timer = opts.timeoutMs ? setTimeout(() => { try { p.kill('SIGKILL'); } catch { /* gone */ } }, opts.timeoutMs) : null;
    p.on('close', (code) => {
      if (timer) clearTimeout(timer);
      res({ code, stdout, stderr, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
    });
    p.stdin!.on('error', () => undefined);
    p.stdin!.end(opts.input ?? '');
  });
}

export function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** VmRSS of a process in KB (0 when it cannot be read). */
export function rssKB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch { return 0; }
}

/** The file-backed part of RSS (RssFile: mapped code and data files, e.g. node's own code pages), KB. */
export function rssFileKB(pid: number): number {
  try {
    const m = /^RssFile:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch { return 0; }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU pinning prefix: the server on CPU 0, the load generator on CPU 1. */
export function pinArgs(p: Params, role: 'server' | 'client'): string[] {
  if (!p.pin || !has('taskset')) return [];
  return ['taskset', '-c', role === 'server' ? '0' : '1'];
}

export function withTimeout<T>(ms: number, what: string, f: () => Promise<T>): Promise<T> {
  return new Promise((res, rej) => {
    const t = setTimeout(() => { killAll(); rej(new Error(`${what} timed out after ${Math.round(ms / 1000)} s (--figure-timeout)`)); }, ms);
    f().then((v) => { clearTimeout(t); res(v); }, (e) => { clearTimeout(t); rej(e); });
  });
}

// ---- table and report ---------------------------------------------------------------

const COLS: Array<[string, (f: FigureResult, r: Row) => string]> = [
  ['fig', (f) => f.id],
  ['what', (_f, r) => (r.peer ? `  peer: ${r.what}` : r.what)],
  ['median', (_f, r) => r.median],
  ['p99', (_f, r) => r.p99],
  ['rate', (_f, r) => r.rate ?? ''],
  ['noise (min–max)', (_f, r) => r.noise ?? ''],
  ['vs peer', (_f, r) => r.ratio ?? ''],
  ['errors', (_f, r) => String(r.errors)],
  ['goal', (_f, r) => (r.goal ? `${r.goal} ${verdict(r.met)}` : '')],
];
const verdict = (m: boolean | null | undefined) => (m === true ? '[met]' : m === false ? '[MISSED]' : m === null ? '[n/a]' : '');

export function renderTable(figs: FigureResult[]): string {
  const rows: string[][] = [COLS.map(([h]) => h)];
  for (const f of figs) {
    if (f.status === 'not measured') { rows.push([f.id, `${f.title}: not measured: ${f.reason}`, '', '', '', '', '', '', '']); continue; }
    if (f.status === 'fail') rows.push([f.id, `${f.title}: FAILED (${f.errors} wrong answers timed)${f.reason ? `: ${f.reason}` : ''}`, '', '', '', '', '', String(f.errors), '']);
    for (const r of f.rows) rows.push(COLS.map(([, g]) => g(f, r)));
  }
  const width = COLS.map((_, i) => Math.min(60, Math.max(...rows.map((r) => [...r[i]].length))));
  const line = (r: string[]) => r.map((c, i) => (i === 1 ? c : c).padEnd(width[i])).join('  ').trimEnd();
  return [line(rows[0]), width.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

const mdCell = (s: string) => s.replace(/\|/g, '\\|');

export function renderDoc(figs: FigureResult[], header: RunMeta, previous: Record<string, Previous> = {}, chart = 'benchmarks.svg'): string {
  const o: string[] = [];
  o.push('<!-- GENERATED FILE: written by the benchmark harness (bench/), never edited by hand. Re-run `npm run bench` to regenerate it. -->');
  o.push('# nasauth benchmarks');
  o.push('');
  o.push('> **This file is generated by `npm run bench` (bench/run.ts) from `bench/results/latest.json`. Do not edit it by hand:** run the benchmark again. A single figure can be re-measured with its own script (below); its section is then replaced and dated on its own.');
  o.push('');
  o.push('## Machine and run');
  o.push('');
  o.push('| | |');
  o.push('| --- | --- |');
  o.push(`| CPU | ${header.cpu} |`);
  o.push(`| cores | ${header.cores} |`);
  o.push(`| RAM | ${header.ramGB} GB |`);
  o.push(`| Node | ${header.node} |`);
  o.push(`| kernel | ${header.kernel} |`);
  o.push(`| date | ${header.date} |`);
  o.push(`| mode | ${header.mode} |`);
  o.push(`| load average at start (1/5/15 min) | ${header.load} |`);
  o.push(`| parameters | ${header.params} |`);
  const other = figs.filter((f) => f.meta && f.meta.date !== header.date);
  if (other.length) o.push(`| note | ${other.length === 1 ? `figure ${other[0].id} comes` : `figures ${other.map((f) => f.id).join(', ')} come`} from another run (${other.length === 1 ? 'its date is in its section' : 'their date is in their section'}) |`);
  o.push('');
  o.push('Every timed answer is checked (status, reason, and for cache hits `cached: true` and the right user); a figure that timed a wrong answer is marked FAILED and its numbers are not to be trusted. Latencies are per request, from the client\'s write to the complete reply. "median" and "p99" are the medians over repetitions of each repetition\'s median and 99th percentile; "noise" is min–max over repetitions. The load average above says how busy the machine was with other work at the start.');
  o.push('');
  const goals = figs.flatMap((f) => f.goals ?? []);
  o.push('## Goals: every figure as a ratio to its floor');
  o.push('');
  o.push('Each goal of issue 15 as a ratio to the floor measured in the same run (1 = the floor; lower is better); the two memory figures without a floor as a share of their goal. The chart puts this run beside the previous committed run (`bench/results/latest.json` as it was before this run); the black tick is the goal.');
  o.push('');
  o.push(`![goals as ratios to the floor, this run beside the previous run](${chart})`);
  o.push('');
  o.push('| goal | previous run | this run | goal | verdict |');
  o.push('| --- | ---: | ---: | --- | --- |');
  const r2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '—');
  for (const g of goals) {
    const p = previous[g.key];
    o.push(`| ${g.key.split('.')[0]}. ${mdCell(g.label)} | ${p ? `${r2(p.value)} (${p.date.slice(0, 10)})` : '—'} | ${ratioText(g.value, g.limit)} | ${mdCell(g.goal)} (${r2(g.limit)}${g.unit === 'of goal' ? ' of goal' : '× floor'}) | ${g.met ? 'met' : '**missed**'} |`);
  }
  if (!goals.length) o.push('| (no figure with a goal was measured) | | | | |');
  o.push('');
  o.push('## Summary: every row with a goal');
  o.push('');
  o.push('| figure | result | goal | verdict |');
  o.push('| --- | --- | --- | --- |');
  for (const f of figs) {
    if (f.status === 'not measured') { o.push(`| ${f.id}. ${mdCell(f.title)} | not measured: ${mdCell(f.reason ?? '')} | | n/a |`); continue; }
    for (const r of f.rows.filter((x) => x.goal)) {
      o.push(`| ${f.id}. ${mdCell(f.title)} | ${mdCell(r.what)}: ${mdCell(r.median)}${r.ratio ? `, ${mdCell(r.ratio)} of peer` : ''}${r.rate ? `, ${mdCell(r.rate)}` : ''} | ${mdCell(r.goal!)} | ${f.status === 'fail' ? 'FAILED (wrong answers timed)' : r.met === true ? 'met' : r.met === false ? '**missed**' : 'n/a'} |`);
    }
  }
  o.push('');
  for (const f of figs) {
    o.push(`## Figure ${f.id}. ${f.title}`);
    o.push('');
    if (f.meta && f.meta.date !== header.date) o.push(`Measured ${f.meta.date} (${f.meta.mode} mode, load ${f.meta.load}), on ${f.meta.cpu}, Node ${f.meta.node}.`), o.push('');
    if (f.status === 'not measured') {
      o.push(`**Not measured:** ${f.reason}`);
      o.push('');
    } else {
      if (f.status === 'fail') { o.push(`**FAILED:** ${f.errors} timed answers were wrong${f.reason ? ` (${f.reason})` : ''}; the numbers below are not valid.`); o.push(''); }
      o.push('| what | median | p99 | rate | noise (min–max over reps) | vs peer | errors | goal |');
      o.push('| --- | --- | --- | --- | --- | --- | ---: | --- |');
      for (const r of f.rows) {
        o.push(`| ${r.peer ? '*peer:* ' : ''}${mdCell(r.what)} | ${mdCell(r.median)} | ${mdCell(r.p99)} | ${mdCell(r.rate ?? '')} | ${mdCell(r.noise ?? '')} | ${mdCell(r.ratio ?? '')} | ${r.errors} | ${r.goal ? `${mdCell(r.goal)} ${verdict(r.met)}` : ''} |`);
      }
      o.push('');
    }
    for (const n of f.notes) o.push(`- ${n}`);
    if (f.notes.length) o.push('');
    if (f.method.length) {
      o.push('How:');
      o.push('');
      for (const m of f.method) o.push(`- ${m}`);
      o.push('');
    }
  }
  o.push('## Running it');
  o.push('');
  o.push('```sh');
  o.push('npm run bench                                  # every figure, full mode (about 10 minutes on 2 cores), writes this file');
  o.push('npm run bench -- --quick                       # tiny N, about a minute (what test/bench-smoke.test.ts runs, into a temp folder)');
  o.push('npx ts-node --transpile-only bench/query.ts    # figure 1 alone (likewise miss, pam, smb, memory, startup, arm, log)');
  o.push('npx ts-node --transpile-only bench/run.ts --figures 1,6 --duration 5 --reps 5');
  o.push('```');
  o.push('');
  o.push('```');
  o.push(USAGE.trimEnd());
  o.push('```');
  o.push('');
  return o.join('\n');
}

interface ResultsFile { header: RunMeta; figures: Record<string, FigureResult>; previous?: Record<string, Previous> }

/**
 * Merge this run's figures into the results file (a full run replaces everything; a
 * single figure's script replaces only its own), then regenerate the report from it.
 */
export function writeReport(p: Params, figs: FigureResult[], meta: RunMeta, fullRun: boolean) {
  let old: ResultsFile | null = null;
  try { old = JSON.parse(fs.readFileSync(p.results, 'utf8')); } catch { old = null; }
  // the previous run of each goal: what the results file held before this run (its
  // figures' goals for what this run measures again; its own "previous" for the rest)
  const previous: Record<string, Previous> = { ...(old?.previous ?? {}) };
  for (const f of figs) {
    const before = old?.figures?.[f.id];
    if (!before) continue;
    for (const k of Object.keys(previous)) if (k.split('.')[0] === f.id) delete previous[k];
    for (const g of goalsOf(before)) previous[g.key] = { value: g.value, date: (before.meta?.date ?? old!.header?.date ?? '').slice(0, 19) };
  }
  const all: Record<string, FigureResult> = fullRun ? {} : { ...(old?.figures ?? {}) };
  for (const f of figs) all[f.id] = { ...f, meta };
  for (const f of Object.values(all)) f.goals = goalsOf(f);
  const header = fullRun || !old ? meta : old.header;
  const ordered = Object.values(all).sort((a, b) => Number(a.id) - Number(b.id));
  fs.mkdirSync(dirname(p.results), { recursive: true });
  fs.writeFileSync(p.results, JSON.stringify({ header, figures: all, previous }, null, 1) + '\n');
  fs.mkdirSync(dirname(p.doc), { recursive: true });
  const svg = chartPath(p.doc);
  fs.writeFileSync(svg, renderChart(ordered.flatMap((f) => f.goals ?? []), previous, header.date));
  fs.writeFileSync(p.doc, renderDoc(ordered, header, previous, basename(svg)));
}

/** The chart is written beside the report: docs/benchmarks.md → docs/benchmarks.svg. */
export function chartPath(doc: string): string {
  return doc.replace(/(\.md)?$/, '.svg');
}

/** Run figures, print the one table, write the report; exit 1 when a figure timed wrong answers. */
export async function main(figs: Array<{ id: string; title: string; run: (p: Params) => Promise<FigureResult> }>, fullRun: boolean) {
  const p = params();
  const meta = machineMeta(p);
  if (p.render) {
    writeReport(p, [], meta, false);
    process.stdout.write(`report: ${p.doc}\nchart: ${chartPath(p.doc)}\n(from ${p.results}; nothing measured)\n`);
    process.exit(0);
  }
  const out: FigureResult[] = [];
  const t0 = Date.now();
  for (const f of figs) {
    if (fullRun && !p.figures.includes(f.id)) continue;
    process.stderr.write(`[bench] figure ${f.id}: ${f.title} ...\n`);
    const s0 = Date.now();
    let r: FigureResult;
    try {
      r = await withTimeout(p.figureTimeout * 1000, `figure ${f.id}`, () => f.run(p));
    } catch (e) {
      r = notMeasured(f.id, f.title, `the harness failed: ${(e as Error).message.split('\n').slice(0, 3).join(' ')}`);
      killAll();
    }
    r.seconds = Math.round((Date.now() - s0) / 100) / 10;
    process.stderr.write(`[bench] figure ${f.id}: ${r.status}${r.reason ? ` (${r.reason})` : ''} in ${r.seconds} s\n`);
    out.push(r);
  }
  meta.load = `${meta.load} (end: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')})`;
  const partial = fullRun && p.figures.length < figs.length;
  writeReport(p, out, meta, fullRun && !partial);
  process.stdout.write(`\nnasauth benchmarks — ${meta.cpu}, ${meta.cores} cores, ${meta.ramGB} GB, Node ${meta.node}, ${meta.date}, ${meta.mode} mode, load ${meta.load}\n\n`);
  process.stdout.write(renderTable(out) + '\n\n');
  const goals = out.flatMap((f) => goalsOf(f));
  if (goals.length) process.stdout.write(`goals (ratio to the floor; lower is better):\n${goals.map((g) => `  ${g.met ? 'met   ' : 'MISSED'} ${ratioText(g.value, g.limit).padStart(6)} (goal ${g.limit.toFixed(2)})  ${g.label}`).join('\n')}\n\n`);
  process.stdout.write(`report: ${p.doc}\nresults: ${p.results}\ntotal: ${Math.round((Date.now() - t0) / 1000)} s\n`);
  const failed = out.filter((f) => f.status === 'fail');
  killAll();
  process.exit(failed.length ? 1 : 0);
}

const madeDirs = new Set<string>();
// a figure that failed half-way must not leave its folders behind either
process.on('exit', () => { for (const d of madeDirs) { try { fs.rmSync(d, { recursive: true, force: true }); } catch { /* best effort */ } } });

export function tmpDir(prefix: string): string {
  const d = fs.mkdtempSync(join(os.tmpdir(), `nasauth-bench-${prefix}-`));
  fs.chmodSync(d, 0o755);
  madeDirs.add(d);
  return d;
}
