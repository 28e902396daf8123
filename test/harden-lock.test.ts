// Issue 12, point 7: one nasauthd per state folder. A second daemon on the same config
// refused nothing before the fix: it unlinked the live sockets, started, and a change
// the first one acknowledged was lost. Now it refuses with a clear message, and no
// daemon removes a socket that still answers.
import t from 'tap';
import { tempDir } from './helpers/tmp';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { encodeRequest } from '../daemon/pam-frame';
import { DAEMON, addUser, authenticate, cleanup, cli, http, startDaemon } from './helpers/daemon';
import { pamExchange, reasonOf } from './helpers/pamwire';
import { rmrf } from './helpers/pam';

/** Run a second daemon to its exit (it must not start); returns its code and output. */
function second(config: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [DAEMON, '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (c) => { out += c; });
    p.stderr.on('data', (c) => { out += c; });
    const kill = setTimeout(() => p.kill('SIGKILL'), 20_000); // it should exit at once; this only bounds a broken build
    p.on('close', (code) => { clearTimeout(kill); resolve({ code, out }); });
  });
}

async function answers(d: { query: string; pam: string; pamPriv: string; admin: string }) {
  const h = await http(d.query, 'GET', '/v1/health');
  const p = await pamExchange(d.pam, encodeRequest('PING', []));
  const q = await pamExchange(d.pamPriv, encodeRequest('PING', []));
  const a = await http(d.admin, 'GET', '/v1/admin/status');
  return h.status === 200 && reasonOf(p.replies[0]) === 'ok' && reasonOf(q.replies[0]) === 'ok' && a.status === 200;
}

t.test('a second daemon on the same config refuses, and the first loses nothing', async (t) => {
  const d = await startDaemon();
  t.teardown(async () => { await d.stop(); cleanup(d); });
  await addUser(d, 'alice', 'Wonder-land-1');
  const r = await second(d.config);
  t.not(r.code, 0, `the second one exits (${r.code})`);
  t.match(r.out, new RegExp(`already running.*pid ${d.pid}`), 'and says which daemon holds the state folder');
  t.match(r.out, d.stateDir, 'naming the folder');
  t.ok(await answers(d), 'every socket of the first still answers');
  // a change the first acknowledges after the attempt is kept
  await addUser(d, 'bob', 'Builder-can-1');
  t.equal((await authenticate(d, 'bob', 'Builder-can-1', 'smb')).body.reason, 'ok');
  await d.stop();
  const again = await startDaemon({ dir: d.dir });
  t.teardown(() => again.stop());
  t.equal((await cli(again, ['user', 'show', 'bob'])).code, 0, 'bob is in the store after a restart');
});

t.test('a daemon on another state folder never removes sockets that answer', async (t) => {
  const d = await startDaemon();
  t.teardown(async () => { await d.stop(); cleanup(d); });
  const dir = tempDir('nasauth-other-');
  chmodSync(dir, 0o755);
  t.teardown(() => rmrf(dir));
  const cfg = parse(readFileSync(d.config, 'utf8'));
  cfg.state_dir = join(dir, 'state'); // its own store, the first one's sockets
  const config = join(dir, 'nasauth.yaml');
  writeFileSync(config, stringify(cfg));
  const r = await second(config);
  t.not(r.code, 0, 'it does not start');
  t.match(r.out, /answered by another process/, 'and says why');
  t.ok(existsSync(d.query) && existsSync(d.pam), 'the sockets are still there');
  t.ok(await answers(d), 'and still answer');
});

t.test('after kill -9 the stale lock and sockets do not block a restart', async (t) => {
  const d = await startDaemon();
  t.teardown(() => cleanup(d));
  await addUser(d, 'carol', 'Christmas-1x');
  await d.kill9();
  const again = await startDaemon({ dir: d.dir });
  t.teardown(() => again.stop());
  t.ok(await answers(again), 'the restarted daemon answers on every socket');
  t.equal((await authenticate(again, 'carol', 'Christmas-1x', 'smb')).body.reason, 'ok');
  // and its own lock holds
  const r = await second(again.config);
  t.match(r.out, new RegExp(`already running.*pid ${again.pid}`), 'the new daemon holds the lock');
});
