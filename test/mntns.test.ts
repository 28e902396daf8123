// test/helpers/mntns.ts: a pinned mount namespace keeps its name; an unpinned one's
// name goes to the next new namespace at once (which is what killed a pamtester).
import t from 'tap';
import { spawn } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { fileCanRun, needRoot } from './helpers/env';
import { pinMountNs } from './helpers/mntns';

const inNewNs = async <T>(fn: (pid: number) => T): Promise<T> => {
  const p = spawn('unshare', ['-m', 'sleep', '30'], { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    try { if (readlinkSync(`/proc/${p.pid}/ns/mnt`) !== readlinkSync('/proc/self/ns/mnt')) break; } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 10));
  }
  try { return fn(p.pid!); } finally { p.kill('SIGKILL'); await new Promise((r) => p.once('exit', r)); }
};

if (fileCanRun(needRoot())) {
  t.test('a pinned namespace name is not given to the next namespace', async (t) => {
    const pin = await inNewNs((pid) => pinMountNs(pid));
    t.ok(pin, 'pinned');
    const next = await inNewNs((pid) => readlinkSync(`/proc/${pid}/ns/mnt`));
    t.not(next, pin!.name, 'the dead server\'s namespace name still names only it');
    pin!.release();
    pin!.release(); // twice is harmless
  });
  t.test('a gone process: nothing to pin', async (t) => {
    const p = spawn('true');
    await new Promise((r) => p.once('exit', r));
    await new Promise((r) => setTimeout(r, 50));
    t.equal(pinMountNs(p.pid!), null);
  });
}
