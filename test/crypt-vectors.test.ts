// Published test vectors for the legacy crypt(3) verifiers (daemon/crypt). Every vector
// below was also re-checked against the host's libxcrypt (crypt(3)) when it was added.
import t from 'tap';
import { cryptSync, verifyLegacy, parseLegacy, identify, LegacyKind } from '../daemon/crypt';

// Slow hashes by design (yescrypt at 16-64 MiB, sha-crypt at 123,456 rounds): allow for a
// loaded CI machine. This is a hang guard, not a speed assertion.
t.setTimeout(180_000);

const B = (s: string): Buffer => Buffer.from(s, 'latin1');

// Ulrich Drepper, "Unix crypt using SHA-256 and SHA-512", section "Test vectors".
// [setting, password, expected]
const DREPPER: Array<[string, string, string]> = [
  ['$5$saltstring', 'Hello world!', '$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5'],
  ['$5$rounds=10000$saltstringsaltstring', 'Hello world!', '$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA'],
  ['$5$rounds=5000$toolongsaltstring', 'This is just a test', '$5$rounds=5000$toolongsaltstrin$Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5'],
  ['$5$rounds=1400$anotherlongsaltstring', 'a very much longer text to encrypt.  This one even stretches over morethan one line.', '$5$rounds=1400$anotherlongsalts$Rx.j8H.h8HjEDGomFU8bDkXm3XIUnzyxf12oP84Bnq1'],
  ['$5$rounds=77777$short', 'we have a short salt string but not a short password', '$5$rounds=77777$short$JiO1O3ZpDAxGJeaDIuqCoEFysAe1mZNJRs3pw0KQRd/'],
  ['$5$rounds=123456$asaltof16chars..', 'a short string', '$5$rounds=123456$asaltof16chars..$gP3VQ/6X7UUEW3HkBn2w1/Ptq2jxPyzV/cZKmF/wJvD'],
  ['$5$rounds=10$roundstoolow', 'the minimum number is still observed', '$5$rounds=1000$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC'],
  ['$6$saltstring', 'Hello world!', '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1'],
  ['$6$rounds=10000$saltstringsaltstring', 'Hello world!', '$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.'],
  ['$6$rounds=5000$toolongsaltstring', 'This is just a test', '$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0'],
  ['$6$rounds=1400$anotherlongsaltstring', 'a very much longer text to encrypt.  This one even stretches over morethan one line.', '$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1'],
  ['$6$rounds=77777$short', 'we have a short salt string but not a short password', '$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0'],
  ['$6$rounds=123456$asaltof16chars..', 'a short string', '$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1'],
  ['$6$rounds=10$roundstoolow', 'the minimum number is still observed', '$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.'],
];

t.test("Drepper's SHA-crypt specification vectors", async (t) => {
  for (const [setting, pw, want] of DREPPER) {
    const kind: LegacyKind = setting.startsWith('$5$') ? 'sha256-crypt' : 'sha512-crypt';
    t.equal(cryptSync(kind, B(pw), setting), want, `cryptSync ${setting}`);
    if (/rounds=(77777|123456)/.test(want)) continue; // slow ones: cryptSync above suffices
    t.equal(await verifyLegacy(want, B(pw)), true, `verify ${want.slice(0, 30)}...`);
    t.equal(await verifyLegacy(want, B(pw + 'x')), false, `wrong password rejected for ${want.slice(0, 30)}...`);
  }
  // The stored form of the clamped vector is fine; the setting form with rounds=10 is not a hash.
  t.match(parseLegacy('$5$rounds=10$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC'), { error: /below the minimum/ });
});

