// The daemon's own log file: bounded on disk, bounded in memory, and never in the way
// of a login or a store write.
//
// - Rotation by the daemon itself (busybox firmwares have no logrotate): when the file
//   reaches max_bytes it becomes FILE.1 (FILE.1 becomes FILE.2, ... up to `keep`) and a
//   new FILE is started, so the log never takes more than about (keep + 1) x max_bytes.
// - reopen() (SIGUSR1) for firmwares that do rotate the file themselves: the daemon
//   closes it and opens the path again.
// - Lines are buffered (LOG_BUFFER_BYTES, flushed at least every LOG_FLUSH_MS) and
//   written asynchronously, one write at a time. A write that fails (a full disk, an I/O
//   error) loses those lines and nothing else: they are counted, and the first line that
//   can be written again says how many were lost and why. While writes fail or lag, at
//   most MAX_PENDING_BYTES wait in memory; beyond that new lines are dropped and counted.
// - Files are created 0640 (root and its group), and an older, more open file is
//   tightened to that.
import * as fs from 'node:fs';
import { dirname } from 'node:path';

export const LOG_FILE_MODE = 0o640;
// 64 KiB: one write per batch of lines was a third less busy time on the cache-hit path
// than one per 4 KiB (docs/performance.md); a kill -9 loses at most LOG_FLUSH_MS of lines either way
export const LOG_BUFFER_BYTES = 64 * 1024;
export const LOG_FLUSH_MS = 1000;
/** Lines waiting for the disk at most (a full or hung disk must not grow the heap). */
export const MAX_PENDING_BYTES = 1024 * 1024;

export interface LogFileOptions {
  /** rotate when the file reaches this many bytes (0: never) */
  maxBytes: number;
  /** rotated files kept: FILE.1 ... FILE.keep */
  keep: number;
  bufferBytes?: number;
  flushMs?: number;
}

export class LogFile {
  private fd = -1;
  private size = 0;
  // Lines are encoded into byte buffers as they arrive, not kept as strings until the
  // batch is written: held for up to a batch, every audit line was promoted to V8's old
  // generation (890 bytes per cache-hit request; 45 with the audit off), to be collected
  // by a mark-compact later (docs/performance.md)
  private full: Buffer[] = []; // filled buffers waiting, each exactly its bytes
  private cur: Buffer | null = null; // the buffer being filled
  private curLen = 0;
  private pending = 0; // bytes waiting in `full` and `cur`
  private writing = false;
  private chunkStart = 0; // the file's size before the write in flight
  private waiters: Array<() => void> = [];
  private reopenWanted = false;
  private timer: NodeJS.Timeout;
  /** lines lost since the last report, and the last reason */
  private lost = { lines: 0, bytes: 0, why: '', report: false };
  readonly stats = { rotations: 0, reopens: 0, lostLines: 0, writeErrors: 0 };

  /** lines wait for a batch this big: at most a sixteenth of max_bytes, so rotation keeps the file near its cap */
  private readonly batchBytes: number;

  constructor(readonly path: string, private opts: LogFileOptions) {
    this.batchBytes = opts.bufferBytes ?? (opts.maxBytes > 0 ? Math.min(LOG_BUFFER_BYTES, Math.max(4096, Math.floor(opts.maxBytes / 16))) : LOG_BUFFER_BYTES);
    this.open();
    this.timer = setInterval(() => this.flush(), opts.flushMs ?? LOG_FLUSH_MS);
    this.timer.unref();
  }

  /** pino's destination interface: one or more whole lines. Never throws, never blocks. */
  write(s: string): boolean {
    if (this.pending + s.length > MAX_PENDING_BYTES) {
      this.lose(countLines(s), s.length, 'the disk is not keeping up; lines dropped in memory');
      return true;
    }
    const room = s.length * 3; // UTF-8 bytes at most
    if (!this.cur || this.curLen + room > this.cur.length) {
      if (this.cur && this.curLen > 0) this.full.push(this.cur.subarray(0, this.curLen));
      this.cur = Buffer.allocUnsafeSlow(Math.max(this.batchBytes + 16 * 1024, room));
      this.curLen = 0;
    }
    const n = this.cur.write(s, this.curLen, 'utf8');
    this.curLen += n;
    this.pending += n;
    if (this.pending >= this.batchBytes) this.flush();
    return true;
  }

  /** Everything waiting, as one buffer (the buffers are handed over: new lines go to new ones). */
  private take(): Buffer {
    if (this.cur && this.curLen > 0) this.full.push(this.cur.subarray(0, this.curLen));
    const parts = this.full;
    this.full = [];
    this.cur = null;
    this.curLen = 0;
    this.pending = 0;
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }

  /** `bytes`, after the line that reports lost lines when there is one to report. */
  private withReport(bytes: Buffer): Buffer {
    return this.lost.report ? Buffer.concat([Buffer.from(this.lostLine(), 'utf8'), bytes]) : bytes;
  }

  /** Write what is buffered; `cb` runs once it is on disk (or lost). */
  flush(cb?: () => void) {
    if (cb) this.waiters.push(cb);
    if (this.writing) return;
    if (this.pending === 0 && !this.reopenWanted) { this.wake(); return; }
    if (this.reopenWanted) { this.reopenWanted = false; this.close(); this.stats.reopens++; }
    if (this.fd < 0) this.open();
    let bytes = this.take();
    if (this.fd < 0) { if (bytes.length) this.lose(countLines(bytes), bytes.length, this.lost.why || 'the log file cannot be opened'); this.wake(); return; }
    bytes = this.withReport(bytes);
    if (bytes.length === 0) { this.wake(); return; }
    this.writing = true;
    this.chunkStart = this.size;
    this.writeAll(bytes, 0);
  }

