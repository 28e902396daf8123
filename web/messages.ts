// What a person reads, by reason code (daemon/reasons.ts). The daemon says the real
// reason only after the password is proven; the page words it for a person.
export const SERVICE_LABELS: Record<string, string> = {
  smb: 'File sharing (SMB: Windows, macOS Finder)',
  timemachine: 'Time Machine backups',
  afp: 'File sharing for older Macs (AFP)',
  dashboard: 'This web page',
  ssh: 'Remote shell (ssh)',
  ftp: 'FTP',
  webdav: 'WebDAV',
};
export const serviceLabel = (s: string) => SERVICE_LABELS[s] ?? s;

export function waitText(seconds: number | undefined): string {
  const n = (k: number, unit: string) => `${k} ${unit}${k === 1 ? '' : 's'}`;
  const s = Math.max(1, Math.ceil(seconds ?? 60));
  if (s < 90) return n(s, 'second');
  const m = Math.ceil(s / 60);
  return m < 90 ? n(m, 'minute') : n(Math.ceil(m / 60), 'hour');
}

/** The sign-in page's answer to a refused sign-in. */
export function signInRefusal(reason: string, d: { retry_after?: number; user?: { services?: string[] } }): string {
  switch (reason) {
    case 'bad_credentials': return 'Incorrect user name or password.';
    case 'service_denied': {
      const other = (d.user?.services ?? []).filter((s) => s !== 'dashboard');
      const fileSharing = other.some((s) => ['smb', 'timemachine', 'afp'].includes(s));
      return `Your password is right, but your account may ${fileSharing ? 'use file sharing' : other.length ? `use ${other.map(serviceLabel).join(', ')}` : 'not use any service'} but not this page. Ask the administrator of this NAS.`;
    }
    case 'account_disabled': return 'Your password is right, but this account is disabled. Ask the administrator of this NAS.';
    case 'locked_out': return `Too many failed attempts: this account is locked. Try again in ${waitText(d.retry_after)}, or ask the administrator of this NAS to unlock it.`;
    case 'rate_limited': return `Too many failed attempts. Wait ${waitText(d.retry_after)} before you try again.`;
    case 'busy': return 'The NAS is busy checking other passwords. Try again in a moment.';
    case 'unavailable': return 'The NAS cannot check passwords right now. Try again in a moment.';
    default: return 'The sign-in did not work. Try again.';
  }
}

/** Why a signed-in page was refused (the session ended). */
export function sessionEnded(reason: string): string {
  switch (reason) {
    case 'account_disabled': return 'This account has been disabled. Ask the administrator of this NAS.';
    case 'service_denied': return 'Your account may no longer use this page. Ask the administrator of this NAS.';
    case 'unknown_user': return 'This account no longer exists.';
    case 'must_change_password': return 'Your password must be changed. Sign in to change it.';
    default: return 'You were signed out (the session ended, timed out, or the account changed). Sign in again.';
  }
}

/** The daemon's policy reasons ("the new password needs A; B") as one sentence. */
export function policyProblem(message: string): string {
  const parts = String(message).replace(/^the new password needs /, '').split('; ').filter(Boolean).map((p) => {
    if (p === 'not containing the user name') return 'must not contain the user name';
    if (p === 'not only spaces') return 'must not be only spaces';
    return `must have ${p}`;
  });
  if (!parts.length) return 'The new password is not accepted.';
  const last = parts.pop()!;
  return `The new password ${parts.length ? `${parts.join(', ')} and ${last}` : last}.`;
}
