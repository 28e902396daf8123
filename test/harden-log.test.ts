// Issue 12, point 8: the log is bounded. Before: every decision was one line, nothing
// rotated, and a wrong-password flood wrote ~10 KB/s. Now the daemon rotates its own
// log (max_bytes, keep), reopens it on SIGUSR1, collapses repeated refusals into one
// summary line per interval (every decision still counted), and a full log disk loses
// log lines, never a login or a store write.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { DAEMON, addUser, authenticate, cleanup, cli, http, metric, startDaemon, testConfig } from './helpers/daemon';
import { pidGone, waitFor } from './helpers/wait';
import { canRun, isRoot } from './helpers/env';
import { MAX_KEYS } from '../daemon/audit-collapse';

const lines = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean) : []);
const LENIENT = { backoff_after: 1000, lockout_after: 10000, source_failures: 1000000, failure_delay_ms: 0 };

t.test('rotation: the daemon keeps its log under (keep + 1) x max_bytes, whole lines, 0640', async (t) => {
  const maxBytes = 65536;
  const d = await startDaemon({ config: { log: { file: 'log/nasauthd.log', max_bytes: maxBytes, keep: 2, collapse_seconds: 0 }, rate_limit: LENIENT } });
  t.teardown(async () => { await d.stop(); cleanup(d); });
  // distinct names and sources: nothing collapses; ~200 bytes a line
  for (let i = 0; i < 1500; i += 50) {
    await Promise.all(Array.from({ length: 50 }, (_, j) => authenticate(d, `user${i + j}`, 'wrong-password-1', 'smb', `192.0.2.${(i + j) % 250}`)));
  }
  const dir = join(d.dir, 'log');
  await waitFor('two rotations', () => existsSync(join(dir, 'nasauthd.log.2')));
  await d.stop();
  const files = readdirSync(dir).sort();
  t.same(files, ['nasauthd.log', 'nasauthd.log.1', 'nasauthd.log.2'], 'the file and `keep` rotated ones, no more');
  let total = 0;
  for (const f of files) {
    const p = join(dir, f);
    const st = statSync(p);
    total += st.size;
    t.ok(st.size <= maxBytes + 8192, `${f}: ${st.size} bytes, about max_bytes at most`);
    t.equal(st.mode & 0o777, 0o640, `${f} is 0640`);
    const bad = lines(p).filter((l) => { try { JSON.parse(l); return false; } catch { return true; } });
    t.same(bad, [], `${f}: whole JSON lines only`);
  }
  t.ok(total <= 3 * (maxBytes + 8192), `${total} bytes in all`);
  t.match(readFileSync(join(dir, 'nasauthd.log'), 'utf8'), /"event":"stopped"/, 'the newest file has the last line');
});

t.test('repeated refusals collapse into one summary line; every decision is counted', async (t) => {
  // a long interval: the whole flood falls into one; the summary comes at the latest at stop
  const d = await startDaemon({ config: { log: { file: 'log/nasauthd.log', collapse_seconds: 600 }, rate_limit: LENIENT } });
  t.teardown(() => cleanup(d));
  await addUser(d, 'alice', 'Wonder-land-1');
  const N = 300;
  for (let i = 0; i < N; i += 20) await Promise.all(Array.from({ length: 20 }, () => authenticate(d, 'alice', 'not-her-password', 'smb', '192.0.2.9')));
  const m = await http(d.query, 'GET', '/v1/metrics');
  const counted = m.text.split('\n').filter((l) => /^nasauth_decisions_total\{[^}]*reason="bad_credentials"/.test(l)).reduce((a, l) => a + Number(l.split(' ').pop()), 0);
  t.equal(counted, N, 'the metrics count every decision');
  // a success is never collapsed
  t.equal((await authenticate(d, 'alice', 'Wonder-land-1', 'smb', '192.0.2.9')).body.reason, 'ok');
  t.equal((await authenticate(d, 'alice', 'Wonder-land-1', 'smb', '192.0.2.9')).body.reason, 'ok');
  await d.stop();
  const log = lines(d.logFile!).map((l) => JSON.parse(l));
  const singles = log.filter((l) => l.audit === 'authenticate' && l.user === 'alice' && l.reason === 'bad_credentials');
  const summaries = log.filter((l) => l.audit === 'repeated' && l.user === 'alice');
  t.equal(singles.length, 1, 'one line for the first refusal');
  t.equal(summaries.length, 1, 'one summary line');
  t.equal(summaries[0]?.count, N - 1, `the summary counts the rest (${summaries[0]?.count})`);
  t.equal(summaries[0]?.source, '192.0.2.9');
  t.match(summaries[0]?.msg, new RegExp(`^${N - 1} more bad_credentials for alice from 192\\.0\\.2\\.9 in the last \\d+ s$`), `"${summaries[0]?.msg}"`);
  t.equal(log.filter((l) => l.audit === 'authenticate' && l.user === 'alice' && l.reason === 'ok').length, 2, 'both successes are lines of their own');
  const bytes = statSync(d.logFile!).size;
  t.comment(`${N} refusals for one name from one source: ${bytes} log bytes in all (daemon start and stop included)`);
});

