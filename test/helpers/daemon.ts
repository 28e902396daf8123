// Start the real daemon (the esbuild bundle, as shipped) on a private folder, and talk
// to it over its real sockets. Every test that needs a daemon uses this.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { atExit, removeDir, tempDir } from './tmp';
import { waitForMatch } from './wait';
import { untapped } from './env';
import { writeFileSync, existsSync, readFileSync, rmSync, chmodSync, readdirSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';

export const ROOT = resolve(__dirname, '..', '..');
export const DAEMON = join(ROOT, 'dist', 'nasauthd.js');
export const CLI = join(ROOT, 'dist', 'nasauth.js');

let built = false;
/**
 * Build the bundle when it is missing or older than the sources (the test command
 * builds it once before tap; this keeps single-file runs honest). The build renames
 * finished files into place, so parallel test files never start half a bundle.
 */
export function ensureBuilt() {
  if (built) return;
  const newest = (dir: string): number => readdirSync(dir, { withFileTypes: true })
    .reduce((m, e) => Math.max(m, e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs), 0);
  const web = join(ROOT, 'dist', 'nasauth-web.js');
  const fresh = existsSync(DAEMON) && existsSync(CLI) && existsSync(web) && Math.min(statSync(DAEMON).mtimeMs, statSync(CLI).mtimeMs, statSync(web).mtimeMs) >= Math.max(newest(join(ROOT, 'daemon')), newest(join(ROOT, 'web')));
  if (!fresh) {
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`build failed: ${r.stderr}`);
  }
  built = true;
}

export interface DaemonOpts {
  /** extra config, deep-merged over the test defaults */
  config?: Record<string, unknown>;
  /** reuse a folder (restart with the same state) */
  dir?: string;
  createAdmin?: boolean;
  env?: Record<string, string>;
  /** root only: run the daemon in a private mount namespace with these bind mounts [host, target] */
  binds?: Array<[string, string]>;
  /** run the daemon under this umask (the init script's is 077) */
  umask?: number;
  /** the script node runs (default dist/nasauthd.js; the init script's is dist/nasauthd-start.js) */
  script?: string;
}

