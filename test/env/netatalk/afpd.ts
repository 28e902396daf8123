// Test harness: a real Netatalk afpd (4.2.x, Debian trixie) in a chroot, for tap tests.
//
// Every startAfpd() call gets its own private mount namespace (unshare -m --propagation private)
// in which the shared, read-only-by-convention chroot ($REPO/.cache/netatalk-trixie, built by
// chroot.sh) is the lower layer of an overlayfs whose upper layer is a per-run folder. So each
// run has its own /etc/pam.d/netatalk, PAM module copy, /etc/passwd+shadow (pam_unix may
// rename files there), afp.conf, volume folder and logs, concurrent runs do not see each
// other, and neither the host nor the shared chroot is changed. Host folders (daemon socket
// folder, extrausers folder) are bind-mounted on top. afpd runs in the foreground (-d) as the
// process whose pid is returned; stop() ends it, its per-session children, and with them the
// namespace.
import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { pinMountNs, type PinnedNs } from '../../helpers/mntns';

export const REPO = path.resolve(__dirname, '../../..');
export const CHROOT_SCRIPT = path.join(__dirname, 'chroot.sh');
export const DEFAULT_CHROOT = path.join(REPO, '.cache', 'netatalk-trixie');
export const RUNS_DIR = path.join(REPO, '.cache', 'afpd-runs');
export const SYSROOT_AFP_CONF = path.join(REPO, 'sysroot', 'etc', 'netatalk', 'afp.conf');
export const SYSROOT_PAM_NETATALK = path.join(REPO, 'sysroot', 'etc', 'pam.d', 'netatalk');
export const PORT_MIN = 10548;
export const PORT_MAX = 10560;
export const SECURITY_DIR = '/usr/lib/x86_64-linux-gnu/security';
/** afpd's log inside the chroot */
export const AFPD_LOG = '/var/log/afpd-test.log';

export const PAM_UNIX_SERVICE = [
  '#%PAM-1.0',
  'auth     required pam_unix.so',
  'account  required pam_unix.so',
  'password required pam_unix.so',
  'session  required pam_permit.so',
  '',
].join('\n');

export interface BindDir {
  /** folder (or file) on the host */
  host: string;
  /** absolute path inside the chroot; created if missing */
  inChroot: string;
  readOnly?: boolean;
}

