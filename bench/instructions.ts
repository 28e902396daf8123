// Instructions per request, counted by valgrind's callgrind: the same count whatever
// else the machine does, so a change of a few percent shows on a loaded machine where
// wall-clock figures wander by more than that (docs/performance.md "How it was measured").
// The server (nasauthd, or its floor) runs under callgrind; after a warm-up its counters
// are zeroed, N requests are sent, and the counters are dumped: every instruction of
// every thread of the server (user space) over exactly those N requests, divided by N.
//
//   npx ts-node --transpile-only bench/instructions.ts [query] [pam] [ldap] [--n N] [--warm N] [--conns C] [--rounds R] [--keep DIR] [--node-arg X]... [--bundle FILE]
//
//   query  POST /v1/authenticate cache hits (8 users, 1000 filler accounts, audit log at
//          info to a file, as figure 1) vs bench/lib/floor.js http with the same client
//   pam    whole PAM transactions through pam_nasauth.so on a cache hit (bench/pam_loop.c,
//          as figure 3) vs bench/lib/floor.js pam answering pam_loop's bare AUTH frame
//   ldap   whole smbclient logins through smbd ldapsam -> the LDAP view (as figure 4);
//          no floor (tdbsam has no server process): instructions per login
//
// --keep DIR keeps the callgrind files (callgrind_annotate DIR/FILE shows where the
// instructions went: C++ and builtins by name, JIT code as addresses). --bundle runs
// another build of the daemon (A/B in one sitting).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { has, run, sleep, tmpDir } from './lib/common';
import { buildStore, httpReq, startDaemon, startFloor, TEST_SCRYPT, warm, type BenchDaemon } from './lib/daemon';
import { LoadGen } from './lib/loadgen';
import { BENCH_USERS, FLOOR_OK, HIT, specs } from './query';

const argv = process.argv.slice(2);
const flag = (name: string, d: string) => { const i = argv.indexOf(`--${name}`); return i >= 0 && argv[i + 1] ? argv[i + 1] : d; };
const N = Number(flag('n', '4000'));
const WARM = Number(flag('warm', '3000'));
const CONNS = Number(flag('conns', '8'));
/** measure this many times in a row (the JIT settles: later rounds should agree) */
const ROUNDS = Number(flag('rounds', '1'));
const KEEP = argv.includes('--keep') ? flag('keep', '') : '';
const BUNDLE = argv.includes('--bundle') ? flag('bundle', '') : undefined;
/** extra node options for the daemon and the floor (e.g. --perf-basic-prof: /tmp/perf-PID.map names the JIT code in the dumps) */
const NODE_ARGS = argv.flatMap((a, i) => (a === '--node-arg' && argv[i + 1] ? [argv[i + 1]] : []));
const what = argv.filter((a, i) => !a.startsWith('--') && !(i > 0 && argv[i - 1].startsWith('--'))).filter((a) => ['query', 'pam', 'ldap'].includes(a));

const VALGRIND = (dir: string, name: string) => ['valgrind', '--tool=callgrind', `--callgrind-out-file=${join(dir, `${name}.%p.cg`)}`, '--dump-instr=no', '--quiet'];

/** Send a callgrind_control command; the server is poked with requests meanwhile (a blocked process reads commands late). */
async function control(pid: number, cmd: '-z' | '-d', poke: () => Promise<unknown>): Promise<void> {
  const p = run('callgrind_control', [cmd, String(pid)], { timeoutMs: 120_000 });
  let done = false;
  void p.then(() => { done = true; });
  while (!done) { await Promise.race([p, sleep(200)]); if (!done) await poke().catch(() => undefined); }
  const r = await p;
  if (r.code !== 0) throw new Error(`callgrind_control ${cmd} ${pid}: ${r.stderr || r.stdout}`);
}

