// Test harness: a real smbd (Debian's) on 127.0.0.1 and a private port, reading its
// accounts from a test nasauthd's LDAP view (or from its own tdbsam, for comparison).
//
// Nothing on the host changes: smbd runs in a private mount namespace (unshare -m) in
// which the daemon's extrausers folder is bind-mounted on /var/lib/extrausers and a
// private nsswitch.conf ("files extrausers") on /etc/nsswitch.conf. Its smb.conf is
// derived from sysroot/etc/samba/smb.conf with private state/lock/private/cache folders.
// smbd is the leader of its own session and process group (spawn detached); stop()
// signals that group and waits until no process of the session is left.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { tempDir } from './tmp';
import { needRoot, type Missing } from './env';
import { pinMountNs, type PinnedNs } from './mntns';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '..', '..');
export const SYSROOT_SMB_CONF = join(ROOT, 'sysroot', 'etc', 'samba', 'smb.conf');
export const CHECK_PASSWORD_SCRIPT = join(ROOT, 'sysroot', 'etc', 'samba', 'nasauth-check-password');
export const PORT_MIN = 14450;
export const PORT_MAX = 14460;

/** What the Samba tests need and is missing here, or null. */
export function sambaMissing(): Missing | null {
  if (process.getuid?.() !== 0) return needRoot();
  for (const b of ['smbd', 'smbclient', 'rpcclient', 'smbpasswd', 'unshare']) {
    if (spawnSync('sh', ['-c', `command -v ${b}`]).status !== 0) return { what: `${b} is not installed`, installable: true };
  }
  if (!fs.existsSync('/var/lib/extrausers')) return { what: 'libnss-extrausers is not installed (/var/lib/extrausers missing)', installable: true };
  const mod = /MODULESDIR:\s*(\S+)/.exec(spawnSync('smbd', ['-b'], { encoding: 'utf8' }).stdout ?? '')?.[1];
  if (!mod || !fs.existsSync(join(mod, 'vfs', 'fruit.so'))) return { what: 'Samba\'s vfs modules (fruit, streams_xattr) are not installed: apt-get install samba-vfs-modules', installable: true };
  return null;
}

export interface SambaOptions {
  port?: number;
  /** 'ldapsam' (nasauthd's LDAP view, the product) or 'tdbsam' (Samba's own, for comparison) */
  backend?: 'ldapsam' | 'tdbsam';
  /** the daemon's ldapi socket and bind secret (ldapsam) */
  ldapi?: string;
  bindSecret?: string;
  suffix?: string;
  bindDn?: string;
  /** the daemon's extrausers folder (passwd, group) */
  nssDir: string;
  /** smbd debug level (1 default) */
  debug?: number;
  /** [global] options added or replaced */
  global?: Record<string, string>;
}

export interface Samba {
  dir: string; port: number; conf: string; pid: number; proc: ChildProcess;
  publicDir: string; tmDir: string;
  logs(): string;
  /** run a command inside a namespace with the same NSS view as smbd */
  inNs(cmd: string[], input?: string): { status: number | null; stdout: string; stderr: string };
  stop(): Promise<void>;
}

function encodeLdapi(path: string): string {
  return `ldapi://${path.replace(/\//g, '%2f')}`;
}

/** sysroot's smb.conf with [global] options replaced and share paths moved into `dir`. */
export function deriveConf(base: string, global: Record<string, string>, paths: Record<string, string>): string {
  const out: string[] = [];
  let section = '';
  const seen = new Set<string>();
  const lowerGlobal = new Map(Object.entries(global).map(([k, v]) => [k.toLowerCase(), [k, v] as const]));
  const flushGlobal = () => {
    for (const [k, [orig, v]] of lowerGlobal) if (!seen.has(k)) out.push(`   ${orig} = ${v}`);
  };
  for (const line of base.split('\n')) {
    const sec = /^\s*\[([^\]]+)\]/.exec(line);
    if (sec) {
      if (section === 'global') flushGlobal();
      section = sec[1].toLowerCase();
      out.push(line);
      continue;
    }
    const kv = /^\s*([^#;=][^=]*?)\s*=\s*(.*)$/.exec(line);
    if (kv && section === 'global' && lowerGlobal.has(kv[1].toLowerCase())) {
      const [orig, v] = lowerGlobal.get(kv[1].toLowerCase())!;
      seen.add(kv[1].toLowerCase());
      out.push(`   ${orig} = ${v}`);
      continue;
    }
    if (kv && kv[1].toLowerCase() === 'path' && paths[section]) { out.push(`   path = ${paths[section]}`); continue; }
    out.push(line);
  }
  if (section === 'global') flushGlobal();
  return out.join('\n');
}

function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = net.createServer();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });
}

