// Bad config and a damaged store: one clear message, a non-zero exit, nothing touched.
import t from 'tap';
import { tempDir } from './helpers/tmp';
import { spawnSync } from 'node:child_process';
import { writeFileSync, readFileSync, readdirSync, statSync, existsSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DAEMON, ROOT, addUser, authenticate, cleanup, ensureBuilt, startDaemon } from './helpers/daemon';
import { loadConfig, DEFAULT_CONFIG_YAML } from '../daemon/config';
import { encodeStore } from '../daemon/store';

ensureBuilt();
function runDaemon(config: string) {
  return spawnSync(process.execPath, [DAEMON, '--config', config], { encoding: 'utf8', timeout: 10000 });
}
function tmpConfig(text: string) {
  const dir = tempDir('nasauth-cfg-');
  const f = join(dir, 'nasauth.yaml');
  writeFileSync(f, text);
  return f;
}

t.test('invalid configs stop the daemon with the file, the key and what was expected', async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['unknown key', 'version: 1\nscrypt: { log_n: 12, rounds: 3 }\n', /nasauth\.yaml: scrypt\.rounds: expected no such key/],
    ['wrong type', 'version: 1\ncache: { ttl_seconds: "soon" }\n', /cache\.ttl_seconds: expected an integer from 1 to 86400, got "soon"/],
    ['out of range', 'version: 1\nscrypt: { log_n: 40 }\n', /scrypt\.log_n: expected an integer from 10 to 20/],
    ['bad mode', 'version: 1\nsockets: { query: { mode: 660 } }\n', /sockets\.query\.mode: expected an octal mode in quotes/],
    ['bad path', 'version: 1\nstate_dir: /nonexistent/deeper/still/state\n', /state_dir: expected a directory whose parent exists/],
    ['wrong version', 'version: 2\n', /version: expected an integer from 1 to 1/],
    ['unknown service in a role', 'version: 1\nroles: { user: { default_services: [smb, teleport] } }\n', /roles\.user\.default_services\[1\]: expected a service listed under services/],
    ['not YAML', 'version: 1\nscrypt: [unclosed\n', /nasauth\.yaml:\d+:\d+ not valid YAML/],
    ['duplicate key', 'version: 1\nversion: 1\n', /not valid YAML/],
    ['socket path too long', `version: 1\nsockets: { query: { path: /tmp/${'x'.repeat(120)}.sock } }\n`, /sun_path/],
  ];
  for (const [name, text, re] of cases) {
    const f = tmpConfig(text);
    const r = runDaemon(f);
    t.equal(r.status, 2, `${name}: exit 2`);
    t.match(r.stderr, re, name);
    t.equal(r.stderr.trim().split('\n').length, 1, `${name}: one message`);
    t.notOk(existsSync(join(f, '..', '.nasauth')), `${name}: nothing created`);
  }
  const ok = spawnSync(process.execPath, [DAEMON, '--config', tmpConfig('version: 1\n'), '--check-config'], { encoding: 'utf8' });
  t.equal(ok.status, 0, '--check-config accepts a minimal config');
});

t.test('every YAML shipped under sysroot/ and the embedded default parse and validate', async (t) => {
  t.doesNotThrow(() => loadConfig(null), 'embedded default');
  const found: string[] = [];
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir)) {
      const p = join(dir, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(e)) found.push(p);
    }
  };
  walk(join(ROOT, 'sysroot'));
  t.ok(found.length >= 1, 'sysroot ships a config');
  for (const f of found) {
    if (f.endsWith('nasauth.yaml')) {
      // validate the semantics against a scratch root: paths are device paths
      const text = readFileSync(f, 'utf8');
      t.ok(parse(text), `${f} parses`);
      const scratch = tempDir('nasauth-sys-');
      const rebased = text.replace(/\/(var\/lib|run)\/nasauth/g, `${scratch}/$1`);
      t.doesNotThrow(() => loadConfig(tmpConfig(rebased)), `${f} validates`);
    } else t.ok(parse(readFileSync(f, 'utf8')) !== undefined, `${f} parses`);
  }
  t.match(DEFAULT_CONFIG_YAML, /version: 1/);
});