/** Total instructions (Ir) of the last dump a process wrote. */
function lastDump(dir: string, name: string, pid: number): { ir: number; file: string } {
  const files = fs.readdirSync(dir).filter((f) => f.startsWith(`${name}.${pid}.cg.`)).sort((a, b) => Number(a.split('.').pop()) - Number(b.split('.').pop()));
  const file = files.pop();
  if (!file) throw new Error(`no callgrind dump of ${name} (pid ${pid}) in ${dir}`);
  const text = fs.readFileSync(join(dir, file), 'utf8');
  const m = /^(?:summary|totals): (\d+)/m.exec(text);
  if (!m) throw new Error(`${file}: no totals`);
  return { ir: Number(m[1]), file: join(dir, file) };
}

interface Count { who: string; unit: string; n: number; ir: number; file: string }
const results: Count[] = [];

async function measure(who: string, unit: string, dir: string, name: string, pid: number, n: number, poke: () => Promise<unknown>, load: () => Promise<void>) {
  await control(pid, '-z', poke);
  await load();
  await control(pid, '-d', poke);
  const { ir, file } = lastDump(dir, name, pid);
  results.push({ who, unit, n, ir, file });
  process.stderr.write(`${who}: ${(ir / n).toFixed(0)} instructions per ${unit}\n`);
}

async function httpCount(lg: LoadGen, sock: string, total: number, floor: boolean) {
  const r = await lg.run({ kind: 'count', socket: sock, conns: CONNS, specs: specs({ wrongPassword: false } as never), warmupMs: 0, durationMs: 3_600_000, total, expect: floor ? FLOOR_OK : HIT });
  if (r.errors) throw new Error(`${r.errors} wrong answers: ${r.errorSamples.join('; ')}`);
}

async function query(dir: string) {
  const lg = new LoadGen();
  const d = await startDaemon({ store: buildStore({ users: BENCH_USERS, filler: 1000, scrypt: TEST_SCRYPT }), scrypt: TEST_SCRYPT, prefix: VALGRIND(dir, 'nasauthd'), readyTimeoutMs: 600_000, bundle: BUNDLE, nodeArgs: NODE_ARGS });
  const f = await startFloor('http', { prefix: VALGRIND(dir, 'floor'), readyTimeoutMs: 600_000, nodeArgs: NODE_ARGS });
  try {
    await warm(d.query, BENCH_USERS);
    const pokeD = () => httpReq(d.query, 'GET', '/v1/health');
    const pokeF = () => httpReq(f.sock, 'GET', '/');
    await httpCount(lg, d.query, WARM, false);
    await httpCount(lg, f.sock, WARM, true);
    for (let r = 0; r < ROUNDS; r++) {
      await measure('nasauthd query cache hit', 'request', dir, 'nasauthd', d.pid, N, pokeD, () => httpCount(lg, d.query, N, false));
      await measure('floor: node:http', 'request', dir, 'floor', f.pid, N, pokeF, () => httpCount(lg, f.sock, N, true));
    }
  } finally { lg.close(); await f.stop(); await d.stop(); }
}

