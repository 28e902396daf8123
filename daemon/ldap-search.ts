// SearchRequests read straight from the raw message, and SearchResultDone written by
// hand: smbd sends about twenty searches per login, and ldapjs' way through one (its
// BER decoder building message and filter objects, its router, its response encoder)
// was most of what a search cost the view (docs/performance.md). The result is the
// shape ldap-view.ts' search() already reads from ldapjs (baseObject, scope, filter as
// @ldapjs/filter-like objects, attributes, controls), so the search itself is the same
// code either way. The framer (ldap-ber.ts) has already bounded the message's size,
// depth and element count, so the filter recursion here is bounded too.
//
//   SearchRequest ::= [APPLICATION 3] SEQUENCE { baseObject LDAPDN,
//     scope ENUMERATED, derefAliases ENUMERATED, sizeLimit INTEGER, timeLimit INTEGER,
//     typesOnly BOOLEAN, filter Filter, attributes SEQUENCE OF LDAPString }
//   Controls ::= [0] SEQUENCE OF SEQUENCE { controlType LDAPOID, criticality BOOLEAN
//     DEFAULT FALSE, controlValue OCTET STRING OPTIONAL }       (RFC 4511 4.1.11, 4.5.1)
import { BerError, integer, octets, readHeader, seq, tlv } from './ldap-ber';
import type { LdapFilter } from './ldap-directory';

export interface RawControl { type: string; criticality: boolean; value: Buffer | null }
export interface RawSearch {
  messageId: number;
  baseObject: string;
  scope: number;
  derefAliases: number;
  sizeLimit: number;
  timeLimit: number;
  typesOnly: boolean;
  filter: LdapFilter;
  attributes: string[];
  controls: RawControl[];
}

interface El { tag: number; start: number; end: number }

