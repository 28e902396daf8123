// Mac OS Roman encoding for tests: ASCII plus the accented letters 0x80..0x9F (what a classic
// Mac or a legacy AFP client sends for "ä", "é", ...). Throws for characters outside that set.
const HIGH = 'ÄÅÇÉÑÖÜáàâäãåçéèêëíìîïñóòôöõúùûü'; // 0x80..0x9F

export function encodeMacRoman(s: string): Buffer {
  const out: number[] = [];
  for (const ch of s.normalize('NFC')) {
    const c = ch.codePointAt(0) ?? 0;
    if (c < 0x80) out.push(c);
    else {
      const i = HIGH.indexOf(ch);
      if (i < 0) throw new RangeError(`encodeMacRoman: ${JSON.stringify(ch)} is not in this table`);
      out.push(0x80 + i);
    }
  }
  return Buffer.from(out);
}

export function decodeMacRoman(b: Uint8Array): string {
  let s = '';
  for (const c of b) {
    if (c < 0x80) s += String.fromCharCode(c);
    else if (c < 0xa0) s += HIGH[c - 0x80];
    else throw new RangeError(`decodeMacRoman: byte 0x${c.toString(16)} is not in this table`);
  }
  return s;
}