async function pam(dir: string) {
  const { buildModule } = await import('./pam');
  const mod = buildModule();
  if ('error' in mod) throw new Error(mod.error);
  const bin = join(dir, 'pam_loop');
  const cc = spawnSync('gcc', ['-O2', '-o', bin, join(__dirname, 'pam_loop.c'), '-lpam'], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(cc.stderr);
  const d = await startDaemon({ store: buildStore({ users: BENCH_USERS, filler: 1000, scrypt: TEST_SCRYPT }), scrypt: TEST_SCRYPT, prefix: VALGRIND(dir, 'nasauthd'), readyTimeoutMs: 600_000, bundle: BUNDLE, nodeArgs: NODE_ARGS });
  const f = await startFloor('pam', { prefix: VALGRIND(dir, 'floor'), readyTimeoutMs: 600_000, nodeArgs: NODE_ARGS });
  try {
    await warm(d.query, BENCH_USERS, 'smb');
    const confdir = join(dir, 'pam.d');
    fs.mkdirSync(confdir);
    fs.writeFileSync(join(confdir, 'nasauth-bench'), `auth required ${mod.path} socket=${d.pam} priv_socket=${d.pamPriv} service=smb\n`);
    const u = BENCH_USERS[0];
    const loop = async (args: string[]) => { const r = await run(bin, args, { timeoutMs: 3_600_000 }); if (r.code !== 0) throw new Error(`pam_loop ${args[0]}: ${r.stderr}`); };
    const nas = (n: number) => loop(['pam', confdir, 'nasauth-bench', u.name, u.password, String(n), '0']);
    const echo = (n: number) => loop(['echo', f.sock, String(n)]);
    await nas(WARM);
    await echo(WARM);
    await measure('nasauthd PAM cache hit (pam_nasauth.so)', 'transaction', dir, 'nasauthd', d.pid, N, () => httpReq(d.query, 'GET', '/v1/health'), () => nas(N));
    await measure('floor: frame echo (node:net)', 'transaction', dir, 'floor', f.pid, N, () => echo(1), () => echo(N));
  } finally { await f.stop(); await d.stop(); }
}

async function ldap(dir: string) {
  const { sambaMissing, startSamba } = await import('../test/helpers/samba');
  const missing = sambaMissing();
  if (missing) throw new Error(missing.what);
  const user = { name: 'benchsmb', password: 'Bench-smb-pass-1', services: ['smb', 'timemachine'] };
  const d: BenchDaemon = await startDaemon({ store: buildStore({ users: [user], filler: 1000, scrypt: TEST_SCRYPT }), scrypt: TEST_SCRYPT, config: { sockets: { ldap: { enabled: true } } }, prefix: VALGRIND(dir, 'nasauthd'), readyTimeoutMs: 600_000, bundle: BUNDLE, nodeArgs: NODE_ARGS });
  const secret = fs.readFileSync(join(d.stateDir, 'ldap-bind.secret'), 'utf8').trim();
  const s = await startSamba({ ldapi: d.ldap, bindSecret: secret, nssDir: d.nssDir, port: 14478 });
  try {
    const login = async () => {
      const r = await run('smbclient', ['//127.0.0.1/Public', '-p', String(s.port), '-U', `${user.name}%${user.password}`, '-m', 'SMB3', '-c', 'ls'], { env: { ...process.env, LC_ALL: 'C.UTF-8' }, timeoutMs: 120_000 });
      if (r.code !== 0) throw new Error(`smbclient: ${r.stdout}${r.stderr}`);
    };
    const logins = Math.max(1, Math.round(N / 200));
    for (let i = 0; i < 3; i++) await login();
    await measure('nasauthd LDAP view, whole SMB login', 'login', dir, 'nasauthd', d.pid, logins, () => httpReq(d.query, 'GET', '/v1/health'), async () => { for (let i = 0; i < logins; i++) await login(); });
  } finally { await s.stop(); await d.stop(); }
}

async function mainIc() {
  if (!has('valgrind') || !has('callgrind_control')) throw new Error('valgrind is not installed (scripts/ensure-deps.sh installs it)');
  const dir = KEEP || tmpDir('ic');
  fs.mkdirSync(dir, { recursive: true });
  fs.chmodSync(dir, 0o755);
  try {
    for (const w of what.length ? what : ['query']) {
      if (w === 'query') await query(dir);
      if (w === 'pam') await pam(dir);
      if (w === 'ldap') await ldap(dir);
    }
  } finally {
    const floorOf = (r: Count) => results.find((x) => x.unit === r.unit && x.who.startsWith('floor'));
    process.stdout.write('| what | instructions per unit | × floor |\n| --- | ---: | ---: |\n');
    for (const r of results) {
      const f = floorOf(r);
      process.stdout.write(`| ${r.who} | ${(r.ir / r.n).toFixed(0)} per ${r.unit} | ${f && f !== r ? ((r.ir / r.n) / (f.ir / f.n)).toFixed(3) : ''} |\n`);
    }
    if (!KEEP) fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) mainIc().catch((e) => { process.stderr.write(`${(e as Error).stack ?? e}\n`); process.exitCode = 1; });
