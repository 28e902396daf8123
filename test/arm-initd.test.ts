// init.d/nasauthd on the build host, with the host's node and the real daemon bundle:
// every action and LSB exit code, through Debian's start-stop-daemon, busybox's, and
// neither (plain shell). Settings come from a private defaults file (NASAUTHD_DEFAULTS);
// nothing under /etc or /run is touched.
import t from 'tap';
import { waitFor, waitForMatch } from './helpers/wait';
import { canRun } from './helpers/env';
import { tempDir } from './helpers/tmp';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..');
const INIT = join(ROOT, 'init.d', 'nasauthd');
// what the init script runs on the device: the bundle through its code cache
// (daemon/start.ts), from a copy: another test file may rebuild dist/ meanwhile (the
// benchmark's smoke test does), and a rebuilt bundle rightly gets a new cache
const LIB = tempDir('nasauth-initd-lib-');
chmodSync(LIB, 0o755);
for (const f of ['nasauthd.js', 'nasauthd-start.js']) copyFileSync(join(ROOT, 'dist', f), join(LIB, f));
const DAEMON = join(LIB, 'nasauthd-start.js');

function which(cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

interface Env { dir: string; defaults: string; pidfile: string; log: string; run: string; config: string }

function makeEnv(extra: string[] = []): Env {
  const dir = tempDir('nasauth-initd-');
  const run = join(dir, 'run');
  const config = join(dir, 'nasauth.yaml');
  writeFileSync(config, [
    'version: 1', `state_dir: ${dir}/state`, `run_dir: ${run}`, 'log: { level: info, file: null }',
    'scrypt: { log_n: 10, r: 8, p: 1, max_in_flight: 2, max_queued: 16 }',
    `nss: { enabled: false, dir: ${dir}/nss }`, 'first_start: { create_admin: false }', '',
  ].join('\n'));
  const env: Env = { dir, defaults: join(dir, 'defaults'), pidfile: join(dir, 'nasauthd.pid'), log: join(dir, 'nasauthd.log'), run, config };
  writeDefaults(env, extra);
  return env;
}

function writeDefaults(e: Env, extra: string[]) {
  writeFileSync(e.defaults, [
    `NODE=${process.execPath}`, `DAEMON=${DAEMON}`, `CONFIG=${e.config}`,
    `PIDFILE=${e.pidfile}`, `LOGFILE=${e.log}`, `CODE_CACHE_DIR=${join(e.dir, 'code-cache')}`, 'STOP_TIMEOUT=30', 'READY_TIMEOUT=120',
    // this sandbox may not lower oom_score_adj (CAP_SYS_RESOURCE); the guest test checks it
    'OOM_SCORE_ADJ=', ...extra, '',
  ].join('\n'));
}

function init(e: Env, action: string, shell = 'sh') {
  const args = shell.endsWith('busybox') ? ['sh', INIT, action] : [INIT, action];
  const r = spawnSync(shell, args, { encoding: 'utf8', env: { ...process.env, NASAUTHD_DEFAULTS: e.defaults }, timeout: 300_000 });
  return { rc: r.status, out: `${r.stdout}${r.stderr}` };
}

const pidOf = (e: Env) => (existsSync(e.pidfile) ? Number(readFileSync(e.pidfile, 'utf8').trim()) : 0);
const alive = (pid: number) => { try { process.kill(pid, 0); return pid > 0; } catch { return false; } };
const accepts = (path: string) => new Promise<boolean>((res) => {
  const c = connect(path);
  c.on('connect', () => { c.destroy(); res(true); });
  c.on('error', () => res(false));
});

const busybox = which('busybox');
const variants: Array<{ name: string; defaults: string[]; shell?: string; skip?: string | false }> = [
  { name: "Debian's start-stop-daemon", defaults: ['USE_SSD=yes', 'SSD=/sbin/start-stop-daemon'], skip: !existsSync('/sbin/start-stop-daemon') && 'Debian\'s /sbin/start-stop-daemon is missing (package dpkg)' },
  { name: "busybox start-stop-daemon, busybox sh", defaults: ['USE_SSD=yes'], shell: busybox ?? 'sh', skip: !busybox && 'busybox is not installed (package busybox)' },
  { name: 'plain shell (no start-stop-daemon)', defaults: ['USE_SSD=no'] },
];

t.before(() => {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`build failed: ${r.stderr}`);
});

