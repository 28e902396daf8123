// What one account change costs the daemon, by store size: an admin edits one account
// (PATCH /v1/admin/users/NAME on the admin socket, as `nasauth user set` does) while the
// LDAP view (Samba) and the NSS files are on, as on the device. Each change is durable
// before it is answered: the store file is written whole (temp file, fsyncs, rename).
// Reported per change: the daemon's CPU time (user + system, every thread, from /proc,
// over the whole series divided by its length, 20 ms idle after each change included:
// what the change cost the box, steadier than wall time on a busy machine) and the
// median time to the answer. A change should cost in proportion to what changed, not to the store.
//   npx ts-node --transpile-only bench/change.ts [--quick] [--sizes 1000,10000] [--changes 20]
// Figure 11 (bench/run.ts) adds what an admin waits for: one `nasauth user set NAME
// --full-name X` process beside Samba's own account store doing the same, `pdbedit -u NAME
// --fullname X` on a tdbsam holding the same accounts.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { fmtMs, fmtX, main, median, notMeasured, range, sleep, type FigureResult, type Params, type Row } from './lib/common';
import { buildStore, httpReq, startDaemon, TEST_SCRYPT, type BenchDaemon } from './lib/daemon';
import { cpuMs } from './query';
import { freePorts } from './smb';
import { sambaMissing, startSamba, type Samba } from '../test/helpers/samba';

export const TITLE = 'One account change by store size: nasauth vs tdbsam (pdbedit)';
const CLI = join(__dirname, '..', 'dist', 'nasauth.js');

const argv = process.argv.slice(2);
const flag = (name: string, d: string) => { const i = argv.indexOf(`--${name}`); return i >= 0 && argv[i + 1] ? argv[i + 1] : d; };

export interface ChangeCost { size: number; kind: string; cpuMs: number; wallMs: number[] }

/** Per change: CPU ms of the daemon and ms to the answer, for `changes` edits of each kind. */
export async function measureChanges(sizes: number[], changes: number, o: { bundle?: string; also?: (d: BenchDaemon, size: number) => Promise<void> } = {}): Promise<ChangeCost[]> {
  const out: ChangeCost[] = [];
  for (const size of sizes) {
    const store = buildStore({ users: [], filler: size, scrypt: TEST_SCRYPT });
    const d = await startDaemon({ store, scrypt: TEST_SCRYPT, config: { sockets: { ldap: { enabled: true } } }, readyTimeoutMs: 120_000, bundle: o.bundle });
    try {
      await sleep(500);
      const kinds: Array<[string, (i: number) => Record<string, unknown>]> = [
        // the e-mail: the LDAP view shows it (mail), NSS does not
        ['e-mail', (i) => ({ email: `changed${i}@example.com` })],
        // the full name: NSS (gecos) and the LDAP view (cn, displayName, gecos) show it
        ['full name', (i) => ({ full_name: `Changed ${i}` })],
      ];
      for (const [kind, body] of kinds) {
        const c: ChangeCost = { size, kind, cpuMs: NaN, wallMs: [] };
        // CPU time is counted in clock ticks (10 ms): the whole series, divided by its length
        const c0 = cpuMs(d.pid);
        for (let i = 0; i < changes; i++) {
          const name = `user${String((i * 7919) % size).padStart(5, '0')}`;
          const t0 = process.hrtime.bigint();
          const r = await httpReq(d.admin, 'PATCH', `/v1/admin/users/${name}`, JSON.stringify(body(i)));
          const ms = Number(process.hrtime.bigint() - t0) / 1e6;
          if (!r || r.status !== 200) throw new Error(`PATCH ${name}: ${r?.status} ${r?.body.slice(0, 200)}`);
          await sleep(20); // work after the answer (listeners that run later) is counted too
          c.wallMs.push(ms);
        }
        c.cpuMs = (cpuMs(d.pid) - c0) / changes;
        out.push(c);
      }
      if (o.also) await o.also(d, size);
    } finally { await d.stop(); }
  }
  return out;
}

async function mainChange() {
  const sizes = flag('sizes', argv.includes('--quick') ? '1000' : '1000,10000').split(',').map(Number);
  const res = await measureChanges(sizes, Number(flag('changes', argv.includes('--quick') ? '5' : '20')), { bundle: argv.includes('--bundle') ? flag('bundle', '') : undefined });
  process.stdout.write('| accounts | change | daemon CPU per change | answered after (median) |\n| ---: | --- | ---: | ---: |\n');
  for (const r of res) process.stdout.write(`| ${r.size} | ${r.kind} | ${fmtMs(r.cpuMs)} | ${fmtMs(median(r.wallMs))} |\n`);
}

/** ms of each of `n` runs of `cmd` inside smbd's namespace (the same NSS view for both sides). */
function timed(s: Samba, n: number, cmd: (i: number) => string[]): { ms: number[]; errors: number; last: string } {
  const ms: number[] = [];
  let errors = 0;
  let last = '';
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const r = s.inNs(cmd(i));
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (r.status !== 0) { errors++; last = (r.stderr || r.stdout).slice(0, 300); }
  }
  return { ms, errors, last };
}

