// Run real libpam stacks against pam_nasauth.so without touching the host: the module
// is built from pam/, PAM service files go to a private folder, and pamtester runs in a
// private mount namespace where that folder is bind-mounted over /etc/pam.d (as root;
// the host's /etc is never edited). pamtester's conversation (misc_conv) reads each
// answer as one line from stdin when stdin is not a terminal, so answers are fed as
// lines in prompt order.
import { spawn, spawnSync } from 'node:child_process';
import { tempDir, worldReadableCopy } from './tmp';
import { writeFileSync, chmodSync, rmSync, existsSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { ROOT, type Daemon } from './daemon';
import { encodeReply } from '../../daemon/pam-frame';

export const PAM_DIR = join(ROOT, 'pam');

/** pam_strerror() texts, as pamtester prints them after "pamtester: ". */
export const PAM_TEXT = {
  AUTH_ERR: 'Authentication failure',
  PERM_DENIED: 'Permission denied',
  MAXTRIES: 'Have exhausted maximum number of retries for service',
  NEW_AUTHTOK_REQD: 'Authentication token is no longer valid; new one required',
  AUTHINFO_UNAVAIL: 'Authentication service cannot retrieve authentication info',
  USER_UNKNOWN: 'User not known to the underlying authentication module',
  AUTHTOK_ERR: 'Authentication token manipulation error',
  SERVICE_ERR: 'Error in service module',
  AUTHTOK_RECOVERY_ERR: 'Authentication information cannot be recovered',
} as const;
export const PAM_OK = {
  authenticate: 'pamtester: successfully authenticated',
  acct_mgmt: 'pamtester: account management done.',
  chauthtok: 'pamtester: authentication token altered successfully.',
} as const;

let modulePath: string | null = null;
/** Build the host module once per test process (make -C pam); returns its path. */
export function buildModule(): string {
  if (modulePath) return modulePath;
  const r = spawnSync('make', ['-C', PAM_DIR], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`make -C pam failed:\n${r.stdout}\n${r.stderr}`);
  const triplet = spawnSync('gcc', ['-dumpmachine'], { encoding: 'utf8' }).stdout.trim();
  const built = join(PAM_DIR, 'build', triplet, 'pam_nasauth.so');
  if (!existsSync(built)) throw new Error(`${built} missing after make`);
  // pamtester may run as nobody: the checkout can be in a folder only root can enter
  modulePath = worldReadableCopy(built);
  return modulePath;
}

export interface ModuleOpts { socket: string; priv?: string; args?: string[] }

/** Module arguments for a daemon (or any socket path). */
export function moduleArgs(o: ModuleOpts): string {
  return [`socket=${o.socket}`, ...(o.priv ? [`priv_socket=${o.priv}`] : []), ...(o.args ?? [])].join(' ');
}

/** A plain service file: pam_nasauth alone in every phase, "required". */
export function serviceFile(o: ModuleOpts, phases: Array<'auth' | 'account' | 'password' | 'session'> = ['auth', 'account', 'password']): string {
  const mod = buildModule();
  return phases.map((p) => `${p} required ${mod} ${moduleArgs(o)}\n`).join('');
}

/** A private /etc/pam.d: name → file content. */
export function makePamDir(files: Record<string, string>): string {
  const dir = tempDir('nasauth-pamd-');
  chmodSync(dir, 0o755);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text, { mode: 0o644 });
  return dir;
}

/** Service files for a daemon: the PAM service names the tests use. */
export function daemonPamDir(d: Daemon, args: string[] = [], extra: Record<string, string> = {}): string {
  const o = { socket: d.pam, priv: d.pamPriv, args };
  return makePamDir({ netatalk: serviceFile(o), samba: serviceFile(o), 'nasauth-dashboard': serviceFile({ ...o, args: [...args, 'service=dashboard'] }), ...extra });
}

export interface RunOpts {
  pamd: string;
  service: string;
  user: string;
  ops: string[];
  /** lines answered to the prompts, in order (strings are UTF-8; Buffers are sent as is) */
  input?: Array<string | Buffer>;
  /** run pamtester as this uid/gid (setpriv), not root */
  uid?: number;
  /** wrap pamtester in valgrind with these options */
  valgrind?: string[];
  /** extra bind mounts inside the namespace: [source, target] */
  binds?: Array<[string, string]>;
  env?: Record<string, string>;
}

export interface RunResult { code: number | null; stdout: string; stderr: string; out: string; ms: number }

