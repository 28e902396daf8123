// One list of reason codes: daemon/reasons.ts, docs/protocol.md and pam/nasauth_proto.h agree.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REASONS, REASON_NAMES } from '../daemon/reasons';

const root = join(__dirname, '..');

t.test('docs/protocol.md lists every reason with its code, and nothing else', async (t) => {
  const doc = readFileSync(join(root, 'docs', 'protocol.md'), 'utf8');
  const rows = [...doc.matchAll(/^\|\s*(\d+)\s*\|\s*`([a-z_]+)`\s*\|/gm)].map((m) => [m[2], Number(m[1])] as const);
  t.same(Object.fromEntries(rows), Object.fromEntries(REASON_NAMES.map((r) => [r, REASONS[r].code])));
});

t.test('pam/nasauth_proto.h has the same names and numbers', async (t) => {
  const h = readFileSync(join(root, 'pam', 'nasauth_proto.h'), 'utf8');
  const found = new Map<string, number>();
  for (const m of h.matchAll(/#define\s+NASAUTH_R_([A-Z_]+)\s+(\d+)/g)) found.set(m[1].toLowerCase(), Number(m[2]));
  t.same(Object.fromEntries(found), Object.fromEntries(REASON_NAMES.map((r) => [r, REASONS[r].code])), 'NASAUTH_R_* constants');
  for (const r of REASON_NAMES) t.match(h, new RegExp(`"${r}"`), `the header names "${r}"`);
});

t.test('codes are unique', async (t) => {
  const codes = REASON_NAMES.map((r) => REASONS[r].code);
  t.equal(new Set(codes).size, codes.length);
});
