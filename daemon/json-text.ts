// JSON text of a string, for the few hot lines built by hand (the audit line, the
// decision reply). JSON.stringify has a fixed cost per call (a builder, a replacer
// check) that was larger than the work for the short, plain strings those lines hold;
// a string of printable ASCII without quote or backslash is its own JSON content.
// Anything else goes to JSON.stringify, so the text is always JSON.stringify's.

/** Longer strings go straight to JSON.stringify (its per-character loop is native). */
const SHORT = 96;

export function jsonString(s: string): string {
  if (s.length > SHORT) return JSON.stringify(s);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return JSON.stringify(s);
  }
  return `"${s}"`;
}
