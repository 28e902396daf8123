// Logging: pino JSON lines, to stdout or a file through pino.destination (transports do
// not survive bundling). Secrets never reach a line: requests are logged through their
// log-safe views, and redaction catches any field with a secret's name as a backstop.
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import pino from 'pino';

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
export const LOG_BUFFER_BYTES = 4096;
export const LOG_FLUSH_MS = 1000;

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

/** The daemon's own log files: root and its group may read, nobody else (0640 at most). */
export const LOG_FILE_MODE = 0o640;

/** Make the log's folder and tighten a file left more open by an older version. */
function prepareLogFile(file: string) {
  mkdirSync(dirname(file), { recursive: true, mode: 0o750 });
  try {
    const m = statSync(file).mode & 0o777;
    if (m & ~LOG_FILE_MODE) chmodSync(file, m & LOG_FILE_MODE);
  } catch { /* not there yet: created with LOG_FILE_MODE */ }
}

export function makeLogger(level: string, file: string | null, stream?: pino.DestinationStream): Logger {
  if (!stream && file) prepareLogFile(file);
  const dest = stream ?? pino.destination({ dest: file ?? 1, sync: false, mkdir: true, mode: LOG_FILE_MODE, minLength: file ? LOG_BUFFER_BYTES : 0 });
  if (!stream && file) setInterval(() => { try { (dest as ReturnType<typeof pino.destination>).flush(); } catch { /* a write is in flight */ } }, LOG_FLUSH_MS).unref();
  return pino({ ...BASE_OPTIONS, level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, dest);
}
