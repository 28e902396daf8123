// Run a small Node script as an unprivileged user (nobody, via setpriv), the way a
// hostile local user would: no capabilities, no supplementary groups. The script is
// plain JavaScript with only Node's built-in modules; it gets its arguments as a JSON
// list in $ARGS and talks back on stdout.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { untapped } from './env';
import { pidGone, waitFor } from './wait';

export const NOBODY = 65534;

export function setprivMissing(): string | null {
  if (process.getuid?.() !== 0) return 'not root (setpriv needs root to drop to nobody)';
  return spawnSync('sh', ['-c', 'command -v setpriv']).status === 0 ? null : 'setpriv (util-linux) is not installed';
}

export interface Unpriv { proc: ChildProcess; out(): string; stop(): Promise<void> }

/** Start `script` (with `args` as JSON.parse(process.env.ARGS)) as uid/gid `uid`. */
export function runAs(script: string, args: unknown[] = [], uid = NOBODY, gid = uid, groups: number[] = []): Unpriv {
  const proc = spawn(...untapped('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, groups.length ? `--groups=${groups.join(',')}` : '--clear-groups', '--inh-caps=-all', '--bounding-set=-all',
    process.execPath, '-e', script]), { cwd: '/', stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ARGS: JSON.stringify(args) } });
  let out = '';
  proc.stdout!.on('data', (c) => { out += c; });
  proc.stderr!.on('data', (c) => { out += c; });
  return {
    proc,
    out: () => out,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGKILL');
      await waitFor('the unprivileged process to exit', () => proc.exitCode !== null || proc.signalCode !== null || pidGone(proc.pid!));
    },
  };
}

/** Run `script` as `uid` to its end; resolves with its output and exit code. */
export function runAsToEnd(script: string, args: unknown[] = [], uid = NOBODY): Promise<{ code: number | null; out: string }> {
  const u = runAs(script, args, uid);
  return new Promise((resolve) => u.proc.on('close', (code) => resolve({ code, out: u.out() })));
}

/**
 * A connection hog: keeps `n` connections open to a Unix socket, writes `hex` on each
 * every `everyMs` (a PING frame, an HTTP request), reconnects whatever the server closes,
 * and prints "held N" every 100 ms.
 */
export const HOG = `
const net = require('net');
const [path, n, everyMs, hex] = JSON.parse(process.env.ARGS);
const msg = Buffer.from(hex, 'hex');
const socks = new Set();
function open() {
  const s = net.connect(path);
  s.on('connect', () => { socks.add(s); s.write(msg); });
  s.on('data', () => {});
  s.on('error', () => {});
  s.on('close', () => { socks.delete(s); setTimeout(open, 10); });
}
for (let i = 0; i < Number(n); i++) open();
setInterval(() => { for (const s of socks) s.write(msg); }, Number(everyMs));
setInterval(() => process.stdout.write('held ' + socks.size + '\\n'), 100);
`;

/** The last "held N" a HOG printed. */
export const held = (u: Unpriv) => Number([...u.out().matchAll(/held (\d+)/g)].pop()?.[1] ?? 0);
