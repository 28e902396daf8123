// One nasauthd per state folder. Two daemons on one store would each acknowledge
// changes the other then overwrites, and the second would take over the first's sockets.
//
// Node has no flock(), so the lock is a listening Unix socket in the state folder
// (0700, root's): while its daemon lives, a connect answers with its pid; when the
// daemon is killed the file stays but nothing answers (ECONNREFUSED), and the next start
// replaces it. bind() is the atomic step: only one process can bind the path. A stale
// file is moved aside before it is removed and checked again under its new name, so two
// starts racing over a stale lock cannot remove each other's live one.
import { createServer, connect, type Server } from 'node:net';
import { linkSync, renameSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export const LOCK_FILE = 'nasauthd.lock';
/** How long to wait for an answer from a lock or socket that accepted a connection. */
const PROBE_MS = 2000;

export class AlreadyRunning extends Error {}

/** Whether something listens on the Unix socket `path`; resolves with what it said first. */
export function probeSocket(path: string): Promise<{ answers: boolean; said: string }> {
  return new Promise((resolve) => {
    const c = connect(path);
    let said = '';
    let done = false;
    const finish = (answers: boolean) => { if (!done) { done = true; c.destroy(); resolve({ answers, said }); } };
    c.on('connect', () => { setTimeout(() => finish(true), said ? 0 : PROBE_MS).unref(); });
    c.on('data', (d) => { said += d.toString('utf8').slice(0, 200); finish(true); });
    c.on('end', () => finish(true));
    // ECONNREFUSED: a file nobody listens on. EAGAIN: a listener with a full backlog (alive).
    c.on('error', (e: NodeJS.ErrnoException) => finish(e.code === 'EAGAIN'));
    setTimeout(() => finish(true), PROBE_MS * 2).unref();
  });
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onErr = (e: Error) => { server.off('listening', onOk); reject(e); };
    const onOk = () => { server.off('error', onErr); resolve(); };
    server.once('error', onErr);
    server.once('listening', onOk);
    // sun_path holds 107 bytes: bind a long path relative to its folder (at start-up,
    // before anything else runs, a chdir there and back is harmless)
    if (Buffer.byteLength(path) > 107) {
      const cwd = process.cwd();
      process.chdir(dirname(path));
      try { server.listen(basename(path)); } finally { process.chdir(cwd); }
    } else server.listen(path);
  });
}

export interface InstanceLock { path: string; release(): void }

/** Take the state folder's lock, or throw AlreadyRunning naming the daemon that holds it. */
export async function lockStateDir(stateDir: string): Promise<InstanceLock> {
  const path = join(stateDir, LOCK_FILE);
  for (let attempt = 0; attempt < 5; attempt++) {
    const server = createServer((s) => { s.on('error', () => undefined); s.end(`nasauthd pid ${process.pid}\n`); });
    server.maxConnections = 8;
    const old = process.umask(0o177);
    try {
      await listen(server, path);
      server.unref(); // the lock must not keep the process alive by itself
      return {
        path,
        release: () => { server.close(); try { unlinkSync(path); } catch { /* gone */ } },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
    } finally {
      process.umask(old);
    }
    const probe = await probeSocket(path);
    if (probe.answers) throw new AlreadyRunning(alreadyMessage(stateDir, probe.said));
    // stale (a killed daemon): move it aside, and remove it only if it is still dead
    const aside = `${path}.stale.${process.pid}`;
    try { renameSync(path, aside); } catch { continue; /* someone else moved it: try again */ }
    const again = await probeSocket(aside);
    if (again.answers) {
      // it came alive in between: another daemon won the race; put its lock back
      try { linkSync(aside, path); } catch { /* it holds the socket either way */ }
      try { unlinkSync(aside); } catch { /* gone */ }
      throw new AlreadyRunning(alreadyMessage(stateDir, again.said));
    }
    try { unlinkSync(aside); } catch { /* gone */ }
  }
  throw new AlreadyRunning(`could not take the lock ${path} (another nasauthd keeps starting on ${stateDir}?)`);
}

function alreadyMessage(stateDir: string, said: string): string {
  const pid = /pid (\d+)/.exec(said)?.[1];
  return `another nasauthd is already running on the state folder ${stateDir}${pid ? ` (pid ${pid})` : ''}; ` +
    'stop it first (/etc/init.d/nasauthd stop); two daemons on one store would lose changes';
}
