// The LDAP view's wire guard and the small BER pieces it writes itself.
//
// ldapjs decodes and routes messages, but it buffers without bound, recurses through
// filters (a deeply nested filter overflows the stack) and decodes passwords as UTF-8
// (invalid UTF-8 silently becomes U+FFFD). So every byte from a client passes through
// MessageFramer first: it cuts the stream into whole LDAPMessages, refuses oversize
// and over-deep messages with a proper LDAP error (the connection stays usable), and
// closes the connection on anything that is not BER. Only then does ldapjs see a
// message, one at a time.
//
// Search entries are encoded here too: each entry's attributes are encoded once when
// the view is rebuilt, and a search only concatenates the chosen ones.

/** A single LDAPMessage larger than this is refused. smbd's largest is a few KiB. */
export const MAX_MESSAGE_BYTES = 256 * 1024;
/** Constructed BER nesting allowed in one message (the envelope itself takes 3-4). */
export const MAX_BER_DEPTH = 40;
/** BER elements allowed in one message (a filter with 10 000 terms is an attack). */
export const MAX_BER_ELEMENTS = 4096;

export const RESULT = {
  success: 0, operationsError: 1, protocolError: 2, sizeLimitExceeded: 4, authMethodNotSupported: 7,
  adminLimitExceeded: 11, unavailableCriticalExtension: 12, noSuchAttribute: 16, constraintViolation: 19,
  noSuchObject: 32, invalidDNSyntax: 34, invalidCredentials: 49, insufficientAccessRights: 50, busy: 51,
  unavailable: 52, unwillingToPerform: 53, other: 80,
} as const;

// request protocolOp tag → the tag of its response (unbind and abandon have none)
const RESPONSE_TAG: Record<number, number> = {
  0x60: 0x61, 0x63: 0x65, 0x66: 0x67, 0x68: 0x69, 0x4a: 0x6b, 0x6c: 0x6d, 0x6e: 0x6f, 0x77: 0x78,
};

// ---- writing ------------------------------------------------------------------------

// Each element is written into one buffer of its final size: smbd sends ~30 searches per
// login, and building every tag, length and value as its own small Buffer and joining
// them level by level made a user entry's answer about 60 buffers and three copies of
// itself, most of a search's garbage (docs/performance.md, figure 4).

/** Bytes of a definite length field for `n`. */
function lengthSize(n: number): number {
  if (n < 0x80) return 1;
  let k = 0;
  for (let v = n; v > 0; v = Math.floor(v / 256)) k++;
  return 1 + k;
}

/** Write tag and length of an element with `n` content bytes at `off`; returns where the content starts. */
function putHeader(out: Buffer, off: number, tag: number, n: number): number {
  out[off++] = tag;
  if (n < 0x80) { out[off++] = n; return off; }
  const k = lengthSize(n) - 1;
  out[off++] = 0x80 | k;
  for (let i = k - 1; i >= 0; i--) { out[off + i] = n & 0xff; n = Math.floor(n / 256); }
  return off + k;
}

export function tlv(tag: number, content: Buffer): Buffer {
  const out = Buffer.allocUnsafe(1 + lengthSize(content.length) + content.length);
  content.copy(out, putHeader(out, 0, tag, content.length));
  return out;
}

export function octets(v: string | Buffer, tag = 0x04): Buffer {
  if (typeof v !== 'string') return tlv(tag, v);
  const n = Buffer.byteLength(v, 'utf8');
  const out = Buffer.allocUnsafe(1 + lengthSize(n) + n);
  out.write(v, putHeader(out, 0, tag, n), 'utf8');
  return out;
}

/** INTEGER and ENUMERATED 0..127, made once: a search answer needs a few per entry. Never written to. */
const SMALL_INTS = new Map<number, readonly Buffer[]>([0x02, 0x0a].map((tag) => [tag, Array.from({ length: 128 }, (_, n) => Buffer.from([tag, 1, n]))]));

export function integer(n: number, tag = 0x02): Buffer {
  // two's complement, minimal length (message ids and result codes are small and >= 0)
  if (n >= 0 && n < 128 && Number.isInteger(n)) { const t = SMALL_INTS.get(tag); if (t) return t[n] as Buffer; }
  const out: number[] = [];
  let v = n;
  do { out.unshift(v & 0xff); v = Math.floor(v / 256); } while (v > 0);
  if (out[0] & 0x80) out.unshift(0);
  return Buffer.from([tag, out.length, ...out]);
}

