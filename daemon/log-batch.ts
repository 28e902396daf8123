// A batch of log lines in front of the log file's sonic-boom stream.
//
// pino hands its destination one line per call. sonic-boom appends each line to a
// string and, past its minLength, hands the string to one asynchronous fs.write on the
// thread pool. Each such write wakes a pool thread, and on the one core the daemon has
// on the device that wake was a third of the busy time on the cache-hit path (one audit
// line per decision, a write every 16 lines: docs/performance.md). sonic-boom cannot
// simply take a larger minLength: it measures its whole pending string on every line.
//
// So the lines wait here, in an array, until LOG_BATCH_BYTES have come or the flush
// timer fires (at least every LOG_FLUSH_MS), and go down as one string: one write per
// few hundred lines. Nothing is dropped: flush, flushSync and process exit pass every
// waiting line on first. A kill -9 loses what a second of buffering holds, as before.
import type { DestinationStream } from 'pino';

/** Lines wait until this many characters are pending (one fs.write per batch). */
export const LOG_BATCH_BYTES = 64 * 1024;

/** The part of sonic-boom (pino.destination) this layer drives. */
export interface FileStream extends DestinationStream {
  flush(cb?: (err?: Error) => void): void;
  flushSync(): void;
}

export class LineBatch implements DestinationStream {
  private lines: string[] = [];
  private size = 0;
  private readonly onExit = () => { try { this.flushSync(); } catch { /* the file is gone: nothing left to do */ } };

  constructor(readonly file: FileStream, private readonly max = LOG_BATCH_BYTES) {
    process.on('exit', this.onExit);
  }

  write(line: string): void {
    this.lines.push(line);
    this.size += line.length;
    if (this.size >= this.max) this.pass();
  }

  /** Hand every waiting line to the file stream (it writes them asynchronously). */
  private pass(): void {
    if (this.lines.length === 0) return;
    const text = this.lines.length === 1 ? this.lines[0] : this.lines.join('');
    this.lines = [];
    this.size = 0;
    this.file.write(text);
  }

  /** The flush timer's call: write what waits, if anything does. */
  tick(): void {
    if (this.lines.length === 0) return;
    this.pass();
    this.file.flush();
  }

  flush(cb?: (err?: Error) => void): void {
    this.pass();
    this.file.flush(cb);
  }

  flushSync(): void {
    this.pass();
    this.file.flushSync();
  }

  /** Stop listening for process exit (a logger that is thrown away, in tests). */
  close(): void {
    this.flushSync();
    process.removeListener('exit', this.onExit);
  }
}