/** Read a SearchRequest message; throws BerError on anything malformed. */
export function readSearch(msg: Buffer): RawSearch {
  const at = (off: number, end: number): El => {
    const h = readHeader(msg, off, end);
    if (!h || off + h.hdr + h.len > end) throw new BerError('truncated');
    return { tag: h.tag, start: off + h.hdr, end: off + h.hdr + h.len };
  };
  const uint = (e: El, what: string) => {
    if (e.end - e.start < 1 || e.end - e.start > 4) throw new BerError(`${what}: bad integer`);
    let n = 0;
    for (let i = e.start; i < e.end; i++) n = n * 256 + msg[i];
    if (msg[e.start] & 0x80) throw new BerError(`${what}: negative`);
    return n;
  };
  const text = (e: El) => msg.toString('utf8', e.start, e.end);
  const expect = (e: El, tag: number, what: string) => { if (e.tag !== tag) throw new BerError(`${what}: unexpected tag 0x${e.tag.toString(16)}`); return e; };

  const outer = expect(at(0, msg.length), 0x30, 'message');
  const idE = expect(at(outer.start, outer.end), 0x02, 'message id');
  const op = expect(at(idE.end, outer.end), 0x63, 'search request');
  let p = op.start;
  const next = (tag: number, what: string) => { const e = expect(at(p, op.end), tag, what); p = e.end; return e; };
  const base = next(0x04, 'baseObject');
  const scope = uint(next(0x0a, 'scope'), 'scope');
  if (scope > 2) throw new BerError(`scope ${scope} is not base, one or sub`);
  const deref = uint(next(0x0a, 'derefAliases'), 'derefAliases');
  const sizeLimit = uint(next(0x02, 'sizeLimit'), 'sizeLimit');
  const timeLimit = uint(next(0x02, 'timeLimit'), 'timeLimit');
  const typesOnlyE = next(0x01, 'typesOnly');
  if (typesOnlyE.end - typesOnlyE.start !== 1) throw new BerError('typesOnly: bad boolean');
  const fe = at(p, op.end);
  p = fe.end;
  const filter = readFilter(fe);
  const attrsE = next(0x30, 'attributes');
  const attributes: string[] = [];
  for (let q = attrsE.start; q < attrsE.end;) { const a = expect(at(q, attrsE.end), 0x04, 'attribute'); attributes.push(text(a)); q = a.end; }
  if (p !== op.end) throw new BerError('bytes after the attributes');

  const controls: RawControl[] = [];
  if (op.end < outer.end) {
    const ctls = expect(at(op.end, outer.end), 0xa0, 'controls');
    for (let q = ctls.start; q < ctls.end;) {
      const c = expect(at(q, ctls.end), 0x30, 'control');
      q = c.end;
      const oid = expect(at(c.start, c.end), 0x04, 'controlType');
      let r = oid.end;
      let criticality = false;
      let value: Buffer | null = null;
      if (r < c.end) {
        const e = at(r, c.end);
        if (e.tag === 0x01) { criticality = e.end > e.start && msg[e.start] !== 0; r = e.end; }
      }
      if (r < c.end) { const v = expect(at(r, c.end), 0x04, 'controlValue'); value = Buffer.from(msg.subarray(v.start, v.end)); r = v.end; }
      if (r !== c.end) throw new BerError('bytes after a control');
      controls.push({ type: msg.toString('latin1', oid.start, oid.end), criticality, value });
    }
  }
  return { messageId: uint(idE, 'message id'), baseObject: text(base), scope, derefAliases: deref, sizeLimit, timeLimit, typesOnly: msg[typesOnlyE.start] !== 0, filter, attributes, controls };

  function ava(e: El): { attribute: string; value: string } {
    const a = expect(at(e.start, e.end), 0x04, 'attribute');
    const v = expect(at(a.end, e.end), 0x04, 'value');
    if (v.end !== e.end) throw new BerError('bytes after an assertion');
    return { attribute: text(a), value: text(v) };
  }

  function readFilter(e: El): LdapFilter {
    switch (e.tag) {
      case 0xa0: case 0xa1: {
        const filters: LdapFilter[] = [];
        for (let q = e.start; q < e.end;) { const c = at(q, e.end); filters.push(readFilter(c)); q = c.end; }
        return { type: e.tag === 0xa0 ? 'AndFilter' : 'OrFilter', filters };
      }
      case 0xa2: {
        const c = at(e.start, e.end);
        if (c.end !== e.end) throw new BerError('bytes after a not filter');
        return { type: 'NotFilter', filter: readFilter(c) };
      }
      case 0xa3: return { type: 'EqualityFilter', ...ava(e) };
      case 0xa5: return { type: 'GreaterThanEqualsFilter', ...ava(e) };
      case 0xa6: return { type: 'LessThanEqualsFilter', ...ava(e) };
      case 0xa8: return { type: 'ApproximateFilter', ...ava(e) };
      case 0x87: return { type: 'PresenceFilter', attribute: text(e) };
      case 0xa4: {
        const a = expect(at(e.start, e.end), 0x04, 'attribute');
        const subs = expect(at(a.end, e.end), 0x30, 'substrings');
        const f: LdapFilter = { type: 'SubstringFilter', attribute: text(a), subAny: [] };
        for (let q = subs.start; q < subs.end;) {
          const s = at(q, subs.end);
          q = s.end;
          if (s.tag === 0x80) f.subInitial = text(s);
          else if (s.tag === 0x81) f.subAny!.push(text(s));
          else if (s.tag === 0x82) f.subFinal = text(s);
          else throw new BerError('unknown substring choice');
        }
        return f;
      }
      // extensibleMatch: evaluated as Undefined (false) by the directory, as before
      case 0xa9: return { type: 'ExtensibleFilter' };
      default: throw new BerError(`unknown filter choice 0x${e.tag.toString(16)}`);
    }
  }
}

/** SearchResultDone (with controls, e.g. an empty paged-results cookie) for `messageId`. */
export function encodeSearchDone(messageId: number, code: number, matchedDN: string, message: string, controls: Buffer[] = []): Buffer {
  const parts = [integer(messageId), seq([integer(code, 0x0a), octets(matchedDN), octets(message)], 0x65)];
  if (controls.length) parts.push(tlv(0xa0, Buffer.concat(controls)));
  return seq(parts);
}
