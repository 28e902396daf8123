// Waiting for something asynchronous (a log line, another process's output, a file, a
// process that exits) with a deadline. A single read right after the action is a race:
// the daemon writes its audit line after it answers, afpd and smbd log when they like.

export const DEFAULT_WAIT_MS = 10_000;

/** Poll `probe` until it returns a truthy value; throw with `what` after `ms`. */
export async function waitFor<T>(what: string, probe: () => T | Promise<T>, ms = DEFAULT_WAIT_MS, everyMs = 20): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v as NonNullable<T>;
    } catch (e) { last = e; }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Wait until `text()` matches `re` (a log that grows); returns the match. */
export function waitForMatch(what: string, text: () => string, re: RegExp, ms = DEFAULT_WAIT_MS): Promise<RegExpMatchArray> {
  return waitFor(what, () => text().match(re), ms);
}

/** Whether a process is gone (exited and reaped, or a zombie nobody will run again). */
export function pidGone(pid: number): boolean {
  try { process.kill(pid, 0); } catch { return true; }
  try {
    const stat = require('node:fs').readFileSync(`/proc/${pid}/stat`, 'utf8') as string;
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch { return true; }
}
