// The test helper's port reservations (test/helpers/slapd.ts): a port handed to one
// test file's slapd is not handed to another's until it is released or its process is
// gone, so a directory stopped and started again on the same ports finds them free.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { freePort, releasePort, reservePort } from './helpers/slapd';

const DIR = existsSync('/dev/shm') ? '/dev/shm/nasauth-test-ports' : '/tmp/nasauth-test-ports';

t.test('freePort reserves what it hands out; releasePort frees it', async (t) => {
  const p = await freePort();
  t.equal(readFileSync(`${DIR}/${p}`, 'utf8'), String(process.pid), 'reserved for this process');
  t.notOk(reservePort(p), 'not handed out twice');
  releasePort(p);
  t.notOk(existsSync(`${DIR}/${p}`), 'released');
});

t.test('a reservation of a live process holds; one of a process that is gone does not', async (t) => {
  // ports no helper hands out, so no other test file can hold them meanwhile
  const live = 65011;
  const stale = 65012;
  const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.teardown(() => { sleeper.kill(); releasePort(live); releasePort(stale); });
  const dead = spawnSync('true').pid!;
  writeFileSync(`${DIR}/${live}`, String(sleeper.pid));
  writeFileSync(`${DIR}/${stale}`, String(dead));
  t.notOk(reservePort(live), 'held by a live process');
  t.ok(reservePort(stale), 'taken over from a process that is gone');
  t.equal(readFileSync(`${DIR}/${stale}`, 'utf8'), String(process.pid));
  sleeper.kill();
  await new Promise((r) => sleeper.once('exit', r));
  t.ok(reservePort(live), 'free once its process is gone');
});
