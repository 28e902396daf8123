// Figure 10: log bytes under a wrong-password flood (issue 12, point 8): the same daemon
// with refusals collapsed (log.collapse_seconds, the default) beside one audit line per
// decision (collapse_seconds 0, the behaviour before), for one guesser and for a spray.
//   npx ts-node --transpile-only bench/log.ts [--quick]
import * as fs from 'node:fs';
import { fmtX, main, sleep, type FigureResult, type Params, type Row } from './lib/common';
import { buildStore, DEVICE_SCRYPT, startDaemon, type BenchDaemon } from './lib/daemon';
import { LoadGen, type JobResult } from './lib/loadgen';
import { FLOOD_OK } from './miss';
import { BENCH_USERS } from './query';

export const TITLE = 'Log bytes per 10,000 wrong passwords: refusals collapsed vs one line per decision';

/** Every log file of a bench daemon (the file and its rotated ones), in bytes. */
function logBytes(d: BenchDaemon): number {
  let n = 0;
  for (const f of [d.log, ...Array.from({ length: 10 }, (_, i) => `${d.log}.${i + 1}`)]) { try { n += fs.statSync(f).size; } catch { /* none */ } }
  return n;
}

/**
 * Log bytes a wrong-password flood of `total` requests writes, from just before the flood
 * to the daemon's stop (which writes the pending summary lines): per 10,000 requests.
 */
async function floodLog(p: Params, collapse: boolean, shape: 'guesser' | 'spray', total: number): Promise<{ per10k: number; answers: number; errors: number; seconds: number }> {
  const d = await startDaemon({ store: buildStore({ users: BENCH_USERS, filler: 0, scrypt: DEVICE_SCRYPT }), logLevel: p.logLevel, config: collapse ? {} : { log: { collapse_seconds: 0 } } });
  const lg = new LoadGen();
  try {
    await sleep(300);
    const before = logBytes(d);
    const guesser = [{ user: 'bench0', password: 'not-her-password-1', service: 'dashboard', source: '192.0.2.9' }];
    const r: JobResult = await lg.run({ kind: 'count', total, socket: d.query, conns: 200, specs: shape === 'guesser' ? guesser : [], flood: shape === 'spray', warmupMs: 0, durationMs: 600_000, expect: FLOOD_OK });
    process.kill(d.pid, 'SIGTERM'); // a clean stop writes the summaries still pending
    for (let i = 0; i < 200 && fs.existsSync(`/proc/${d.pid}`) && !/^\S+ \(.*\) Z/.test(fs.readFileSync(`/proc/${d.pid}/stat`, 'utf8')); i++) await sleep(50);
    const bytes = logBytes(d) - before;
    const answers = r.ok + r.errors;
    return { per10k: (bytes * 10_000) / Math.max(1, answers), answers, errors: r.errors, seconds: r.elapsedMs / 1000 };
  } finally { lg.close(); await d.stop(); }
}

async function logRows(p: Params, rows: Row[], notes: string[]): Promise<number> {
  const total = p.quick ? 2000 : 10_000;
  // one line per decision grows linearly: the peer is measured on 2,000 requests and scaled
  const peerTotal = Math.min(total, 2000);
  let errors = 0;
  const fmtBytes = (b: number) => (b >= 1024 * 1024 ? `${(b / 1048576).toFixed(2)} MB` : b >= 1024 ? `${(b / 1024).toFixed(1)} kB` : `${Math.round(b)} B`);
  for (const shape of ['guesser', 'spray'] as const) {
    const label = shape === 'guesser' ? 'one guesser (one account, one source)' : 'a spray (random names, 2048 sources)';
    const peer = await floodLog(p, false, shape, peerTotal);
    const ours = await floodLog(p, true, shape, total);
    errors += peer.errors + ours.errors;
    rows.push({ what: `log bytes per 10,000 wrong passwords, ${label}: one line per decision`, peer: true, median: fmtBytes(peer.per10k), p99: '', rate: `${Math.round(peer.answers / peer.seconds)}/s`, errors: peer.errors });
    rows.push({
      what: `the same, refusals collapsed (log.collapse_seconds 60, the default)`, median: fmtBytes(ours.per10k), p99: '', rate: `${Math.round(ours.answers / ours.seconds)}/s`,
      ratio: fmtX(ours.per10k / peer.per10k), errors: ours.errors, goal: 'log bounded under a flood (≤ 1/10 of one line per decision)', met: ours.per10k <= peer.per10k / 10,
    });
    notes.push(`log flood, ${label}: ${peer.answers} and ${ours.answers} requests in ${peer.seconds.toFixed(1)} s and ${ours.seconds.toFixed(1)} s`);
  }
  return errors;
}

export async function figure10(p: Params): Promise<FigureResult> {
  const rows: Row[] = [];
  const notes: string[] = [];
  const errors = await logRows(p, rows, notes);
  return {
    id: '10', title: TITLE, status: errors ? 'fail' : 'ok', rows, notes, errors, seconds: 0, data: {},
    method: [
      `A daemon with the device defaults (scrypt log_n 14, refusal delay 500 ms, log.file with rotation) takes ${p.quick ? 2000 : 10_000} wrong passwords over 200 connections of the query socket, from one guesser (one existing account, one source: rate_limited and locked_out answers after a few) or a spray (random names, 2048 sources). Log bytes: the growth of the log file and its rotated ones from just before the flood to the daemon's clean stop (which writes the summaries still pending), per 10,000 requests; every answer is checked (never allow).`,
      'Peer: the same daemon with log.collapse_seconds 0, one audit line per decision (before issue 12); it grows linearly with the requests, so it is measured on 2,000 and scaled.',
      'Goal: a flood writes at most a tenth of what one line per decision writes.',
    ],
  };
}

if (require.main === module) void main([{ id: '10', title: TITLE, run: figure10 }], false);
