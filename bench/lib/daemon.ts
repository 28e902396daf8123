// The daemon under test, as shipped (dist/nasauthd.js), on a private folder, with its
// store written directly (fast for 10k accounts), its audit log going to a file as on
// the device, and readiness judged from outside: the query socket accepts a connection
// and GET /v1/health answers with the expected number of accounts.
import { randomBytes, scryptSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { testConfig } from '../../test/helpers/daemon';
import { emptyStore, encodeStore, type Account, type StoreData } from '../../daemon/store';
import { ntHash } from '../../daemon/password';
import { ROOT, rssKB, sleep, spawnTracked, tmpDir } from './common';

export const DAEMON = join(ROOT, 'dist', 'nasauthd.js');
export const FLOOR = join(ROOT, 'bench', 'lib', 'floor.js');

export interface ScryptParams { log_n: number; r: number; p: number }
/** The device defaults (sysroot/etc/nasauth/nasauth.yaml, the embedded default). */
export const DEVICE_SCRYPT: ScryptParams = { log_n: 14, r: 8, p: 1 };
/** What the tests use (test/helpers/daemon.ts testConfig). */
export const TEST_SCRYPT: ScryptParams = { log_n: 10, r: 8, p: 1 };

export function phc(pw: string, prm: ScryptParams): string {
  const salt = randomBytes(16);
  const N = 2 ** prm.log_n;
  const hash = scryptSync(Buffer.from(pw, 'utf8'), salt, 32, { N, r: prm.r, p: prm.p, maxmem: 256 * N * prm.r + 1024 * 1024 });
  const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '');
  return `$scrypt$ln=${prm.log_n},r=${prm.r},p=${prm.p}$${b64(salt)}$${b64(hash)}`;
}

export interface StoreSpec {
  /** accounts with their own password (real scrypt verifier and NT hash each) */
  users: Array<{ name: string; password: string; services?: string[] }>;
  /** filler accounts, all sharing one scrypt verifier (see below) */
  filler: number;
  scrypt: ScryptParams;
}

const fillerPhc = new Map<string, string>();
/**
 * A store file in the daemon's format (daemon/store.ts encodeStore), written directly
 * instead of through thousands of CLI calls. Filler accounts reuse ONE scrypt PHC string
 * computed once with the configured parameters (so the daemon sees current verifiers and
 * never upgrades them) and carry distinct random NT hashes; each has a uid, rid, e-mail
 * and full name like a real account.
 */
export function buildStore(spec: StoreSpec): StoreData {
  const d = emptyStore();
  const now = Date.now();
  const key = JSON.stringify(spec.scrypt);
  if (spec.filler && !fillerPhc.has(key)) fillerPhc.set(key, phc('Filler-pass-1', spec.scrypt));
  let uid = 1000;
  const add = (name: string, scrypt: string, nt: string, services: string[]) => {
    const a: Account = {
      name, uid: uid++, gid: 100, rid: d.next_rid++, role: 'user', email: `${name}@example.com`, full_name: `Bench ${name}`,
      enabled: true, services, groups: [], verifiers: { scrypt, nt }, must_change_password: false,
      password_changed_at: now, lockout_until: null, created_at: now, version: 1,
    };
    d.accounts[name] = a;
  };
  for (const u of spec.users) add(u.name, phc(u.password, spec.scrypt), ntHash(Buffer.from(u.password)).toString('hex').toUpperCase(), u.services ?? ['smb', 'timemachine', 'afp', 'dashboard']);
  for (let i = 0; i < spec.filler; i++) add(`user${String(i).padStart(5, '0')}`, fillerPhc.get(key)!, randomBytes(16).toString('hex').toUpperCase(), ['smb', 'timemachine', 'afp', 'dashboard']);
  d.generation = 1;
  return d;
}

export function writeStore(stateDir: string, d: StoreData) {
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(join(stateDir, 'store.json'), encodeStore(d), { mode: 0o600 });
}

/**
 * How init.d/nasauthd starts the daemon on the device: its NODE_OPTS and glibc malloc
 * settings, read from the script itself so the benchmark cannot drift from it.
 */
export function initScriptSettings(): { nodeOpts: string[]; env: Record<string, string>; script: string; codeCache: boolean } {
  const text = fs.readFileSync(join(ROOT, 'init.d', 'nasauthd'), 'utf8');
  const get = (k: string) => new RegExp(`^${k}="?([^"\n]*)"?$`, 'm').exec(text)?.[1] ?? '';
  const env: Record<string, string> = {};
  for (const k of ['MALLOC_MMAP_THRESHOLD_', 'MALLOC_ARENA_MAX']) if (get(k)) env[k] = get(k);
  // the script it runs (lib/nasauthd-start.js: the bundle through a V8 code cache) and whether it keeps one
  const script = join(ROOT, 'dist', get('DAEMON').split('/').pop() || 'nasauthd.js');
  return { nodeOpts: get('NODE_OPTS').split(/\s+/).filter(Boolean), env, script, codeCache: get('CODE_CACHE_DIR') !== '' };
}

