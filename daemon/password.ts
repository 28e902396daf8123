// Password bytes → the one canonical form every verifier hashes.
//
// Clients hand us bytes: the query socket UTF-8 (JSON), the PAM socket whatever the
// caller's terminal or protocol produced (UTF-8, sometimes Latin-1), SMB the UTF-16
// the NT hash is made from. The rule, written in docs/protocol.md:
//   1. valid UTF-8 is decoded as UTF-8; anything else is decoded as Latin-1 (every byte
//      string is valid Latin-1, and the decoding is one-to-one, so two different
//      Latin-1 passwords never compare equal);
//   2. the text is normalised to Unicode NFC (macOS sends decomposed NFD "a + ̈");
//   3. scrypt hashes the UTF-8 of that text; the NT hash is MD4 of its UTF-16LE.
import { createHmac } from 'node:crypto';
import { md4 } from './md4';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function canonicalText(pw: Uint8Array): string {
  let s: string;
  try {
    s = utf8.decode(pw);
  } catch {
    s = Buffer.from(pw.buffer, pw.byteOffset, pw.byteLength).toString('latin1');
  }
  return s.normalize('NFC');
}

export function canonicalBytes(pw: Uint8Array): Buffer {
  return Buffer.from(canonicalText(pw), 'utf8');
}

/**
 * The NT hash of the empty password. Old boxes let service accounts in without a password
 * this way; nasauth never accepts an empty password (the authority refuses it before any
 * verifier runs), never imports this hash, and removes it from a store that holds it.
 */
export const EMPTY_NT_HASH = '31D6CFE0D16AE931B73C59D7E0C089C0';

/** The NT hash: MD4 of the UTF-16LE password (what SMB's NTLM uses). */
export function ntHash(pw: Uint8Array): Buffer {
  const u16 = Buffer.from(canonicalText(pw), 'utf16le');
  const h = md4(u16);
  u16.fill(0);
  return h;
}

export function hmac(key: Buffer, ...parts: Array<string | Uint8Array>): Buffer {
  const h = createHmac('sha256', key);
  for (const p of parts) {
    h.update(p);
    h.update('\0');
  }
  return h.digest();
}
