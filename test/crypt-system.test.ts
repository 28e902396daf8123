// Cross-check of daemon/crypt against the real system: hashes made by mkpasswd (libxcrypt's
// crypt(3), package whois) and by `openssl passwd` for several kinds of passwords must verify
// with the right password and fail with a wrong one.
import t from 'tap';
import { canRun, need } from './helpers/env';
import { execFileSync, spawnSync } from 'node:child_process';
import { verifyLegacy, parseLegacy, identify } from '../daemon/crypt';

t.setTimeout(300_000); // hang guard only: j9T yescrypt costs a few hundred ms per verify

const PASSWORDS: Array<[string, Buffer]> = [
  ['ASCII', Buffer.from('correct horse battery staple')],
  ['UTF-8', Buffer.from('päss wörd', 'utf8')],
  ['empty', Buffer.alloc(0)],
  ['long (130 bytes)', Buffer.from('0123456789'.repeat(13))],
  ['quotes and backslashes', Buffer.from(`it's a "quoted" \\back\\slash\\ $dollar \`tick\``)],
];

// Differs in the first byte (bcrypt ignores everything after byte 72), and in length.
function wrong(pw: Buffer): Buffer {
  return pw.length ? Buffer.concat([Buffer.from([pw[0] ^ 1]), pw.subarray(1, pw.length - 1)]) : Buffer.from('x');
}

const haveMkpasswd = spawnSync('mkpasswd', ['-m', 'help'], { encoding: 'utf8' }).status === 0;
const haveOpenssl = spawnSync('openssl', ['version']).status === 0;

function mkpasswd(method: string, pw: Buffer, extra: string[] = []): string {
  // --stdin reads one line: the password bytes exactly, newline stripped
  return execFileSync('mkpasswd', ['--stdin', '-m', method, ...extra], { input: Buffer.concat([pw, Buffer.from('\n')]) })
    .toString('latin1')
    .trim();
}

const METHODS: Array<[string, string[], string]> = [
  ['md5crypt', [], 'md5-crypt'],
  ['sha256crypt', [], 'sha256-crypt'],
  ['sha256crypt', ['-R', '12345'], 'sha256-crypt'],
  ['sha512crypt', [], 'sha512-crypt'],
  ['sha512crypt', ['-R', '20000'], 'sha512-crypt'],
  ['bcrypt', ['-R', '5'], 'bcrypt'],
  ['bcrypt-a', ['-R', '5'], 'bcrypt'], // $2a$
  ['yescrypt', ['-R', '1'], 'yescrypt'],
  ['yescrypt', [], 'yescrypt'], // Debian's default, $y$j9T$
];

t.test('mkpasswd (libxcrypt) hashes', async (t) => {
  if (!canRun(t, need(haveMkpasswd, 'mkpasswd is not installed (package whois)'))) return;
  for (const [method, extra, kind] of METHODS) {
    for (const [label, pw] of PASSWORDS) {
      // Debian-default yescrypt is the slow one: run it for two passwords only
      if (method === 'yescrypt' && extra.length === 0 && !['UTF-8', 'empty'].includes(label)) continue;
      const hash = mkpasswd(method, pw, extra);
      const name = `${method} ${extra.join(' ')} ${label}: ${hash}`;
      t.equal(identify(hash), kind, `identify ${name}`);
      t.same(parseLegacy(hash), { kind }, `parse ${name}`);
      t.equal(await verifyLegacy(hash, pw), true, `accepts right password, ${name}`);
      t.equal(await verifyLegacy(hash, wrong(pw)), false, `rejects wrong password, ${name}`);
    }
  }
  const j9t = mkpasswd('yescrypt', Buffer.from('x'));
  t.match(j9t, /^\$y\$j9T\$/, 'mkpasswd default yescrypt is $y$j9T$ (Debian)');
});

t.test('bcrypt 72-byte truncation matches libxcrypt', async (t) => {
  if (!canRun(t, need(haveMkpasswd, 'mkpasswd is not installed (package whois)'))) return;
  const pw = Buffer.from('p'.repeat(72) + 'tail one');
  const hash = mkpasswd('bcrypt', pw, ['-R', '5']);
  t.equal(await verifyLegacy(hash, pw), true);
  t.equal(await verifyLegacy(hash, Buffer.from('p'.repeat(72) + 'another tail')), true, 'crypt(3) ignores bytes after 72 too');
  t.equal(await verifyLegacy(hash, Buffer.from('p'.repeat(71))), false);
});

t.test('openssl passwd hashes', async (t) => {
  if (!canRun(t, need(haveOpenssl, 'openssl is not installed (package openssl)'))) return;
  for (const [flag, kind] of [['-1', 'md5-crypt'], ['-5', 'sha256-crypt'], ['-6', 'sha512-crypt']] as const) {
    for (const [label, pw] of PASSWORDS) {
      if (pw.length === 0) continue; // openssl passwd refuses an empty password
      // as an argument, after --, so that the bytes arrive exactly (no line reading)
      const hash = execFileSync('openssl', ['passwd', flag, '--', pw.toString('utf8')]).toString('latin1').trim();
      const name = `openssl passwd ${flag} ${label}: ${hash}`;
      t.equal(identify(hash), kind);
      t.equal(await verifyLegacy(hash, pw), true, `accepts ${name}`);
      t.equal(await verifyLegacy(hash, wrong(pw)), false, `rejects wrong, ${name}`);
    }
  }
});