/**
 * The code cache directory for daemons run by `node` with these options, as the init
 * script's CODE_CACHE_DIR (root's alone, 0700): one per runtime, so that the x86 and
 * the armhf daemons of one run do not replace each other's cache. Made by the first
 * start of each (figure 6 does not count its first start).
 */
const codeCacheDirs = new Map<string, string>();
function codeCacheDir(node: string, opts: string[]): string {
  const key = [node, ...opts].join('\0');
  let d = codeCacheDirs.get(key);
  if (!d) {
    d = tmpDir('cc');
    fs.chmodSync(d, 0o700);
    codeCacheDirs.set(key, d);
  }
  return d;
}

export interface BenchDaemon {
  dir: string; config: string; stateDir: string; nssDir: string;
  query: string; pam: string; pamPriv: string; ldap: string; admin: string; log: string;
  pid: number; accounts: number;
  /** ms from spawn to ready (socket accepts and /v1/health answers) */
  readyMs: number;
  rss(): number;
  stop(): Promise<void>;
}

export interface DaemonOptions {
  store: StoreData;
  scrypt?: ScryptParams & { max_in_flight?: number; max_queued?: number };
  config?: Record<string, unknown>;
  logLevel?: string;
  /** command prefix: taskset, qemu-arm ... */
  prefix?: string[];
  /** the node binary (default: this one) */
  node?: string;
  readyTimeoutMs?: number;
  dir?: string;
  /** extra node options (e.g. --cpu-prof) */
  nodeArgs?: string[];
  /** extra environment of the daemon */
  env?: Record<string, string>;
  /** ready when /v1/health says this many accounts (default: the store's); null: any number */
  readyAccounts?: number | null;
  /** another build of the daemon (default dist/nasauthd.js): A/B comparisons in one run */
  bundle?: string;
}

/** Try to connect to a Unix socket; resolves true once it accepts. */
export function accepts(path: string): Promise<boolean> {
  return new Promise((res) => {
    const c = net.connect(path);
    c.once('connect', () => { c.destroy(); res(true); });
    c.once('error', () => res(false));
  });
}

/** One GET over a Unix socket; the body as text, or null on any failure. */
export function httpGet(path: string, url: string) { return httpReq(path, 'GET', url); }

/** One request over a Unix socket (Connection: close); the body as text, or null on any failure. */
export function httpReq(path: string, method: string, url: string, body?: string): Promise<{ status: number; body: string } | null> {
  return new Promise((res) => {
    const c = net.connect(path);
    let data = '';
    c.once('error', () => res(null));
    let done = false;
    const finish = () => {
      if (done) return;
      const i = data.indexOf('\r\n\r\n');
      if (i < 0) return;
      const len = Number(/content-length:\s*(\d+)/i.exec(data.slice(0, i))?.[1] ?? -1);
      if (len >= 0 && Buffer.byteLength(data.slice(i + 4)) < len) return;
      done = true;
      c.destroy();
      res({ status: Number(data.slice(9, 12)), body: data.slice(i + 4) });
    };
    c.on('data', (x) => { data += x; finish(); });
    c.on('close', () => { finish(); if (!done) res(null); });
    const b = body === undefined ? '' : `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`;
    c.on('connect', () => c.write(`${method} ${url} HTTP/1.1\r\nHost: nas\r\nConnection: close\r\n${b}\r\n${body ?? ''}`));
  });
}

/** Poll until the socket accepts and `check(health body)` holds; ms since t0. */
export async function waitReady(sock: string, t0: bigint, timeoutMs: number, check: (body: string) => boolean, alive: () => boolean): Promise<number> {
  for (;;) {
    if (!alive()) throw new Error('the server exited before it was ready');
    if (Number(process.hrtime.bigint() - t0) / 1e6 > timeoutMs) throw new Error(`not ready after ${timeoutMs} ms`);
    if (await accepts(sock)) {
      const r = await httpGet(sock, '/v1/health');
      let good = false;
      try { good = !!r && r.status === 200 && check(r.body); } catch { good = false; }
      if (good) return Number(process.hrtime.bigint() - t0) / 1e6;
    }
    await sleep(1);
  }
}