// md5-crypt: OpenSSL's documented `openssl passwd -1 -salt xxxxxxxx password`, and the
// FreeBSD/glibc semantics for an over-long salt (truncated to 8 characters).
t.test('md5-crypt vectors', async (t) => {
  const v: Array<[string, string, string]> = [
    ['$1$xxxxxxxx$', 'password', '$1$xxxxxxxx$UYCIxa628.9qXjpQCjM4a.'],
    ['$1$saltstring', 'Hello world!', '$1$saltstri$YMyguxXMBpd2TEZ.vS/3q1'],
    ['$1$abcdefgh', 'hello', '$1$abcdefgh$rwnEbRiN0agqVgZBovWNQ/'],
  ];
  for (const [setting, pw, want] of v) {
    t.equal(cryptSync('md5-crypt', B(pw), setting), want, setting);
    t.equal(await verifyLegacy(want, B(pw)), true);
    t.equal(await verifyLegacy(want, B('Password')), false);
  }
});

// bcrypt runs in bcryptjs (daemon/crypt/bcrypt.ts). Published vectors: Openwall
// crypt_blowfish's wrapper.c (the suite libxcrypt runs) and OpenBSD's / jBCrypt's; plus
// UTF-8 passwords hashed by the host's libxcrypt (mkpasswd) when these were written.
const BCRYPT: Array<[string, Buffer]> = [
  ['$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW', B('U*U')],
  ['$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK', B('U*U*')],
  ['$2a$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a', B('U*U*U')],
  ['$2a$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui', B('0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789chars after 72 are ignored')],
  ['$2a$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy', B('')],
  ['$2a$06$DCq7YPn5Rq63x1Lad4cll.TV4S6ytwfsfvkgY8jIucDrjc8deX1s.', B('')],
  ['$2a$08$HqWuK6/Ng6sg9gQzbLrgb.Tl.ZHfXLhvt/SgVyWhQqgqcZ7ZuUtye', B('')],
  ['$2a$06$m0CrhHm10qJ3lXRY.5zDGO3rS2KdeeWLuGmsfGlMfOxih58VYVfxe', B('a')],
  ['$2a$06$If6bvum7DFjUnE9p2uDeDu0YHzrHM6tf.iqN8.yx.jNN1ILEf7h0i', B('abc')],
  ['$2a$06$.rCVZVOThsIa97pEDOxvGuRRgzG64bvtJ0938xuqzv18d3ZpQhstC', B('abcdefghijklmnopqrstuvwxyz')],
  ['$2a$06$fPIsBO8qRqkjj273rfaOI.HtSV9jLDpTbZn782DC6/t7qT67P6FfO', B('~!@#$%^&*()      ~!@#$%^&*()PNBFRD')],
  ['$2b$05$abcdefghijklmnopqrstuuz3lZMFE95JleCJV8wzRJKPxq4fyLDha', Buffer.from('päss wörd€', 'utf8')],
  ['$2a$05$abcdefghijklmnopqrstuuz3lZMFE95JleCJV8wzRJKPxq4fyLDha', Buffer.from('päss wörd€', 'utf8')],
  ['$2b$05$CCCCCCCCCCCCCCCCCCCCC.SqzfMCnGXq0/GEKuUJ0//CNAi0GNL0m', Buffer.from('ü'.repeat(40), 'utf8')], // 80 bytes: cut at 72
];

// crypt_blowfish's sign-extension vectors: passwords of raw bytes that are not UTF-8
// ("\xff\xff\xa3"). bcryptjs hashes text, so these bytes cannot be given to it: they are
// refused (verify false, never a wrong "true"). A password that reached nasauth as text is
// valid UTF-8, and for valid UTF-8 (which never holds 0xff) crypt_blowfish's $2a$ safety
// tweak never triggers, so bcryptjs' $2a$ equals libxcrypt's for every such password.
const BCRYPT_BYTES: Array<[string, Buffer]> = [
  ['$2y$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e', B('\xff\xff\xa3')],
  ['$2a$05$/OK.fbVrR/bpIqNJ5ianF.nqd1wy.pTMdcvrRWxyiGL2eMz.2a85.', B('\xff\xff\xa3')],
  ['$2y$05$/OK.fbVrR/bpIqNJ5ianF.Sa7shbm4.OzKpvFnX1pQLmQW96oUlCq', B('\xa3')],
  ['$2a$05$/OK.fbVrR/bpIqNJ5ianF.swQOIzjOiJ9GHEPuhEkvqrUyvWhEMx6', B('\xaa'.repeat(72) + 'chars after 72 are ignored as usual')],
];