export async function figure11(p: Params): Promise<FigureResult> {
  const missing = sambaMissing();
  if (missing) return notMeasured('11', TITLE, missing.what);
  const sizes = p.quick ? [1000] : [1000, 10000];
  const n = p.quick ? 3 : 15;
  const rows: Row[] = [];
  const notes: string[] = [];
  let errors = 0;
  const data: Record<string, unknown> = {};
  const cli: Record<number, number[]> = {};
  const pdb: Record<number, number[]> = {};
  const nodeStart: Record<number, number[]> = {};
  const costs = await measureChanges(sizes, n, {
    also: async (d, size) => {
      const [port] = await freePorts(1);
      const tdb = await startSamba({ backend: 'tdbsam', nssDir: d.nssDir, port });
      try {
        // the same accounts in tdbsam, imported from an smbpasswd file (names and uids from the daemon's NSS file)
        const lines = fs.readFileSync(join(d.nssDir, 'passwd'), 'utf8').split('\n').filter(Boolean).map((l) => l.split(':'));
        const file = join(tdb.dir, 'import.smbpasswd');
        fs.writeFileSync(file, lines.map(([name, , uid]) => `${name}:${uid}:${'X'.repeat(32)}:${'0123456789ABCDEF'.repeat(2)}:[U          ]:LCT-5F000000:\n`).join(''));
        const t0 = Date.now();
        const imp = tdb.inNs(['pdbedit', '-s', tdb.conf, '-i', `smbpasswd:${file}`]);
        if (imp.status !== 0) throw new Error(`pdbedit -i: ${imp.stderr.slice(0, 300)}`);
        const count = tdb.inNs(['pdbedit', '-s', tdb.conf, '-L']).stdout.split('\n').filter(Boolean).length;
        notes.push(`${size} accounts: tdbsam import of ${count} entries took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        const name = (i: number) => `user${String((i * 7919 + 13) % size).padStart(5, '0')}`;
        // alternate the two, one warm-up each
        const a: number[] = [];
        const b: number[] = [];
        for (let i = 0; i <= n; i++) {
          const x = timed(tdb, 1, () => ['node', CLI, '--config', d.config, 'user', 'set', name(i), '--full-name', `Cli ${i}`]);
          const y = timed(tdb, 1, () => ['pdbedit', '-s', tdb.conf, '-u', name(i), '--fullname', `Pdb ${i}`]);
          if (i > 0) { a.push(...x.ms); b.push(...y.ms); }
          errors += x.errors + y.errors;
          if (x.errors) notes.push(`nasauth user set failed: ${x.last}`);
          if (y.errors) notes.push(`pdbedit -u failed: ${y.last}`);
        }
        cli[size] = a;
        pdb[size] = b;
        // what any Node program pays before its first line: the part of the CLI's time that is not the change
        nodeStart[size] = timed(tdb, Math.min(n, 5), () => ['node', '-e', '']).ms;
      } finally { await tdb.stop(); }
    },
  });
  for (const size of sizes) {
    const own = costs.filter((c) => c.size === size);
    for (const c of own) {
      rows.push({ what: `${size} accounts: ${c.kind} changed over the admin socket (PATCH), answer`, median: fmtMs(median(c.wallMs)), p99: fmtMs(Math.max(...c.wallMs)), noise: range(c.wallMs, fmtMs), errors: 0 });
      rows.push({ what: `${size} accounts: ${c.kind}, daemon CPU per change`, median: fmtMs(c.cpuMs), p99: '', errors: 0 });
    }
    rows.push({ what: `${size} accounts: pdbedit -u NAME --fullname X (tdbsam, one process)`, peer: true, median: fmtMs(median(pdb[size])), p99: fmtMs(Math.max(...pdb[size])), noise: range(pdb[size], fmtMs), errors: 0 });
    rows.push({ what: `${size} accounts: nasauth user set NAME --full-name X (one process)`, median: fmtMs(median(cli[size])), p99: fmtMs(Math.max(...cli[size])), noise: range(cli[size], fmtMs), ratio: fmtX(median(cli[size]) / median(pdb[size])), errors: 0 });
    rows.push({ what: `${size} accounts: node -e '' (Node's start alone, part of the line above)`, median: fmtMs(median(nodeStart[size])), p99: '', errors: 0 });
  }
  data.costs = costs;
  data.cliMs = cli;
  data.pdbeditMs = pdb;
  data.nodeStartMs = nodeStart;
  return {
    id: '11', title: TITLE, status: errors ? 'fail' : 'ok', rows, notes, errors, seconds: 0, data,
    method: [
      `A daemon with ${sizes.join(' and ')} accounts (filler accounts with an e-mail and a full name) and the LDAP view and NSS files on, as on the device. ${n} changes of each kind over the admin socket (PATCH /v1/admin/users/NAME), 20 ms apart: the answer's time (each change is durable before it is answered: the store is written whole, fsync, rename) and the daemon's CPU time per change (user + system from /proc over the series, so the work done after the answer, the LDAP directory and the NSS files, is counted).`,
      'Then what an admin waits for, alternating: one `nasauth user set NAME --full-name X` process (Node start, admin socket, the change) beside `pdbedit -u NAME --fullname X` on a tdbsam that holds the same accounts (imported with pdbedit -i from an smbpasswd file), both run in the same private mount namespace (test/helpers/samba.ts inNs) so both pay the same wrapper. The ratio is nasauth over pdbedit.',
      'Before the incremental update (issue 15, this session) a change at 10,000 accounts cost 1.95–1.98 s of daemon CPU on a quiet run of the same machine (171–178 ms after) (the LDAP directory was rebuilt and re-encoded whole, the store deep-copied whole).',
    ],
  };
}

if (require.main === module && process.argv.includes('--figure')) void main([{ id: '11', title: TITLE, run: figure11 }], false);
else if (require.main === module) mainChange().catch((e) => { process.stderr.write(`${(e as Error).stack ?? e}\n`); process.exitCode = 1; });
