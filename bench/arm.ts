// Figure 7: the armhf build under qemu-arm (user mode, -cpu cortex-a9): figure 1 (query
// socket, cache hit) and figure 6 (start to ready) with the armhf Node runtime from
// cross/ (.cache/armhf/stage/opt/nasauth/bin/node) running the same dist/nasauthd.js,
// each as a ratio to the same measurement on x86 in the same run. Memory (figure 5)
// cannot be read under qemu-user; the ARM helper's system-mode boot test reports it.
//   npx ts-node --transpile-only bench/arm.ts [--quick] [--arm-duration 3] [--arm-start-reps 5]
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { fmtKB, fmtMs, fmtRate, fmtX, has, main, median, notMeasured, pinArgs, range, ROOT, type FigureResult, type Params, type Row } from './lib/common';
import { measureQuery } from './query';
import { measureStarts } from './startup';

export const TITLE = 'ARM (armhf runtime under qemu-arm -cpu cortex-a9), as ratios to x86';
export const STAGE = join(ROOT, '.cache', 'armhf', 'stage');
export const ARM_NODE = join(STAGE, 'opt', 'nasauth', 'bin', 'node');
const SERIAL = join(ROOT, '.cache', 'armhf', 'boot', 'serial.log');

export function armSkipReason(): string | null {
  if (!fs.existsSync(ARM_NODE)) return `no armhf runtime at ${ARM_NODE.slice(ROOT.length + 1)} (cross/runtime.sh builds it; see cross/README.md)`;
  if (!has('qemu-arm')) return 'qemu-arm is not installed (apt-get install qemu-user)';
  const r = spawnSync('qemu-arm', ['-cpu', 'cortex-a9', '-L', STAGE, ARM_NODE, '-e', 'process.stdout.write(process.arch)'], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0 || r.stdout !== 'arm') return `the armhf node does not run under qemu-arm: ${(r.stderr || r.stdout || String(r.error)).trim().split('\n')[0]}`;
  return null;
}

/** The ARM helper's system-mode numbers (cross/boot-test.sh: NASAUTH-SMOKE line in the serial log), if any. */
function systemModeRss(): { line: Record<string, string>; date: string } | null {
  try {
    const text = fs.readFileSync(SERIAL, 'latin1');
    const line = text.split('\n').filter((l) => l.startsWith('NASAUTH-SMOKE: PASS')).pop();
    if (!line) return null;
    const kv = Object.fromEntries(line.replace('NASAUTH-SMOKE: PASS', '').trim().split(/\s+/).map((x) => x.split('=') as [string, string]));
    if (!kv.rss_ready_kb) return null;
    return { line: kv, date: fs.statSync(SERIAL).mtime.toISOString().replace(/\.\d+Z$/, 'Z') };
  } catch { return null; }
}