export function seq(parts: readonly Buffer[], tag = 0x30): Buffer {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = Buffer.allocUnsafe(1 + lengthSize(n) + n);
  let off = putHeader(out, 0, tag, n);
  for (const p of parts) off += p.copy(out, off);
  return out;
}

/** PartialAttribute ::= SEQUENCE { type, SET OF value }, written in one buffer. */
export function encodeAttribute(name: string, values: readonly (string | Buffer)[]): Buffer {
  const nameLen = Buffer.byteLength(name, 'utf8');
  const lens = values.map((v) => (typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : v.length));
  let set = 0;
  for (const l of lens) set += 1 + lengthSize(l) + l;
  const body = 1 + lengthSize(nameLen) + nameLen + 1 + lengthSize(set) + set;
  const out = Buffer.allocUnsafe(1 + lengthSize(body) + body);
  let off = putHeader(out, 0, 0x30, body);
  off = putHeader(out, off, 0x04, nameLen);
  off += out.write(name, off, 'utf8');
  off = putHeader(out, off, 0x31, set);
  values.forEach((v, i) => {
    off = putHeader(out, off, 0x04, lens[i]);
    off += typeof v === 'string' ? out.write(v, off, 'utf8') : v.copy(out, off);
  });
  return out;
}

/** A whole SearchResultEntry message from pre-encoded attributes, written in one buffer. */
export function encodeSearchEntry(messageId: number, dn: string, encodedAttrs: readonly Buffer[]): Buffer {
  const id = integer(messageId);
  const dnLen = Buffer.byteLength(dn, 'utf8');
  let attrs = 0;
  for (const a of encodedAttrs) attrs += a.length;
  const op = 1 + lengthSize(dnLen) + dnLen + 1 + lengthSize(attrs) + attrs;
  const msg = id.length + 1 + lengthSize(op) + op;
  const out = Buffer.allocUnsafe(1 + lengthSize(msg) + msg);
  let off = putHeader(out, 0, 0x30, msg);
  off += id.copy(out, off);
  off = putHeader(out, off, 0x64, op);
  off = putHeader(out, off, 0x04, dnLen);
  off += out.write(dn, off, 'utf8');
  off = putHeader(out, off, 0x30, attrs);
  for (const a of encodedAttrs) off += a.copy(out, off);
  return out;
}

/** An LDAPResult-shaped response for a request op, written without ldapjs. */
export function encodeResult(messageId: number, requestTag: number, code: number, message: string): Buffer | null {
  const tag = RESPONSE_TAG[requestTag];
  if (tag === undefined) return null;
  return seq([integer(messageId), seq([integer(code, 0x0a), octets(''), octets(message)], tag)]);
}

/** RFC 4511 4.4.1 Notice of Disconnection (unsolicited, message id 0). */
export function noticeOfDisconnection(code: number, message: string): Buffer {
  return seq([integer(0), seq([integer(code, 0x0a), octets(''), octets(message), octets('1.3.6.1.4.1.1466.20036', 0x8a)], 0x78)]);
}

// ---- reading ------------------------------------------------------------------------

interface Header { tag: number; len: number; hdr: number }

/** Read a tag and a definite length at `off`; null when more bytes are needed; throws on non-BER. */
export function readHeader(b: Buffer, off: number, end = b.length): Header | null {
  const h: Header = { tag: 0, len: 0, hdr: 0 };
  return headerInto(b, off, end, h) ? h : null;
}

/** readHeader() into `h` (no object made: checkShape walks every element of every request); false when truncated. */
function headerInto(b: Buffer, off: number, end: number, h: Header): boolean {
  if (end - off < 2) return false;
  const tag = b[off];
  if ((tag & 0x1f) === 0x1f) throw new BerError('multi-byte tags are not used by LDAP');
  const l0 = b[off + 1];
  h.tag = tag;
  if (l0 < 0x80) { h.len = l0; h.hdr = 2; return true; }
  const n = l0 & 0x7f;
  if (n === 0) throw new BerError('indefinite lengths are not allowed in LDAP');
  if (n > 4) throw new BerError('length field too long');
  if (end - off < 2 + n) return false;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + b[off + 2 + i];
  h.len = len;
  h.hdr = 2 + n;
  return true;
}

