// The goals of issue 15, each as a ratio to the floor measured in the same run (or, for
// the two memory figures that have no floor, as a share of the goal). One function per
// figure turns its raw data into goals; the same functions read the previous run's
// results, so the report shows this run beside the previous one (and results written
// before the goals existed are read from their rows).
import { median } from './common';
import type { FigureResult, Row } from './common';

export interface Goal {
  /** stable id across runs, e.g. "1.cost.8" */
  key: string;
  /** what the bar shows, for the chart and the table */
  label: string;
  /** lower is better: × the floor (the floor's cost is 1), or ÷ the goal when there is no floor */
  value: number;
  /** the goal in the same unit */
  limit: number;
  unit: 'x floor' | 'of goal';
  /** the goal in words, as issue 15 states it */
  goal: string;
  met: boolean;
}

const MB = 1024; // KB
const finite = (x: number) => Number.isFinite(x) && x > 0;

function goal(key: string, label: string, value: number, limit: number, text: string, unit: Goal['unit'] = 'x floor'): Goal[] {
  if (!finite(value) || !finite(limit)) return [];
  return [{ key, label, value, limit, unit, goal: text, met: value <= limit + 1e-9 }];
}

interface Ser { p50: number[]; p99: number[]; rate: number[] }

/** Figure 1: at each concurrency, the floor's throughput over ours (≥ 0.6× is ≤ 1/0.6) and p50 over the floor's. */
function goals1(data: Record<string, { daemon: Ser; floor: Ser }>): Goal[] {
  const out: Goal[] = [];
  for (const c of Object.keys(data).map(Number).sort((a, b) => a - b)) {
    const { daemon: d, floor: f } = data[c];
    out.push(...goal(`1.cost.${c}`, `query cache hit, ${c} conn: cost per request (floor's throughput / ours)`, median(f.rate) / median(d.rate), 1 / 0.6, '≥ 0.6× the floor\'s throughput'));
    out.push(...goal(`1.p50.${c}`, `query cache hit, ${c} conn: p50 latency`, median(d.p50) / median(f.p50), 2, 'p50 ≤ 2× the floor\'s'));
  }
  return out;
}

function goals2(data: { flood?: { base: Ser; flood: Ser } }): Goal[] {
  if (!data.flood) return [];
  return goal('2.flood.p99', 'cache-hit p99 during a wrong-password flood (floor: same probe, no flood)', median(data.flood.flood.p99) / median(data.flood.base.p99), 2, '≤ 2× the no-flood p99');
}

function goals3(data: { nas?: Ser; echo?: Ser; permit?: Ser; pamEcho?: Ser }): Goal[] {
  if (!data.nas || !data.echo || !data.permit) return [];
  return [
    ...goal('3.pam', 'PAM transaction, cache hit (floor: pam_permit + bare frame round trip, two loops summed)', median(data.nas.p50) / (median(data.permit.p50) + median(data.echo.p50)), 1.25, '≤ 1.25× their sum'),
    // the same floor measured in one transaction (bench/pam_echo.c): see figure 3's method
    ...(data.pamEcho?.p50.length ? goal('3.pam.tx', 'PAM transaction, cache hit (floor: libpam + the bare round trip in one transaction)', median(data.nas.p50) / median(data.pamEcho.p50), 1.25, '≤ 1.25× libpam + the bare round trip') : []),
  ];
}

function goals4(data: { ldapMs?: number[]; tdbMs?: number[] }): Goal[] {
  if (!data.ldapMs?.length || !data.tdbMs?.length) return [];
  return goal('4.smb', 'SMB login via the LDAP view (floor: the same smbd with tdbsam)', median(data.ldapMs) / median(data.tdbMs), 1.1, '≤ 1.1×');
}