export async function figure7(p: Params): Promise<FigureResult> {
  const skip = armSkipReason();
  if (skip) {
    const r = notMeasured('7', TITLE, skip);
    return r;
  }
  const server = pinArgs(p, 'server');
  const qemu = [...server, 'qemu-arm', '-cpu', 'cortex-a9', '-L', STAGE];
  const armVer = spawnSync('qemu-arm', ['-L', STAGE, ARM_NODE, '--version'], { encoding: 'utf8' }).stdout.trim();
  const conns = p.conns;
  const rows: Row[] = [];
  const notes: string[] = [];
  let errors = 0;

  // figure 1 on both, same parameters (1 repetition each, shorter intervals)
  const arm = await measureQuery(p, { prefix: qemu, node: ARM_NODE, duration: p.armDuration, reps: 1, conns, floor: false, readyTimeoutMs: 180_000, users: 2 });
  const x86 = await measureQuery(p, { prefix: server, duration: p.armDuration, reps: 1, conns, floor: false, users: 2 });
  for (const c of conns) {
    const a = arm[c].daemon;
    const x = x86[c].daemon;
    errors += a.errors + x.errors;
    rows.push({ what: `x86: nasauthd cache hit, ${c} conn`, peer: true, median: fmtMs(median(x.p50)), p99: fmtMs(median(x.p99)), rate: fmtRate(median(x.rate)), errors: x.errors });
    rows.push({ what: `armhf/qemu: nasauthd cache hit, ${c} conn`, median: fmtMs(median(a.p50)), p99: fmtMs(median(a.p99)), rate: fmtRate(median(a.rate)), ratio: `${fmtX(median(a.p50) / median(x.p50))} latency, ${fmtX(median(x.rate) / median(a.rate))} slower`, errors: a.errors });
    for (const s of [...a.samples, ...x.samples]) notes.push(`wrong answer at ${c} conn: ${s}`);
  }

  // figure 6 on both
  const sArm = await measureStarts(p, p.armStartReps, { prefix: qemu, node: ARM_NODE, readyTimeoutMs: 180_000 });
  const sX86 = await measureStarts(p, p.armStartReps, { prefix: server });
  rows.push({ what: 'x86: floor start to ready', peer: true, median: fmtMs(median(sX86.floor)), p99: '', noise: range(sX86.floor, fmtMs), errors: 0 });
  rows.push({ what: 'armhf/qemu: floor start to ready', median: fmtMs(median(sArm.floor)), p99: '', noise: range(sArm.floor, fmtMs), ratio: fmtX(median(sArm.floor) / median(sX86.floor)), errors: 0 });
  for (const n of [1000, 10000]) {
    rows.push({ what: `x86: nasauthd start to ready, ${n / 1000}k accounts`, peer: true, median: fmtMs(median(sX86.bySize[n])), p99: '', noise: range(sX86.bySize[n], fmtMs), errors: 0 });
    rows.push({
      what: `armhf/qemu: nasauthd start to ready, ${n / 1000}k accounts`, median: fmtMs(median(sArm.bySize[n])), p99: '', noise: range(sArm.bySize[n], fmtMs),
      ratio: fmtX(median(sArm.bySize[n]) / median(sX86.bySize[n])), errors: 0, goal: 'a few seconds on the emulated ARM (design.md)', met: median(sArm.bySize[n]) <= 5000,
    });
  }

  // figure 5: not readable under qemu-user
  const sys = systemModeRss();
  let armRss: { daemonKb: number; floorKb: number } | undefined;
  if (sys && sys.line.floor_rss_kb && sys.line.rss_idle_kb) {
    armRss = { daemonKb: Number(sys.line.rss_idle_kb), floorKb: Number(sys.line.floor_rss_kb) };
    const over = armRss.daemonKb - armRss.floorKb;
    rows.push({ what: `armhf/QEMU system mode: bare node:http idle (the floor, bench/lib/floor.js in the same boot, ${sys.date})`, peer: true, median: fmtKB(armRss.floorKb), p99: '', errors: 0 });
    rows.push({
      what: `armhf idle RSS in the QEMU system boot, 1 s after ready: nasauthd / floor`, median: `${fmtKB(armRss.daemonKb)} / ${fmtKB(armRss.floorKb)}`, p99: '',
      ratio: `${over >= 0 ? '+' : ''}${fmtKB(over)}`, errors: 0, goal: '≤ the armhf floor + 6 MB', met: over <= 6 * 1024,
    });
  }
  if (sys) {
    rows.push({ what: `armhf RSS in system-mode QEMU (the ARM helper's boot test, ${sys.date}): ready → after users → end (high-water mark)`, median: `${fmtKB(Number(sys.line.rss_ready_kb))} → ${fmtKB(Number(sys.line.rss_after_users_kb))} → ${fmtKB(Number(sys.line.rss_end_kb))}`, p99: sys.line.rss_hwm_kb ? `HWM ${fmtKB(Number(sys.line.rss_hwm_kb))}` : '', errors: 0 });
    if (!armRss) notes.push('That boot test predates the armhf floor (cross/guest/smoke.d/15-floor.sh): run cross/boot-test.sh again for the floor and the idle reading.');
    notes.push(`System-mode numbers come from the ARM helper's boot test (cross/boot-test.sh, line NASAUTH-SMOKE in .cache/armhf/boot/serial.log), not from this run; that store holds the first-start admin and one user. Its other timings: ${Object.entries(sys.line).filter(([k]) => k.endsWith('_ms')).map(([k, v]) => `${k} ${v}`).join(', ')}.`);
  } else {
    rows.push({ what: 'armhf RSS (figure 5)', median: 'not measured', p99: '', errors: 0 });
    notes.push('RSS not measured on ARM: under qemu-user the guest sees RSS 0 and the host RSS of qemu-arm counts the emulator and its translation cache; no system-mode number from the ARM helper was found (.cache/armhf/boot/serial.log).');
  }
  notes.push('Under qemu-user the RSS the guest reads is 0 (process.memoryUsage().rss); host RSS of qemu-arm is not the daemon\'s and is not reported.');
  notes.push(`armhf runtime: ${armVer} (Debian's armhf node from cross/'s sysroot), x86: ${process.version}. User-mode emulation speed depends on the host and says little about a real Cortex-A9; ratios are the useful part.`);
  return {
    id: '7', title: TITLE, status: errors ? 'fail' : 'ok', rows, notes, errors, seconds: 0,
    data: { arm, x86, sArm, sX86, ...(armRss ? { armRss } : {}) },
    method: [
      `The daemon is the same dist/nasauthd.js, run by the armhf node of cross/ (${ARM_NODE.slice(ROOT.length + 1)}) as \`qemu-arm -cpu cortex-a9 -L ${STAGE.slice(ROOT.length + 1)} node dist/nasauthd.js --config X\`; the client stays native x86.`,
      `Query socket: as figure 1 with 2 users, ${p.armDuration} s per interval, 1 repetition, for ARM and x86 one after the other. Start to ready: as figure 6, ${p.armStartReps} starts per size (after one uncounted), for ARM and x86.`,
    ],
  };
}

if (require.main === module) void main([{ id: '7', title: TITLE, run: figure7 }], false);
