// The slow hashes run on libuv's thread pool, and on the device those threads share two
// cores with the event loop that answers cache hits. Under a flood of wrong passwords
// two scrypt threads keep both cores busy, and the kernel gave the event loop only its
// fair third: cache-hit p99 went to 6x its quiet value (docs/performance.md).
//
// So the event loop's thread runs at a higher priority (nice LOOP_NICE, root only; the
// daemon is root on the device): it wins a contended core three to one against a hash
// and gets it back at once when a request arrives; it sleeps otherwise, so the hashes
// keep every idle cycle. The pool itself keeps the ordinary priority, so slow hashes
// (logins that miss the cache, password changes) are not starved by the NAS's other
// services. Nothing else changes: the same hashes, the same bounded queue, the same
// answers.
//
// Linux's setpriority(PRIO_PROCESS, tid) sets one thread, and a new thread inherits its
// creator's value: the pool is started first (its threads keep nice 0), then the main
// thread (tid = pid) is raised. Without the privilege, or elsewhere, nothing is done.
import { setPriority } from 'node:os';
import { stat } from 'node:fs';

/** CFS weighs nice -5 at three times nice 0. */
export const LOOP_NICE = -5;

/** NASAUTH_LOOP_NICE (-20 to 0) when set and valid, else LOOP_NICE; 0 turns it off. */
export function loopNice(env = process.env): number {
  const v = env.NASAUTH_LOOP_NICE;
  if (v === undefined || !/^-?\d{1,2}$/.test(v) || Number(v) > 0 || Number(v) < -20) return LOOP_NICE;
  return Number(v);
}

/**
 * Start the thread pool (a harmless job), then raise the main thread. Call before
 * anything else uses the pool. Returns the nice value now in force for the event loop.
 */
export async function raiseLoopPriority(nice = loopNice()): Promise<number> {
  if (nice === 0 || process.platform !== 'linux') return 0;
  // node:fs's callback form: node:fs/promises would load readline and more for this one call
  await new Promise<void>((res) => stat('/', () => res()));
  try {
    setPriority(process.pid, nice);
    return nice;
  } catch {
    return 0; // not root (development, tests as a user): the ordinary priority
  }
}