export class BerError extends Error {}

/**
 * Walk every TLV of one message without recursion; returns why it is refused, or null.
 * Primitive contents are not descended into; constructed ones (bit 0x20) are.
 */
export function checkShape(msg: Buffer): string | null {
  const stack: number[] = [msg.length]; // end offsets of the open constructed elements
  const h: Header = { tag: 0, len: 0, hdr: 0 }; // one header, read into again for each element
  let off = 0;
  let count = 0;
  while (off < msg.length) {
    while (stack.length && off >= stack[stack.length - 1]) stack.pop();
    const limit = stack.length ? stack[stack.length - 1] : msg.length;
    if (!headerInto(msg, off, limit, h)) throw new BerError('truncated element');
    const end = off + h.hdr + h.len;
    if (end > limit) throw new BerError('element longer than its container');
    if (++count > MAX_BER_ELEMENTS) return `the request has more than ${MAX_BER_ELEMENTS} elements`;
    if (h.tag & 0x20) {
      stack.push(end);
      if (stack.length > MAX_BER_DEPTH) return `the request is nested deeper than ${MAX_BER_DEPTH} levels (filter too deep)`;
      off += h.hdr;
    } else off = end;
  }
  return null;
}

/** Message id and protocolOp tag from the start of an LDAPMessage (may be partial). */
export function peekIdAndOp(b: Buffer, off: number, end: number): { id: number; op: number } | null {
  const outer = readHeader(b, off, end);
  if (!outer || outer.tag !== 0x30) return null;
  let p = off + outer.hdr;
  const idh = readHeader(b, p, end);
  if (!idh || idh.tag !== 0x02 || idh.len < 1 || idh.len > 4 || p + idh.hdr + idh.len + 1 > end) return null;
  let id = 0;
  for (let i = 0; i < idh.len; i++) id = id * 256 + b[p + idh.hdr + i];
  p += idh.hdr + idh.len;
  return { id, op: b[p] };
}

/**
 * Password Modify (RFC 3062) request value, read byte-exact from the raw message:
 *   PasswdModifyRequestValue ::= SEQUENCE { userIdentity [0] OPTIONAL, oldPasswd [1] OPTIONAL, newPasswd [2] OPTIONAL }
 */
export function readPasswordModify(msg: Buffer): { user?: Buffer; oldPw?: Buffer; newPw?: Buffer } {
  const at = (off: number, end: number) => {
    const h = readHeader(msg, off, end);
    if (!h || off + h.hdr + h.len > end) throw new BerError('truncated');
    return { ...h, start: off + h.hdr, end: off + h.hdr + h.len };
  };
  const outer = at(0, msg.length);
  let p = outer.start;
  p = at(p, outer.end).end; // message id
  const op = at(p, outer.end);
  if (op.tag !== 0x77) throw new BerError('not an extended request');
  p = op.start;
  const out: { user?: Buffer; oldPw?: Buffer; newPw?: Buffer } = {};
  while (p < op.end) {
    const e = at(p, op.end);
    if (e.tag === 0x81) { // requestValue: an OCTET STRING holding the BER of the value
      const v = at(e.start, e.end);
      if (v.tag !== 0x30) throw new BerError('password modify value is not a sequence');
      let q = v.start;
      while (q < v.end) {
        const f = at(q, v.end);
        const val = Buffer.from(msg.subarray(f.start, f.end));
        if (f.tag === 0x80) out.user = val;
        else if (f.tag === 0x81) out.oldPw = val;
        else if (f.tag === 0x82) out.newPw = val;
        else throw new BerError('unknown field in password modify');
        q = f.end;
      }
    }
    p = e.end;
  }
  return out;
}

export type FramerEvent =
  | { kind: 'message'; raw: Buffer }
  | { kind: 'refuse'; reply: Buffer | null; why: string; id: number; op: number }
  | { kind: 'fatal'; why: string };

/**
 * Cuts a byte stream into LDAPMessages. Oversize messages are answered (when the id
 * and op can be read) and their bytes skipped; non-BER input is fatal.
 */
export class MessageFramer {
  private buf: Buffer = Buffer.alloc(0);
  private skip = 0;
  private dead = false;

