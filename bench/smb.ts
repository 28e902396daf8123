// Figure 4: a whole SMB login (smbclient process: connect, NTLMv2 session setup, tree
// connect, ls) through smbd's ldapsam → nasauthd's LDAP view, next to the same smbd build
// on its own tdbsam, alternating runs between the two. Reuses the Samba helper's harness
// (test/helpers/samba.ts startSamba: private mount namespace, private config and state).
//   npx ts-node --transpile-only bench/smb.ts [--quick] [--smb-runs 15]
import * as fs from 'node:fs';
import * as net from 'node:net';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fmtMs, fmtRate, fmtX, latStats, main, median, notMeasured, range, run, tmpDir, type FigureResult, type Params, type Row } from './lib/common';
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

const SCHEMA = join(__dirname, 'env', 'samba-view.schema');

interface LdapCopy { sock: string; entries: number; stop(): Promise<void> }

/**
 * The LDAP floor: slapd (OpenLDAP's C server, mdb, the indexes Samba's documentation asks
 * for) holding a copy of every entry the view serves, bound by the same DN and secret; the
 * same smbd build reads it with ldapsam. What ldapsam itself costs over tdbsam (libldap in
 * smbd, one round trip per search) shows here, apart from what nasauthd's view adds.
 * A string: why it could not be started.
 */
