// The LDAP view reads SearchRequests itself (daemon/ldap-search.ts) instead of through
// ldapjs: checked against ldapjs' own decoding and encoding of the same messages (every
// field, and the filter by its text and by what it matches), and fuzzed: a damaged
// message is a BerError, never another exception. smbd's real searches are covered by
// test/samba-login.test.ts; hostile input on the socket by test/ldap-hostile.test.ts.
import t from 'tap';
import { BerReader } from '@ldapjs/asn1';
import * as filters from '@ldapjs/filter';
import { LdapMessage, SearchRequest, SearchResultDone, SearchResultEntry } from '@ldapjs/messages';
import Attribute from '@ldapjs/attribute';
import { PagedResultsControl } from '@ldapjs/controls';
import { encodeSearchDone, readSearch } from '../daemon/ldap-search';
import { BerError, encodeAttribute, encodeSearchEntry } from '../daemon/ldap-ber';
import { filterText, matches, type Entry, type LdapFilter } from '../daemon/ldap-directory';

const FILTERS = [
  '(objectClass=*)',
  '(uid=bob)',
  '(&(objectClass=sambaSamAccount)(uid=bob))',
  '(&(objectClass=sambaGroupMapping)(|(sambaSID=S-1-5-32-544)(sambaSID=S-1-5-32-545)(sambaSID=S-1-5-32-546)))',
  '(&(uidNumber>=1000)(uidNumber<=2000))',
  '(!(cn=x*y*z))',
  '(cn=*ob)',
  '(cn=b*)',
  '(cn=*o*)',
  '(cn~=bob)',
  '(cn:caseExactMatch:=Bob)',
  '(&(|(a=1)(b=2))(!(&(c=3)(d=*)))(e=x))',
  '(sambaSIDList=S-1-5-21-1-2-3-513)',
];

function entry(attrs: Record<string, string[]>): Entry {
  return { dn: 'uid=bob,ou=people,dc=nas,dc=local', ndn: 'uid=bob,ou=people,dc=nas,dc=local', parent: 'ou=people,dc=nas,dc=local', attrs: new Map(Object.entries(attrs).map(([k, v]) => [k.toLowerCase(), { name: k, values: v, enc: Buffer.alloc(0) }])), account: 'bob' };
}
const ENTRIES = [
  entry({ objectClass: ['top', 'sambaSamAccount'], uid: ['bob'], cn: ['Bob'], uidNumber: ['1500'] }),
  entry({ objectClass: ['sambaGroupMapping'], sambaSID: ['S-1-5-32-545'], cn: ['xayaz'], a: ['1'], e: ['ünïcode'] }),
  entry({ cn: ['nothing'], uidNumber: ['999'], c: ['3'], d: ['4'] }),
];
const get = (e: Entry, a: string) => e.attrs.get(a)?.values;

t.test('readSearch decodes what ldapjs encodes, field by field', async (t) => {
  let id = 1;
  for (const f of FILTERS) {
    for (const scope of ['base', 'one', 'sub'] as const) {
      const controls = scope === 'sub' ? [new PagedResultsControl({ value: { size: 100, cookie: Buffer.alloc(0) } })] : [];
      const req = new SearchRequest({ messageId: id++, baseObject: 'ou=people,dc=nas,dc=local', scope, filter: filters.parseString(f), attributes: scope === 'base' ? [] : ['uid', 'sambaNTPassword', '1.1'], sizeLimit: scope === 'one' ? 5 : 0, typesOnly: scope === 'one', controls });
      const raw = req.toBer().buffer;
      const mine = readSearch(raw);
      const theirs = LdapMessage.parse(new BerReader(raw)) as unknown as { messageId: number; baseObject: { toString(): string }; scope: number; sizeLimit: number; typesOnly: boolean; attributes: string[]; filter: LdapFilter; controls: Array<{ type: string; criticality: boolean }> };
      const what = `${f} ${scope}`;
      t.equal(mine.messageId, theirs.messageId, `${what}: message id`);
      t.equal(mine.baseObject, theirs.baseObject.toString(), `${what}: base`);
      t.equal(mine.scope, theirs.scope, `${what}: scope`);
      t.equal(mine.sizeLimit, theirs.sizeLimit, `${what}: size limit`);
      t.equal(mine.typesOnly, theirs.typesOnly, `${what}: types only`);
      t.same(mine.attributes, theirs.attributes, `${what}: attributes`);
      t.same(mine.controls.map((c) => [c.type, c.criticality]), theirs.controls.map((c) => [c.type, c.criticality]), `${what}: controls`);
      t.equal(filterText(mine.filter), filterText(theirs.filter), `${what}: the same filter`);
      t.same(ENTRIES.map((e) => matches(mine.filter, e, get)), ENTRIES.map((e) => matches(theirs.filter, e, get)), `${what}: it matches the same entries`);
    }
  }
});

