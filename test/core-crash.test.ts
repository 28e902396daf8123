// Crash safety: kill -9 the daemon at random moments during a stream of admin changes.
// Every change the daemon acknowledged must be there after a restart, and the store
// must load (old or new state, never a torn one).
import t from 'tap';
import { request } from 'node:http';
import { cleanup, startDaemon } from './helpers/daemon';
import { waitFor } from './helpers/wait';

// Seeded so a failure reproduces.
let seed = Number(process.env.CRASH_SEED ?? 20261127);
const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);

function addRaw(sock: string, name: string): Promise<number> {
  const body = JSON.stringify({ name, password: 'Pass-word-123', email: `${name}@example.com` });
  return new Promise((resolve) => {
    const req = request({ socketPath: sock, method: 'POST', path: '/v1/admin/users', headers: { 'content-length': Buffer.byteLength(body) }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

t.test('kill -9 during admin changes loses no acknowledged change', async (t) => {
  let d = await startDaemon();
  const dir = d.dir;
  t.teardown(async () => { await d.stop(); cleanup(d); });
  const acked = new Set<string>();
  let n = 0;
  for (let round = 0; round < 6; round++) {
    // a stream of changes, 4 in flight at a time, and a kill at a random moment
    const killAt = 20 + rand() * 150;
    let stop = false;
    const writers = Array.from({ length: 4 }, async () => {
      while (!stop) {
        const name = `u${n++}`;
        const status = await addRaw(d.admin, name);
        if (status === 201) acked.add(name);
        else break; // connection died with the daemon
      }
    });
    // the kill lands at a random moment once the stream flows (a loaded machine may take
    // a while to acknowledge the first change of a round: wait for it, with a deadline)
    const before = acked.size;
    await waitFor(`a change acknowledged in round ${round}`, () => acked.size > before, 60_000);
    await new Promise((r) => setTimeout(r, killAt));
    await d.kill9();
    stop = true;
    await Promise.all(writers);
    d = await startDaemon({ dir }); // must load
    const r = await new Promise<string>((resolve) => {
      const req = request({ socketPath: d.admin, path: '/v1/admin/users', agent: false }, (res) => {
        let s = '';
        res.on('data', (c) => { s += c; });
        res.on('end', () => resolve(s));
      });
      req.end();
    });
    const present = new Set((JSON.parse(r).users as Array<{ name: string }>).map((u) => u.name));
    const lost = [...acked].filter((x) => !present.has(x));
    t.same(lost, [], `round ${round}: every acknowledged change survived (${acked.size} so far)`);
  }
  t.ok(acked.size > 10, `changes were acknowledged during the rounds (${acked.size})`);
});