  /** Close and open the path again (after an outside tool moved the file away). */
  reopen() {
    this.reopenWanted = true;
    this.flush();
  }

  /** Write what is buffered now, synchronously (at exit). */
  flushSync() {
    if (this.writing) return; // an async write owns the file position; the exit path uses flush(cb)
    let bytes = this.take();
    if (this.fd < 0) this.open();
    if (this.fd < 0 || bytes.length === 0) return;
    bytes = this.withReport(bytes);
    try { fs.writeSync(this.fd, bytes); } catch { /* lost at exit */ }
  }

  end() {
    clearInterval(this.timer);
    this.flushSync();
    this.close();
  }

  private writeAll(buf: Buffer, off: number) {
    fs.write(this.fd, buf, off, buf.length - off, null, (err, n) => {
      if (err) {
        // a full disk, an I/O error: these lines are lost, nothing else is
        // the whole chunk counts as lost: a part that did get written (a disk filling up
        // mid-write) is cut off again, so the file holds whole lines only
        this.stats.writeErrors++;
        if (off > 0) { try { fs.ftruncateSync(this.fd, this.chunkStart); this.size = this.chunkStart; } catch { /* EBADF: reopened below */ } }
        this.lose(countLines(buf), buf.length, `${err.code ?? 'error'}: ${err.message}`);
        if (err.code === 'EBADF') this.fd = -1;
        return this.done();
      }
      this.size += n;
      if (off + n < buf.length) return this.writeAll(buf, off + n);
      this.done();
    });
  }

  private done() {
    this.writing = false;
    if (this.opts.maxBytes > 0 && this.size >= this.opts.maxBytes) this.rotate();
    // What arrived during the write waits for a full batch or the timer, like any line,
    // unless somebody waits for it. Writing it at once made the batch whatever came in
    // during one write: under load a write of a few lines each time, and each write wakes
    // a thread-pool thread (~50 us of the event loop's core on this VM; docs/performance.md).
    if (this.reopenWanted || this.waiters.length > 0 || this.pending >= this.batchBytes) this.flush();
    else this.wake();
  }

  private wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** FILE -> FILE.1 -> ... -> FILE.keep (the oldest is dropped); a new FILE. */
  private rotate() {
    const keep = Math.max(1, this.opts.keep);
    this.close();
    try {
      for (let i = keep - 1; i >= 1; i--) {
        try { fs.renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; }
      }
      fs.renameSync(this.path, `${this.path}.1`);
      this.stats.rotations++;
    } catch (e) {
      // cannot rotate: start the file over rather than grow without bound
      try { fs.truncateSync(this.path, 0); } catch { /* the next open reports it */ }
      this.lose(0, 0, `rotation failed (${(e as Error).message}); the log was truncated`);
    }
    this.open();
  }

  private open() {
    try {
      // a folder or file made here gets its mode exactly, whatever the umask (the init
      // script's is 077); an existing file more open than LOG_FILE_MODE is tightened
      if (fs.mkdirSync(dirname(this.path), { recursive: true, mode: 0o750 })) fs.chmodSync(dirname(this.path), 0o750);
      const { O_WRONLY, O_APPEND, O_CREAT, O_EXCL } = fs.constants;
      let created = true;
      try { this.fd = fs.openSync(this.path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL, LOG_FILE_MODE); } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        created = false;
        this.fd = fs.openSync(this.path, O_WRONLY | O_APPEND);
      }
      const st = fs.fstatSync(this.fd);
      if (created) fs.fchmodSync(this.fd, LOG_FILE_MODE);
      else if (st.mode & 0o777 & ~LOG_FILE_MODE) fs.fchmodSync(this.fd, st.mode & 0o777 & LOG_FILE_MODE);
      this.size = st.size;
    } catch (e) {
      this.fd = -1;
      this.lost.why = `cannot open ${this.path}: ${(e as Error).message}`;
    }
  }

  private close() {
    if (this.fd >= 0) { try { fs.closeSync(this.fd); } catch { /* gone */ } }
    this.fd = -1;
  }

  private lose(lines: number, bytes: number, why: string) {
    this.lost.lines += lines;
    this.lost.bytes += bytes;
    this.lost.why = why;
    this.lost.report = true;
    this.stats.lostLines += lines;
  }

  /** The line that reports lost lines (in pino's format), then forgets them. */
  private lostLine(): string {
    const l = this.lost;
    this.lost = { lines: 0, bytes: 0, why: '', report: false };
    return JSON.stringify({
      level: 'warn', time: new Date().toISOString(), svc: 'nasauthd', event: 'log_lines_lost', lines: l.lines, bytes: l.bytes, why: l.why,
      msg: l.lines > 0 ? `${l.lines} log line${l.lines === 1 ? '' : 's'} could not be written (${l.why})` : `log: ${l.why}`,
    }) + '\n';
  }
}

function countLines(s: string | Buffer): number {
  let n = 0;
  if (typeof s === 'string') for (let i = s.indexOf('\n'); i >= 0; i = s.indexOf('\n', i + 1)) n++;
  else for (let i = s.indexOf(0x0a); i >= 0; i = s.indexOf(0x0a, i + 1)) n++;
  return n;
}