export async function startDaemon(o: DaemonOptions): Promise<BenchDaemon> {
  const dir = o.dir ?? tmpDir('d');
  const stateDir = join(dir, 'state');
  const log = join(dir, 'nasauthd.log');
  writeStore(stateDir, o.store);
  const sc = { ...DEVICE_SCRYPT, max_in_flight: 2, max_queued: 32, ...o.scrypt };
  const cfg = testConfig(dir, {
    scrypt: sc,
    first_start: { create_admin: false },
    // the device's refusal delay (the test helper's config turns it off)
    rate_limit: { failure_delay_ms: 500 },
    ...(o.config ?? {}),
    // o.config.log adds to these (log.collapse_seconds), it does not replace the file
    log: { level: o.logLevel ?? 'info', file: log, ...((o.config?.log as object | undefined) ?? {}) },
  });
  const config = join(dir, 'nasauth.yaml');
  fs.writeFileSync(config, stringify(cfg));
  const run = join(dir, 'run');
  const query = join(run, 'query.sock');
  const accounts = Object.keys(o.store.accounts).length;
  const init = initScriptSettings();
  // as the init script runs it (its starter and code cache), unless another build is asked for
  const script = o.bundle ?? init.script;
  const node = o.node ?? process.execPath;
  const cacheEnv: Record<string, string> = !o.bundle && init.codeCache ? { NASAUTH_CODE_CACHE: codeCacheDir(node, [...init.nodeOpts, ...(o.nodeArgs ?? [])]) } : {};
  const argv = [...(o.prefix ?? []), node, ...init.nodeOpts, ...(o.nodeArgs ?? []), script, '--config', config];
  let stderr = '';
  const t0 = process.hrtime.bigint();
  // as init.d/nasauthd starts it on the device: its NODE_OPTS, glibc's mmap threshold fixed, two arenas
  const proc = spawnTracked(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...init.env, ...cacheEnv, ...o.env } });
  proc.stderr!.on('data', (c) => { stderr += c; });
  let exited = false;
  const gone = new Promise<void>((r) => proc.once('exit', () => { exited = true; r(); }));
  let readyMs: number;
  try {
    const want = o.readyAccounts === undefined ? accounts : o.readyAccounts;
    readyMs = await waitReady(query, t0, o.readyTimeoutMs ?? 30_000, (b) => want === null || JSON.parse(b).accounts === want, () => !exited);
  } catch (e) {
    try { proc.kill('SIGKILL'); } catch { /* gone */ }
    throw new Error(`nasauthd did not become ready: ${(e as Error).message}\n${stderr.slice(-2000)}`);
  }
  return {
    dir, config, stateDir, nssDir: join(dir, 'nss'), query, pam: join(run, 'pam.sock'), pamPriv: join(run, 'pam-priv.sock'), ldap: join(run, 'ldapi.sock'), admin: join(run, 'admin.sock'), log,
    pid: proc.pid!, accounts, readyMs,
    rss: () => rssKB(proc.pid!),
    async stop() {
      if (!exited) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => { try { proc.kill('SIGKILL'); } catch { /* gone */ } }, 5000);
        await gone;
        clearTimeout(t);
      }
      if (!o.dir) try { fs.rmSync(dir, { recursive: true, force: true }); } catch { /* best effort */ }
    },
  };
}

export interface FloorServer { pid: number; sock: string; readyMs: number; rss(): number; stop(): Promise<void> }

/** The floor server (bench/lib/floor.js) on a private socket. */
export async function startFloor(mode: 'http' | 'pam' | 'http-work' | 'http-store', o: { prefix?: string[]; node?: string; dir?: string; readyTimeoutMs?: number; nodeArgs?: string[]; env?: Record<string, string>; store?: StoreData } = {}): Promise<FloorServer> {
  const dir = o.dir ?? tmpDir('floor');
  const sock = join(dir, `${mode}-floor.sock`);
  // http-work: its audit log; http-store: the store it reads first (written like the daemon's)
  let extra: string[] = [];
  if (mode === 'http-work') extra = [join(dir, 'audit.log')];
  if (mode === 'http-store') {
    if (!o.store) throw new Error('startFloor http-store needs a store');
    writeStore(join(dir, 'state'), o.store);
    extra = [join(dir, 'state', 'store.json')];
  }
  const argv = [...(o.prefix ?? []), o.node ?? process.execPath, ...(o.nodeArgs ?? []), FLOOR, mode, sock, ...extra];
  const t0 = process.hrtime.bigint();
  const proc = spawnTracked(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'inherit'], ...(o.env ? { env: { ...process.env, ...o.env } } : {}) });
  let exited = false;
  const gone = new Promise<void>((r) => proc.once('exit', () => { exited = true; r(); }));
  const readyMs = mode !== 'pam'
    ? await waitReady(sock, t0, o.readyTimeoutMs ?? 30_000, (b) => JSON.parse(b).reason === 'ok', () => !exited)
    : await (async () => { for (;;) { if (await accepts(sock)) return Number(process.hrtime.bigint() - t0) / 1e6; if (exited) throw new Error('floor exited'); await sleep(1); } })();
  return {
    pid: proc.pid!, sock, readyMs, rss: () => rssKB(proc.pid!),
    async stop() {
      if (!exited) { proc.kill('SIGTERM'); await gone; }
      if (!o.dir) try { fs.rmSync(dir, { recursive: true, force: true }); } catch { /* best effort */ }
    },
  };
}

/** Warm the cache: one (slow) authentication per user; throws unless each is ok. */
export async function warm(sock: string, users: Array<{ name: string; password: string }>, service = 'dashboard') {
  for (const u of users) {
    const body = JSON.stringify({ user: u.name, password: u.password, service, source: 'bench-warm' });
    const r = await httpReq(sock, 'POST', '/v1/authenticate', body);
    if (!r) throw new Error(`warm-up login of ${u.name}: no answer`);
    const j = JSON.parse(r.body);
    if (j.reason !== 'ok') throw new Error(`warm-up login of ${u.name} answered ${j.reason}`);
  }
}
