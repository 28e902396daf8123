// Issue 12, point 1: the first-start admin's one-time password is never in a log or on
// a console that is not a terminal. It goes to <state_dir>/initial-admin-password
// (0600), printed on stderr only when stderr is a terminal; `nasauth status` says where
// it is; the file is removed once the password is changed, by any path. Before the fix
// the password went to stderr, which the init script sends to a 0644 log.
import t from 'tap';
import { tempDir } from './helpers/tmp';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { encodeRequest } from '../daemon/pam-frame';
import { DAEMON, authenticate, cleanup, cli, http, startDaemon, testConfig, type Daemon } from './helpers/daemon';
import { pamExchange, reasonOf } from './helpers/pamwire';
import { pidGone, waitFor } from './helpers/wait';
import { canRun } from './helpers/env';

const FILE = 'initial-admin-password';
const otpOf = (d: Daemon) => readFileSync(join(d.stateDir, FILE), 'utf8').split('\n')[0];
const mode = (p: string) => statSync(p).mode & 0o777;

async function fresh(t: any) { // eslint-disable-line @typescript-eslint/no-explicit-any
  const d = await startDaemon({ createAdmin: true, config: { log: { file: 'log/nasauthd.log' } } });
  t.teardown(async () => { await d.stop(); cleanup(d); });
  const file = join(d.stateDir, FILE);
  t.ok(existsSync(file), 'the one-time password is in the state folder');
  t.equal(mode(file), 0o600, 'mode 0600');
  const pw = otpOf(d);
  t.match(pw, /^[A-Za-z0-9_-]{16}$/, 'its first line is the password');
  return { d, file, pw };
}

t.test('first start: the file, never the log or a non-terminal stderr', async (t) => {
  const { d, file, pw } = await fresh(t);
  t.equal((await authenticate(d, 'admin', pw)).body.reason, 'must_change_password', 'it is the admin\'s password, to be changed');
  const logFile = join(d.dir, 'log', 'nasauthd.log');
  await waitFor('the log file', () => existsSync(logFile) && readFileSync(logFile, 'utf8').includes('"event":"ready"'));
  t.notOk(d.stderr().includes(pw), 'not on stderr (a pipe here, a log file under the init script)');
  t.notOk(d.logs().includes(pw), 'not on stdout');
  t.notOk(readFileSync(logFile, 'utf8').includes(pw), 'not in the log file');
  t.match(readFileSync(logFile, 'utf8'), new RegExp(`"initial_admin_password_file":"${file}"`), 'the log says where the file is');
  t.equal(mode(logFile) & 0o137, 0, `the log file is 0640 at most (${mode(logFile).toString(8)})`);
  const st = await cli(d, ['status']);
  t.equal(st.code, 0);
  t.match(st.stdout, file, '`nasauth status` names the file');
  t.notOk(st.stdout.includes(pw), 'and does not print the password');
  const js = JSON.parse((await cli(d, ['--json', 'status'])).stdout);
  t.equal(js.initial_admin_password_file, file, 'status --json too');

  // a restart before the change keeps the file and creates nothing new
  await d.stop();
  const again = await startDaemon({ dir: d.dir });
  t.teardown(() => again.stop());
  t.equal(otpOf(again), pw, 'same password after a restart');
  t.equal((await http(again.query, 'POST', '/v1/password', { user: 'admin', old_password: pw, new_password: 'Owner-chosen-1' })).body.reason, 'ok');
  await waitFor('the file to go once the password is changed (query socket)', () => !existsSync(file));
  t.notMatch((await cli(again, ['status'])).stdout, FILE, 'status no longer mentions it');
  await again.stop();
  const third = await startDaemon({ dir: d.dir });
  t.teardown(() => third.stop());
  t.notOk(existsSync(file), 'not written again');
  t.equal((await authenticate(third, 'admin', 'Owner-chosen-1')).body.reason, 'ok');
});

t.test('removed after a change by the CLI', async (t) => {
  const { d, file } = await fresh(t);
  t.equal((await cli(d, ['user', 'passwd', 'admin'], 'Owner-chosen-2\n')).code, 0);
  await waitFor('the file to go (CLI)', () => !existsSync(file));
  t.pass('gone');
});

t.test('removed after a change through PAM (CHPW, and CHPW_ROOT)', async (t) => {
  const { d, file, pw } = await fresh(t);
  const r = await pamExchange(d.pamPriv, encodeRequest('CHPW', ['sshd', 'admin', pw, 'Owner-chosen-3', '']));
  t.equal(reasonOf(r.replies[0]), 'ok', 'CHPW with the one-time password');
  await waitFor('the file to go (PAM CHPW)', () => !existsSync(file));
  const e = await fresh(t);
  const r2 = await pamExchange(e.d.pamPriv, encodeRequest('CHPW_ROOT', ['sshd', 'admin', 'Owner-chosen-4', '']));
  t.equal(reasonOf(r2.replies[0]), 'ok', 'CHPW_ROOT');
  await waitFor('the file to go (PAM CHPW_ROOT)', () => !existsSync(e.file));
});

t.test('removed when the admin account is deleted; a wrong old password keeps it', async (t) => {
  const { d, file } = await fresh(t);
  t.equal((await http(d.query, 'POST', '/v1/password', { user: 'admin', old_password: 'not-it-at-all', new_password: 'Owner-chosen-5' })).body.reason, 'bad_credentials');
  t.ok(existsSync(file), 'a refused change keeps the file');
  t.equal((await cli(d, ['user', 'set', 'admin', '--email', 'owner@example.org'])).code, 0);
  t.ok(existsSync(file), 'another change to the account keeps it');
  // the last admin cannot be deleted (the web portal's rule, in the authority): make another first
  t.equal((await cli(d, ['user', 'add', 'owner', '--role', 'admin'], 'Second-admin-7\n')).code, 0);
  t.equal((await cli(d, ['user', 'del', 'admin'])).code, 0);
  await waitFor('the file to go (account deleted)', () => !existsSync(file));
  t.pass('gone');
});

t.test('printed on stderr when stderr is a terminal', async (t) => {
  const { spawnSync } = await import('node:child_process');
  if (!canRun(t, spawnSync('sh', ['-c', 'command -v script']).status !== 0 && 'script (util-linux) is not installed')) return;
  const { rmSync } = await import('node:fs');
  const dir = tempDir('nasauth-tty-');
  const config = join(dir, 'nasauth.yaml');
  writeFileSync(config, stringify(testConfig(dir, {}, true)));
  // script(1) gives the daemon a pseudo-terminal as stdin, stdout and stderr
  const p = spawn('script', ['-qfec', `exec ${process.execPath} ${DAEMON} --config ${config}`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (c) => { out += c; });
  t.teardown(async () => {
    // the daemon runs under script(1): stop it by the pid it logged, then script
    const m = /"event":"ready".*?"pid":(\d+)/.exec(out);
    if (m) { try { process.kill(Number(m[1]), 'SIGTERM'); } catch { /* gone */ } }
    p.kill('SIGTERM');
    await waitFor('script to exit', () => p.exitCode !== null || p.signalCode !== null || pidGone(p.pid!));
    if (m) await waitFor('the daemon to exit', () => pidGone(Number(m[1])));
    rmSync(dir, { recursive: true, force: true });
  });
  await waitFor('the daemon to be ready', () => out.includes('"event":"ready"'));
  const pw = readFileSync(join(dir, 'state', FILE), 'utf8').split('\n')[0];
  t.ok(out.includes(pw), 'the terminal shows the one-time password');
  t.match(out, new RegExp(`${FILE}`), 'and where the file is');
});
