// nasauth-web for tests: the bundle (dist/nasauth-web.js, as shipped) on 127.0.0.1 and
// an ephemeral port, talking to a test daemon's query socket; and Debian's chromium
// driven by playwright-core (never a downloaded browser).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { ROOT, ensureBuilt, type Daemon } from './daemon';
import { waitFor, pidGone } from './wait';
import { untapped, type Missing } from './env';
import { tempDir, worldReadableCopy } from './tmp';

export const WEB = join(ROOT, 'dist', 'nasauth-web.js');
let webCopy: string | null = null;
/**
 * The built nasauth-web bundle, copied where every uid can read it: with --user its
 * server runs as that user (node <bundle>), and the checkout may lie in a 0700 folder.
 */
export function runnableWeb(): string {
  ensureBuilt();
  return (webCopy ??= worldReadableCopy(WEB));
}
export const WEB_CERT = join(ROOT, 'dist', 'nasauth-web-cert.js');
export const CHROMIUM = '/usr/bin/chromium';

export interface Web {
  url: string;
  /** the process that serves (as root with --user: the one the launcher started, as that user) */
  pid: number;
  proc: ChildProcess;
  logs(): string;
  stop(): Promise<void>;
}

/** Start nasauth-web; `args` are extra flags (--user, --cert/--key, --listen). */
export async function startWeb(d: Pick<Daemon, 'query'>, args: string[] = []): Promise<Web> {
  ensureBuilt();
  const listen = args.includes('--listen') ? [] : ['--listen', '127.0.0.1:0'];
  // untapped: with --user the server runs as another uid, which cannot read tap's loader in a 0700 checkout
  const proc = spawn(...untapped(process.execPath, [runnableWeb(), ...listen, '--query-socket', d.query, '--site', 'Family NAS', ...args]), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (c) => { out += c; });
  proc.stderr!.on('data', (c) => { out += c; });
  // poll the log for the ready line, with a deadline. With --user the launcher exits 0
  // once it has handed over; any other exit before the ready line fails at once.
  const ready = await new Promise<{ url: string; pid: number }>((resolve, reject) => {
    const iv = setInterval(() => {
      const m = /"event":"ready".*?"pid":(\d+),"url":"([^"]+)"/.exec(out);
      if (m) { done(); resolve({ pid: Number(m[1]), url: m[2] }); }
    }, 20);
    const timer = setTimeout(() => { done(); proc.kill('SIGKILL'); reject(new Error(`nasauth-web not ready after 15 s:\n${out}`)); }, 15_000);
    const onExit = (c: number | null) => { if (c !== 0) { done(); reject(new Error(`nasauth-web exited (${c}) before it was ready:\n${out}`)); } };
    const done = () => { clearInterval(iv); clearTimeout(timer); proc.off('exit', onExit); };
    proc.on('exit', onExit);
  });
  return {
    url: ready.url, pid: ready.pid, proc, logs: () => out,
    async stop() {
      try { process.kill(ready.pid, 'SIGTERM'); } catch { /* gone */ }
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await waitFor('nasauth-web gone', () => pidGone(ready.pid) && (proc.exitCode !== null || proc.signalCode !== null));
    },
  };
}

/** Why the browser tests cannot run here, or null (both are installed by the test command). */
export function chromiumMissing(): Missing | null {
  if (!existsSync(CHROMIUM)) return { what: 'chromium is not installed (/usr/bin/chromium; scripts/ensure-deps.sh installs it)', installable: true };
  try { require.resolve('playwright-core'); } catch { return { what: 'playwright-core is not installed (npm ci)', installable: true }; }
  return null;
}

/** Flags that keep chromium off the network (this machine's network refuses it anyway). */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-default-apps', '--no-default-browser-check'];

/** A headless chromium; closed at the test's teardown. Each context is a fresh profile of cookies. */
export async function launchChromium(t: Test) {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  t.teardown(() => browser.close());
  return browser;
}

/**
 * Where screenshots go: a temp folder removed at teardown, or NASAUTH_KEEP_SCREENSHOTS=DIR
 * (kept, for a person to look at).
 */
export function screenshotDir(t: Test): string {
  const keep = process.env.NASAUTH_KEEP_SCREENSHOTS;
  if (keep) { mkdirSync(keep, { recursive: true }); return keep; }
  const dir = tempDir('nasauth-shots-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
