// A full disk: the change is refused with a clear reason, nothing is lost, and the daemon
// keeps answering. Uses a small tmpfs (root only).
import t from 'tap';
import { canRun, needRoot } from './helpers/env';
import { tempDir } from './helpers/tmp';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { addUser, authenticate, cleanup, cli, http, startDaemon } from './helpers/daemon';

t.test('full disk', async (t) => {
  if (!canRun(t, needRoot())) return;
  const dir = tempDir('nasauth-disk-');
  const state = join(dir, 'state');
  mkdirSync(state);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', state]);
  t.teardown(() => { try { execFileSync('umount', ['-l', state]); } catch { /* gone */ } });
  const d = await startDaemon({ dir, config: { state_dir: state } });
  t.teardown(async () => { await d.stop(); cleanup(d); });
  await addUser(d, 'alice', 'Correct-horse-1');
  const before = readFileSync(join(state, 'store.json'));
  // fill the disk
  try { writeFileSync(join(state, 'filler'), Buffer.alloc(1024 * 1024)); } catch { /* ENOSPC expected */ }
  const r = await http(d.query, 'POST', '/v1/password', { user: 'alice', old_password: 'Correct-horse-1', new_password: 'Battery-staple-2' });
  t.equal(r.body.reason, 'unavailable', 'the change is refused');
  t.match(r.body.message, /could not be saved/);
  const add = await cli(d, ['user', 'add', 'bob'], 'Correct-horse-3\n');
  t.equal(add.code, 1);
  t.match(add.stderr, /could not write .*nothing was changed/);
  t.same(readFileSync(join(state, 'store.json')), before, 'the store is intact');
  t.equal((await authenticate(d, 'alice', 'Correct-horse-1')).body.reason, 'ok', 'the old password still works');
  t.equal((await authenticate(d, 'alice', 'Battery-staple-2')).body.reason, 'bad_credentials', 'the unsaved one does not');
  execFileSync('rm', ['-f', join(state, 'filler')]);
  t.equal((await http(d.query, 'POST', '/v1/password', { user: 'alice', old_password: 'Correct-horse-1', new_password: 'Battery-staple-2' })).body.reason, 'ok', 'works again when space is back');
});
