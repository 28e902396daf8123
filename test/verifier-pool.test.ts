// The slow-hash pool: its bounds, and its flood mode (one slot fewer while most checks
// fail and more wait, so cache hits keep a core; docs/performance.md, figure 2).
// Counted, never timed: a fake clock, and jobs that finish when the test says so.
import t from 'tap';
import { BusyError, WorkPool } from '../daemon/verifier';

function harness(limit: number, maxQueued: number) {
  let clock = 1_000_000;
  const pool = new WorkPool(limit, maxQueued, () => clock);
  const events: string[] = [];
  pool.onFlood = (on, n) => events.push(`${on ? 'flood' : 'over'} ${n}`);
  let running = 0;
  let most = 0;
  const gates: Array<() => void> = [];
  /** a job that runs until release(); its outcome is reported as a check's */
  const job = (failed: boolean) => pool.run(() => new Promise<void>((res) => {
    running++; most = Math.max(most, running);
    gates.push(() => { running--; pool.outcome(failed); res(); });
  }));
  const release = async (n = 1) => { for (let i = 0; i < n; i++) { gates.shift()!(); await new Promise((r) => setImmediate(r)); } };
  return { pool, events, job, release, get running() { return running; }, get most() { return most; }, resetMost() { most = running; }, tick(ms: number) { clock += ms; } };
}

t.test('a flood of failing checks: one slot fewer while it lasts, then both again', async (t) => {
  const h = harness(2, 32);
  const all: Array<Promise<void>> = [];
  for (let i = 0; i < 30; i++) all.push(h.job(true));
  await new Promise((r) => setImmediate(r));
  t.equal(h.running, 2, 'two run at first');
  t.equal(h.pool.queued, 28);
  await h.release(15);
  t.same(h.events, [], '15 failures: not yet enough outcomes to call it a flood');
  await h.release(1);
  t.same(h.events, ['flood 1'], 'the 16th failure with a queue: a flood');
  t.equal(h.pool.currentLimit, 1);
  h.resetMost();
  await h.release(6);
  t.equal(h.most, 1, 'during the flood, one hash at a time');
  t.equal(h.running, 1);
  // checks that succeed (the real users) end it
  for (let i = 0; i < 12; i++) all.push(h.job(false));
  let released = 0;
  while (h.events.length < 2 && h.running) { await h.release(1); released++; }
  t.same(h.events, ['flood 1', 'over 2'], 'fewer than half failing: over');
  t.equal(released, 8 + 9, 'after the 8 failures left and 9 successes (7 of the last 16 failed)');
  t.equal(h.running, 2, 'the slot given back started a waiting job at once');
  while (h.running) await h.release(1);
  await Promise.all(all);
  t.equal(h.pool.inFlight, 0, 'every slot returned');
});

t.test('legitimate load (checks that succeed) never counts as a flood, however long the queue', async (t) => {
  const h = harness(2, 64);
  const all: Array<Promise<void>> = [];
  for (let i = 0; i < 60; i++) all.push(h.job(i % 4 === 0)); // a wrong password now and then
  await new Promise((r) => setImmediate(r));
  while (h.running) await h.release(1);
  await Promise.all(all);
  t.same(h.events, []);
  t.equal(h.most, 2, 'two at a time throughout');
});

t.test('the flood mode ends when the queue has been empty a while, even with no check succeeding', async (t) => {
  const h = harness(2, 32);
  const all: Array<Promise<void>> = [];
  for (let i = 0; i < 20; i++) all.push(h.job(true));
  await new Promise((r) => setImmediate(r));
  while (h.running) await h.release(1);
  await Promise.all(all);
  t.same(h.events, ['flood 1']);
  h.tick(1000);
  const one = h.job(true);
  await new Promise((r) => setImmediate(r));
  t.same(h.events, ['flood 1'], '1 s without a queue: still on');
  await h.release(1); await one;
  h.tick(2500);
  const two = h.job(true);
  await new Promise((r) => setImmediate(r));
  t.same(h.events, ['flood 1', 'over 2'], '2.5 s without a queue: over');
  await h.release(1); await two;
});

t.test('the bounds stay: a full queue refuses at once, and a pool of one never goes to zero', async (t) => {
  const h = harness(1, 2);
  const all: Array<Promise<void>> = [];
  for (let i = 0; i < 3; i++) all.push(h.job(true));
  await t.rejects(h.job(true), { message: new BusyError().message }, 'one running and two waiting: busy');
  for (let i = 0; i < 20; i++) { await h.release(1); all.push(h.job(true)); }
  t.same(h.events, [], 'a pool of one has no slot to spare');
  while (h.running) await h.release(1);
  await Promise.allSettled(all);
  t.equal(h.pool.inFlight, 0);
});
