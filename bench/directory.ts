// Figure 8: following a directory. One slapd (StartTLS, a CA made for the run) and three
// followers of it in the same run, each asked through pamtester: nasauthd
// (pam_nasauth.so), SSSD (sssd-ldap, pam_sss.so, cache_credentials and
// cached_auth_timeout set) and nslcd (pam_ldap.so). Logins online (first, repeated) and
// with slapd killed (offline); then nasauthd's memory and refresh with 10,000 users.
//   npx ts-node --transpile-only bench/directory.ts [--quick] [--reps N]
// Needs root: slapd on loopback ports 13890-13899, and the peers in private mount
// namespaces with their own config (the machine's /etc is never read or changed).
import { spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { fmtKB, fmtMs, fmtX, has, latStats, main, median, notMeasured, run, sleep, spawnTracked, tmpDir, type FigureResult, type Params, type Row } from './lib/common';
import { buildModule } from './pam';
import { buildStore, DEVICE_SCRYPT, httpGet, httpReq, startDaemon, type BenchDaemon } from './lib/daemon';
import {
  makeCa, posixGroupLdif, serverCert, SERVICE_DN, SERVICE_PW, startSlapd, SUFFIX, upstreamConfig, userLdif, writeSecret, type Slapd,
} from '../test/helpers/slapd';

export const TITLE = 'Following a directory: pamtester logins through nasauthd, SSSD and nslcd on one slapd; memory and refresh with 10,000 users';

const SEC = '/lib/x86_64-linux-gnu/security';

/** Why figure 8 cannot run here, or null. */
export function directorySkipReason(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (slapd, and the peers in private mount namespaces)';
  for (const b of ['slapd', 'slapadd', 'ldapsearch', 'openssl', 'sssd', 'nslcd', 'pamtester', 'unshare', 'gcc', 'make']) if (!has(b)) return `${b} is not installed`;
  const sec = fs.existsSync(SEC) ? SEC : '/usr/lib/x86_64-linux-gnu/security';
  for (const m of ['pam_sss.so', 'pam_ldap.so']) if (!fs.existsSync(join(sec, m))) return `${m} is not installed (libpam-sss, libpam-ldapd)`;
  if (spawnSync('id', ['nslcd']).status !== 0) return 'the nslcd user is missing (package nslcd)';
  return null;
}

interface Peer { stop(): Promise<void>; log(): string }

/**
 * A daemon in its own mount namespace: `binds` [host, target] first, then exec. Its
 * output goes to a file (a pipe the harness does not drain would stall it).
 */
function inNamespace(binds: Array<[string, string]>, extra: string, argv: string[], logFile: string): { proc: ChildProcess; out: () => string } {
  const q = (x: string) => `'${x.replace(/'/g, `'\\''`)}'`;
  const mounts = binds.map(([a, b]) => `mount --bind ${q(a)} ${q(b)}`).join(' && ');
  const fd = fs.openSync(logFile, 'a');
  const proc = spawnTracked('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `${extra ? `${extra} && ` : ''}${mounts} && exec ${argv.map(q).join(' ')}`], { stdio: ['ignore', fd, fd], detached: true });
  fs.closeSync(fd);
  return { proc, out: () => { try { return fs.readFileSync(logFile, 'utf8'); } catch { return ''; } } };
}

async function stopGroup(proc: ChildProcess) {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = new Promise<void>((r) => proc.once('exit', () => r()));
  try { process.kill(-proc.pid!, 'SIGTERM'); } catch { /* gone */ }
  const t = setTimeout(() => { try { process.kill(-proc.pid!, 'SIGKILL'); } catch { /* gone */ } }, 5000);
  await gone;
  clearTimeout(t);
}

/** SSSD (sssd-ldap) with its own /etc/sssd, /var/lib/sss and /var/log/sssd. */
async function startSssd(dir: string, s: Slapd, ca: string): Promise<Peer & { lib: string }> {
  const etc = join(dir, 'sssd-etc');
  const lib = join(dir, 'sss-lib');
  const logd = join(dir, 'sssd-log');
  fs.mkdirSync(join(etc, 'conf.d'), { recursive: true });
  for (const d of ['db', 'pipes/private', 'mc', 'pubconf', 'gpo_cache', 'secrets', 'keytabs']) fs.mkdirSync(join(lib, d), { recursive: true });
  fs.mkdirSync(logd);
  fs.writeFileSync(join(etc, 'sssd.conf'), [
    '[sssd]', 'services = pam', 'domains = bench', '',
    '[pam]', 'offline_credentials_expiration = 0', '',
    '[domain/bench]', 'id_provider = ldap', 'auth_provider = ldap', `ldap_uri = ${s.ldapUrl}`, `ldap_search_base = ${SUFFIX}`,
    `ldap_default_bind_dn = ${SERVICE_DN}`, `ldap_default_authtok = ${SERVICE_PW}`,
    'ldap_id_use_start_tls = true', `ldap_tls_cacert = ${ca}`, 'ldap_tls_reqcert = demand',
    'cache_credentials = true', 'cached_auth_timeout = 600', 'entry_cache_timeout = 600', '',
  ].join('\n'), { mode: 0o600 });
  const n = inNamespace([[etc, '/etc/sssd'], [lib, '/var/lib/sss'], [logd, '/var/log/sssd']], '', ['sssd', '-i', '--logger=stderr', '-d', '1'], join(dir, 'sssd.out'));
  for (let i = 0; i < 200 && !fs.existsSync(join(lib, 'pipes', 'pam')); i++) await sleep(50);
  if (!fs.existsSync(join(lib, 'pipes', 'pam'))) throw new Error(`sssd did not open its PAM pipe:\n${n.out().slice(-1500)}`);
  return { lib, log: n.out, stop: () => stopGroup(n.proc) };
}

/** nslcd with its own /etc/nslcd.conf and /run/nslcd (a private tmpfs /run in its namespace). */
async function startNslcd(dir: string, s: Slapd, ca: string): Promise<Peer & { run: string }> {
  const run = join(dir, 'nslcd-run');
  fs.mkdirSync(run);
  const uid = Number(spawnSync('id', ['-u', 'nslcd'], { encoding: 'utf8' }).stdout);
  const gid = Number(spawnSync('id', ['-g', 'nslcd'], { encoding: 'utf8' }).stdout);
  fs.chownSync(run, uid, gid);
  const conf = join(dir, 'nslcd.conf');
  fs.writeFileSync(conf, `uid nslcd\ngid nslcd\nuri ${s.ldapUrl}\nbase ${SUFFIX}\nbinddn ${SERVICE_DN}\nbindpw ${SERVICE_PW}\nssl start_tls\ntls_reqcert demand\ntls_cacertfile ${ca}\n`, { mode: 0o640 });
  fs.chownSync(conf, 0, gid);
  const n = inNamespace([[conf, '/etc/nslcd.conf'], [run, '/run/nslcd']], 'mount -t tmpfs nasauth-bench /run && mkdir /run/nslcd', ['nslcd', '-n'], join(dir, 'nslcd.out'));
  for (let i = 0; i < 200 && !fs.existsSync(join(run, 'socket')); i++) await sleep(50);
  if (!fs.existsSync(join(run, 'socket'))) throw new Error(`nslcd did not open its socket:\n${n.out().slice(-1500)}`);
  return { run, log: n.out, stop: () => stopGroup(n.proc) };
}

interface Sample { ms: number; out: string; ok: boolean }

export async function figure8(p: Params): Promise<FigureResult> {
  const skip = directorySkipReason();
  if (skip) return notMeasured('8', TITLE, skip);
  const mod = buildModule();
  if ('error' in mod) return notMeasured('8', TITLE, mod.error);
  const n = p.quick ? 3 : 20;
  const nslcdDead = p.quick ? 1 : 3;
  const dir = tmpDir('dir');
  const users = Array.from({ length: n }, (_, i) => ({ name: `bench${String(i).padStart(3, '0')}`, uid: 50_000 + i, password: `Bench-pass-${i}-Ok` }));
  const ca = makeCa(join(dir, 'ca'));
  fs.chmodSync(ca.dir, 0o755);
  fs.chmodSync(ca.cert, 0o644);
  let s: Slapd | null = null;
  let d: BenchDaemon | null = null;
  let sssd: (Peer & { lib: string }) | null = null;
  let nslcd: (Peer & { run: string }) | null = null;
  const notes: string[] = [];
  try {
    s = await startSlapd({ ldap: true, tls: serverCert(ca, join(dir, 'srv')), seed: users.map((u) => userLdif(u)).join('') + posixGroupLdif('benchers', 60001, users.map((u) => u.name)) });
    d = await startDaemon({
      store: buildStore({ users: [], filler: 0, scrypt: DEVICE_SCRYPT }), scrypt: DEVICE_SCRYPT, logLevel: p.logLevel, readyAccounts: null,
      config: upstreamConfig(s, {
        url: s.ldapUrl!, ca: ca.cert, secretFile: writeSecret(dir),
        extra: { cached_auth_seconds: 600, timeout_ms: 4000, connect_timeout_ms: 2000, refresh: { interval_seconds: 3600, jitter_seconds: 60, page_size: 500, max_users: 50_000, max_groups: 20_000 } },
      }),
    });
    sssd = await startSssd(dir, s, ca.cert);
    nslcd = await startNslcd(dir, s, ca.cert);
    const pamd = join(dir, 'pam.d');
    fs.mkdirSync(pamd);
    fs.writeFileSync(join(pamd, 'nasauth-bench'), `auth required ${mod.path} socket=${d.pam} priv_socket=${d.pamPriv} service=dashboard\n`);
    fs.writeFileSync(join(pamd, 'sss-bench'), 'auth required pam_sss.so\n');
    fs.writeFileSync(join(pamd, 'ldap-bench'), 'auth required pam_ldap.so\n');
    fs.writeFileSync(join(pamd, 'permit-bench'), 'auth required pam_permit.so\n');
    // one namespace recipe for every pamtester run: each peer's socket folder where its module looks
    const script = `mount --bind ${pamd} /etc/pam.d && mount --bind ${sssd.lib} /var/lib/sss && mount -t tmpfs nasauth-bench /run && mkdir /run/nslcd && mount --bind ${nslcd.run} /run/nslcd && exec pamtester -v "$@"`;
    const pam = async (service: string, user: string, pw: string, want: RegExp): Promise<Sample> => {
      // spawned, not spawnSync: the harness keeps serving its own event loop meanwhile
      const r = await run('unshare', ['-m', 'sh', '-c', script, 'sh', service, user, 'authenticate'], { input: `${pw}\n`, timeoutMs: 120_000 });
      const out = `${r.stdout}${r.stderr}`;
      return { ms: r.ms, out, ok: want.test(out) };
    };
    const OK = /pamtester: successfully authenticated/;
    const UNAVAIL = /Authentication service cannot retrieve authentication info|Authentication failure/;
    const S: Record<string, Sample[]> = {};
    const put = (k: string, x: Sample) => { (S[k] ??= []).push(x); };
    const peers = [['nasauth', 'nasauth-bench'], ['sssd', 'sss-bench'], ['nslcd', 'ldap-bench']] as const;

    // wrong passwords first (no cache holds anything yet): each must be refused
    for (const [k, svc] of peers) put(`${k}:probe`, await pam(svc, users[0].name, 'Not-the-password-1', /Authentication failure/));
    for (let rep = 0; rep < Math.max(1, p.reps); rep++) put('floor', await pam('permit-bench', 'nobody', 'x', OK));
    // online: each user's first login (nothing cached), then a repeat (cached), interleaved
    for (const u of users) for (const [k, svc] of peers) { put(`${k}:first`, await pam(svc, u.name, u.password, OK)); put('floor', await pam('permit-bench', 'nobody', 'x', OK)); }
    for (const u of users) for (const [k, svc] of peers) put(`${k}:repeat`, await pam(svc, u.name, u.password, OK));
    // offline: slapd killed; the first login after it, then the others
    await s.kill();
    for (const [k, svc] of peers.filter(([k]) => k !== 'nslcd')) {
      put(`${k}:offline-first`, await pam(svc, users[0].name, users[0].password, OK));
      for (const u of users.slice(1)) put(`${k}:offline`, await pam(svc, u.name, u.password, OK));
    }
    for (const u of users.slice(0, nslcdDead)) put('nslcd:offline', await pam('ldap-bench', u.name, u.password, UNAVAIL));
    // nasauthd's own view of it
    const st = await httpGet(d.admin, '/v1/admin/upstream');
    const upState = st ? JSON.parse(st.body).upstream : null;

    const stat = (k: string) => latStats((S[k] ?? []).map((x) => x.ms));
    const errs = (k: string) => (S[k] ?? []).filter((x) => !x.ok).length;
    for (const [k, v] of Object.entries(S)) for (const x of v.filter((y) => !y.ok).slice(0, 1)) notes.push(`wrong answer (${k}): ${x.out.trim().split('\n').slice(-1)[0]}`);
    const floor = stat('floor').p50;
    const row = (what: string, k: string, peer: boolean, extra: Partial<Row> = {}): Row => {
      const x = stat(k);
      return { what: `${what} (n=${x.n})`, peer, median: fmtMs(x.p50), p99: fmtMs(x.p99), noise: `${fmtMs(x.min)}–${fmtMs(x.max)}; minus the floor ${fmtMs(x.p50 - floor)}`, errors: errs(k), ...extra };
    };
    const vs = (a: string, b: string) => stat(b).p50 / stat(a).p50;
    const rows: Row[] = [
      row('floor: pamtester + pam_permit in the same private namespace (process start, no directory)', 'floor', true),
      row('nasauth, online, first login of a user (search + bind as the user + scrypt + store write)', 'nasauth:first', false, { ratio: `SSSD ${fmtX(vs('nasauth:first', 'sssd:first'))}, nslcd ${fmtX(vs('nasauth:first', 'nslcd:first'))} of nasauth` }),
      row('SSSD, online, first login of a user', 'sssd:first', true),
      row('nslcd, online, first login of a user', 'nslcd:first', true),
      row('nasauth, online, repeat login (cached_auth_seconds 600: the hot cache answers)', 'nasauth:repeat', false, { ratio: `SSSD ${fmtX(vs('nasauth:repeat', 'sssd:repeat'))}, nslcd ${fmtX(vs('nasauth:repeat', 'nslcd:repeat'))} of nasauth` }),
      row('SSSD, online, repeat login (cached_auth_timeout 600)', 'sssd:repeat', true),
      row('nslcd, online, repeat login (no cache: binds again)', 'nslcd:repeat', true),
      row('nasauth, slapd killed: the first login after it', 'nasauth:offline-first', false),
      row('SSSD, slapd killed: the first login after it', 'sssd:offline-first', true),
      row('nasauth, slapd killed: later logins (offline copy)', 'nasauth:offline', false, { ratio: `SSSD ${fmtX(vs('nasauth:offline', 'sssd:offline'))} of nasauth`, goal: 'answered, never blocked by the dead directory', met: errs('nasauth:offline') === 0 && errs('nasauth:offline-first') === 0 }),
      row('SSSD, slapd killed: later logins (cached credentials)', 'sssd:offline', true),
      row('nslcd, slapd killed: every login blocks, then PAM_AUTHINFO_UNAVAIL', 'nslcd:offline', true, { ratio: `${fmtX(vs('nasauth:offline', 'nslcd:offline'))} nasauth's offline login` }),
      { what: 'correctness probes: a wrong password through each of the three → PAM_AUTH_ERR', median: '', p99: '', errors: errs('nasauth:probe') + errs('sssd:probe') + errs('nslcd:probe') },
    ];
    if (upState) notes.push(`nasauthd after the kill: ${upState.state}, ${upState.error?.kind ?? ''} (${upState.error?.message ?? ''})`);

    // ---- memory and refresh with 10,000 directory users ----------------------------
    await d.stop(); d = null;
    await sssd.stop(); sssd = null;
    await nslcd.stop(); nslcd = null;
    s.cleanup(); s = null;
    const big = p.quick ? 1000 : 10_000;
    const steadyN = p.quick ? 1 : 6;
    const seed: string[] = [];
    for (let i = 0; i < big; i++) seed.push(userLdif({ name: `user${String(i).padStart(5, '0')}`, uid: 100_000 + i, password: `Pass-${i}-x`, samba: i % 2 === 0, mail: `user${i}@example.org`, displayName: `User ${i}` }));
    for (let g = 0; g < 20; g++) seed.push(posixGroupLdif(`team${g}`, 70_000 + g, Array.from({ length: big / 20 }, (_, i) => `user${String(g * (big / 20) + i).padStart(5, '0')}`)));
    s = await startSlapd({ seed: seed.join(''), sizeLimit: 500 });
    const view = { sockets: { ldap: { enabled: true } } };
    const idleRss = async (store: ReturnType<typeof buildStore>) => {
      const x = await startDaemon({ store, scrypt: DEVICE_SCRYPT, logLevel: p.logLevel, config: view });
      await sleep(1000);
      const r = x.rss();
      await x.stop();
      return r;
    };
    const rssEmpty = await idleRss(buildStore({ users: [], filler: 0, scrypt: DEVICE_SCRYPT }));
    const rssLocal = await idleRss(buildStore({ users: [], filler: big, scrypt: DEVICE_SCRYPT }));
    /** A daemon following the big directory: its first refresh, then steady ones, RSS along the way. */
    const follow = async (nodeArgs: string[]) => {
      const x = await startDaemon({
        store: buildStore({ users: [], filler: 0, scrypt: DEVICE_SCRYPT }), scrypt: DEVICE_SCRYPT, logLevel: p.logLevel, readyAccounts: null, nodeArgs,
        config: { ...upstreamConfig(s!, { secretFile: writeSecret(dir), extra: { refresh: { interval_seconds: 3600, jitter_seconds: 60, page_size: 500, max_users: 50_000, max_groups: 20_000 } } }), ...view },
      });
      d = x;
      let first: Record<string, number> | null = null;
      for (let i = 0; i < 1200 && !first; i++) {
        const r = await httpGet(x.admin, '/v1/admin/upstream');
        const lr = r ? JSON.parse(r.body).upstream?.last_refresh : null;
        if (lr?.ok) first = lr; else await sleep(100);
      }
      if (!first) throw new Error('the first refresh did not finish');
      await sleep(1000);
      const rssFirst = x.rss();
      const steady: Array<Record<string, number>> = [];
      for (let i = 0; i < steadyN; i++) {
        const r = await httpReq(x.admin, 'POST', '/v1/admin/upstream/refresh', '{}');
        steady.push(JSON.parse(r!.body).report);
      }
      await sleep(1000);
      return { x, first, rssFirst, steady, rssSteady: x.rss() };
    };
    const A = await follow([]);
    // a first login with 10,000 accounts in the store (the store is written once for it)
    const firstLogin: number[] = [];
    for (let i = 0; i < (p.quick ? 2 : 5); i++) {
      const t0 = process.hrtime.bigint();
      const r = await httpReq(A.x.query, 'POST', '/v1/authenticate', JSON.stringify({ user: `user${String(i * 7).padStart(5, '0')}`, password: `Pass-${i * 7}-x`, service: 'dashboard' }));
      firstLogin.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (!r || JSON.parse(r.body).reason !== 'ok') notes.push(`wrong answer (first login with ${big} accounts): ${r?.body}`);
    }
    await A.x.stop(); d = null;
    const capped = '--max-old-space-size=128';
    const B = await follow([capped]);
    await B.x.stop(); d = null;
    const sm = (xs: number[]) => fmtMs(median(xs));
    const mb = (kb: number) => kb / 1024;
    rows.push(
      { what: 'nasauthd RSS, idle, no accounts, LDAP view on (device settings)', peer: true, median: fmtKB(rssEmpty), p99: '', errors: 0 },
      { what: `nasauthd RSS, idle, ${big} local accounts, LDAP view on (no directory)`, peer: true, median: fmtKB(rssLocal), p99: '', errors: 0 },
      { what: `nasauthd RSS after the first refresh of ${big} directory users (${big / 2} with sambaNTPassword, 20 groups)`, median: fmtKB(A.rssFirst), p99: '', ratio: `${fmtKB(A.rssFirst - rssLocal)} over the same number of local accounts`, errors: 0 },
      { what: `… after ${steadyN} more refreshes (the init script's heap bound, --max-old-space-size=256)`, median: fmtKB(A.rssSteady), p99: '', ratio: `+${fmtKB(A.rssSteady - A.rssFirst)}`, errors: 0, goal: `flat across refreshes (≤ +10 MB)`, met: mb(A.rssSteady - A.rssFirst) <= 10 },
      { what: `… the same with node ${capped}: after the first refresh / after ${steadyN} more`, median: `${fmtKB(B.rssFirst)} / ${fmtKB(B.rssSteady)}`, p99: '', ratio: `+${fmtKB(B.rssSteady - B.rssFirst)}`, errors: 0, goal: 'flat across refreshes (≤ +10 MB)', met: mb(B.rssSteady - B.rssFirst) <= 10 },
      { what: `first refresh: ${big} users read in pages of 500 (server size limit 500), accounts created, store, NSS and LDAP view written`, median: fmtMs(A.first.ms), p99: '', noise: `heap used at most ${fmtKB(A.first.heap_peak / 1024)} (garbage included)`, errors: 0 },
      { what: 'steady refresh (nothing changed: nothing written)', median: sm(A.steady.map((x) => x.ms)), p99: '', noise: `${fmtMs(Math.min(...A.steady.map((x) => x.ms)))}–${fmtMs(Math.max(...A.steady.map((x) => x.ms)))}; heap used at most ${fmtKB(Math.max(...A.steady.map((x) => x.heap_peak)) / 1024)}`, errors: 0 },
      { what: `first login of a directory user with ${big} accounts in the store (query socket; scrypt ln 14 + one store write)`, median: sm(firstLogin), p99: '', noise: `${fmtMs(Math.min(...firstLogin))}–${fmtMs(Math.max(...firstLogin))}`, errors: notes.filter((x) => x.includes('first login with')).length },
    );
    const errors = rows.reduce((a, r) => a + r.errors, 0);
    notes.push(`nslcd blocked ${fmtMs(stat('nslcd:offline').p50)} per login on the dead directory (its defaults: bind_timelimit 10, reconnect_sleeptime 1, reconnect_retrytime 10), then answered PAM_AUTHINFO_UNAVAIL; nasauth answered from its offline copy, SSSD from its cached credentials.`);
    return {
      id: '8', title: TITLE, status: errors ? 'fail' : 'ok', rows, notes, errors, seconds: 0,
      data: { samples: Object.fromEntries(Object.entries(S).map(([k, v]) => [k, v.map((x) => Math.round(x.ms * 100) / 100)])), rssEmpty, rssLocal, A: { first: A.first, steady: A.steady, rssFirst: A.rssFirst, rssSteady: A.rssSteady }, B: { first: B.first, steady: B.steady, rssFirst: B.rssFirst, rssSteady: B.rssSteady }, firstLogin },
      method: [
        'One slapd (Debian\'s, test/helpers/slapd.ts: own slapd.conf, loopback port, StartTLS with a CA made for the run) holds the users; nasauthd, SSSD and nslcd all follow it with the same service identity over StartTLS, in the same run.',
        `nasauthd: the shipped bundle, device scrypt (ln ${DEVICE_SCRYPT.log_n}), upstream.cached_auth_seconds 600, asked through pam_nasauth.so. SSSD ${has('sssd') ? '(Debian\'s sssd-ldap 2.8)' : ''}: id/auth_provider ldap, cache_credentials true, cached_auth_timeout 600, pam_sss.so. nslcd (Debian\'s 0.9.12): its defaults, pam_ldap.so. SSSD and nslcd run in private mount namespaces with their own /etc/sssd, /var/lib/sss, /etc/nslcd.conf and /run/nslcd; the machine\'s /etc is not read or changed.`,
        `Every login is one \`pamtester -v SERVICE USER authenticate\` in \`unshare -m\` (the private pam.d and the peers' socket folders bind-mounted), timed from spawn to exit; the floor row is the same with pam_permit, so "minus the floor" is the peer's own time. ${n} users, first logins interleaved across the three peers, then repeats; then slapd is killed (SIGKILL: the port refuses) and every user signs in again.`,
        'Every timed answer is checked: online and offline logins must print "successfully authenticated" (nslcd offline must refuse), and a wrong password must fail through each peer.',
        `Memory: VmRSS of nasauthd (device malloc settings, LDAP view on) idle with no accounts, with ${p.quick ? 1000 : 10_000} local accounts, and following ${p.quick ? 1000 : 10_000} directory users (slapd's size limit 500, so only paged searches get them all) after its first refresh and after more refreshes that change nothing; once with the init script's NODE_OPTS (--max-old-space-size=256: what V8 picks by itself on a 1 GB box, a quarter of the RAM), once with --max-old-space-size=128 (growth up to the bound is garbage V8 has not collected yet, not held memory; 80 is too small: the first refresh fails). Refresh time and heap from the daemon's own report (GET /v1/admin/upstream).`,
      ],
    };
  } finally {
    await d?.stop();
    await sssd?.stop();
    await nslcd?.stop();
    if (s) { await s.stop().catch(() => undefined); s.cleanup(); }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) void main([{ id: '8', title: TITLE, run: figure8 }], false);

