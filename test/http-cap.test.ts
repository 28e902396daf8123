// capConnections (daemon/http-util.ts), the query socket's connection cap, on a real
// node:http server over a Unix socket: at the cap a new connection closes an idle one
// (the one whose last request came longest ago), never one whose request is still in
// progress; when every connection is busy the new one is refused.
import t from 'tap';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { capConnections } from '../daemon/http-util';
import { tempDir } from './helpers/tmp';
import { waitFor } from './helpers/wait';

t.test('at the cap: idle connections make room, in-progress ones never, all busy refuses', async (t) => {
  const dir = tempDir('nasauth-cap-');
  const path = join(dir, 'cap.sock');
  const held: Array<{ req: IncomingMessage; res: ServerResponse }> = [];
  const server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    if (req.url === '/slow') { held.push({ req, res }); return; } // answered by the test
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  const full: string[] = [];
  capConnections(server, 3, (what) => full.push(what));
  await new Promise<void>((r) => server.listen(path, r));
  t.teardown(() => { server.closeAllConnections(); server.close(); rmSync(dir, { recursive: true, force: true }); });

  const open = async () => {
    const s = connect(path);
    const c = { s, closed: false, data: '' };
    s.on('data', (b) => { c.data += b; });
    s.on('close', () => { c.closed = true; });
    s.on('error', () => undefined);
    await new Promise((r) => s.once('connect', r));
    return c;
  };
  const get = async (c: { s: Socket; data: string }, url: string) => {
    const before = c.data.length;
    c.s.write(`GET ${url} HTTP/1.1\r\nhost: x\r\n\r\n`);
    if (url !== '/slow') await waitFor(`an answer to ${url}`, () => c.data.length > before && c.data.endsWith('ok'));
  };
  const settle = () => new Promise((r) => setTimeout(r, 50));

  const busy = await open();
  await get(busy, '/slow');
  await waitFor('the slow request to be in progress', () => held.length === 1);
  const idleOld = await open();
  await get(idleOld, '/a');
  await settle();
  const idleNew = await open();
  await get(idleNew, '/b');
  await settle();

  // the cap (3) is reached: the next connection closes the idle one whose request came first
  const fourth = await open();
  await waitFor('the oldest idle connection closed', () => idleOld.closed);
  t.same(full, ['evicted']);
  t.notOk(busy.closed, 'the connection with a request in progress stays');
  t.notOk(idleNew.closed);

  // answered: that connection is idle again, and now the one whose last request came longest ago
  held[0].res.end('ok');
  await waitFor('the slow answer', () => busy.data.endsWith('ok'));
  await get(idleNew, '/c');
  await get(fourth, '/d');
  await settle();
  const fifth = await open();
  await waitFor('the connection idle longest closed', () => busy.closed);
  t.notOk(idleNew.closed);
  t.notOk(fourth.closed);

  // every connection busy: the new one is refused, none is closed
  for (const c of [idleNew, fourth, fifth]) await get(c, '/slow');
  await waitFor('three slow requests in progress', () => held.length === 4);
  const refused = await open();
  await waitFor('the new connection refused', () => refused.closed);
  t.same(full, ['evicted', 'evicted', 'refused']);
  t.notOk(idleNew.closed || fourth.closed || fifth.closed, 'no busy connection was closed');
  for (const h of held.slice(1)) h.res.end('ok');
  for (const c of [idleNew, fourth, fifth]) c.s.destroy();
});
