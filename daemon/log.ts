// Logging: pino JSON lines, to stdout (pino.destination) or a file (log-file.ts: rotated,
// bounded); transports do not survive bundling. Secrets never reach a line: requests are logged through their
// log-safe views, and redaction catches any field with a secret's name as a backstop.
import pino from 'pino';
import { jsonString } from './json-text';
import { LOG_BUFFER_BYTES, LOG_FLUSH_MS, LogFile } from './log-file';

export const REDACT_PATHS = [
  'password', 'old_password', 'new_password', 'secret', 'hash', 'verifiers', 'nt', 'scrypt', 'legacy',
  '*.password', '*.old_password', '*.new_password', '*.secret', '*.hash', '*.verifiers', '*.nt', '*.scrypt', '*.legacy',
  'req.headers.authorization',
];

export type Logger = pino.Logger;

/**
 * To a file (the device), lines are batched (daemon/log-file.ts: up to LOG_BUFFER_BYTES,
 * one write per batch) and flushed at least every second and at exit: one write per
 * line, then one per 4 KiB, was a third of the busy time on the cache-hit path
 * (docs/performance.md). A kill -9 can lose up to a second of audit lines. To stdout
 * (development, tests) every line is written at once.
 */
export { LOG_BUFFER_BYTES, LOG_FLUSH_MS };

/**
 * pino.stdTimeFunctions.isoTime, formatted once per millisecond: Date's toISOString
 * goes through V8's printf and time-zone cache, a tenth of a cache hit's instructions
 * when every line paid it (docs/performance.md). The text is the same.
 */
let stampMs = -1;
let stamp = '';
export function isoTime(): string {
  const ms = Date.now();
  if (ms !== stampMs) { stampMs = ms; stamp = `,"time":"${new Date(ms).toISOString()}"`; }
  return stamp;
}

const BASE_OPTIONS = {
  base: { svc: 'nasauthd' },
  timestamp: isoTime,
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

/** The fields of a decision's audit line, in the order they are written. */
export interface AuditFields {
  audit: string; user: string; service: string; source: string; channel: string; reason: string; cached: boolean;
}

type Internals = Record<symbol, unknown>;

/**
 * The audit line of one decision, written to the audit logger's destination: the line
 * log.info(fields) writes (pino's level and time, the bindings, then the fields in
 * order), built directly from its seven known fields. pino's general serialiser (a
 * lookup per key for serializers and stringifiers, then a concatenation per field) was
 * a tenth of a cache hit's instructions (docs/performance.md). Strings are JSON.stringify's
 * text (json-text.ts), as pino's are.
 * test/perf-units.test.ts checks the line against pino's.
 */
export function writeAudit(log: Logger, f: AuditFields): void {
  if (!log.isLevelEnabled('info')) return;
  const l = log as unknown as Internals;
  const head = (l[pino.symbols.lsCacheSym] as Record<number, string>)[log.levels.values.info];
  const time = (l[pino.symbols.timeSym] as () => string)();
  const line = `${head}${time}${l[pino.symbols.chindingsSym] as string},"audit":${jsonString(f.audit)},"user":${jsonString(f.user)},"service":${jsonString(f.service)},"source":${jsonString(f.source)},"channel":${jsonString(f.channel)},"reason":${jsonString(f.reason)},"cached":${f.cached}${l[pino.symbols.endSym] as string}`;
  (l[pino.symbols.streamSym] as pino.DestinationStream).write(line);
}
