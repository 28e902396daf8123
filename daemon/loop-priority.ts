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
// services, except while a flood of wrong passwords lasts (the verifier's pool says so):
// then the pool's threads run at FLOOD_POOL_NICE, behind the event loop, its clients
// and the NAS's file services, and go back to nice 0 when the flood is over. Nothing
// else changes: the same hashes, the same bounded queue, the same answers.
//
// NASAUTH_LOOP_NICE=0 turns both off, NASAUTH_FLOOD_POOL_NICE=0 only the pool's part
// (the benchmark's same-run comparison, bench/miss.ts).
//
// Linux's setpriority(PRIO_PROCESS, tid) sets one thread, and a new thread inherits its
// creator's value: the pool is started first by a harmless job (its threads keep nice
// 0), then the main thread (tid = pid) is raised. The pool's threads are the ones that
// job made: /proc/self/task before and after it, trusted only if exactly the pool's
// size appeared. Going back from nice 19 to 0 needs the same privilege as raising the
// loop, so the pool is only lowered when the loop could be raised. Without the
// privilege, or elsewhere, nothing is done.
import { setPriority } from 'node:os';
import { existsSync, readdirSync, stat } from 'node:fs';

/** CFS weighs nice -5 at three times nice 0. */
export const LOOP_NICE = -5;
/** the pool's threads while a flood of wrong passwords lasts: the lowest there is */
export const FLOOD_POOL_NICE = 19;

/** NASAUTH_LOOP_NICE (-20 to 0) when set and valid, else LOOP_NICE; 0 turns it off. */
export function loopNice(env = process.env): number {
  const v = env.NASAUTH_LOOP_NICE;
  if (v === undefined || !/^-?\d{1,2}$/.test(v) || Number(v) > 0 || Number(v) < -20) return LOOP_NICE;
  return Number(v);
}

/** NASAUTH_FLOOD_POOL_NICE (0 to 19) when set and valid, else FLOOD_POOL_NICE; 0 leaves the pool alone. */
export function floodPoolNice(env = process.env): number {
  const v = env.NASAUTH_FLOOD_POOL_NICE;
  if (v === undefined || !/^\d{1,2}$/.test(v) || Number(v) > 19) return FLOOD_POOL_NICE;
  return Number(v);
}

/** How many threads libuv starts for its pool (uv_threadpool's init: atoi, 1 to 1024, 4 unset). */
export function poolSize(env = process.env): number {
  const v = env.UV_THREADPOOL_SIZE;
  if (v === undefined) return 4;
  const n = Number.parseInt(v, 10);
  return Math.min(1024, Math.max(1, Number.isNaN(n) ? 0 : n));
}

/** The threads that appeared between two listings, if they are exactly the pool. */
export function poolThreads(before: readonly string[], after: readonly string[], size: number): number[] {
  const had = new Set(before);
  const fresh = after.filter((t) => !had.has(t)).map(Number);
  return fresh.length === size && fresh.every((t) => Number.isInteger(t) && t > 0) ? fresh : [];
}

export interface ThreadPriorities {
  /** nice value of the event loop's thread (0: not raised) */
  loop: number;
  /** the pool's thread ids when known and movable; empty: the pool is never lowered */
  pool: number[];
  /** lower the pool for a flood (true) or give it back the ordinary priority (false) */
  floodPool(flooded: boolean): number;
}

const tasks = () => { try { return readdirSync('/proc/self/task'); } catch { return []; } };

/**
 * Start the thread pool (a harmless job), then raise the main thread. Call before
 * anything else uses the pool.
 */
export async function raiseLoopPriority(nice = loopNice(), env = process.env): Promise<ThreadPriorities> {
  const off: ThreadPriorities = { loop: 0, pool: [], floodPool: () => 0 };
  if (nice === 0 || process.platform !== 'linux') return off;
  const before = tasks();
  // node:fs's callback form: node:fs/promises would load readline and more for this one call
  await new Promise<void>((res) => stat('/', () => res()));
  try {
    setPriority(process.pid, nice);
  } catch {
    return off; // not root (development, tests as a user): the ordinary priority
  }
  const lowest = floodPoolNice(env);
  const pool = before.length && lowest ? poolThreads(before, tasks(), poolSize(env)) : [];
  return {
    loop: nice,
    pool,
    floodPool(flooded) {
      const to = flooded ? lowest : 0;
      for (const tid of pool) {
        // a thread id is system-wide: only one still ours is moved (the pool's threads
        // live as long as the process; this is for the day one does not)
        if (!existsSync(`/proc/self/task/${tid}`)) continue;
        try { setPriority(tid, to); } catch { /* gone meanwhile: nothing to move */ }
      }
      return pool.length ? to : 0;
    },
  };
}