export interface AfpdOptions {
  /** TCP port on 127.0.0.1, 10548..10560; default: the first one free */
  port?: number;
  /** content of /etc/pam.d/netatalk; default: sysroot/etc/pam.d/netatalk if it exists, else PAM_UNIX_SERVICE */
  pamService?: string;
  /** host path of a PAM module .so, copied to SECURITY_DIR under its own base name */
  pamModule?: string;
  /** host folders to bind-mount into the chroot */
  bindDirs?: BindDir[];
  /** files to place in the chroot before start (path inside chroot -> content) */
  files?: Record<string, string | Buffer>;
  /** shell script run as root inside the chroot (sh -e) before afpd starts, e.g. useradd */
  setup?: string;
  /** extra or overriding [Global] options */
  global?: Record<string, string>;
  /** afpd "log level"; default "default:info" (shows the UAM and PAM lines) */
  logLevel?: string;
  serverName?: string;
  /** afp.conf template; default sysroot/etc/netatalk/afp.conf */
  template?: string;
  /** chroot folder; default: built or reused by chroot.sh */
  chroot?: string;
  /** keep the per-run folder after stop() (for debugging); also env NASAUTH_KEEP_AFPD=1 */
  keepRunDir?: boolean;
  /** how long to wait for the port; default 60 s (afpd generates a 1024-bit DH prime at start) */
  startTimeoutMs?: number;
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface AfpdHandle {
  pid: number;
  port: number;
  /** per-run folder on the host (upper/ holds everything afpd and the setup wrote) */
  runDir: string;
  /** the test volume's path inside the chroot */
  volumePath: string;
  /** the afp.conf that was used */
  afpConf: string;
  /** afpd's log file plus its stderr, as text */
  log(): string;
  /** true while afpd (the parent) runs */
  alive(): boolean;
  /** pids of every process still in this run's mount namespace (afpd + per-session children) */
  processes(): number[];
  /** runs a command inside this run's namespace and chroot (e.g. ["cat", "/etc/shadow"]) */
  exec(argv: string[], input?: string | Buffer): ExecResult;
  /** stops afpd and every process of its namespace; removes the run folder */
  stop(): Promise<void>;
}

/** Builds or reuses the chroot (runs chroot.sh); returns its path. Needs root. */
export function ensureChroot(): string {
  if (process.env.NETATALK_CHROOT && fs.existsSync(path.join(process.env.NETATALK_CHROOT, '.nasauth-stamp'))) {
    return process.env.NETATALK_CHROOT;
  }
  const r = spawnSync('bash', [CHROOT_SCRIPT], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20 * 60_000 });
  if (r.status !== 0) throw new Error(`chroot.sh failed (exit ${r.status}):\n${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  return lines[lines.length - 1];
}

/** Reads the chroot's stamp (versions, build time, size). */
export function chrootStamp(dir = DEFAULT_CHROOT): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(path.join(dir, '.nasauth-stamp'), 'utf8').split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function pickPort(skip: Set<number>): Promise<number> {
  for (let p = PORT_MIN; p <= PORT_MAX; p++) if (!skip.has(p) && (await portFree(p))) return p;
  throw new Error(`no free port in ${PORT_MIN}..${PORT_MAX}`);
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Renders afp.conf from the template: the template's [Global] options are kept, the test's
 * overrides applied, every other section dropped and one private volume added.
 */
export function renderAfpConf(template: string, overrides: Record<string, string>, volume: { name: string; path: string }): string {
  const global: [string, string][] = [];
  let section = '';
  for (const raw of template.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith(';') || line.startsWith('#')) continue;
    const m = /^\[(.*)\]$/.exec(line);
    if (m) {
      section = m[1].trim().toLowerCase();
      continue;
    }
    if (section !== 'global') continue;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    global.push([line.slice(0, eq).trim().toLowerCase(), line.slice(eq + 1).trim()]);
  }
  const merged = new Map<string, string>(global);
  for (const [k, v] of Object.entries(overrides)) merged.set(k.toLowerCase(), v);
  const lines = ['; written by test/env/netatalk/afpd.ts', '[Global]'];
  for (const [k, v] of merged) lines.push(`${k} = ${v}`);
  lines.push('', `[${volume.name}]`, `path = ${volume.path}`, 'cnid scheme = last', '');
  return lines.join('\n');
}

function putFile(root: string, inChroot: string, content: string | Buffer, mode?: number): void {
  const p = path.join(root, inChroot);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, content);
  if (mode !== undefined) fs.chmodSync(p, mode);
}

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function nsInode(pid: number): string | null {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return null;
  }
}

function pidsInNamespace(ns: string): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    if (nsInode(Number(e)) === ns) out.push(Number(e));
  }
  return out;
}

/** pids of afpd processes whose root is inside a per-run folder (default: any run), e.g. left over by a crash. */
export function strayAfpds(runDir: string = RUNS_DIR): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const comm = fs.readFileSync(`/proc/${e}/comm`, 'utf8').trim();
      if (comm !== 'afpd') continue;
      const root = fs.readlinkSync(`/proc/${e}/root`);
      if (root === runDir || root.startsWith(runDir + '/')) out.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return out;
}

export async function startAfpd(opts: AfpdOptions = {}): Promise<AfpdHandle> {
  if (process.getuid?.() !== 0) throw new Error('startAfpd needs root (mount namespaces, chroot)');
  const lower = opts.chroot ?? ensureChroot();
  if (opts.port !== undefined) return startOnce(opts, lower, opts.port);
  // Port picked here: another test file may grab the same free port between our check and
  // afpd's bind, so try the next free port when afpd fails to listen.
  const tried = new Set<number>();
  for (let attempt = 0; ; attempt++) {
    const port = await pickPort(tried);
    tried.add(port);
    try {
      return await startOnce(opts, lower, port);
    } catch (e) {
      if (attempt >= 3 || !/Address already in use|did not listen|exited during start/.test(String(e))) throw e;
    }
  }
}

async function startOnce(opts: AfpdOptions, lower: string, port: number): Promise<AfpdHandle> {
  if (port < PORT_MIN || port > PORT_MAX) throw new Error(`port ${port} is outside ${PORT_MIN}..${PORT_MAX}`);

  fs.mkdirSync(RUNS_DIR, { recursive: true });
  const runDir = fs.mkdtempSync(path.join(RUNS_DIR, `${port}-`));
  const upper = path.join(runDir, 'upper');
  const work = path.join(runDir, 'work');
  const root = path.join(runDir, 'root');
  for (const d of [upper, work, root]) fs.mkdirSync(d);

  const volumePath = `/srv/afp/${path.basename(runDir)}`;
  fs.mkdirSync(path.join(upper, volumePath), { recursive: true, mode: 0o777 });
  fs.chmodSync(path.join(upper, volumePath), 0o777);

  const template = opts.template ?? (fs.existsSync(SYSROOT_AFP_CONF) ? fs.readFileSync(SYSROOT_AFP_CONF, 'utf8') : '[Global]\nuam list = uams_dhx2_pam.so\nset password = yes\n');
  const afpConf = renderAfpConf(
    template,
    {
      'server name': opts.serverName ?? `nasauth-test-${port}`,
      'afp listen': '127.0.0.1',
      'afp port': String(port),
      zeroconf: 'no',
      'log file': AFPD_LOG,
      'log level': opts.logLevel ?? 'default:info',
      ...(opts.global ?? {}),
    },
    { name: 'nasauth-test', path: volumePath },
  );
  putFile(upper, '/etc/netatalk/afp.conf', afpConf);

  const pamService = opts.pamService ?? (fs.existsSync(SYSROOT_PAM_NETATALK) ? fs.readFileSync(SYSROOT_PAM_NETATALK, 'utf8') : PAM_UNIX_SERVICE);
  putFile(upper, '/etc/pam.d/netatalk', pamService, 0o644);
  if (opts.pamModule) {
    putFile(upper, path.posix.join(SECURITY_DIR, path.basename(opts.pamModule)), fs.readFileSync(opts.pamModule), 0o644);
  }
  for (const [p, c] of Object.entries(opts.files ?? {})) putFile(upper, p, c);
  fs.mkdirSync(path.join(upper, 'var/log'), { recursive: true });

  // The shell that builds the namespace, then execs afpd (so the returned pid is afpd's).
  const script: string[] = [
    'set -e',
    `mount -t overlay overlay -o lowerdir=${shq(lower)},upperdir=${shq(upper)},workdir=${shq(work)} ${shq(root)}`,
  ];
  for (const b of opts.bindDirs ?? []) {
    if (!path.isAbsolute(b.inChroot)) throw new Error(`bindDirs.inChroot must be absolute: ${b.inChroot}`);
    const target = path.join(root, b.inChroot);
    const isDir = fs.statSync(b.host).isDirectory();
    script.push(isDir ? `mkdir -p ${shq(target)}` : `mkdir -p ${shq(path.dirname(target))} && touch ${shq(target)}`);
    script.push(`mount --bind ${shq(b.host)} ${shq(target)}`);
    if (b.readOnly) script.push(`mount -o remount,bind,ro ${shq(target)}`);
  }
  if (opts.setup) {
    putFile(upper, '/run/nasauth-test-setup.sh', opts.setup, 0o755);
    script.push(`chroot ${shq(root)} /bin/sh -e /run/nasauth-test-setup.sh`);
  }
  script.push(`exec chroot ${shq(root)} /usr/sbin/afpd -d -F /etc/netatalk/afp.conf`);

  const errPath = path.join(runDir, 'afpd.stderr');
  const errFd = fs.openSync(errPath, 'w');
  const child: ChildProcess = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script.join('\n')], {
    stdio: ['ignore', errFd, errFd],
    detached: false,
  });
  fs.closeSync(errFd);
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not spawn unshare');
  let exited = false;
  let exitInfo = '';
  const exitP = new Promise<void>((resolve) => {
    child.once('exit', (code, sig) => {
      exited = true;
      exitInfo = `exit code ${code}, signal ${sig}`;
      resolve();
    });
  });

  const logPath = path.join(upper, AFPD_LOG);
  const readLog = (): string => {
    let s = '';
    try {
      s += fs.readFileSync(logPath, 'utf8');
    } catch {
      /* not yet written */
    }
    try {
      const e = fs.readFileSync(errPath, 'utf8');
      if (e) s += `\n--- stderr ---\n${e}`;
    } catch {
      /* removed */
    }
    return s;
  };

  let ns: string | null = null;
  let pin: PinnedNs | null = null; // keeps ns from naming another namespace later (helpers/mntns.ts)
  const pinNs = () => {
    if (ns !== null) return;
    const p = pinMountNs(pid);
    if (p && p.name !== nsInode(process.pid)) { pin = p; ns = p.name; } else p?.release();
  };
  const keep = opts.keepRunDir || process.env.NASAUTH_KEEP_AFPD === '1';
  let stopped = false;

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    pinNs();
    const nsNow = ns;
    if (!exited) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
      await Promise.race([exitP, sleep(10_000)]);
      if (!exited) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
        await exitP;
      }
    }
    // per-session children that outlived the parent
    if (nsNow) {
      for (let round = 0; round < 50; round++) {
        const left = pidsInNamespace(nsNow);
        if (left.length === 0) break;
        for (const p of left) {
          try {
            process.kill(p, round < 10 ? 'SIGTERM' : 'SIGKILL');
          } catch {
            /* gone */
          }
        }
        await sleep(100);
      }
    }
    pin?.release();
    if (!keep) fs.rmSync(runDir, { recursive: true, force: true });
  };

  const handle: AfpdHandle = {
    pid,
    port,
    runDir,
    volumePath,
    afpConf,
    log: readLog,
    alive: () => !exited,
    processes: () => (ns ? pidsInNamespace(ns) : []),
    exec: (argv, input) => {
      if (exited) throw new Error('afpd is not running');
      const r = spawnSync('nsenter', ['-t', String(pid), '-m', '--', 'chroot', root, ...argv], {
        input,
        encoding: 'utf8',
        timeout: 60_000,
      });
      return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
    },
    stop,
  };

  // Wait for our afpd: the port accepts and the log says it listens on it.
  const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
  const want = `listening on 127.0.0.1:${port}`;
  for (;;) {
    if (exited) {
      const log = readLog();
      await stop();
      throw new Error(`afpd exited during start (${exitInfo}); log:\n${log}`);
    }
    pinNs();
    if (readLog().includes(want) && (await canConnect(port))) break;
    if (Date.now() > deadline) {
      const log = readLog();
      await stop();
      throw new Error(`afpd did not listen on 127.0.0.1:${port} in time; log:\n${log}`);
    }
    await sleep(50);
  }
  return handle;
}