export interface Daemon {
  dir: string; config: string; stateDir: string; runDir: string;
  query: string; pam: string; pamPriv: string; admin: string; ldap: string;
  proc: ChildProcess; pid: number;
  /** log.file of the config (absolute), or null when the daemon logs to stdout */
  logFile: string | null;
  logs(): string; stderr(): string;
  /** Wait (with a deadline) until the daemon's log matches: audit lines are written after the answer. */
  waitLog(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  kill9(): Promise<void>;
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && a[k] && typeof a[k] === 'object' ? merge(a[k] as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

/** Test defaults: cheap scrypt, a tiny state folder, short socket paths. */
export function testConfig(dir: string, extra: Record<string, unknown> = {}, createAdmin = false) {
  return merge({
    version: 1,
    state_dir: join(dir, 'state'),
    run_dir: join(dir, 'run'),
    log: { level: 'info', file: null },
    scrypt: { log_n: 10, r: 8, p: 1, max_in_flight: 2, max_queued: 64 },
    nss: { enabled: true, dir: join(dir, 'nss') },
    first_start: { create_admin: createAdmin },
    password_policy: { min_length: 8, max_length: 255, min_classes: 1, reject_username: true },
    // the refusal delay is tested on its own (core-e2e); elsewhere it would only slow the suite
    rate_limit: { failure_delay_ms: 0 },
  }, extra);
}

export async function startDaemon(opts: DaemonOpts = {}): Promise<Daemon> {
  ensureBuilt();
  const dir = opts.dir ?? tempDir('nasauth-');
  chmodSync(dir, 0o755);
  const config = join(dir, 'nasauth.yaml');
  if (!opts.dir || !existsSync(config) || opts.config) writeFileSync(config, stringify(testConfig(dir, opts.config, opts.createAdmin)));
  let out = '';
  let err = '';
  const script = opts.script ?? DAEMON;
  const plain = opts.umask === undefined ? [process.execPath, script, '--config', config]
    : ['sh', '-c', `umask ${opts.umask.toString(8).padStart(3, '0')}; exec "$@"`, 'sh', process.execPath, script, '--config', config];
  // as on the device: tap's loader in NODE_OPTIONS used the thread pool before the daemon
  // could find the pool's threads (daemon/loop-priority.ts). Same pid: env execs.
  const [cmd, args] = untapped(plain[0], plain.slice(1));
  const argv = [cmd, ...args];
  const q = (x: string) => `'${x.replace(/'/g, `'\\''`)}'`;
  const env = { ...process.env, ...opts.env };
  const proc = opts.binds?.length
    ? spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `${opts.binds.map(([a, b]) => `mount --bind ${q(a)} ${q(b)}`).join(' && ')} && exec ${argv.map(q).join(' ')}`], { stdio: ['ignore', 'pipe', 'pipe'], env })
    : spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env });
  proc.stdout!.on('data', (c) => { out += c; });
  proc.stderr!.on('data', (c) => { err += c; });
  // 'close', not 'exit': then every line the daemon wrote has been read
  const exited = new Promise<number | null>((r) => proc.on('close', (code) => r(code)));
  // a test that failed before its teardown must not leave a daemon running
  atExit(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL'); });
  // with log.file set, the ready line goes to that file (relative paths: to the config's folder)
  const cfgLog = (parse(readFileSync(config, 'utf8'))?.log as { file?: string | null } | undefined)?.file;
  const logFile = cfgLog ? resolve(dir, cfgLog) : null;
  const since = logFile && existsSync(logFile) ? statSync(logFile).size : 0;
  const readyInFile = () => {
    if (!logFile) return false;
    try { return new RegExp(`"event":"ready".*"pid":${proc.pid}[,}]`).test(readFileSync(logFile).subarray(since).toString('utf8')); } catch { return false; }
  };
  await new Promise<void>((res, rej) => {
    const t = setInterval(() => {
      if (out.includes('"event":"ready"') || readyInFile()) { clearInterval(t); res(); }
    }, 10);
    proc.on('exit', (code) => { clearInterval(t); rej(new Error(`nasauthd exited with ${code} before it was ready:\n${err}\n${out}`)); });
    setTimeout(() => { clearInterval(t); rej(new Error(`nasauthd not ready after 15 s:\n${err}\n${out}`)); }, 15000).unref();
  });
  const run = join(dir, 'run');
  const d: Daemon = {
    dir, config, stateDir: join(dir, 'state'), runDir: run,
    query: join(run, 'query.sock'), pam: join(run, 'pam.sock'), pamPriv: join(run, 'pam-priv.sock'), admin: join(run, 'admin.sock'), ldap: join(run, 'ldapi.sock'),
    proc, pid: proc.pid!, logFile,
    logs: () => out, stderr: () => err,
    waitLog: (re, ms) => waitForMatch(`a daemon log line matching ${re}`, () => out, re, ms),
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill(signal);
      return exited;
    },
    async kill9() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGKILL');
      await exited;
    },
  };
  return d;
}

export interface HttpReply { status: number; body: any; text: string; headers: Record<string, unknown> } // eslint-disable-line @typescript-eslint/no-explicit-any

/** One HTTP request over a Unix socket. `body` may be an object (sent as JSON) or raw bytes. */
export function http(socketPath: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpReply> {
  const data = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers: { ...(data ? { 'content-length': String(data.length), 'content-type': 'application/json' } : {}), ...headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = undefined;
        try { parsed = JSON.parse(text); } catch { /* metrics, etc. */ }
        resolve({ status: res.statusCode ?? 0, body: parsed, text, headers: res.headers });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

export function authenticate(d: Daemon, user: string, password: string, service = 'dashboard', source?: string) {
  return http(d.query, 'POST', '/v1/authenticate', { user, password, service, ...(source ? { source } : {}) });
}

export interface CliResult { code: number | null; stdout: string; stderr: string }
/** Run the bundled CLI against a daemon; `input` goes to stdin (passwords). */
export function cli(d: Daemon | null, args: string[], input?: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...(d ? ['--config', d.config] : []), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c) => { stdout += c; });
    p.stderr.on('data', (c) => { stderr += c; });
    p.on('close', (code) => resolve({ code, stdout, stderr }));
    p.stdin.end(input ?? '');
  });
}

/** Add a user through the CLI (the way an admin does it). */
export async function addUser(d: Daemon, name: string, password: string, flags: string[] = []) {
  const r = await cli(d, ['user', 'add', name, ...flags], `${password}\n`);
  if (r.code !== 0) throw new Error(`user add ${name} failed: ${r.stderr}`);
  return r;
}

export function metric(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{')) sum += Number(line.split(' ').pop());
  return sum;
}

export function readStore(d: Daemon) {
  const buf = readFileSync(join(d.stateDir, 'store.json'));
  return JSON.parse(buf.subarray(buf.indexOf(10) + 1).toString('utf8'));
}

/** The first start's one-time password: line 1 of <state>/initial-admin-password (line 2 is a comment), or undefined. */
export function oneTimePassword(d: Daemon): string | undefined {
  const file = join(d.stateDir, 'initial-admin-password');
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n')[0] : undefined;
}

export function cleanup(d: Daemon) {
  removeDir(d.dir);
}
