// Typed errors with stable codes. Every message says what happened and what to do.
export const ERRORS = {
  NASAUTH_CONFIG: 'configuration is invalid',
  NASAUTH_STORE_CORRUPT: 'the account store is unreadable or damaged',
  NASAUTH_STORE_IO: 'the account store could not be written',
  NASAUTH_INVALID_NAME: 'the name is not a valid account or group name',
  NASAUTH_INVALID_EMAIL: 'the e-mail address is not valid',
  NASAUTH_INVALID_FIELD: 'a field has an invalid value',
  NASAUTH_EXISTS: 'the account or group already exists',
  NASAUTH_NOT_FOUND: 'no such account or group',
  NASAUTH_PASSWORD_POLICY: 'the password does not meet the password policy',
  NASAUTH_UID_CONFLICT: 'the uid or gid is already in use',
  NASAUTH_CONFLICT: 'the change conflicts with the current state',
} as const;
export type ErrorCode = keyof typeof ERRORS;

export class NasauthError extends Error {
  readonly code: ErrorCode;
  readonly field?: string;
  constructor(code: ErrorCode, message: string, field?: string) {
    super(message);
    this.code = code;
    this.field = field;
    this.name = 'NasauthError';
  }
}