t.test('a non-ASCII assertion value is its UTF-8 text (ldapjs gave it escaped, and it matched nothing)', async (t) => {
  const raw = new SearchRequest({ messageId: 1, baseObject: 'dc=nas,dc=local', scope: 'sub', filter: filters.parseString('(e=ünïcode)'), attributes: [] }).toBer().buffer;
  const mine = readSearch(raw).filter;
  t.equal(mine.value, 'ünïcode');
  t.ok(matches(mine, ENTRIES[1], get), 'it matches the entry that holds it');
  const theirs = (LdapMessage.parse(new BerReader(raw)) as unknown as { filter: LdapFilter }).filter;
  t.equal(theirs.value, '\\c3\\bcn\\c3\\afcode', 'ldapjs: the escaped form');
  t.notOk(matches(theirs, ENTRIES[1], get), 'which matched nothing');
});

t.test('encodeSearchDone writes what ldapjs writes', async (t) => {
  const cases: Array<[number, string, string, boolean]> = [[0, '', '', false], [32, 'dc=nas,dc=local', 'no entry uid=x', false], [0, '', '', true], [4, '', 'more than 5 entries match', true]];
  for (const [code, matched, msg, paged] of cases) {
    const ctl = new PagedResultsControl({ value: { size: 0, cookie: Buffer.alloc(0) } });
    const theirs = new SearchResultDone({ messageId: 42, status: code, matchedDN: matched, diagnosticMessage: msg, controls: paged ? [ctl] : [] }).toBer().buffer;
    const mine = encodeSearchDone(42, code, matched, msg, paged ? [ctl.toBer().buffer] : []);
    t.equal(mine.toString('hex'), theirs.toString('hex'), `code ${code}${paged ? ', paged' : ''}`);
  }
});

t.test('a damaged SearchRequest is a BerError, never another exception', async (t) => {
  let seed = 0x5eed;
  const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed; };
  const valid = FILTERS.map((f, i) => new SearchRequest({ messageId: i + 1, baseObject: 'dc=nas,dc=local', scope: 'sub', filter: filters.parseString(f), attributes: ['uid'] }).toBer().buffer);
  let thrown = 0;
  let other = 0;
  for (let i = 0; i < 5000; i++) {
    const b = Buffer.from(valid[i % valid.length]);
    const n = 1 + (rnd() % 4);
    for (let k = 0; k < n; k++) b[rnd() % b.length] = rnd() & 0xff;
    const cut = rnd() % 3 === 0 ? b.subarray(0, rnd() % b.length) : b;
    try { readSearch(cut); } catch (e) { if (e instanceof BerError) thrown++; else other++; }
  }
  t.equal(other, 0, 'no exception but BerError');
  t.ok(thrown > 1000, `most damaged messages are refused (${thrown} of 5000)`);
  const berError = (b: Buffer) => { try { readSearch(b); return false; } catch (e) { return e instanceof BerError; } };
  t.ok(berError(Buffer.from('3005020101420100', 'hex')), 'not a search request: BerError');
  t.ok(berError(valid[0].subarray(0, valid[0].length - 3)), 'truncated: BerError');
});

t.test('a search entry written in one buffer is what ldapjs writes, for short, long and non-ASCII values', async (t) => {
  const big = 'x'.repeat(70_000); // a three-byte length
  const cases: Array<[number, string, Array<[string, string[]]>]> = [
    [1, 'uid=bob,ou=people,dc=nas,dc=local', [['uid', ['bob']], ['cn', ['Bob Ünïcode']], ['objectClass', ['top', 'person', 'sambaSamAccount']]]],
    [300, 'cn=family,ou=groups,dc=nas,dc=local', [['memberUid', Array.from({ length: 40 }, (_, i) => `user${i}`)], ['description', ['d'.repeat(200)]]]],
    [70_000, 'uid=x,dc=nas,dc=local', [['description', [big]], ['empty', []]]],
    [2 ** 31 - 1, '', []],
  ];
  for (const [id, dn, attrs] of cases) {
    const theirs = new SearchResultEntry({ messageId: id, objectName: dn, attributes: attrs.map(([type, values]) => new Attribute({ type, values })) }).toBer().buffer;
    const mine = encodeSearchEntry(id, dn, attrs.map(([n, v]) => encodeAttribute(n, v)));
    t.equal(mine.toString('hex'), theirs.toString('hex'), `message ${id}, ${attrs.length} attributes`);
  }
});
