// The first-start admin's one-time password, delivered so that only root can read it:
// <state_dir>/initial-admin-password (0600, in the 0700 state folder), printed on
// stderr only when stderr is a terminal (under the init script it is a log file), never
// in a log line. The file is removed as soon as that account's password has been changed,
// whatever the path (query socket, PAM, CLI, LDAP, web), or the account is gone.
//
// File layout: line 1 is the password alone (scripts: head -n 1); line 2 a comment that
// names the account by rid (never reused) and the password_changed_at it was set with.
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from './log';
import { writeDurable, type Account } from './store';

export const ONE_TIME_PASSWORD_FILE = 'initial-admin-password';

export function oneTimePasswordPath(stateDir: string): string {
  return join(stateDir, ONE_TIME_PASSWORD_FILE);
}

/** Write the file (atomically, 0600). Returns its path. */
export function writeOneTimePassword(stateDir: string, pw: string, a: Account): string {
  const file = oneTimePasswordPath(stateDir);
  const text = `${pw}\n# one-time password of the account "${a.name}" (rid ${a.rid}, set ${a.password_changed_at}); ` +
    `it must be changed at the first login (dashboard, or: nasauth user passwd ${a.name}); this file is then removed\n`;
  const buf = Buffer.from(text, 'utf8');
  try { writeDurable(file, buf, 0o600, false); } finally { buf.fill(0); }
  return file;
}

/**
 * Remove the file once its account's password has changed or the account is gone.
 * Returns why it was removed, or null when it stays (or there is none). A file whose
 * comment line cannot be read (edited by hand) is left alone.
 */
export function retireOneTimePassword(stateDir: string, passwordSetAt: (rid: number) => number | null | undefined): string | null {
  const file = oneTimePasswordPath(stateDir);
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch { return null; }
  const m = /\(rid (\d+), set (\d+|null)\)/.exec(text.split('\n')[1] ?? '');
  if (!m) return null;
  const rid = Number(m[1]);
  const setAt = m[2] === 'null' ? null : Number(m[2]);
  const now = passwordSetAt(rid);
  const why = now === undefined ? 'the account was deleted' : now !== setAt ? 'the password was changed' : null;
  if (!why) return null;
  try { unlinkSync(file); } catch { return existsSync(file) ? null : why; }
  return why;
}

/**
 * Deliver a freshly made one-time password: the file, and the terminal if stderr is one.
 * The log gets only where the file is.
 */
export function deliverOneTimePassword(stateDir: string, pw: string, a: Account, log: Logger, stderr: NodeJS.WriteStream = process.stderr) {
  let file: string | null = null;
  try {
    file = writeOneTimePassword(stateDir, pw, a);
    log.warn({ event: 'first_start', user: a.name, initial_admin_password_file: file },
      `created the account "${a.name}" with a one-time password, readable by root in ${file}; it must be changed at the first login`);
  } catch (e) {
    log.error({ event: 'first_start', user: a.name, err: (e as Error).message },
      `created the account "${a.name}" but could not write its one-time password file; set a password with: nasauth user passwd ${a.name}`);
  }
  if (stderr.isTTY) {
    stderr.write(`\nnasauthd: first start: created account "${a.name}" with the one-time password: ${pw}\n` +
      `nasauthd: it must be changed at the first login (dashboard, or: nasauth user passwd ${a.name})` +
      `${file ? `; until then it is also in ${file} (root only)` : ''}\n\n`);
  }
}
