// The one list of reason codes. docs/protocol.md and pam/nasauth_proto.h mirror it;
// test/reasons.test.ts checks that all three agree. Numbers are wire values on the
// PAM socket: never renumber, only append.
export const REASONS = {
  ok: { code: 0, message: 'accepted' },
  bad_credentials: { code: 1, message: 'incorrect user name or password' },
  account_disabled: { code: 2, message: 'this account is disabled; ask the NAS administrator' },
  service_denied: { code: 3, message: 'this account may not use this service; ask the NAS administrator' },
  locked_out: { code: 4, message: 'too many failed attempts; the account is locked for a while' },
  must_change_password: { code: 5, message: 'the password must be changed before this account can be used' },
  unavailable: { code: 6, message: 'the credential service is not available right now' },
  rate_limited: { code: 7, message: 'too many failed attempts; wait before trying again' },
  unknown_user: { code: 8, message: 'no such account' },
  password_rejected: { code: 9, message: 'the new password does not meet the password policy' },
  busy: { code: 10, message: 'the credential service is busy; try again shortly' },
  bad_request: { code: 11, message: 'the request is malformed' },
  internal_error: { code: 12, message: 'internal error in the credential service' },
} as const;

export type Reason = keyof typeof REASONS;
export const REASON_NAMES = Object.keys(REASONS) as Reason[];
const byCode = new Map<number, Reason>(REASON_NAMES.map((r) => [REASONS[r].code, r]));
export function reasonByCode(code: number): Reason | undefined {
  return byCode.get(code);
}
export function isReason(s: string): s is Reason {
  return Object.prototype.hasOwnProperty.call(REASONS, s);
}
