// The password policy, enforced in one place for every path that sets a password
// (CLI, query socket, PAM, LDAP password modify, AFP through PAM, import resets).
import type { Config } from './config';
import { canonicalText } from './password';

export function passwordProblems(pw: Uint8Array, user: string, p: Config['password_policy']): string[] {
  const text = canonicalText(pw);
  const chars = [...text];
  const out: string[] = [];
  if (chars.length === 0) return ['a password (an empty one is never accepted)'];
  if (chars.length < p.min_length) out.push(`at least ${p.min_length} characters`);
  if (Buffer.byteLength(text) > p.max_length) out.push(`at most ${p.max_length} bytes`);
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(text)) out.push('no control characters (tab, newline, NUL)');
  if (text.trim().length === 0 && chars.length > 0) out.push('not only spaces');
  let classes = 0;
  if (/\p{Ll}/u.test(text)) classes++;
  if (/\p{Lu}/u.test(text)) classes++;
  if (/\p{Nd}/u.test(text)) classes++;
  if (/[^\p{Ll}\p{Lu}\p{Nd}]/u.test(text)) classes++;
  if (classes < p.min_classes) out.push(`characters from at least ${p.min_classes} of: lower case, upper case, digits, other`);
  if (p.reject_username && user.length >= 3 && text.toLowerCase().includes(user.toLowerCase())) out.push('not containing the user name');
  return out;
}
