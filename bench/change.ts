// What one account change costs the daemon, by store size: an admin edits one account
// (PATCH /v1/admin/users/NAME on the admin socket, as `nasauth user set` does) while the
// LDAP view (Samba) and the NSS files are on, as on the device. Each change is durable
// before it is answered: the store file is written whole (temp file, fsyncs, rename).
// Reported per change: the daemon's CPU time (user + system, every thread, from /proc,
// over the whole series divided by its length, 20 ms idle after each change included:
// what the change cost the box, steadier than wall time on a busy machine) and the
// median time to the answer. A change should cost in proportion to what changed, not to the store.
//   npx ts-node --transpile-only bench/change.ts [--quick] [--sizes 1000,10000] [--changes 20]
import { fmtMs, median, sleep } from './lib/common';
import { buildStore, httpReq, startDaemon, TEST_SCRYPT } from './lib/daemon';
import { cpuMs } from './query';

const argv = process.argv.slice(2);
const flag = (name: string, d: string) => { const i = argv.indexOf(`--${name}`); return i >= 0 && argv[i + 1] ? argv[i + 1] : d; };

export interface ChangeCost { size: number; kind: string; cpuMs: number; wallMs: number[] }

/** Per change: CPU ms of the daemon and ms to the answer, for `changes` edits of each kind. */
export async function measureChanges(sizes: number[], changes: number, o: { bundle?: string } = {}): Promise<ChangeCost[]> {
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

if (require.main === module) mainChange().catch((e) => { process.stderr.write(`${(e as Error).stack ?? e}\n`); process.exitCode = 1; });
