// The config files' own YAML reader (daemon/config-yaml.ts) against the `yaml` library
// it stands in for: every document it accepts must read exactly as yaml's toJS() reads
// it, and every document yaml refuses it must decline (the library then words the
// error). The config files of the repository must be read by it, not declined (else the
// start runs the general parser again, which is what it is for). Seeded.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parseDocument, stringify } from 'yaml';
import { readPlainYaml } from '../daemon/config-yaml';
import { DEFAULT_CONFIG_YAML, loadConfig } from '../daemon/config';
import { testConfig, ROOT } from './helpers/daemon';
import { mutate, prng } from './fuzz/mutate';

const SEED = Number(process.env.NASAUTH_FUZZ_SEED ?? 0xc0ffee);
const rnd = prng(SEED);
const int = (n: number) => Math.floor(rnd() * n);
const pick = <T>(a: readonly T[]): T => a[int(a.length)];

/** yaml's reading, or 'error' when it refuses the document (as loadConfig calls it). */
function reference(text: string): unknown {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length) return 'error';
  return doc.toJS({ maxAliasCount: 100 });
}

/** '' when the reader agrees with yaml (or declines), else what went wrong. */
function disagreement(text: string): string {
  const mine = readPlainYaml(text);
  if (mine === undefined) return '';
  const ref = reference(text);
  if (ref === 'error') return `accepted a document yaml refuses: ${JSON.stringify(mine)}`;
  return isDeepStrictEqual(mine, ref) ? '' : `read ${JSON.stringify(mine)}, yaml reads ${JSON.stringify(ref)}`;
}

const REPO_CONFIGS: Array<[string, string]> = [
  ['the embedded default', DEFAULT_CONFIG_YAML],
  ['sysroot/etc/nasauth/nasauth.yaml', readFileSync(join(ROOT, 'sysroot/etc/nasauth/nasauth.yaml'), 'utf8')],
  ['cross/guest/nasauth-smoke.yaml', readFileSync(join(ROOT, 'cross/guest/nasauth-smoke.yaml'), 'utf8')],
  ['a test daemon\'s config (test/helpers/daemon.ts)', stringify(testConfig('/tmp/nasauth-x', { upstream: { enabled: true, urls: ['ldap://127.0.0.1:13890'], bind_dn: 'cn=svc,dc=home,dc=lan', user_base: 'ou=people,dc=home,dc=lan' } }, true))],
];

t.test('the repository\'s config files are read by it, exactly as yaml reads them', async (t) => {
  for (const [name, text] of REPO_CONFIGS) {
    const mine = readPlainYaml(text);
    t.not(mine, undefined, `${name}: not declined`);
    t.same(mine, reference(text), `${name}: the same values`);
    t.ok(isDeepStrictEqual(mine, reference(text)), `${name}: strictly equal (types, key order aside)`);
  }
  // and loadConfig gives the same validated config either way
  t.same(loadConfig(join(ROOT, 'sysroot/etc/nasauth/nasauth.yaml')).sockets.ldap.bind_dn, 'cn=samba,dc=nas,dc=local');
});

t.test('what it declines goes to the full parser, which words the error with line and column', async (t) => {
  for (const [text, why] of [
    ['a: 1\na: 2\n', 'a duplicate key'],
    ['a:\n  - b: 1\n', 'a mapping in a block sequence'],
    ['a:\n  - x\n    y\n', 'a continued sequence entry'],
    ['a:\n  -\n', 'an empty sequence entry'],
    ['a: &x 1\nb: *x\n', 'an anchor'],
    ['a: |\n  text\n', 'a block scalar'],
    ['a: 1.5\n', 'a float'],
    ['a: 0x1f\n', 'a hex number'],
    ['a: {b: 1\n', 'an unclosed flow mapping'],
    ['a:\tb\n', 'a tab'],
    ['a: b\n  c\n', 'a continued scalar'],
    ['  a: 1\nb: 2\n', 'odd indentation'],
    ['a: "x\\ay"\n', 'an escape it does not know'],
    ['a: [1, [2]]\n', 'a nested sequence'],
    ['a: [1, 2,]\n', 'a trailing comma'],
    ['"a": 1\n', 'a quoted key'],
    ['null: 1\n', 'a key that is not a string'],
    ['007: 1\n', 'a key read as a number'],
    ['a: b: c\n', 'a colon inside a plain scalar'],
  ] as const) {
    t.equal(readPlainYaml(text), undefined, `declined: ${why}`);
  }
  t.throws(() => loadConfig(writeTemp('version: 1\nversion: 2\n')), /:2:1 not valid YAML/, 'a duplicate key is still said with its line');
});