for (const v of variants) {
  t.test(v.name, async (t) => {
    if (!canRun(t, v.skip)) return;
    const e = makeEnv(v.defaults);
    if (v.name.startsWith('busybox')) {
      // busybox picks the applet from argv[0]
      mkdirSync(join(e.dir, 'bb'));
      symlinkSync(busybox!, join(e.dir, 'bb', 'start-stop-daemon'));
      writeDefaults(e, [...v.defaults, `SSD=${join(e.dir, 'bb', 'start-stop-daemon')}`]);
    }
    t.teardown(() => {
      const p = pidOf(e);
      if (alive(p)) process.kill(p, 'SIGKILL');
      rmSync(e.dir, { recursive: true, force: true });
    });
    const sh = v.shell ?? 'sh';

    let r = init(e, 'status', sh);
    t.equal(r.rc, 3, `status before start: 3 (${r.out.trim()})`);

    writeFileSync(e.log, '', { mode: 0o644 }); // left world-readable by an older install
    chmodSync(e.log, 0o644);
    r = init(e, 'start', sh);
    t.equal(r.rc, 0, `start: ${r.out}`);
    const pid = pidOf(e);
    t.ok(alive(pid), `pidfile names a live process (${pid})`);
    // issue 12, point 1: private files, no core dumps, a log only root (and its group) reads
    t.match(readFileSync(`/proc/${pid}/status`, 'utf8'), /^Umask:\s+0077$/m, 'the daemon runs under umask 077');
    t.match(readFileSync(`/proc/${pid}/limits`, 'utf8'), /^Max core file size\s+0\s+0\s/m, 'core dumps off');
    t.equal(statSync(e.log).mode & 0o137, 0, `LOGFILE 0640 at most (${(statSync(e.log).mode & 0o777).toString(8)})`);
    // start returned only once the sockets accept
    t.ok(await accepts(join(e.run, 'admin.sock')), 'admin socket accepts when start returns');
    t.ok(await accepts(join(e.run, 'query.sock')), 'query socket accepts when start returns');
    t.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), DAEMON, 'the pid is the node running the daemon');
    // the code cache: made at this first start, in a directory the script made root's alone
    t.match(readFileSync(e.log, 'utf8'), /"event":"ready".*"code_cache":"made"/, 'the first start makes the code cache');
    await waitFor('the code cache file', () => existsSync(join(e.dir, 'code-cache', 'nasauthd.v8-cache')));
    t.equal(statSync(join(e.dir, 'code-cache')).mode & 0o777, 0o700, 'CODE_CACHE_DIR made 0700');

    r = init(e, 'start', sh);
    t.equal(r.rc, 0, 'start again: 0');
    t.match(r.out, /already running/);
    t.equal(pidOf(e), pid, 'same pid');

    r = init(e, 'status', sh);
    t.equal(r.rc, 0, 'status running: 0');

    r = init(e, 'reload', sh);
    t.equal(r.rc, 0, 'reload: 0');
    // the daemon logs the reload; wait for the line (bounded by the test's timeout)
    await waitForMatch('the reload in the daemon log', () => readFileSync(e.log, 'utf8'), /"reloaded"/);
    t.ok(alive(pid), 'still running after SIGHUP');

    r = init(e, 'restart', sh);
    t.equal(r.rc, 0, `restart: ${r.out}`);
    const pid2 = pidOf(e);
    t.ok(alive(pid2) && pid2 !== pid, 'new pid after restart');
    t.match(readFileSync(e.log, 'utf8'), new RegExp(`"event":"ready".*"pid":${pid2},.*"code_cache":"used"`), 'the restart uses the code cache');
    t.notOk(alive(pid), 'old process gone');

    r = init(e, 'stop', sh);
    t.equal(r.rc, 0, 'stop: 0');
    t.notOk(alive(pid2), 'process gone after stop');
    t.notOk(existsSync(e.pidfile), 'pidfile removed');
    t.notOk(existsSync(join(e.run, 'query.sock')), 'sockets removed (clean daemon exit)');

    r = init(e, 'stop', sh);
    t.equal(r.rc, 0, 'stop when stopped: 0');
    r = init(e, 'status', sh);
    t.equal(r.rc, 3, 'status stopped: 3');
    r = init(e, 'reload', sh);
    t.equal(r.rc, 7, 'reload when stopped: 7');
  });
}

t.test('stale pidfile, failures and LSB codes', async (t) => {
  const e = makeEnv(['USE_SSD=no']);
  t.teardown(() => {
    const p = pidOf(e);
    if (alive(p)) process.kill(p, 'SIGKILL');
    rmSync(e.dir, { recursive: true, force: true });
  });

  // a pidfile naming a dead process
  const dead = spawnSync('sh', ['-c', 'echo $$']).stdout.toString().trim();
  writeFileSync(e.pidfile, `${dead}\n`);
  t.equal(init(e, 'status').rc, 1, 'status with a stale pidfile: 1');
  // a pidfile naming a live process that is not the daemon (pid reuse)
  writeFileSync(e.pidfile, `${process.pid}\n`);
  t.equal(init(e, 'status').rc, 1, 'a foreign live pid is not "running"');
  let r = init(e, 'start');
  t.equal(r.rc, 0, `start over a stale pidfile: ${r.out}`);
  t.ok(alive(pidOf(e)) && pidOf(e) !== process.pid, 'new daemon pid');
  t.equal(init(e, 'stop').rc, 0);
  t.ok(alive(process.pid), 'the foreign process was not signalled');

  // a config the daemon refuses: start fails, nothing left behind
  writeFileSync(e.config, 'version: 1\nstate_dir: [not a path\n');
  r = init(e, 'start');
  t.equal(r.rc, 1, `start with a bad config: 1 (${r.out.trim().split('\n').pop()})`);
  t.match(r.out, /exited during start/);
  t.notOk(existsSync(e.pidfile), 'no pidfile after a failed start');

  writeDefaults(e, ['USE_SSD=no', `CONFIG=${join(e.dir, 'missing.yaml')}`]);
  t.equal(init(e, 'start').rc, 6, 'no config: 6 (not configured)');
  writeDefaults(e, ['USE_SSD=no', `NODE=${join(e.dir, 'no-node')}`]);
  t.equal(init(e, 'start').rc, 5, 'no node: 5 (not installed)');
  t.equal(init(e, 'bogus').rc, 2, 'unknown action: 2');
});

t.test('LSB header', async (t) => {
  const s = readFileSync(INIT, 'utf8');
  t.match(s, /### BEGIN INIT INFO[\s\S]*# Provides:\s+nasauthd[\s\S]*# Default-Start:\s+2 3 4 5[\s\S]*### END INIT INFO/);
  const n = spawnSync('sh', ['-n', INIT]);
  t.equal(n.status, 0, 'sh -n');
  if (busybox) t.equal(spawnSync(busybox, ['sh', '-n', INIT]).status, 0, 'busybox sh -n');
});
