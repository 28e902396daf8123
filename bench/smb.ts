// Figure 4: a whole SMB login (smbclient process: connect, NTLMv2 session setup, tree
// connect, ls) through smbd's ldapsam → nasauthd's LDAP view, next to the same smbd build
// on its own tdbsam, alternating runs between the two. Reuses the Samba helper's harness
// (test/helpers/samba.ts startSamba: private mount namespace, private config and state).
//   npx ts-node --transpile-only bench/smb.ts [--quick] [--smb-runs 15]
import * as fs from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { fmtMs, fmtRate, fmtX, latStats, main, median, notMeasured, range, run, type FigureResult, type Params, type Row } from './lib/common';
import { buildStore, DEVICE_SCRYPT, startDaemon } from './lib/daemon';
import { sambaMissing, startSamba, type Samba } from '../test/helpers/samba';

export const TITLE = 'SMB login: smbd ldapsam → nasauthd vs the same smbd with tdbsam';
/** Ports of this benchmark (the tests use 14450-14460). */
const PORTS = [14470, 14479];
const USER = { name: 'benchsmb', password: 'Bench-smb-pass-1' };

function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = net.createServer();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });
}
export async function freePorts(n: number): Promise<number[]> {
  const out: number[] = [];
  for (let p = PORTS[0]; p <= PORTS[1] && out.length < n; p++) if (await portFree(p)) out.push(p);
  if (out.length < n) throw new Error(`no ${n} free ports in ${PORTS[0]}-${PORTS[1]}`);
  return out;
}

/** One whole smbclient process; ms, and whether the listing came back. */
async function login(s: Samba, user: string, pw: string): Promise<{ ms: number; ok: boolean; out: string }> {
  const r = await run('smbclient', [`//127.0.0.1/Public`, '-p', String(s.port), '-U', `${user}%${pw}`, '-m', 'SMB3', '-c', 'ls'], { env: { ...process.env, LC_ALL: 'C.UTF-8' }, timeoutMs: 30_000 });
  const out = r.stdout + r.stderr;
  return { ms: r.ms, ok: r.code === 0 && /blocks (of size|available)/.test(out), out };
}

export async function figure4(p: Params): Promise<FigureResult> {
  const missing = sambaMissing();
  if (missing) return notMeasured('4', TITLE, missing.what);
  const d = await startDaemon({
    store: buildStore({ users: [{ ...USER, services: ['smb', 'timemachine'] }], filler: 1000, scrypt: DEVICE_SCRYPT }),
    config: { sockets: { ldap: { enabled: true } } }, logLevel: p.logLevel,
  });
  const smbs: Samba[] = [];
  try {
    const secret = fs.readFileSync(join(d.stateDir, 'ldap-bind.secret'), 'utf8').trim();
    const [p1, p2] = await freePorts(2);
    const ldap = await startSamba({ ldapi: d.ldap, bindSecret: secret, nssDir: d.nssDir, port: p1 });
    smbs.push(ldap);
    const tdb = await startSamba({ backend: 'tdbsam', nssDir: d.nssDir, port: p2 });
    smbs.push(tdb);
    const addu = tdb.inNs(['smbpasswd', '-c', tdb.conf, '-a', '-s', USER.name], `${USER.password}\n${USER.password}\n`);
    if (addu.status !== 0) throw new Error(`smbpasswd -a for tdbsam failed: ${addu.stderr}`);

    const pw = p.wrongPassword ? `${USER.password}-WRONG` : USER.password;
    const notes: string[] = [];
    // warm-up: the first child of each smbd loads the domain, the client's libraries come into the page cache
    for (const s of [ldap, tdb]) for (let i = 0; i < 2; i++) await login(s, USER.name, USER.password);
    // correctness probe: a wrong password must be refused through the view
    const neg = await login(ldap, USER.name, 'Not-the-password-1');
    const negErr = neg.ok || !/LOGON_FAILURE|WRONG_PASSWORD|ACCESS_DENIED/.test(neg.out) ? 1 : 0;
    if (negErr) notes.push(`the wrong password was not refused: ${neg.out.slice(0, 200)}`);
    const t = { ldap: [] as number[], tdb: [] as number[] };
    const err = { ldap: 0, tdb: 0 };
    for (let i = 0; i < p.smbRuns; i++) {
      const order: Array<'ldap' | 'tdb'> = i % 2 ? ['tdb', 'ldap'] : ['ldap', 'tdb'];
      for (const k of order) {
        const r = await login(k === 'ldap' ? ldap : tdb, USER.name, k === 'ldap' ? pw : USER.password);
        if (r.ok) t[k].push(r.ms); else { err[k] += 1; if (notes.length < 3) notes.push(`${k} login failed: ${r.out.trim().split('\n').slice(-1)[0]}`); }
      }
    }
    const L = latStats(t.ldap);
    const T = latStats(t.tdb);
    const ratio = L.p50 / T.p50;
    const rows: Row[] = [
      { what: 'smbclient -m SMB3 -c ls, smbd with tdbsam', peer: true, median: fmtMs(T.p50), p99: fmtMs(T.max), rate: fmtRate(1000 / T.mean), noise: range([T.min, T.max], fmtMs), errors: err.tdb },
      { what: 'smbclient -m SMB3 -c ls, smbd with ldapsam → nasauthd', median: fmtMs(L.p50), p99: fmtMs(L.max), rate: fmtRate(1000 / L.mean), noise: range([L.min, L.max], fmtMs), ratio: fmtX(ratio), errors: err.ldap, goal: 'within 1.1× of tdbsam', met: ratio <= 1.1 },
      { what: 'correctness probe: wrong password through ldapsam → NT_STATUS_LOGON_FAILURE', median: '', p99: '', errors: negErr },
    ];
    notes.push(`p99 column: the slowest of ${p.smbRuns} runs (too few runs for a 99th percentile); noise: fastest–slowest run. Median of whole processes: ldapsam ${fmtMs(median(t.ldap))}, tdbsam ${fmtMs(median(t.tdb))}.`);
    const errors = err.ldap + err.tdb + negErr;
    return {
      id: '4', title: TITLE, status: errors ? 'fail' : 'ok', rows, notes, errors, seconds: 0,
      data: { ldapMs: t.ldap, tdbMs: t.tdb },
      method: [
        `Two smbd (Debian's build) on 127.0.0.1 ports ${p1} and ${p2} (range ${PORTS[0]}-${PORTS[1]}), started by test/helpers/samba.ts startSamba: private mount namespace, private smb.conf derived from sysroot/etc/samba/smb.conf, private state folders. One has \`passdb backend = ldapsam\` on the daemon's ldapi socket, the other \`passdb backend = tdbsam\` with the user added by \`smbpasswd -a -s\`. Both resolve the user through the daemon's extrausers files.`,
        `Each run is a whole process: \`smbclient //127.0.0.1/Public -p PORT -U user%pass -m SMB3 -c ls\`, timed from spawn to exit; it counts only when it exits 0 with a listing. ${p.smbRuns} runs per backend, alternating which goes first; 2 warm-up runs each are not counted.`,
        'The daemon has the benchmark user plus 1000 filler accounts and the device scrypt parameters (not used here: smbd checks the NT hash it reads from the view).',
      ],
    };
  } finally {
    for (const s of smbs) await s.stop();
    await d.stop();
  }
}

if (require.main === module) void main([{ id: '4', title: TITLE, run: figure4 }], false);
