// Mac OS Roman (Apple's ROMAN.TXT), for AFP: afpd converts login passwords from
// MacRoman to UTF-8 but hands password *changes* to PAM as the raw bytes the Mac sent.
// Through the AFP service, bytes that are not valid UTF-8 are therefore MacRoman, not
// Latin-1 (docs/protocol.md, "Password bytes").
const HIGH =
  'ÄÅÇÉÑÖÜáàâäãåçéèêëíìîïñóòôöõúùûü' +
  '†°¢£§•¶ß®©™´¨≠ÆØ∞±≤≥¥µ∂∑∏π∫ªºΩæø' +
  '¿¡¬√ƒ≈∆«»…\u00a0ÀÃÕŒœ–—“”‘’÷◊ÿŸ⁄€‹›ﬁﬂ' +
  '‡·‚„‰ÂÊÁËÈÍÎÏÌÓÔ\uf8ffÒÚÛÙıˆ˜¯˘˙˚¸˝˛ˇ';

export function decodeMacRoman(b: Uint8Array): string {
  let s = '';
  for (const c of b) s += c < 0x80 ? String.fromCharCode(c) : HIGH[c - 0x80];
  return s;
}

export function encodeMacRoman(s: string): Buffer {
  const out: number[] = [];
  for (const ch of s.normalize('NFC')) {
    const c = ch.codePointAt(0)!;
    if (c < 0x80) { out.push(c); continue; }
    const i = HIGH.indexOf(ch);
    if (i < 0) throw new RangeError(`"${ch}" has no MacRoman encoding`);
    out.push(0x80 + i);
  }
  return Buffer.from(out);
}

// The UTF-8 bytes of each high MacRoman byte, so a password is converted byte to byte
// without passing through a JS string (which could not be wiped).
const HIGH_UTF8 = Array.from(HIGH, (ch) => Buffer.from(ch, 'utf8'));

const utf8 = new TextDecoder('utf-8', { fatal: true });
/**
 * Bytes from afpd: valid UTF-8 stays (the same buffer); anything else is MacRoman,
 * returned as a new UTF-8 buffer, and the MacRoman input is wiped (it is a password).
 */
export function afpPasswordBytes(b: Buffer): Buffer {
  try { utf8.decode(b); return b; } catch { /* MacRoman */ }
  let n = 0;
  for (const c of b) n += c < 0x80 ? 1 : HIGH_UTF8[c - 0x80].length;
  const out = Buffer.alloc(n); // not the shared pool: wiped on its own by the caller
  let at = 0;
  for (const c of b) {
    if (c < 0x80) out[at++] = c;
    else at += HIGH_UTF8[c - 0x80].copy(out, at);
  }
  b.fill(0);
  return out;
}
