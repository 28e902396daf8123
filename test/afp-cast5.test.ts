// CAST-128 (RFC 2144) used by the test-only AFP client for DHX2.
import t from 'tap';
import { Cast5, cast5CbcDecrypt, cast5CbcEncrypt } from './afp/cast5';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const KEY = hex('01 23 45 67 12 34 56 78 23 45 67 89 34 56 78 9A');
const PLAIN = hex('01 23 45 67 89 AB CD EF');

t.test('RFC 2144 B.1 single-plaintext-key-ciphertext sets', async (t) => {
  const cases: [number, string][] = [
    [16, '23 8B 4F E5 84 7E 44 B2'], // 128-bit key, 16 rounds
    [10, 'EB 6A 71 1A 2C 02 27 1B'], // 80-bit key, 12 rounds
    [5, '7A C8 16 D1 6E 9B 30 2E'], // 40-bit key, 12 rounds
  ];
  for (const [len, want] of cases) {
    const c = new Cast5(KEY.subarray(0, len));
    t.equal(c.rounds, len <= 10 ? 12 : 16, `${len * 8}-bit key: rounds`);
    const ct = c.encryptEcb(PLAIN);
    t.equal(ct.toString('hex'), hex(want).toString('hex'), `${len * 8}-bit key: ciphertext`);
    t.equal(c.decryptEcb(ct).toString('hex'), PLAIN.toString('hex'), `${len * 8}-bit key: decrypts back`);
  }
});

t.test('RFC 2144 B.2 full maintenance test (1,000,000 iterations)', { timeout: 600_000 }, async (t) => {
  const a = Buffer.from(KEY);
  const b = Buffer.from(KEY);
  for (let i = 0; i < 1_000_000; i++) {
    let c = new Cast5(b);
    c.encryptBlock(a, 0, a, 0);
    c.encryptBlock(a, 8, a, 8);
    c = new Cast5(a);
    c.encryptBlock(b, 0, b, 0);
    c.encryptBlock(b, 8, b, 8);
  }
  t.equal(a.toString('hex'), hex('EE A9 D0 A2 49 FD 3B A6 B3 43 6F B8 9D 6D CA 92').toString('hex'), 'a');
  t.equal(b.toString('hex'), hex('B2 C9 5E B0 0C 31 AD 71 80 AC 05 B8 E8 3D 69 6E').toString('hex'), 'b');
});

t.test('CBC with the DHX2 IVs, no padding', async (t) => {
  const data = hex('0123456789abcdef0123456789abcdef');
  // Reference value produced once with `openssl enc -cast5-cbc -nopad -provider legacy`.
  const ct = cast5CbcEncrypt(KEY, Buffer.from('LWallace'), data);
  t.equal(ct.toString('hex'), 'eb0ea5b7a840f7615aa42ab57dbd6924');
  t.equal(cast5CbcDecrypt(KEY, Buffer.from('LWallace'), ct).toString('hex'), data.toString('hex'));
  // Identical plaintext blocks give different ciphertext blocks in CBC.
  t.not(ct.subarray(0, 8).toString('hex'), ct.subarray(8, 16).toString('hex'));
  // The other IV gives another ciphertext, and the wrong IV only garbles the first block.
  const ct2 = cast5CbcEncrypt(KEY, Buffer.from('CJalbert'), data);
  t.not(ct2.toString('hex'), ct.toString('hex'));
  const wrong = cast5CbcDecrypt(KEY, Buffer.from('CJalbert'), ct);
  t.not(wrong.subarray(0, 8).toString('hex'), data.subarray(0, 8).toString('hex'));
  t.equal(wrong.subarray(8).toString('hex'), data.subarray(8).toString('hex'));
  // Round trip over a DHX2-sized buffer (nonce + 256-byte password field).
  const big = Buffer.alloc(16 + 256);
  for (let i = 0; i < big.length; i++) big[i] = (i * 37 + 11) & 0xff;
  const md5Key = hex('00112233445566778899aabbccddeeff');
  t.same(cast5CbcDecrypt(md5Key, Buffer.from('CJalbert'), cast5CbcEncrypt(md5Key, Buffer.from('CJalbert'), big)), big);
});

t.test('argument checks', async (t) => {
  t.throws(() => new Cast5(Buffer.alloc(4)), RangeError);
  t.throws(() => new Cast5(Buffer.alloc(17)), RangeError);
  t.throws(() => cast5CbcEncrypt(KEY, Buffer.alloc(7), Buffer.alloc(8)), RangeError);
  t.throws(() => cast5CbcEncrypt(KEY, Buffer.alloc(8), Buffer.alloc(9)), RangeError);
  t.throws(() => new Cast5(KEY).encryptEcb(Buffer.alloc(16)), RangeError);
});
