// Experiment (not a figure of the report): figure 2's probe and flood on one daemon while
// its threads are placed by hand with `taskset -p` between rounds, to see how much of the
// flood p99 is where the kernel runs the hashing threads (docs/performance.md, figure 2).
// Placements, alternated round by round: as the kernel chooses; the event loop's thread
// on CPU 0 only; the event loop on CPU 0 and the hashing threads on CPU 1; the hashing
// threads at nice N (hashes-nice-N) or SCHED_IDLE (hashes-idle), as the kernel places
// them. The hashing threads are those that spend CPU during a first, uncounted flood.
// The daemon runs with NASAUTH_FLOOD_POOL_NICE=0, so that only this script sets their
// priority (the daemon's own flood nice is measured by figure 2's experiment row).
// Needs 2+ CPUs, taskset, renice and chrt (util-linux). PLACEMENTS=a,b,... picks some.
//   npx ts-node --transpile-only bench/flood-placement.ts [--duration 3] [--rounds 4]
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { median, params } from './lib/common';
import { buildStore, DEVICE_SCRYPT, startDaemon, warm } from './lib/daemon';
import { floodRun } from './miss';
import { BENCH_USERS } from './query';

type Placement = 'kernel' | 'loop-on-0' | 'loop-0-hashes-1' | `hashes-nice-${number}` | 'hashes-idle';

const tids = (pid: number) => fs.readdirSync(`/proc/${pid}/task`).map(Number);
const ticks = (pid: number, tid: number) => {
  const f = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);
};

function place(pid: number, hashers: Set<number>, how: Placement) {
  for (const tid of hashers) {
    const r = spawnSync('renice', ['-n', how.startsWith('hashes-nice-') ? how.slice('hashes-nice-'.length) : '0', '-p', String(tid)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`renice ${tid}: ${r.error?.message ?? r.stderr.trim()}`);
    const c = spawnSync('chrt', how === 'hashes-idle' ? ['-i', '-p', '0', String(tid)] : ['-o', '-p', '0', String(tid)], { encoding: 'utf8' });
    if (c.status !== 0) throw new Error(`chrt ${tid}: ${c.error?.message ?? c.stderr.trim()}`);
  }
  for (const tid of tids(pid)) {
    const cpus = how === 'kernel' || how.startsWith('hashes-') ? '0,1' : tid === pid ? '0' : how === 'loop-0-hashes-1' && hashers.has(tid) ? '1' : '0,1';
    const r = spawnSync('taskset', ['-pc', cpus, String(tid)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`taskset -pc ${cpus} ${tid}: ${r.error?.message ?? r.stderr.trim()}`);
  }
}

async function run() {
  const argv = process.argv.slice(2);
  const i = argv.indexOf('--rounds');
  const rounds = i >= 0 ? Number(argv.splice(i, 2)[1]) : 4;
  const p = { ...params(argv), reps: 1 };
  const d = await startDaemon({ store: buildStore({ users: BENCH_USERS, filler: 1000, scrypt: DEVICE_SCRYPT }), logLevel: p.logLevel, env: { NASAUTH_FLOOD_POOL_NICE: '0' } });
  const out: Record<string, { quiet: number[]; flood: number[] }> = {};
  try {
    await warm(d.query, BENCH_USERS);
    const before = new Map(tids(d.pid).map((t) => [t, ticks(d.pid, t)]));
    await floodRun(p, d, 1);
    const used = tids(d.pid).map((t) => [t, ticks(d.pid, t) - (before.get(t) ?? 0)] as const);
    const busiest = Math.max(...used.filter(([t]) => t !== d.pid).map(([, n]) => n));
    const hashers = new Set(used.filter(([t, n]) => t !== d.pid && n > busiest / 4).map(([t]) => t));
    console.log(`CPU ticks per thread during a flood: ${used.map(([t, n]) => `${t}${t === d.pid ? ' (event loop)' : hashers.has(t) ? ' (hashes)' : ''} ${n}`).join(', ')}`);
    const order = (process.env.PLACEMENTS?.split(',') ?? ['kernel', 'loop-on-0', 'loop-0-hashes-1', 'hashes-nice-19', 'hashes-idle']) as Placement[];
    for (let r = 0; r < rounds; r++) {
      for (const how of r % 2 ? [...order].reverse() : order) {
        place(d.pid, hashers, how);
        const f = await floodRun(p, d, 1);
        if (f.errors) throw new Error(`wrong answers: ${f.samples.join('; ')}`);
        out[how] ??= { quiet: [], flood: [] };
        out[how].quiet.push(...f.base.p99);
        out[how].flood.push(...f.flood.p99);
      }
    }
  } finally {
    await d.stop();
  }
  const us = (xs: number[]) => xs.map((x) => (x * 1000).toFixed(0)).join(' ');
  console.log('| placement | quiet p99 (µs) | flood p99 (µs) | ratio of medians |\n| --- | --- | --- | ---: |');
  for (const [how, v] of Object.entries(out).filter(([, v]) => v.flood.length)) console.log(`| ${how} | ${us(v.quiet)} | ${us(v.flood)} | ${(median(v.flood) / median(v.quiet)).toFixed(2)} |`);
}

void run().catch((e) => { console.error(e); process.exit(1); });