t.test('bcrypt (bcryptjs): published vectors', async (t) => {
  for (const [hash, pw] of BCRYPT) {
    t.equal(cryptSync('bcrypt', pw, hash), hash, `${hash} (${pw.length} bytes)`);
    t.equal(await verifyLegacy(hash, pw), true, `verify ${hash}`);
    t.equal(await verifyLegacy(hash, Buffer.concat([B('x'), pw])), false, `wrong password ${hash}`);
  }
  for (const [hash, pw] of BCRYPT_BYTES) {
    t.throws(() => cryptSync('bcrypt', pw, hash), /not valid UTF-8/, `${hash}: raw bytes are refused`);
    t.equal(await verifyLegacy(hash, pw), false, `verify refuses raw bytes for ${hash}`);
  }
});

t.test('bcrypt: 72-byte limit, $2a$ = $2b$ for text, canonical salt', async (t) => {
  const pw72 = B('a'.repeat(72));
  const h = cryptSync('bcrypt', pw72, '$2b$04$abcdefghijklmnopqrstuu');
  // bytes after the 72nd never reach the key schedule: documented bcrypt behaviour
  t.equal(await verifyLegacy(h, B('a'.repeat(72) + 'anything')), true, 'bytes after 72 are ignored');
  t.equal(await verifyLegacy(h, B('a'.repeat(71))), false, '71 bytes differ (the NUL is the 72nd key byte)');
  t.equal(cryptSync('bcrypt', B('U*U'), '$2a$05$CCCCCCCCCCCCCCCCCCCCC.').slice(29), cryptSync('bcrypt', B('U*U'), '$2b$05$CCCCCCCCCCCCCCCCCCCCC.').slice(29), 'ASCII: $2a$ == $2b$');
  t.equal(cryptSync('bcrypt', B('U*U'), '$2y$05$CCCCCCCCCCCCCCCCCCCCC.'), '$2y$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW', '$2y$ keeps its prefix');
  t.equal(await verifyLegacy('$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW', Buffer.from('U*U\0x')), false, 'a NUL byte is refused');
  // the 22nd salt character carries 2 bits: crypt(3) writes it back canonically, so a hash
  // with a non-canonical last salt character can never verify
  const nc = '$2a$05$CCCCCCCCCCCCCCCCCCCCC/E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW';
  t.equal(cryptSync('bcrypt', B('U*U'), nc).slice(0, 29), '$2a$05$CCCCCCCCCCCCCCCCCCCCC.');
  t.equal(await verifyLegacy(nc, B('U*U')), false);
});

