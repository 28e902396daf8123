// Logging: pino JSON lines, to stdout (pino.destination) or a file (log-file.ts: rotated,
// bounded); transports do not survive bundling. Secrets never reach a line: requests are logged through their
// log-safe views, and redaction catches any field with a secret's name as a backstop.
import pino from 'pino';
import { LOG_BUFFER_BYTES, LOG_FLUSH_MS, LogFile } from './log-file';

export const REDACT_PATHS = [
  'password', 'old_password', 'new_password', 'secret', 'hash', 'verifiers', 'nt', 'scrypt', 'legacy',
  '*.password', '*.old_password', '*.new_password', '*.secret', '*.hash', '*.verifiers', '*.nt', '*.scrypt', '*.legacy',
  'req.headers.authorization',
];

export type Logger = pino.Logger;

/**
 * To a file (the device), lines are buffered up to 4 KiB and flushed at least every
 * second and at exit: one write per line was a third of the busy time on the cache-hit
 * path (docs/benchmarks.md). A kill -9 can lose up to a second of audit lines. To
 * stdout (development, tests) every line is written at once.
 */
export { LOG_BUFFER_BYTES, LOG_FLUSH_MS };

const BASE_OPTIONS = {
  base: { svc: 'nasauthd' },
  timestamp: pino.stdTimeFunctions.isoTime,
  formatters: { level: (label: string) => ({ level: label }) },
};

/**
 * The audit logger: the same destination and format, without redaction. Audit lines
 * are built only from fields that hold no secret (user, service, source, reason,
 * cached), so the redaction pass (a fifth of the cache-hit path's logging cost) buys
 * nothing there; every other line keeps it. test/core-secrets.test.ts searches the
 * whole log for passwords and hashes either way.
 */
export function auditLogger(log: Logger): Logger {
  const dest = (log as unknown as Record<symbol, pino.DestinationStream>)[pino.symbols.streamSym];
  return pino({ ...BASE_OPTIONS, level: log.level }, dest);
}

/** The log file under a logger (null when it logs to stdout or a given stream). */
export function logFileOf(log: Logger): LogFile | null {
  const dest = (log as unknown as Record<symbol, unknown>)[pino.symbols.streamSym];
  return dest instanceof LogFile ? dest : null;
}

export interface LogFileSettings { max_bytes: number; keep: number }

/**
 * To a file (the device): daemon/log-file.ts (buffered, rotated, bounded, and a full
 * disk loses log lines, never a login). To stdout (development, tests, or the init
 * script's LOGFILE): every line at once; a failing stdout loses lines, never the daemon.
 */
export function makeLogger(level: string, file: string | null, stream?: pino.DestinationStream, rotation: LogFileSettings = { max_bytes: 4 * 1024 * 1024, keep: 3 }): Logger {
  let dest: pino.DestinationStream;
  if (stream) dest = stream;
  else if (file) dest = new LogFile(file, { maxBytes: rotation.max_bytes, keep: rotation.keep });
  else {
    const out = pino.destination({ dest: 1, sync: false, minLength: 0 });
    out.on('error', () => { /* stdout gone or its disk full: the line is lost, the daemon goes on */ });
    dest = out;
  }
  return pino({ ...BASE_OPTIONS, level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, dest);
}
