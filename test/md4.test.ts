// Known-answer tests for MD4 (RFC 1320 appendix A.5) and the NT hash (pairs Samba and
// Windows produce; cross-checked with smbpasswd/pdbedit in the Samba tests).
import t from 'tap';
import { md4 } from '../daemon/md4';
import { ntHash, canonicalText } from '../daemon/password';

t.test('RFC 1320 test suite', async (t) => {
  const vectors: Array<[string, string]> = [
    ['', '31d6cfe0d16ae931b73c59d7e0c089c0'],
    ['a', 'bde52cb31de33e46245e05fbdbd6fb24'],
    ['abc', 'a448017aaf21d8525fc10ae87aa6729d'],
    ['message digest', 'd9130a8164549fe818874806e1c7014b'],
    ['abcdefghijklmnopqrstuvwxyz', 'd79e1c308aa5bbcdeea8ed63df412da9'],
    ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', '043f8582f241db351ce627e153e7f0e4'],
    ['12345678901234567890123456789012345678901234567890123456789012345678901234567890', 'e33b4ddc9c38f2199c3e7b164fcc0536'],
  ];
  for (const [input, hex] of vectors) t.equal(md4(Buffer.from(input)).toString('hex'), hex, JSON.stringify(input));
});

t.test('block boundaries (55, 56, 63, 64, 65 bytes) agree with a second computation path', async (t) => {
  // split the message differently: MD4 of the same bytes must not depend on the buffer's offset
  for (const n of [55, 56, 57, 63, 64, 65, 119, 120, 1000]) {
    const big = Buffer.alloc(n + 7, 0x61);
    const a = md4(Buffer.alloc(n, 0x61));
    const b = md4(big.subarray(7));
    t.same(a, b, `${n} bytes`);
  }
});

t.test('NT hashes known from Samba/Windows', async (t) => {
  const pairs: Array<[string, string]> = [
    ['', '31D6CFE0D16AE931B73C59D7E0C089C0'],
    ['password', '8846F7EAEE8FB117AD06BDD830B7586C'],
    ['Password', 'A4F49C406510BDCAB6824EE7C30FD852'],
    ['P@ssw0rd', 'E19CCF75EE54E06B06A5907AF13CEF42'],
    ['123456', '32ED87BDB5FDC5E9CBA88547376818D4'],
  ];
  for (const [pw, hex] of pairs) t.equal(ntHash(Buffer.from(pw)).toString('hex').toUpperCase(), hex, pw);
});

t.test('password canonical form', async (t) => {
  // NFD (as macOS sends) and NFC are the same password
  t.equal(canonicalText(Buffer.from('a\u0308', 'utf8')), '\u00e4');
  t.same(ntHash(Buffer.from('pa\u0308ss')), ntHash(Buffer.from('p\u00e4ss')));
  // Latin-1 bytes are not valid UTF-8: decoded as Latin-1, so 0xE4 is "ä" too
  t.equal(canonicalText(Buffer.from([0x70, 0xe4])), 'p\u00e4');
  // two different Latin-1 passwords never compare equal (no U+FFFD collapse)
  t.not(canonicalText(Buffer.from([0x70, 0xe4])), canonicalText(Buffer.from([0x70, 0xf6])));
});