/** pamtester in a private mount namespace. Resolves when it exits. */
export function pamtester(o: RunOpts): Promise<RunResult> {
  const binds: Array<[string, string]> = [[o.pamd, '/etc/pam.d'], ...(o.binds ?? [])];
  const script = binds.map((_, i) => `mount --bind "$${i * 2 + 1}" "$${i * 2 + 2}" || exit 97`).join(' && ') + ` && shift ${binds.length * 2} && exec "$@"`;
  const cmd: string[] = [];
  if (o.uid !== undefined) cmd.push('setpriv', `--reuid=${o.uid}`, `--regid=${o.uid}`, '--clear-groups');
  if (o.valgrind) cmd.push('valgrind', ...o.valgrind);
  cmd.push('pamtester', '-v', o.service, o.user, ...o.ops);
  const args = ['-m', 'sh', '-c', script, 'sh', ...binds.flat(), ...cmd];
  const input = Buffer.concat((o.input ?? []).map((l) => Buffer.concat([Buffer.isBuffer(l) ? l : Buffer.from(l, 'utf8'), Buffer.from('\n')])));
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    // cwd /: a program run as another uid cannot enter a checkout that only root can
    const p = spawn('unshare', args, { cwd: '/', stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LANG: 'C', LC_ALL: 'C', ...o.env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c) => { stdout += c; });
    p.stderr.on('data', (c) => { stderr += c; });
    p.on('error', reject);
    p.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      resolve({ code, stdout, stderr, out: stdout + stderr, ms });
    });
    p.stdin.on('error', () => { /* pamtester may exit before reading everything */ });
    p.stdin.end(input);
  });
}

/** The PAM error pamtester printed ("pamtester: <text>"), or 'ok' when every op passed. */
export function outcome(r: RunResult): string {
  const lines = r.out.split('\n').map((l) => l.replace(/^.*?pamtester: /, 'pamtester: '));
  for (const l of lines) {
    for (const [k, v] of Object.entries(PAM_TEXT)) if (l.includes(`pamtester: ${v}`)) return k;
  }
  return r.code === 0 ? 'ok' : `unknown (exit ${r.code}): ${r.out.slice(-300)}`;
}

// ---- fake servers for transport failures --------------------------------------------

export interface FakeServer { path: string; received(): number; close(): Promise<void> }

/** A Unix socket server whose behaviour on each connection is `onConn`. */
export function fakeServer(dir: string, name: string, onConn: (s: Socket, data: Buffer) => void): Promise<FakeServer> {
  const path = join(dir, name);
  let received = 0;
  const conns = new Set<Socket>();
  const srv: Server = createServer((s) => {
    conns.add(s);
    s.on('close', () => conns.delete(s));
    s.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    s.on('data', (c) => { received += c.length; buf = Buffer.concat([buf, c]); onConn(s, buf); });
  });
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(path, () => {
      chmodSync(path, 0o666);
      resolve({
        path,
        received: () => received,
        close: () => new Promise((r) => { for (const c of conns) c.destroy(); srv.close(() => r()); }),
      });
    });
  });
}

export function rmrf(p: string) {
  try { rmSync(p, { recursive: true, force: true }); } catch { /* best effort */ }
}

/**
 * A server run by another uid (a non-root process that planted a socket where the
 * daemon's should be). It answers "ok" to everything; `received()` counts the bytes
 * it got, reported by the child over stdout.
 */
export async function foreignServer(dir: string, name: string, uid: number): Promise<FakeServer> {
  const { mkdirSync, chownSync } = await import('node:fs');
  const { spawn } = await import('node:child_process');
  const sub = join(dir, `foreign-${uid}`);
  mkdirSync(sub, { recursive: true, mode: 0o755 });
  chownSync(sub, uid, uid);
  const path = join(sub, name);
  const ok = encodeReply(0, 0, 'ok').toString('hex');
  const script = `const net=require('net');const ok=Buffer.from('${ok}','hex');
    net.createServer((s)=>{s.on('error',()=>{});s.on('data',(c)=>{process.stdout.write(c.length+'\\n');s.end(ok);});})
      .listen(${JSON.stringify(path)},()=>{require('fs').chmodSync(${JSON.stringify(path)},0o666);process.stdout.write('ready\\n');});`;
  // cwd: the checkout may be a folder this uid cannot enter (node would exit at once).
  // Through env -i: tap's process-info hook adds its loader (inside the checkout) to every
  // node child it sees, and this uid may not be able to read it.
  const child = spawn('env', ['-i', `PATH=${process.env.PATH ?? '/usr/bin:/bin'}`, process.execPath, '-e', script], { uid, gid: uid, cwd: sub, stdio: ['ignore', 'pipe', 'inherit'] });
  let received = 0;
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      for (const line of c.toString().split('\n')) {
        if (line === 'ready') resolve();
        else if (/^\d+$/.test(line)) received += Number(line);
      }
    });
    child.on('exit', (code) => reject(new Error(`foreign server exited ${code}`)));
  });
  return {
    path,
    received: () => received,
    close: () => new Promise((r) => { child.once('exit', () => r()); child.kill(); }),
  };
}