function goals5(data: { idle?: Record<string, number[]>; floorIdle?: number[]; settledMs?: number; served?: Record<string, number[]>; floorServed?: number[]; rss?: Record<string, number> }): Goal[] {
  const out: Goal[] = [];
  // from 2026-11-30 (later) read after the first requests (bench/memory.ts FIRST_REQUESTS): keys of their own
  if (data.served?.['1000']?.length && data.served['10000']?.length && data.floorServed?.length) {
    const floor = median(data.floorServed);
    const k1 = median(data.served['1000']);
    const when = data.settledMs ? `, settled (${data.settledMs / 1000} s)` : '';
    out.push(...goal('5.idle.served', `idle RSS after the first requests, 1k accounts${when} (floor: bare node:http, the same requests)`, k1 / floor, (floor + 6 * MB) / floor, '≤ floor + 6 MB'));
    out.push(...goal('5.per-account.served', `RSS per extra account, 1k → 10k, after the first requests${when} (÷ 1 KB)`, (median(data.served['10000']) - k1) / 9000, 1, '≤ 1 KB', 'of goal'));
  } else if (data.idle && data.floorIdle?.length) {
    const floor = median(data.floorIdle);
    const k1 = median(data.idle['1000'] ?? []);
    // from 2026-11-30 idle is read once V8 has settled (bench/memory.ts): other keys, so
    // the chart does not put the new reading beside the old 1 s one as if it were progress
    const [sfx, when] = data.settledMs ? ['.settled', `, settled (${data.settledMs / 1000} s after ready)`] : ['', ''];
    out.push(...goal(`5.idle${sfx}`, `idle RSS, 1k accounts${when} (floor: bare node:http idle)`, k1 / floor, (floor + 6 * MB) / floor, '≤ floor + 6 MB'));
    const per = (median(data.idle['10000'] ?? []) - k1) / 9000;
    out.push(...goal(`5.per-account${sfx}`, `RSS per extra account, 1k → 10k${when} (÷ 1 KB)`, per / 1, 1, '≤ 1 KB', 'of goal'));
  }
  if (data.rss && Number.isFinite(data.rss.full) && Number.isFinite(data.rss.half)) {
    // growth can be negative (a GC in the second half): shown as 0
    out.push(...goal('5.growth', 'RSS growth, second 50k of 100k cache hits (÷ 0.5 MB)', Math.max(0.001, (data.rss.full - data.rss.half) / (0.5 * MB)), 1, '≤ 0.5 MB', 'of goal'));
  }
  return out;
}

function goals6(data: { floor?: number[]; bySize?: Record<string, number[]>; fresh?: Record<string, number[]> }): Goal[] {
  if (!data.floor?.length || !data.bySize) return [];
  const f = median(data.floor);
  // from 2026-11-30 (later) the starts are restarts in a kept folder, with first starts as
  // experiment rows (bench/startup.ts): keys of their own, not drawn beside first starts
  const [k, what] = data.fresh ? ['6.restart', 'restart'] : ['6.start', 'start'];
  return [
    ...goal(`${k}.1k`, `${what} to ready, 1k accounts (floor: bare node:http start)`, median(data.bySize['1000'] ?? []) / f, 1.5, '≤ 1.5×'),
    ...goal(`${k}.10k`, `${what} to ready, 10k accounts (floor: bare node:http start)`, median(data.bySize['10000'] ?? []) / f, 2, '≤ 2×'),
  ];
}

function goals7(data: { armRss?: { daemonKb: number; floorKb: number } }): Goal[] {
  if (!data.armRss) return [];
  const { daemonKb, floorKb } = data.armRss;
  return goal('7.arm.idle', 'armhf idle RSS in the QEMU system boot (floor: bare node:http in the same guest)', daemonKb / floorKb, (floorKb + 6 * MB) / floorKb, '≤ floor + 6 MB');
}

// ---- results written before the goals existed: read the rows ---------------------

/** "379 µs", "1.52 ms", "3.49 s", "59.2 MB", "428 KB" → ms or KB. */
export function parseAmount(s: string): number {
  const m = /^(-?[\d.]+)\s*(µs|ms|s|KB|MB)\b/.exec(s.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  return { 'µs': n / 1000, ms: n, s: n * 1000, KB: n, MB: n * 1024 }[m[2] as 'ms'];
}

function legacy3(rows: Row[]): { nas?: Ser; echo?: Ser; permit?: Ser } {
  const pick = (re: RegExp): Ser | undefined => {
    const r = rows.find((x) => re.test(x.what));
    const v = r ? parseAmount(r.median) : NaN;
    return Number.isFinite(v) ? { p50: [v], p99: [], rate: [] } : undefined;
  };
  return { nas: pick(/^pam_nasauth cache hit/), echo: pick(/^floor: same C loop/), permit: pick(/^libpam alone/) };
}

function legacy7(rows: Row[]): { armRss?: { daemonKb: number; floorKb: number } } {
  const r = rows.find((x) => /^armhf idle RSS/.test(x.what) && /floor/.test(x.what));
  if (!r) return {};
  const [d, f] = r.median.split('/').map(parseAmount);
  return Number.isFinite(d) && Number.isFinite(f) ? { armRss: { daemonKb: d, floorKb: f } } : {};
}

/** The goals of one figure's result (this run's or an older one's). */
export function goalsOf(f: FigureResult): Goal[] {
  if (f.status === 'not measured') return [];
  const data = (f.data ?? {}) as Record<string, never>;
  switch (f.id) {
    case '1': return goals1(data);
    case '2': return goals2(data);
    case '3': return goals3(data['nas'] ? data : legacy3(f.rows));
    case '4': return goals4(data);
    case '5': return goals5(data);
    case '6': return goals6(data);
    case '7': return goals7(data['armRss'] ? data : legacy7(f.rows));
    default: return [];
  }
}