t.test('the summary comes each interval, and a new interval starts with a full line', async (t) => {
  const d = await startDaemon({ config: { log: { file: 'log/nasauthd.log', collapse_seconds: 1 }, rate_limit: LENIENT } });
  t.teardown(async () => { await d.stop(); cleanup(d); });
  const log = () => lines(d.logFile!).map((l) => JSON.parse(l));
  let sent = 0;
  for (let i = 0; i < 5; i++, sent++) await authenticate(d, 'eve', 'guess-guess-1', 'smb', '192.0.2.66');
  await waitFor('the first summary, without a stop', () => log().some((l) => l.audit === 'repeated' && l.user === 'eve'));
  await authenticate(d, 'eve', 'guess-guess-1', 'smb', '192.0.2.66');
  sent++;
  await waitFor('a new full line after the interval', () => log().filter((l) => l.audit === 'authenticate' && l.user === 'eve').length >= 2);
  await d.stop();
  const all = log();
  const total = all.filter((l) => l.audit === 'authenticate' && l.user === 'eve').length + all.filter((l) => l.audit === 'repeated' && l.user === 'eve').reduce((a, l) => a + l.count, 0);
  t.equal(total, sent, `lines + summarised counts = the ${sent} decisions`);
});

t.test('a spray of names is bounded too: past the key table, one summary per reason', async (t) => {
  // a long interval: nothing expires during the spray; the summary comes at the latest at stop
  const d = await startDaemon({ config: { log: { file: 'log/nasauthd.log', collapse_seconds: 600 }, rate_limit: LENIENT } });
  t.teardown(() => cleanup(d));
  const N = MAX_KEYS + 500;
  for (let i = 0; i < N; i += 100) await Promise.all(Array.from({ length: Math.min(100, N - i) }, (_, j) => authenticate(d, `spray${i + j}`, 'x-wrong-1', 'smb', '198.51.100.1')));
  await d.stop();
  const log = lines(d.logFile!).map((l) => JSON.parse(l));
  const single = log.filter((l) => l.audit === 'authenticate' && String(l.user).startsWith('spray')).length;
  // one summary per reason (bad_credentials, and busy when the hash queue was full)
  const sprays = log.filter((l) => l.audit === 'repeated' && /other names or sources/.test(l.msg));
  const summarised = sprays.reduce((a, l) => a + l.count, 0);
  t.equal(single, MAX_KEYS, `one line each for the first ${MAX_KEYS} keys`);
  t.ok(sprays.length >= 1 && sprays.length <= 3, `then one summary per reason: ${sprays.map((l) => `"${l.msg}"`).join(', ')}`);
  t.equal(single + summarised, N, `${single} lines + ${summarised} summarised = every decision`);
});

t.test('SIGUSR1 reopens the log file (for an outside logrotate)', async (t) => {
  const d = await startDaemon({ config: { log: { file: 'log/nasauthd.log' } } });
  t.teardown(async () => { await d.stop(); cleanup(d); });
  const moved = `${d.logFile}.rotated-by-someone`;
  renameSync(d.logFile!, moved);
  process.kill(d.pid, 'SIGUSR1');
  await waitFor('a new file at the path', () => existsSync(d.logFile!) && readFileSync(d.logFile!, 'utf8').includes('"event":"log_reopened"'));
  await addUser(d, 'bob', 'Builder-can-1');
  await waitFor('new lines in the new file', () => readFileSync(d.logFile!, 'utf8').includes('"audit":"user_add"'));
  t.notMatch(readFileSync(moved, 'utf8'), /user_add/, 'nothing more in the moved file');
  t.equal(statSync(d.logFile!).mode & 0o777, 0o640, 'the new file is 0640');
});

