// daemon/log-file.ts buffers lines as bytes and writes them in batches: whatever the
// sizes and characters, the file must hold exactly the lines written, in order, once
// flushed (and a flush(cb) caller must find its lines on disk).
import t from 'tap';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { LogFile } from '../daemon/log-file';
import { tempDir } from './helpers/tmp';
import { prng } from './fuzz/mutate';

const flushed = (f: LogFile) => new Promise<void>((r) => f.flush(r));

t.test('the file holds exactly the lines written, in order: ASCII, UTF-8, long lines, batch edges', async (t) => {
  const dir = tempDir('nasauth-logfile-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const rnd = prng(77);
  for (const bufferBytes of [4096, 65536]) {
    const path = join(dir, `log-${bufferBytes}`);
    const f = new LogFile(path, { maxBytes: 0, keep: 1, bufferBytes, flushMs: 60_000 });
    const want: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const k = rnd();
      const body = k < 0.05 ? 'x'.repeat(Math.floor(rnd() * 20_000)) : k < 0.2 ? `ünïcödé ✓ 🔑 ${i}` : `{"level":30,"audit":"authenticate","user":"u${i}"}`;
      const line = `${body}\n`;
      want.push(line);
      f.write(line);
      if (i % 500 === 499) await flushed(f); // a caller waiting mid-stream
    }
    await flushed(f);
    t.equal(readFileSync(path, 'utf8'), want.join(''), `batch ${bufferBytes}: every line, in order, byte for byte`);
    f.write('last line\n');
    f.end(); // flushSync at exit
    t.ok(readFileSync(path, 'utf8').endsWith('last line\n'), `batch ${bufferBytes}: end() writes what is left`);
  }
});

t.test('a flush(cb) caller finds its lines on disk when cb runs, also while a write is in flight', async (t) => {
  const dir = tempDir('nasauth-logfile-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'log');
  const f = new LogFile(path, { maxBytes: 0, keep: 1, bufferBytes: 4096, flushMs: 60_000 });
  for (let i = 0; i < 200; i++) f.write(`first ${i} ${'y'.repeat(100)}\n`); // several batches: writes in flight
  f.write('marker\n');
  await flushed(f);
  t.match(readFileSync(path, 'utf8'), /marker\n$/, 'the marker is on disk');
  f.end();
});