/** A port of the range that is free now (from a random start: test files run in parallel). */
export async function freePort(skip: Set<number> = new Set()): Promise<number> {
  const n = PORT_MAX - PORT_MIN + 1;
  const start = Math.floor(Math.random() * n);
  for (let k = 0; k < n; k++) {
    const p = PORT_MIN + ((start + k) % n);
    if (!skip.has(p) && await portFree(p)) return p;
  }
  throw new Error(`no free port in ${PORT_MIN}-${PORT_MAX}`);
}

/**
 * The inode of the socket listening on 127.0.0.1:port (from /proc/net/tcp), or null.
 * "Free" was only true when freePort looked: another test file's smbd may have taken the
 * port since, and then a connection to it reaches that smbd, not ours.
 */
function listenerInode(port: number): string | null {
  const hex = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === hex && f[3] === '0A') return f[9];
  }
  return null;
}

/** Whether one of `pids` holds the socket with this inode. */
function heldBy(inode: string, pids: number[]): boolean {
  const want = `socket:[${inode}]`;
  for (const p of pids) {
    let fds: string[];
    try { fds = fs.readdirSync(`/proc/${p}/fd`); } catch { continue; }
    for (const fd of fds) { try { if (fs.readlinkSync(`/proc/${p}/fd/${fd}`) === want) return true; } catch { /* closed */ } }
  }
  return false;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((res) => {
    const c = net.connect(port, '127.0.0.1');
    c.once('connect', () => { c.destroy(); res(true); });
    c.once('error', () => res(false));
  });
}

/**
 * Processes of one smbd run: its session (smbd, per-client children) and everything in
 * its private mount namespace (samba-dcerpcd and rpcd_* start their own sessions).
 */
export function runPids(sid: number, mntNs: string | null): number[] {
  const out: number[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (f[0] === 'Z') continue;
      if (Number(f[3]) === sid || (mntNs !== null && fs.readlinkSync(`/proc/${p}/ns/mnt`) === mntNs)) out.push(Number(p));
    } catch { /* gone */ }
  }
  return out;
}

export async function startSamba(o: SambaOptions): Promise<Samba> {
  const tried = new Set<number>();
  for (let attempt = 1; ; attempt++) {
    const port = o.port ?? await freePort(tried);
    tried.add(port);
    const r = await startSambaOn(o, port);
    if (r !== 'port taken') return r;
    if (o.port !== undefined || attempt >= 5) throw new Error(`another process took port ${port} before smbd could (ports ${PORT_MIN}-${PORT_MAX})`);
  }
}

