// Logging: pino JSON lines, to stdout or a file through pino.destination (transports do
// not survive bundling). Secrets never reach a line: requests are logged through their
// log-safe views, and redaction catches any field with a secret's name as a backstop.
import pino from 'pino';

export const REDACT_PATHS = [
  'password', 'old_password', 'new_password', 'secret', 'hash', 'verifiers', 'nt', 'scrypt', 'legacy',
  '*.password', '*.old_password', '*.new_password', '*.secret', '*.hash', '*.verifiers', '*.nt', '*.scrypt', '*.legacy',
  'req.headers.authorization',
];

export type Logger = pino.Logger;

export function makeLogger(level: string, file: string | null, stream?: pino.DestinationStream): Logger {
  const dest = stream ?? pino.destination({ dest: file ?? 1, sync: false, mkdir: true });
  return pino({
    level,
    base: { svc: 'nasauthd' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  }, dest);
}