  /** Whether a message has started and not yet ended (for the per-message read timeout). */
  get pending(): boolean { return !this.dead && (this.buf.length > 0 || this.skip > 0); }

  push(chunk: Buffer): FramerEvent[] {
    if (this.dead) return [];
    const events: FramerEvent[] = [];
    if (this.skip > 0) {
      const n = Math.min(this.skip, chunk.length);
      this.skip -= n;
      chunk = chunk.subarray(n);
    }
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    let off = 0;
    try {
      while (off < this.buf.length) {
        if (this.buf[off] !== 0x30) { this.dead = true; events.push({ kind: 'fatal', why: 'not an LDAP message (expected a BER SEQUENCE)' }); break; }
        const h = readHeader(this.buf, off);
        if (!h) break;
        const total = h.hdr + h.len;
        if (total > MAX_MESSAGE_BYTES) {
          const peek = peekIdAndOp(this.buf, off, this.buf.length);
          if (!peek && this.buf.length - off < 32) break; // wait for the id and op
          const why = `the request is ${total} bytes; at most ${MAX_MESSAGE_BYTES} are accepted`;
          const reply = peek ? encodeResult(peek.id, peek.op, RESULT.adminLimitExceeded, why) : null;
          events.push({ kind: 'refuse', reply, why, id: peek?.id ?? -1, op: peek?.op ?? -1 });
          const have = this.buf.length - off;
          if (have >= total) off += total;
          else { this.skip = total - have; off = this.buf.length; }
          continue;
        }
        if (this.buf.length - off < total) break;
        const raw = this.buf.subarray(off, off + total);
        off += total;
        const bad = checkShape(raw);
        if (bad) {
          const peek = peekIdAndOp(raw, 0, raw.length);
          events.push({ kind: 'refuse', reply: peek ? encodeResult(peek.id, peek.op, RESULT.unwillingToPerform, bad) : null, why: bad, id: peek?.id ?? -1, op: peek?.op ?? -1 });
          continue;
        }
        events.push({ kind: 'message', raw: Buffer.from(raw) });
      }
    } catch (e) {
      this.dead = true;
      events.push({ kind: 'fatal', why: `malformed BER: ${(e as Error).message}` });
    }
    this.buf = this.dead ? Buffer.alloc(0) : Buffer.from(this.buf.subarray(off));
    return events;
  }
}

/**
 * A BindRequest read from the raw message (ldapjs 3.0.7's server cannot route binds:
 * it assigns to a getter-only property). Credentials stay bytes.
 *   BindRequest ::= [APPLICATION 0] SEQUENCE { version INTEGER, name LDAPDN,
 *                   authentication CHOICE { simple [0] OCTET STRING, sasl [3] ... } }
 */
export function readBind(msg: Buffer): { id: number; version: number; name: string; simple: Buffer | null; criticalControls: string[] } {
  const at = (off: number, end: number) => {
    const h = readHeader(msg, off, end);
    if (!h || off + h.hdr + h.len > end) throw new BerError('truncated');
    return { ...h, start: off + h.hdr, end: off + h.hdr + h.len };
  };
  const int = (e: { start: number; end: number }) => { let n = 0; for (let i = e.start; i < e.end; i++) n = n * 256 + msg[i]; return n; };
  const outer = at(0, msg.length);
  const idE = at(outer.start, outer.end);
  const op = at(idE.end, outer.end);
  if (op.tag !== 0x60) throw new BerError('not a bind request');
  const ver = at(op.start, op.end);
  const name = at(ver.end, op.end);
  const auth = at(name.end, op.end);
  const criticalControls: string[] = [];
  if (op.end < outer.end) {
    const ctls = at(op.end, outer.end);
    if (ctls.tag === 0xa0) {
      let p = ctls.start;
      while (p < ctls.end) {
        const c = at(p, ctls.end);
        const oid = at(c.start, c.end);
        if (oid.end < c.end) {
          const b = at(oid.end, c.end);
          if (b.tag === 0x01 && msg[b.start] !== 0) criticalControls.push(msg.subarray(oid.start, oid.end).toString('latin1'));
        }
        p = c.end;
      }
    }
  }
  return {
    id: int(idE), version: int(ver), name: msg.subarray(name.start, name.end).toString('utf8'),
    simple: auth.tag === 0x80 ? Buffer.from(msg.subarray(auth.start, auth.end)) : null, criticalControls,
  };
}
