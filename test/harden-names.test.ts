// Issue 12, point 7 (two of its items):
//  - a name is looked up only when it is ASCII: "\u212Aate" (KELVIN SIGN + "ate")
//    lower-cases to "kate" and logged in as kate before the fix;
//  - the AFP path replaces the MacRoman password bytes with their UTF-8 form and wipes
//    the bytes it replaced (before the fix the old buffer was dropped unwiped).
import t from 'tap';
import { afpPasswordBytes, encodeMacRoman } from '../daemon/macroman';
import { lookupName } from '../daemon/validate';
import { encodeRequest } from '../daemon/pam-frame';
import { addUser, authenticate, cleanup, http, startDaemon } from './helpers/daemon';
import { pamExchange, reasonOf } from './helpers/pamwire';

t.test('lookupName refuses non-ASCII before folding', async (t) => {
  t.equal(lookupName('Kate'), 'kate', 'ASCII upper case folds');
  for (const n of ['\u212Aate', '\u212Bsa', 'ka\u0307te', 'K\u0301ate', 'ｋａｔｅ', 'kat\u00e9', 'kate\u200b']) {
    t.equal(lookupName(n), null, `${JSON.stringify(n)} is no name`);
  }
});

t.test('the Kelvin sign does not log in as kate, on any socket', async (t) => {
  // several refusals for one name in a row: keep the backoff out of the answers
  const d = await startDaemon({ config: { rate_limit: { backoff_after: 50, lockout_after: 100 } } });
  t.teardown(async () => { await d.stop(); cleanup(d); });
  await addUser(d, 'kate', 'Kelvin-Zero-1', ['--services', 'smb,afp,dashboard']);
  t.equal((await authenticate(d, 'Kate', 'Kelvin-Zero-1')).body.reason, 'ok', 'Kate (ASCII) is kate');
  const kelvin = '\u212Aate';
  const q = await authenticate(d, kelvin, 'Kelvin-Zero-1');
  t.equal(q.body.reason, 'bad_credentials', 'query socket: the Kelvin sign is not a k');
  t.notOk(q.body.user, 'no profile');
  const p = await http(d.query, 'POST', '/v1/profile', { user: kelvin, password: 'Kelvin-Zero-1' });
  t.equal(p.body.reason, 'bad_credentials', 'profile: the same');
  const pw = await http(d.query, 'POST', '/v1/password', { user: kelvin, old_password: 'Kelvin-Zero-1', new_password: 'Kelvin-Zero-2' });
  t.equal(pw.body.reason, 'bad_credentials', 'no password change through the look-alike');
  const a = await pamExchange(d.pamPriv, encodeRequest('AUTH', ['samba', kelvin, 'Kelvin-Zero-1', '', '']));
  t.equal(reasonOf(a.replies[0]), 'bad_credentials', 'PAM AUTH: the same');
  const r = await pamExchange(d.pamPriv, encodeRequest('CHPW_ROOT', ['samba', kelvin, 'Kelvin-Zero-3', '']));
  t.equal(reasonOf(r.replies[0]), 'unknown_user', 'CHPW_ROOT: no such account');
  t.equal((await authenticate(d, 'kate', 'Kelvin-Zero-1')).body.reason, 'ok', 'kate\'s password is unchanged');
});

t.test('AFP: the MacRoman bytes that are replaced are wiped', async (t) => {
  const raw = encodeMacRoman('pässwörd-ü1');
  const keep = Buffer.from(raw);
  const out = afpPasswordBytes(raw);
  t.equal(out.toString('utf8'), 'pässwörd-ü1', 'converted to UTF-8');
  t.ok(raw.every((b) => b === 0), 'the MacRoman input is zeroed once replaced');
  const utf8 = Buffer.from('pässwörd-ü1', 'utf8');
  t.equal(afpPasswordBytes(utf8), utf8, 'valid UTF-8 is kept as is (the same buffer, not wiped)');
  t.equal(utf8.toString('utf8'), 'pässwörd-ü1');
  t.not(keep.toString('hex'), raw.toString('hex'));
  // every MacRoman byte converts to the UTF-8 of its character
  const all = Buffer.from(Array.from({ length: 128 }, (_, i) => 0x80 + i));
  const conv = afpPasswordBytes(Buffer.from(all));
  t.equal(encodeMacRoman(conv.toString('utf8')).toString('hex'), all.toString('hex'), 'all 128 high bytes round-trip');
});