// yescrypt: the RW-flavour ('j') entries of openwall/yescrypt TESTS-OK (password
// "pleaseletmein"), libxcrypt's own test vector with an empty salt, and settings with the
// optional p/t fields generated with the host's libxcrypt.
const YESCRYPT: Array<[string, string]> = [
  ['$y$jD5.7$LdJMENpBABJJ3hIHjB1Bi.$HboGM6qPrsK.StKYGt6KErmUYtioHreJd98oIugoNB6', 'pleaseletmein'],
  ['$y$jC4$LdJMENpBABJJ3hIHjB1B$jVg4HoqqpbmQv/NCpin.QCMagJ8o4QX7lXdzvVV0xFC', 'pleaseletmein'],
  ['$y$j91.5$LdJMENpBABJJ3hIH$ebKnn23URD5vyLgF9cP2EvVosrUXf7UErGRV0KmC6e6', 'pleaseletmein'],
  ['$y$j80$LdJMENpBABJJ3h2$ysXVVJwuaVlI1BWoEKt/Bz3WNDDmdOWz/8KTQaHL1cC', 'pleaseletmein'],
  ['$y$j5..3$LdJMENpBAB3$xi27PTUNd8NsChHeLOz85JFnUOyibRHkWzprowRlR5/', 'pleaseletmein'],
  ['$y$j4/$LdJMENpBA/$tHlkpTQ8V/eEnTVau1uW36T97LIXlfPrEzdeV5SE5K7', 'pleaseletmein'],
  ['$y$j2..1$LdJME/$iLEt6kuTwHch6XdCxtTHfsQzYwWFmpUwgl6Ax8RH4d1', 'pleaseletmein'],
  ['$y$j0/$LdJM$k7BXzSDuoGHW56SY3HxROCiA0gWRscZe2aA0q5oHPM0', 'pleaseletmein'],
  ['$y$j1../$LdJMENpBABJJ3hIHjB1Bi.$L8OQFc8mxJPd7CpUFgkS7KqJM2I9jGXu3BdqX2D.647', 'pleaseletmein'],
  ['$y$j//$LdJMENpBABJJ3hIHjB1B$U8a2MaK.yesqWySK8Owk6PWeWmp/XuagMbpP45q1/q1', 'pleaseletmein'],
  ['$y$jD5.7$$JD8dsR.nt1ty0ltQ2HHwauaDRoOUIEaA5i.vpj2nyL.', ''],
  ['$y$j9T$LYYIvoY2zkKhSOjtnQMhj/$P9.HGlkKVMCbT/2JW5kNecSGLRdNMHRbw50WAfIMGkD', 'hello'],
  ['$y$j75/.$LdJMENpBABJJ3hIHjB1Bi.$dWHGVVcs20XPnm/N2h6vlnpQAVNWYWBjWAzm/RRXB34', 'pleaseletmein'],
  ['$y$j750..$LdJMENpBABJJ3hIHjB1Bi.$KQ0FAhURZjE6tWxWqUivdFd52ZEdrOtTQg1BPzC0/lD', ''],
  ['$y$j85/0$LdJMENpBABJJ3hIHjB1Bi.$hjpp4wIER7Cy.cG/WQOG8UoFiO.df6sDc61IojTVa/2', 'pleaseletmein'],
];

t.test('yescrypt: TESTS-OK and libxcrypt vectors', async (t) => {
  for (const [hash, pw] of YESCRYPT) {
    const setting = hash.slice(0, hash.lastIndexOf('$'));
    t.equal(cryptSync('yescrypt', B(pw), setting), hash, `cryptSync ${setting}`);
  }
  // verify (async path) on a few; each j9T/jD5.7 costs a few hundred ms
  for (const [hash, pw] of [YESCRYPT[2], YESCRYPT[11], YESCRYPT[13], YESCRYPT[14]]) {
    t.equal(await verifyLegacy(hash, B(pw)), true, `verify ${hash.slice(0, 20)}`);
    t.equal(await verifyLegacy(hash, B(pw + '!')), false, `wrong password ${hash.slice(0, 20)}`);
  }
});

t.test('identify', async (t) => {
  t.equal(identify('$1$x$y'), 'md5-crypt');
  t.equal(identify('$5$x$y'), 'sha256-crypt');
  t.equal(identify('$6$x$y'), 'sha512-crypt');
  t.equal(identify('$2a$05$x'), 'bcrypt');
  t.equal(identify('$2b$05$x'), 'bcrypt');
  t.equal(identify('$2y$05$x'), 'bcrypt');
  t.equal(identify('$2x$05$x'), null);
  t.equal(identify('$y$j9T$x$y'), 'yescrypt');
  t.equal(identify('$gy$j9T$x$y'), null);
  t.equal(identify('$7$C6..../....SodiumChloride$x'), null);
  t.equal(identify('abJnggxhB/yWI'), null);
  t.equal(identify(''), null);
});

t.test('async verification yields to the event loop during slow hashes', async (t) => {
  // Not a timing check: only that other callbacks get to run while yescrypt computes.
  let ticks = 0;
  let running = true;
  const tick = (): void => {
    ticks++;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  const [hash, pw] = YESCRYPT[11]; // $y$j9T$, 16 MiB
  const ok = await verifyLegacy(hash, B(pw));
  running = false;
  t.equal(ok, true);
  t.ok(ticks > 3, `event loop ran ${ticks} times during the verification`);
});