t.test('generated documents: the same reading or a decline', async (t) => {
  const words = ['a', 'smb', 'dc=nas,dc=local', '(objectClass=posixAccount)', '/var/lib/nasauth', '0660', '0o17', '1.5', '-3', '+4', '007', 'true', 'False', 'NULL', '~', 'yes', 'no', 'on',
    '', ' ', 'a b', 'a #b', 'a#b', 'a: b', 'a:b', '- x', '? x', '#x', '&x', '*x', '!x', '|', '>', '%x', '@x', '`x', '"q"', "'s'", 'it\'s', 'x"y', '\\', 'é', '€ x', 'tab\there', 'nl\nhere',
    '[x]', '{x}', 'x,y', 'x]', 'x}', '.inf', '-.inf', '.nan', '.5', '1e3', '2026-11-29', '12:30', '0x1F', '9007199254740993', '-0', '__proto__', 'constructor'];
  const keys = ['version', 'state_dir', 'a', 'b.c', 'x-y', 'k_1', '1', 'true', 'null', 'on', 'é', 'a b', '__proto__', '-x'];
  const safe = ['a', 'smb', 'dc=nas,dc=local', '(objectClass=posixAccount)', '/var/lib/nasauth', '0660', 'info', 'ldap://127.0.0.1:13890', 'nasauth-smb', ''];
  let plainOnly = false; // half the documents look like a config file, half throw everything at it
  const scalar = (): unknown => {
    switch (int(6)) {
      case 0: return int(3) ? int(100000) : -int(100);
      case 1: return rnd() < 0.5;
      case 2: return null;
      default: return pick(plainOnly ? safe : words);
    }
  };
  const value = (depth: number): unknown => {
    const r = rnd();
    if (depth < 3 && r < 0.25) return Object.fromEntries(Array.from({ length: int(5) }, () => [pick(keys), value(depth + 1)]));
    if (depth < 3 && r < 0.4) return Array.from({ length: int(4) }, () => (rnd() < 0.2 && depth < 2 ? value(depth + 1) : scalar()));
    return scalar();
  };
  let accepted = 0;
  for (let i = 0; i < 1500; i++) {
    plainOnly = i % 2 === 0;
    const doc = Object.fromEntries(Array.from({ length: 1 + int(6) }, () => [plainOnly ? pick(keys.slice(0, 6)) : pick(keys), value(0)]));
    // config-like documents are written as the tests and the benchmark write theirs
    const text = plainOnly ? stringify(doc) : stringify(doc, { flowCollectionPadding: rnd() < 0.5, defaultStringType: pick(['PLAIN', 'QUOTE_DOUBLE', 'QUOTE_SINGLE'] as const), collectionStyle: pick(['any', 'block', 'flow'] as const) } as never);
    const bad = disagreement(text);
    if (bad) { t.fail(`seed ${SEED} case ${i}: ${bad}\n${text}`); break; }
    if (readPlainYaml(text) !== undefined) accepted++;
  }
  t.ok(accepted > 300, `it reads a good share of them itself (${accepted} of 1500)`);
});

t.test('mutated config files: the same reading or a decline, never a file yaml refuses', async (t) => {
  const dir = join(ROOT, 'test/fuzz/corpus/config');
  const corpus = [...readdirSync(dir).map((f) => readFileSync(join(dir, f))), ...REPO_CONFIGS.map(([, text]) => Buffer.from(text))];
  let accepted = 0;
  for (let i = 0; i < 3000; i++) {
    const text = mutate(pick(corpus), corpus, rnd, 16 * 1024).toString('utf8');
    const bad = disagreement(text);
    if (bad) { t.fail(`seed ${SEED} case ${i}: ${bad}\n${text.slice(0, 2000)}`); break; }
    if (readPlainYaml(text) !== undefined) accepted++;
  }
  t.pass(`3000 mutated files, ${accepted} read by it, the rest declined`);
});

function writeTemp(text: string): string {
  const { mkdtempSync, writeFileSync } = require('node:fs') as typeof import('node:fs');
  const { tmpdir } = require('node:os') as typeof import('node:os');
  const d = mkdtempSync(join(tmpdir(), 'nasauth-cfgyaml-'));
  writeFileSync(join(d, 'nasauth.yaml'), text);
  t.teardown(() => require('node:fs').rmSync(d, { recursive: true, force: true }));
  return join(d, 'nasauth.yaml');
}