t.test('a full log disk never stops a login or a store write', async (t) => {
  if (!canRun(t, !isRoot && 'not root (mounts a small tmpfs for the log)', { installable: false })) return;
  const d0 = await startDaemon(); // only for its folder
  await d0.stop();
  const dir = d0.dir;
  t.teardown(() => cleanup(d0));
  const logfs = join(dir, 'logfs');
  mkdirSync(logfs);
  t.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0755', 'tmpfs', logfs]).status, 0, 'a 256 KiB tmpfs for the log only');
  t.teardown(() => { spawnSync('umount', ['-l', logfs]); });
  const fill = () => { // fill the tmpfs to the last byte
    const fd = openSync(join(logfs, 'filler'), 'a');
    try { for (;;) writeFileSync(fd, Buffer.alloc(4096)); } catch { /* ENOSPC */ } finally { closeSync(fd); }
    try { const fd2 = openSync(join(logfs, 'filler2'), 'a'); try { for (;;) writeFileSync(fd2, Buffer.alloc(1)); } catch { /* full */ } finally { closeSync(fd2); } } catch { /* full */ }
  };

  // 1. log.file on the full disk
  const d = await startDaemon({ dir, config: { log: { file: join(logfs, 'nasauthd.log'), collapse_seconds: 0 }, rate_limit: LENIENT } });
  t.teardown(() => d.stop());
  fill();
  for (let i = 0; i < 300; i++) await authenticate(d, `nobody${i}`, 'wrong-wrong-1', 'smb', `203.0.113.${i % 200}`); // log lines that cannot be written
  await addUser(d, 'carol', 'Christmas-1x');
  t.equal((await authenticate(d, 'carol', 'Christmas-1x', 'smb')).body.reason, 'ok', 'a login works');
  t.equal((await http(d.query, 'POST', '/v1/password', { user: 'carol', old_password: 'Christmas-1x', new_password: 'Christmas-2y' })).body.reason, 'ok', 'a password change (a store write) works');
  t.equal((await cli(d, ['user', 'show', 'carol'])).code, 0, 'the store has carol');
  t.equal(d.proc.exitCode, null, 'the daemon is running');
  rmSync(join(logfs, 'filler'), { force: true });
  rmSync(join(logfs, 'filler2'), { force: true });
  await authenticate(d, 'carol', 'Christmas-2y', 'smb');
  await waitFor('a line saying what was lost', () => /"event":"log_lines_lost"/.test(readFileSync(join(logfs, 'nasauthd.log'), 'utf8')));
  const lost = lines(join(logfs, 'nasauthd.log')).map((l) => JSON.parse(l)).find((l) => l.event === 'log_lines_lost');
  t.ok(lost.lines > 0 && /ENOSPC/.test(lost.why), `${lost.lines} lines lost, and why: ${lost.why}`);
  await d.stop();

  // 2. no log.file: stdout is the init script's LOGFILE, on the full disk
  const cfg = join(dir, 'stdout.yaml');
  writeFileSync(cfg, stringify(testConfig(dir, { log: { file: null, collapse_seconds: 0 }, rate_limit: LENIENT })));
  const out = openSync(join(logfs, 'stdout.log'), 'a');
  const p = spawn(process.execPath, [DAEMON, '--config', cfg], { stdio: ['ignore', out, out] });
  closeSync(out);
  t.teardown(async () => { p.kill('SIGKILL'); await waitFor('the daemon to exit', () => pidGone(p.pid!)); });
  const q = join(dir, 'run', 'query.sock');
  await waitFor('the daemon to answer', async () => (await http(q, 'GET', '/v1/health').catch(() => ({ status: 0 }))).status === 200, 20_000);
  fill();
  const dd = { query: q, config: cfg } as Parameters<typeof authenticate>[0];
  for (let i = 0; i < 200; i++) await authenticate(dd, `nobody${i}`, 'wrong-wrong-1', 'smb', `203.0.113.${i % 200}`);
  t.equal((await authenticate(dd, 'carol', 'Christmas-2y', 'smb')).body.reason, 'ok', 'stdout on a full disk: a login works');
  t.equal((await cli(dd, ['user', 'add', 'dave'], 'Daylight-11x\n')).code, 0, 'and a store write');
  t.equal(p.exitCode, null, 'the daemon is running');
});
