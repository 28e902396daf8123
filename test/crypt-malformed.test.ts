// Malformed, unsupported and over-expensive legacy hashes: parseLegacy names the problem,
// verifyLegacy resolves to false (never throws, never runs the refused work).
import t from 'tap';
import { parseLegacy, verifyLegacy, cryptSync, CryptSettingError, SHA_ROUNDS_LIMIT, BCRYPT_COST_LIMIT } from '../daemon/crypt';

t.setTimeout(120_000); // a refused hash that was computed anyway would hang here

const H22 = 'rwnEbRiN0agqVgZBovWNQ/';
const H43 = '5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5';
const H86 = 'svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1';
const BF = '$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW';
const YS = 'LdJMENpBABJJ3hIHjB1Bi.';
const YH = 'HboGM6qPrsK.StKYGt6KErmUYtioHreJd98oIugoNB6';

const BAD: Array<[string, RegExp]> = [
  // prefix / scheme
  ['', /empty|locked/],
  ['*', /empty|locked/],
  ['!$6$abc$def', /locked/],
  ['plain', /unknown hash format/],
  ['$3$abc$def', /unknown hash format/],
  ['$2x$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e', /2x/],
  ['$2c$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW', /unknown hash format/],
  ['$7$C6..../....SodiumChloride$kBGj9fHznVYFQMEn/qDCfrDevf9YDtcDdKvEqHJLV8D', /unsupported hash scheme 7/],
  ['$gy$j9T$' + YS + '$' + YH, /unsupported hash scheme gy/],
  ['$6$' + 'a'.repeat(300), /longer than 256/],
  // md5-crypt
  ['$1$abcdefgh', /must look like/],
  ['$1$ab!defgh$' + H22, /salt has characters/],
  ['$1$abcdefghi$' + H22, /salt longer than 8/],
  ['$1$abcdefgh$' + H22.slice(1), /22 characters, got 21/],
  ['$1$abcdefgh$' + H22 + 'A', /22 characters, got 23/],
  ['$1$abcdefgh$' + H22.slice(1) + '_', /hash part has characters/],
  ['$1$abc$def$' + H22, /must look like/],
  // sha-crypt
  ['$5$rounds=0$saltstring$' + H43, /leading zeros|below the minimum/],
  ['$5$rounds=999$saltstring$' + H43, /below the minimum 1000/],
  ['$5$rounds=01000$saltstring$' + H43, /leading zeros/],
  ['$5$rounds=abc$saltstring$' + H43, /decimal number/],
  ['$5$rounds=$saltstring$' + H43, /decimal number/],
  ['$5$rounds=-5000$saltstring$' + H43, /decimal number/],
  [`$5$rounds=${SHA_ROUNDS_LIMIT + 1}$saltstring$` + H43, /above this system's limit/],
  ['$6$rounds=999999999$saltstring$' + H86, /above this system's limit/],
  ['$6$rounds=99999999999$saltstring$' + H86, /decimal number|above the maximum/],
  ['$5$saltstringsaltstr$' + H43, /salt longer than 16/],
  ['$5$salt string$' + H43, /salt has characters/],
  ['$5$saltstring$' + H43.slice(0, 42), /43 characters, got 42/],
  ['$6$saltstring$' + H43, /86 characters, got 43/],
  ['$5$saltstring', /must look like/],
  ['$6$saltstring$' + H86 + '$', /must look like/],
  // bcrypt
  ['$2a$99$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW', /outside 04..31/],
  ['$2a$03$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW', /outside 04..31/],
  [`$2b$${BCRYPT_COST_LIMIT + 1}$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW`, /above this system's limit/],
  ['$2y$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW', /above this system's limit/],
  ['$2a$5$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW', /must look like/],
  ['$2a$05$CCCCCCCCCCCCCCCCCCCC!.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW', /salt has characters/],
  ['$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe', /must be 53 characters, got 52/],
  [BF + 'W', /must be 53 characters, got 54/],
  ['$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe$', /hash part has characters/],
  ['$2a$05$CCCCCCCCCCCCCCCCCCCCC.', /must be 53/],
  // yescrypt
  ['$y$/B3.6$LdJMENpBABJJ3hIHjB1$h8sE4hJo.BsdlfJr0.d8bNJNPZymH7Y3kLj4aY1Rfc8', /flavour 0x1 not supported/],
  ['$y$/A2$LdJMENpBABJJ3hIHj/$5IEld1eWdmh5lylrqHLF5dvA3ISpimEM9J1Dd05n/.3', /flavour 0x1 not supported/],
  ['$y$.A2$LdJMENpBABJJ3hIHj/$5IEld1eWdmh5lylrqHLF5dvA3ISpimEM9J1Dd05n/.3', /flavour 0x0 not supported/], // classic scrypt
  ['$y$k9T$' + YS + '$' + YH, /flavour .* not supported/],
  ['$y$jFT$' + YS + '$' + YH, /1024 MiB, above this system's limit of 64 MiB/],
  ['$y$jzT$' + YS + '$' + YH, /too large|bad encoding/],
  ['$y$j9T5.$' + YS + '$' + YH, /ROM/], // have=8: NROM
  ['$y$j9T3.$' + YS + '$' + YH, /hash-upgrade parameter g/], // have=4: g
  ['$y$j75/9$' + YS + '$' + YH, /t=12 is above this system's limit/],
  ['$y$j75.E$' + YS + '$' + YH, /p=18 is above this system's limit/],
  ['$y$j9T$LdJMENpBABJJ3hIHjB1Bi!$' + YH, /salt is not valid/],
  ['$y$j9T$LdJMENpBABJJ3hIHjB1Bi2$' + YH, /salt is not valid/], // leftover bits set
  ['$y$j9T$LdJMENpBABJJ3hIHjB1Bi.L$' + YH, /salt is not valid/], // 1-char group
  ['$y$j9T$' + YS + '$' + YH.slice(1), /43 characters, got 42/],
  ['$y$j9T$' + YS + '$' + YH + '.', /43 characters, got 44/],
  ['$y$j9T$' + YS, /hash part is missing/],
  ['$y$j9T$' + YS + '$' + YH.slice(1) + ' ', /printable ASCII/],
  ['$y$$' + YS + '$' + YH, /bad encoding of flavour/],
  ['$y$j$' + YS + '$' + YH, /bad encoding of N/],
  ['$y$j9$' + YS + '$' + YH, /bad encoding of r/],
  ['$y$', /bad encoding of flavour/],
];

t.test('parseLegacy errors and verifyLegacy false', async (t) => {
  for (const [hash, re] of BAD) {
    const p = parseLegacy(hash);
    t.ok('error' in p, `error for ${JSON.stringify(hash.slice(0, 60))}`);
    if ('error' in p) t.match(p.error, re, `message for ${JSON.stringify(hash.slice(0, 60))}: ${p.error}`);
    t.equal(await verifyLegacy(hash, Buffer.from('pleaseletmein')), false, `verify false for ${JSON.stringify(hash.slice(0, 60))}`);
  }
});

t.test('cryptSync refuses work above the limits instead of doing it', async (t) => {
  t.throws(() => cryptSync('sha512-crypt', Buffer.from('x'), '$6$rounds=999999999$salt'), CryptSettingError);
  t.throws(() => cryptSync('sha256-crypt', Buffer.from('x'), `$5$rounds=${SHA_ROUNDS_LIMIT + 1}$salt`), CryptSettingError);
  t.throws(() => cryptSync('bcrypt', Buffer.from('x'), '$2b$31$CCCCCCCCCCCCCCCCCCCCC.'), CryptSettingError);
  t.throws(() => cryptSync('yescrypt', Buffer.from('x'), '$y$jFT$' + YS), /64 MiB/);
  t.throws(() => cryptSync('md5-crypt', Buffer.from('x'), '$6$salt'), /not a md5-crypt setting/);
});

t.test('odd inputs never throw', async (t) => {
  const good = '$1$abcdefgh$rwnEbRiN0agqVgZBovWNQ/'; // "hello"
  t.equal(await verifyLegacy(good, Buffer.from('hello')), true, 'control: right password');
  t.equal(await verifyLegacy(good, Buffer.from('hello\0')), false, 'NUL byte: crypt(3) would have cut the password there');
  t.equal(await verifyLegacy(good, Buffer.from('hel\0lo')), false, 'embedded NUL');
  t.equal(await verifyLegacy(good, 'hello' as unknown as Buffer), false, 'password not a Buffer');
  t.equal(await verifyLegacy(undefined as unknown as string, Buffer.from('hello')), false, 'hash undefined');
  t.equal(await verifyLegacy(42 as unknown as string, Buffer.from('hello')), false, 'hash a number');
  t.match(parseLegacy(null as unknown as string), { error: /not a string/ });
  t.equal(await verifyLegacy('$1$abcdefgh$rwnEbRiN0agqVgZBovWNQ.', Buffer.from('hello')), false, 'last character changed');
  t.equal(await verifyLegacy('$1$abcdefgh$rwnEbRiN0agqVgZBovWNQ/'.replace('$1$', '$5$'), Buffer.from('hello')), false, 'wrong scheme for the digest');
  t.equal(await verifyLegacy('$6$' + 'x'.repeat(1_000_000), Buffer.from('hello')), false, 'megabyte-long hash');
});