export async function startLdapCopy(viewSock: string, secret: string): Promise<LdapCopy | string> {
  for (const tool of ['slapd', 'slapadd', 'ldapsearch']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed (Debian: slapd, ldap-utils; scripts/ensure-deps.sh installs them)`;
  }
  const dump = spawnSync('ldapsearch', ['-x', '-H', `ldapi://${encodeURIComponent(viewSock)}`, '-D', 'cn=samba,dc=nas,dc=local', '-w', secret,
    '-LLL', '-o', 'ldif-wrap=no', '-b', 'dc=nas,dc=local', '(objectClass=*)', '*'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (dump.status !== 0) return `could not copy the view's entries: ${dump.stderr.trim()}`;
  const dir = tmpDir('slapd');
  fs.chmodSync(dir, 0o755);
  fs.mkdirSync(join(dir, 'db'), { mode: 0o700 });
  const conf = join(dir, 'slapd.conf');
  fs.writeFileSync(conf, [
    ...['core', 'cosine', 'inetorgperson', 'nis'].map((s) => `include /etc/ldap/schema/${s}.schema`),
    `include ${SCHEMA}`, `pidfile ${join(dir, 'slapd.pid')}`, 'modulepath /usr/lib/ldap', 'moduleload back_mdb', 'loglevel 0',
    'database mdb', 'suffix "dc=nas,dc=local"', 'rootdn "cn=samba,dc=nas,dc=local"', `rootpw ${secret}`, `directory ${join(dir, 'db')}`, 'maxsize 268435456',
    'index objectClass eq', 'index uidNumber,gidNumber eq', 'index uid,memberUid eq', 'index sambaSID eq', 'index sambaPrimaryGroupSID eq',
    'index sambaGroupType eq', 'index sambaDomainName eq', '',
  ].join('\n'), { mode: 0o600 });
  fs.writeFileSync(join(dir, 'entries.ldif'), dump.stdout, { mode: 0o600 });
  const add = spawnSync('slapadd', ['-q', '-f', conf, '-l', join(dir, 'entries.ldif')], { encoding: 'utf8' });
  if (add.status !== 0) return `slapadd refused the view's entries: ${(add.stderr + add.stdout).trim().slice(0, 300)}`;
  const sock = join(dir, 'ldapi');
  const proc: ChildProcess = spawn('slapd', ['-f', conf, '-h', `ldapi://${encodeURIComponent(sock)}`, '-d', '0'], { stdio: 'ignore' });
  let exited = false;
  const gone = new Promise<void>((r) => proc.once('exit', () => { exited = true; r(); }));
  const stop = async () => {
    if (!exited) { proc.kill('SIGTERM'); await gone; }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 200; i++) {
    if (exited) break;
    const r = spawnSync('ldapsearch', ['-x', '-H', `ldapi://${encodeURIComponent(sock)}`, '-b', '', '-s', 'base', '-LLL', 'namingContexts'], { encoding: 'utf8', timeout: 3000 });
    if (r.status === 0) return { sock, entries: (dump.stdout.match(/^dn: /gm) ?? []).length, stop };
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  return 'slapd did not answer on its ldapi socket';
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
  const copies: LdapCopy[] = [];
  try {
    const secret = fs.readFileSync(join(d.stateDir, 'ldap-bind.secret'), 'utf8').trim();
    const [p1, p2, p3] = await freePorts(3);
    const ldap = await startSamba({ ldapi: d.ldap, bindSecret: secret, nssDir: d.nssDir, port: p1 });
    smbs.push(ldap);
    const tdb = await startSamba({ backend: 'tdbsam', nssDir: d.nssDir, port: p2 });
    smbs.push(tdb);
    const addu = tdb.inNs(['smbpasswd', '-c', tdb.conf, '-a', '-s', USER.name], `${USER.password}\n${USER.password}\n`);
    if (addu.status !== 0) throw new Error(`smbpasswd -a for tdbsam failed: ${addu.stderr}`);
    // the LDAP floor: the same smbd with ldapsam on slapd holding a copy of the view
    const copy = await startLdapCopy(d.ldap, secret);
    let slapdSmb: Samba | null = null;
    if (typeof copy !== 'string') {
      copies.push(copy);
      slapdSmb = await startSamba({ ldapi: copy.sock, bindSecret: secret, nssDir: d.nssDir, port: p3 });
      smbs.push(slapdSmb);
    }

    const pw = p.wrongPassword ? `${USER.password}-WRONG` : USER.password;
    const notes: string[] = [];
    const servers: Record<'ldap' | 'tdb' | 'slapd', Samba | null> = { ldap, tdb, slapd: slapdSmb };
    const kinds = (['ldap', 'slapd', 'tdb'] as const).filter((k) => servers[k]);
    // warm-up: the first child of each smbd loads the domain, the client's libraries come
    // into the page cache, and the daemon's JIT settles: its first logins after a start run
    // in V8's interpreter while the optimising compiler works on other threads (~2.4 ms of
    // CPU per login for the first ~100 logins on this machine, docs/performance.md)
    for (let i = 0; i < p.smbWarmup; i++) for (const k of kinds) await login(servers[k]!, USER.name, USER.password);
    // correctness probe: a wrong password must be refused through the view
    const neg = await login(ldap, USER.name, 'Not-the-password-1');
    const negErr = neg.ok || !/LOGON_FAILURE|WRONG_PASSWORD|ACCESS_DENIED/.test(neg.out) ? 1 : 0;
    if (negErr) notes.push(`the wrong password was not refused: ${neg.out.slice(0, 200)}`);
    const t = { ldap: [] as number[], tdb: [] as number[], slapd: [] as number[] };
    const err = { ldap: 0, tdb: 0, slapd: 0 };
    for (let i = 0; i < p.smbRuns; i++) {
      const order = i % 2 ? [...kinds].reverse() : kinds;
      for (const k of order) {
        const r = await login(servers[k]!, USER.name, k === 'ldap' ? pw : USER.password);
        if (r.ok) t[k].push(r.ms); else { err[k] += 1; if (notes.length < 3) notes.push(`${k} login failed: ${r.out.trim().split('\n').slice(-1)[0]}`); }
      }
    }
    const L = latStats(t.ldap);
    const T = latStats(t.tdb);
    const ratio = L.p50 / T.p50;
    const S = t.slapd.length ? latStats(t.slapd) : null;
    const rows: Row[] = [
      { what: 'smbclient -m SMB3 -c ls, smbd with tdbsam', peer: true, median: fmtMs(T.p50), p99: fmtMs(T.max), rate: fmtRate(1000 / T.mean), noise: range([T.min, T.max], fmtMs), errors: err.tdb },
      S
        ? { what: 'LDAP floor: the same smbd with ldapsam → slapd (OpenLDAP, mdb) holding a copy of the view\'s entries', peer: true, median: fmtMs(S.p50), p99: fmtMs(S.max), rate: fmtRate(1000 / S.mean), noise: range([S.min, S.max], fmtMs), ratio: `${fmtX(S.p50 / T.p50)} tdbsam`, errors: err.slapd }
        : { what: `LDAP floor (ldapsam → slapd): not measured: ${copy as string}`, median: '', p99: '', errors: 0 },
      { what: 'smbclient -m SMB3 -c ls, smbd with ldapsam → nasauthd', median: fmtMs(L.p50), p99: fmtMs(L.max), rate: fmtRate(1000 / L.mean), noise: range([L.min, L.max], fmtMs), ratio: `${fmtX(ratio)} tdbsam${S ? `; ${fmtX(L.p50 / S.p50)} ldapsam → slapd` : ''}`, errors: err.ldap, goal: 'within 1.1× of tdbsam', met: ratio <= 1.1 },
      { what: 'correctness probe: wrong password through ldapsam → NT_STATUS_LOGON_FAILURE', median: '', p99: '', errors: negErr },
    ];
    notes.push(`p99 column: the slowest of ${p.smbRuns} runs (too few runs for a 99th percentile); noise: fastest–slowest run. Median of whole processes: ldapsam → nasauthd ${fmtMs(median(t.ldap))}, ldapsam → slapd ${S ? fmtMs(S.p50) : 'not measured'}, tdbsam ${fmtMs(median(t.tdb))}.`);
    const errors = err.ldap + err.tdb + err.slapd + negErr;
    return {
      id: '4', title: TITLE, status: errors ? 'fail' : 'ok', rows, notes, errors, seconds: 0,
      data: { ldapMs: t.ldap, tdbMs: t.tdb, slapdMs: t.slapd },
      method: [
        `Three smbd (Debian's build) on 127.0.0.1 ports ${p1}, ${p2} and ${p3} (range ${PORTS[0]}-${PORTS[1]}), started by test/helpers/samba.ts startSamba: private mount namespace, private smb.conf derived from sysroot/etc/samba/smb.conf, private state folders. One has \`passdb backend = ldapsam\` on the daemon's ldapi socket, one \`passdb backend = tdbsam\` with the user added by \`smbpasswd -a -s\`, and one \`ldapsam\` on slapd (the LDAP floor: OpenLDAP's mdb backend with the indexes Samba's documentation asks for, loaded by slapadd with every entry the view serves, copied from it by ldapsearch, bound by the same DN and secret; schema bench/env/samba-view.schema, an extract of Samba's). All resolve the user through the daemon's extrausers files.`,
        `Each run is a whole process: \`smbclient //127.0.0.1/Public -p PORT -U user%pass -m SMB3 -c ls\`, timed from spawn to exit; it counts only when it exits 0 with a listing. ${p.smbRuns} runs per backend, the order reversed every run; ${p.smbWarmup} warm-up logins per backend before them are not counted (the daemon's JIT settles; a daemon's first logins after a start cost more CPU, docs/performance.md).`,
        'The daemon has the benchmark user plus 1000 filler accounts and the device scrypt parameters (not used here: smbd checks the NT hash it reads from the view).',
      ],
    };
  } finally {
    for (const s of smbs) await s.stop();
    for (const c of copies) await c.stop();
    await d.stop();
  }
}

if (require.main === module) void main([{ id: '4', title: TITLE, run: figure4 }], false);