t.test('a damaged store is refused and kept as it is', async (t) => {
  const d = await startDaemon();
  t.teardown(() => cleanup(d));
  await addUser(d, 'alice', 'Correct-horse-1');
  await addUser(d, 'bob', 'Correct-horse-2');
  await d.stop();
  const store = join(d.stateDir, 'store.json');
  const good = readFileSync(store);
  const damages: Array<[string, Buffer, RegExp]> = [
    ['truncated', good.subarray(0, good.length - 40), /truncated or padded/],
    ['one byte flipped', Buffer.from(good.toString('latin1').replace('alice@', 'alicf@').replace('"alice"', '"alicf"'), 'latin1'), /checksum mismatch/],
    ['empty', Buffer.alloc(0), /no valid header/],
    ['not a store', Buffer.from('{"hello":1}\n{}'), /wrong format tag/],
    ['future schema', Buffer.from(good.toString('utf8').replace('"schema":1', '"schema":9')), /schema 9 is not supported/],
  ];
  // a right checksum around the wrong layout (a hand-edited file, another program's JSON)
  const data = JSON.parse(good.subarray(good.indexOf(10) + 1).toString('utf8'));
  for (const [what, v] of [['accounts null', { accounts: null }], ['accounts a list', { accounts: [] }], ['groups a string', { groups: 'x' }], ['a list', null]] as const) {
    damages.push([`${what}, checksum right`, encodeStore((v === null ? [data] : { ...data, ...v }) as never), /does not have the store layout/]);
  }
  for (const [name, bytes, re] of damages) {
    writeFileSync(store, bytes);
    const r = runDaemon(d.config);
    t.equal(r.status, 3, `${name}: exit 3`);
    t.match(r.stderr, re, name);
    t.match(r.stderr, /store\.json\.prev/, `${name}: points at the previous good copy`);
    t.same(readFileSync(store), bytes, `${name}: the damaged file is left untouched`);
  }
  // restoring the previous good copy (as the message says) brings the daemon back
  copyFileSync(`${store}.prev`, store);
  const back = await startDaemon({ dir: d.dir });
  t.equal((await authenticate(back, 'alice', 'Correct-horse-1')).body.reason, 'ok', 'the .prev copy is a good store');
  await back.stop();
  // a missing store beside a .prev is not silently replaced by an empty one
  writeFileSync(store, ''); // then remove it
  require('node:fs').unlinkSync(store);
  const r = runDaemon(d.config);
  t.equal(r.status, 3);
  t.match(r.stderr, /missing but .*\.prev exists/);
});

t.test('the store file is private', async (t) => {
  const d = await startDaemon();
  t.teardown(async () => { await d.stop(); cleanup(d); });
  t.equal(statSync(join(d.stateDir, 'store.json')).mode & 0o777, 0o600);
  t.equal(statSync(d.stateDir).mode & 0o777, 0o700);
  t.equal(statSync(d.admin).mode & 0o777, 0o600, 'admin socket root only');
  t.equal(statSync(d.query).mode & 0o777, 0o660, 'query socket group-accessible');
});

t.test('SIGHUP reloads; an invalid new config is refused and the old one kept', async (t) => {
  const d = await startDaemon({ config: { password_policy: { min_length: 8 } } });
  t.teardown(async () => { await d.stop(); cleanup(d); });
  await addUser(d, 'alice', 'Correct-horse-1');
  const orig = readFileSync(d.config, 'utf8');
  writeFileSync(d.config, orig.replace(/min_length: 8/, 'min_length: 20'));
  d.proc.kill('SIGHUP');
  t.ok(await d.waitLog(/"event":"reloaded"/), 'reloaded');
  const { http } = await import('./helpers/daemon');
  let r = await http(d.query, 'POST', '/v1/password', { user: 'alice', old_password: 'Correct-horse-1', new_password: 'Only-twelve1' });
  t.equal(r.body.reason, 'password_rejected', 'the new policy applies');
  writeFileSync(d.config, orig.replace(/min_length: 8/, 'min_length: "eight"'));
  d.proc.kill('SIGHUP');
  t.ok(await d.waitLog(/"event":"reload_refused".*min_length/), 'the bad config is refused');
  r = await http(d.query, 'POST', '/v1/password', { user: 'alice', old_password: 'Correct-horse-1', new_password: 'Only-twelve1' });
  t.equal(r.body.reason, 'password_rejected', 'the last good config (min 20) is still in force');
  t.equal((await authenticate(d, 'alice', 'Correct-horse-1')).body.reason, 'ok', 'and the daemon still answers');
});

t.test('SIGTERM drains and removes the sockets', async (t) => {
  const d = await startDaemon();
  t.teardown(() => cleanup(d));
  const code = await d.stop('SIGTERM');
  t.equal(code, 0);
  for (const s of [d.query, d.admin]) t.notOk(existsSync(s), `${s} removed`);
});
