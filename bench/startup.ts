// Figure 6: start to ready for the esbuild bundle as the init script starts it (`node NODE_OPTS dist/nasauthd-start.js --config X`, the code cache)
// with 1k and 10k accounts: from spawn until the query socket accepts a connection and
// GET /v1/health answers with the right account count. Peer: the floor server
// (bench/lib/floor.js, plain JS) started the same way until it answers.
//   npx ts-node --transpile-only bench/startup.ts [--quick] [--start-reps 7]
import { fmtMs, fmtX, main, max, median, min, range, tmpDir, type FigureResult, type Params, type Row } from './lib/common';
import { buildStore, DEVICE_SCRYPT, startDaemon, startFloor } from './lib/daemon';
import * as fs from 'node:fs';
import { BENCH_USERS } from './query';

export const TITLE = 'Start to ready: the daemon as the init script starts it, until the query socket answers /v1/health';

export interface StartTimes { floor: number[]; bySize: Record<number, number[]>; storeFloor?: Record<number, number[]>; fresh?: Record<number, number[]> }

/**
 * Start-to-ready times; used by figures 6 and 7 (with a qemu-arm prefix and the armhf node).
 * Each size starts in its own folder kept from one start to the next, as the device starts
 * the daemon at every boot: the state folder and the NSS files of the last run are there
 * (the store is written again before each start, the same bytes). With `experiments`,
 * also the floor that reads the same store, and starts in a fresh folder each time (no
 * NSS files yet: the first start after an install).
 */
export async function measureStarts(p: Params, reps: number, o: { prefix?: string[]; node?: string; readyTimeoutMs?: number } = {}, experiments = false): Promise<StartTimes> {
  const sizes = [1000, 10000];
  const stores = Object.fromEntries(sizes.map((n) => [n, buildStore({ users: BENCH_USERS, filler: n - BENCH_USERS.length, scrypt: DEVICE_SCRYPT })]));
  const dirs = Object.fromEntries(sizes.map((n) => [n, tmpDir(`start${n}`)]));
  const out: StartTimes = { floor: [], bySize: { 1000: [], 10000: [] }, ...(experiments ? { storeFloor: { 1000: [], 10000: [] }, fresh: { 1000: [], 10000: [] } } : {}) };
  try {
    // one start of each, not counted: the page cache holds node, the bundle and the store
    // afterwards, and each size's folder holds what a run leaves
    await (await startFloor('http', o)).stop();
    for (const n of sizes) await (await startDaemon({ store: stores[n], logLevel: p.logLevel, dir: dirs[n], ...o })).stop();
    for (let rep = 0; rep < reps; rep++) {
      const f = await startFloor('http', o);
      out.floor.push(f.readyMs);
      await f.stop();
      for (const n of sizes) {
        const d = await startDaemon({ store: stores[n], logLevel: p.logLevel, dir: dirs[n], ...o });
        out.bySize[n].push(d.readyMs);
        await d.stop();
        if (!experiments) continue;
        // experiment: the floor that first reads the same store as the daemon must (read, SHA-256, JSON.parse)
        const sf = await startFloor('http-store', { ...o, store: stores[n] });
        out.storeFloor![n].push(sf.readyMs);
        await sf.stop();
        // experiment: a first start (a new folder: no NSS files, no stamp)
        const fr = await startDaemon({ store: stores[n], logLevel: p.logLevel, ...o });
        out.fresh![n].push(fr.readyMs);
        await fr.stop();
      }
    }
  } finally {
    for (const d of Object.values(dirs)) fs.rmSync(d, { recursive: true, force: true });
  }
  return out;
}

export function startRows(t: StartTimes, goal: Record<number, number> | null, label = ''): Row[] {
  const rows: Row[] = [{ what: `floor: bare Node HTTP server${label}`, peer: true, median: fmtMs(median(t.floor)), p99: '', noise: range(t.floor, fmtMs), errors: 0 }];
  for (const n of [1000, 10000]) {
    const xs = t.bySize[n];
    rows.push({
      what: `nasauthd, ${n / 1000}k accounts${label}`, median: fmtMs(median(xs)), p99: '', noise: range(xs, fmtMs), ratio: fmtX(median(xs) / median(t.floor)), errors: 0,
      ...(goal ? { goal: `≤ ${goal[n]}× the floor`, met: median(xs) / median(t.floor) <= goal[n] } : {}),
    });
  }
  for (const n of [1000, 10000]) {
    const xs = t.fresh?.[n];
    if (!xs?.length) continue;
    rows.push({
      what: `experiment: nasauthd's first start, ${n / 1000}k accounts (a new folder: the NSS files rendered and written)${label}`, median: fmtMs(median(xs)), p99: '', noise: range(xs, fmtMs),
      ratio: fmtX(median(xs) / median(t.floor)), errors: 0,
    });
  }
  for (const n of [1000, 10000]) {
    const xs = t.storeFloor?.[n];
    if (!xs?.length) continue;
    rows.push({
      what: `experiment: the floor reading the same ${n / 1000}k-account store first (read, SHA-256, JSON.parse)${label}`, median: fmtMs(median(xs)), p99: '', noise: range(xs, fmtMs),
      ratio: `${fmtX(median(xs) / median(t.floor))}; nasauthd ${fmtX(median(t.bySize[n]) / median(xs))} of it`, errors: 0,
    });
  }
  return rows;
}

export async function figure6(p: Params): Promise<FigureResult> {
  const t = await measureStarts(p, p.startReps, {}, true);
  return {
    id: '6', title: TITLE, status: 'ok', rows: startRows(t, { 1000: 1.5, 10000: 2 }), errors: 0, seconds: 0,
    notes: [`min/max: 1k ${fmtMs(min(t.bySize[1000]))}/${fmtMs(max(t.bySize[1000]))}, 10k ${fmtMs(min(t.bySize[10000]))}/${fmtMs(max(t.bySize[10000]))}`],
    data: t as unknown as Record<string, unknown>,
    method: [
      `Each start: spawn the daemon as init.d/nasauthd does (its NODE_OPTS, \`dist/nasauthd-start.js\`: the bundle through the V8 code cache in its CODE_CACHE_DIR, made by the uncounted first start; the store written beforehand), then poll every 1 ms until the query socket accepts a connection and GET /v1/health answers 200 with the expected account count; the time is from spawn to that answer. ${p.startReps} starts per size after one uncounted start; median and min–max.`,
      'A restart, as at every boot of the device: each size starts in one folder kept from start to start (the state and NSS folders of the last run, the log). The start includes loading and checking the store (sha256 of the whole file), checking that the NSS files are those the store renders (daemon/nss.ts: a stamp of their inputs and of the files; rendered again on any difference), and opening the admin, query and two PAM sockets.',
      'The "first start" experiment rows start in a new folder each time, as after an install: the NSS files are rendered and written.',
      'The experiment rows start bench/lib/floor.js http-store: the floor after it has read the same store file as the daemon must before it can answer (read, SHA-256, JSON.parse, kept): what the store alone costs a start in this format, measured in the same repetitions.',
    ],
  };
}

if (require.main === module) void main([{ id: '6', title: TITLE, run: figure6 }], false);