async function startSambaOn(o: SambaOptions, port: number): Promise<Samba | 'port taken'> {
  const dir = tempDir('nasauth-smb-');
  fs.chmodSync(dir, 0o755);
  const sub = (n: string, mode = 0o755) => { const p = join(dir, n); fs.mkdirSync(p, { recursive: true, mode }); fs.chmodSync(p, mode); return p; };
  const [state, lock, priv, cache, pidDir, ncalrpc] = ['state', 'lock', 'private', 'cache', 'pid', 'ncalrpc'].map((n) => sub(n, n === 'private' ? 0o700 : 0o755));
  const publicDir = sub('shares/Public', 0o1777);
  const tmDir = sub('shares/TimeMachine', 0o1777);
  const backend = o.backend ?? 'ldapsam';
  const global: Record<string, string> = {
    'smb ports': String(port),
    interfaces: '127.0.0.1',
    'bind interfaces only': 'yes',
    'disable netbios': 'yes',
    'lock directory': lock,
    'state directory': state,
    'cache directory': cache,
    'private dir': priv,
    'pid directory': pidDir,
    'ncalrpc dir': ncalrpc,
    'log file': join(dir, 'log.%m'),
    'usershare path': '',
    'smb passwd file': join(priv, 'smbpasswd'),
    'log level': String(o.debug ?? 1),
    ...(backend === 'ldapsam'
      ? {
        'passdb backend': `ldapsam:${encodeLdapi(o.ldapi!)}`,
        'ldap suffix': o.suffix ?? 'dc=nas,dc=local',
        'ldap admin dn': o.bindDn ?? 'cn=samba,dc=nas,dc=local',
        'check password script': `${process.execPath} ${CHECK_PASSWORD_SCRIPT} ${o.ldapi}`,
      }
      : { 'passdb backend': `tdbsam:${join(priv, 'passdb.tdb')}`, 'check password script': '' }),
    ...o.global,
  };
  const conf = join(dir, 'smb.conf');
  fs.writeFileSync(conf, deriveConf(fs.readFileSync(SYSROOT_SMB_CONF, 'utf8'), global, { public: publicDir, timemachine: tmDir }));
  const nsswitch = join(dir, 'nsswitch.conf');
  fs.writeFileSync(nsswitch, 'passwd: files extrausers\ngroup: files extrausers\nshadow: files\nhosts: files\n');
  const mounts = `mount --bind ${o.nssDir} /var/lib/extrausers && mount --bind ${nsswitch} /etc/nsswitch.conf`;
  const inNs = (cmd: string[], input?: string) => {
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `${mounts} && exec "$@"`, 'sh', ...cmd], { input, encoding: 'utf8' });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  if (backend === 'ldapsam') {
    const r = spawnSync('smbpasswd', ['-c', conf, '-w', o.bindSecret!], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`smbpasswd -w failed: ${r.stderr}${r.stdout}`);
  }
  let out = '';
  const proc = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `${mounts} && exec smbd -F --no-process-group --debug-stdout -d ${o.debug ?? 1} -s ${conf}`], {
    detached: true, stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (c) => { out += c; });
  proc.stderr!.on('data', (c) => { out += c; });
  const pid = proc.pid!;
  let exited = false;
  proc.on('exit', () => { exited = true; });
  // the namespace smbd runs in (unshare has exec'd smbd by the time the port answers)
  let mntNs: string | null = null;
  let pin: PinnedNs | null = null; // keeps mntNs from naming another namespace later (helpers/mntns.ts)
  const stop = async () => {
    const deadline = Date.now() + 10_000;
    try { process.kill(-pid, 'SIGTERM'); } catch { /* gone */ }
    for (const p of runPids(pid, mntNs)) { try { process.kill(p, 'SIGTERM'); } catch { /* gone */ } }
    while (runPids(pid, mntNs).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const p of runPids(pid, mntNs)) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
    while (runPids(pid, mntNs).length) await new Promise((r) => setTimeout(r, 20));
    pin?.release();
    try { fs.rmSync(dir, { recursive: true, force: true }); } catch { /* best effort */ }
  };
  for (let i = 0; ; i++) {
    if (await accepts(port)) break;
    if (exited || i > 300) {
      await stop();
      throw new Error(`smbd did not start on port ${port}:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  pin = pinMountNs(pid);
  mntNs = pin?.name ?? null;
  if (mntNs === fs.readlinkSync('/proc/self/ns/mnt')) { await stop(); throw new Error('smbd is not in a private mount namespace'); }
  // the port answers: make sure it is our smbd that answers (a test file running beside
  // this one may have started its smbd on the same "free" port a moment earlier)
  const inode = listenerInode(port);
  if (!inode || !heldBy(inode, runPids(pid, mntNs))) { await stop(); return 'port taken'; }
  return { dir, port, conf, pid, proc, publicDir, tmDir, logs: () => out, inNs, stop };
}

export interface RunResult { code: number | null; out: string }

/** Run a Samba client tool (no namespace needed: clients do not read NSS for this). */
export function run(cmd: string, args: string[], input?: string): Promise<RunResult> {
  return new Promise((res) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C.UTF-8' } });
    let out = '';
    p.stdout.on('data', (c) => { out += c; });
    p.stderr.on('data', (c) => { out += c; });
    p.on('close', (code) => res({ code, out }));
    p.stdin.end(input ?? '');
  });
}

/** smbclient to a share with NTLMv2 over SMB3; password through the environment, not argv parsing. */
export function smbclient(s: Samba, share: string, user: string, password: string, command = 'ls', extra: string[] = []): Promise<RunResult> {
  return new Promise((res) => {
    const p = spawn('smbclient', [`//127.0.0.1/${share}`, '-p', String(s.port), '-U', user, '-m', 'SMB3', '--option=client min protocol=SMB2_02', '-c', command, ...extra], {
      stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PASSWD: password, LC_ALL: 'C.UTF-8' },
    });
    let out = '';
    p.stdout.on('data', (c) => { out += c; });
    p.stderr.on('data', (c) => { out += c; });
    p.on('close', (code) => res({ code, out }));
  });
}

/** SAMR password change (what Windows and macOS do), through rpcclient chgpasswd3. */
export function chgpasswd(s: Samba, user: string, oldPw: string, newPw: string): Promise<RunResult> {
  return new Promise((res) => {
    const p = spawn('rpcclient', ['127.0.0.1', '-p', String(s.port), '-U', user, '-c', `chgpasswd3 ${user} ${oldPw} ${newPw}`], {
      stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PASSWD: oldPw, LC_ALL: 'C.UTF-8' },
    });
    let out = '';
    p.stdout.on('data', (c) => { out += c; });
    p.stderr.on('data', (c) => { out += c; });
    p.on('close', (code) => res({ code, out }));
  });
}
