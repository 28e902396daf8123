// The PAM socket's binary frames: a pure decoder (incremental, for arbitrary chunking)
// and encoder. pam/nasauth_proto.h is the specification; the constants below mirror it.
//
// The decoder copies into one fixed buffer of MAX_REQUEST bytes, so it never holds more
// than one frame, whatever a client sends; the buffer is wiped after every frame (it
// held a password). It never throws: a broken stream yields one 'error' event and the
// parser stays failed (the connection is then answered bad_request and closed).

export const PAM_PROTOCOL_VERSION = 1;

export const OP = { PING: 1, AUTH: 2, ACCT: 3, CHPW: 4, CHPW_ROOT: 5 } as const;
export type OpName = keyof typeof OP;

export const LIMITS = {
  service: 64,
  user: 256,
  password: 512,
  host: 256,
  message: 255,
  request: 2048, // whole frame, including the length prefix
  reply: 512,
} as const;
export const HEADER_SIZE = 8;

// Named timeouts and bounds (same values and reasons as in nasauth_proto.h).
export const READ_TIMEOUT_MS = 5_000; // a local client writes its request at once
// The module sends one request per connection and closes after the reply: a connection
// with no request in progress is closed this long after it connected or after its last
// answer to anything but a PING (PINGs do not keep a connection alive).
export const IDLE_TIMEOUT_MS = 5_000;
// Per socket. At the cap a new connection closes the one idle longest (no request in
// progress); only when every connection has a request in progress is it refused.
export const MAX_CONNECTIONS = 128;
export const MAX_PIPELINE = 8;

type FieldKind = 'service' | 'user' | 'password' | 'host';
const FIELDS: Record<OpName, Array<[string, FieldKind]>> = {
  PING: [],
  AUTH: [['service', 'service'], ['user', 'user'], ['password', 'password'], ['rhost', 'host'], ['ruser', 'host']],
  ACCT: [['service', 'service'], ['user', 'user'], ['rhost', 'host']],
  CHPW: [['service', 'service'], ['user', 'user'], ['password', 'password'], ['newPassword', 'password'], ['rhost', 'host']],
  CHPW_ROOT: [['service', 'service'], ['user', 'user'], ['newPassword', 'password'], ['rhost', 'host']],
};
const OP_NAMES = new Map<number, OpName>(Object.entries(OP).map(([k, v]) => [v, k as OpName]));

export type PamRequest =
  | { op: 'PING' }
  | { op: 'AUTH'; service: string; user: string; password: Buffer; rhost: string; ruser: string }
  | { op: 'ACCT'; service: string; user: string; rhost: string }
  | { op: 'CHPW'; service: string; user: string; password: Buffer; newPassword: Buffer; rhost: string }
  | { op: 'CHPW_ROOT'; service: string; user: string; newPassword: Buffer; rhost: string };

export type FrameEvent = { kind: 'request'; request: PamRequest } | { kind: 'error'; message: string };

// Names, services and hosts are decoded leniently: invalid UTF-8 becomes U+FFFD, which
// no account or service name contains, so such a request is answered (bad_credentials,
// unknown_user, service_denied) rather than refused as malformed. Only passwords must be
// byte-exact, and they stay bytes.
const text = new TextDecoder('utf-8');

/** body[at, at+len) as text: ASCII (every name on a NAS) without a view object; anything else through the decoder. */
function fieldText(body: Buffer, at: number, len: number): string {
  const end = at + len;
  for (let i = at; i < end; i++) if (body[i] > 0x7f) return text.decode(body.subarray(at, end));
  return body.toString('latin1', at, end);
}

/** Wipe every secret a request holds. */
export function wipe(r: PamRequest) {
  if ('password' in r) r.password.fill(0);
  if ('newPassword' in r) r.newPassword.fill(0);
}

/** A log-safe view: never a password, only its length. */
export function describe(r: PamRequest): Record<string, unknown> {
  const out: Record<string, unknown> = { op: r.op };
  for (const [k, v] of Object.entries(r)) {
    if (k === 'op') continue;
    out[k] = Buffer.isBuffer(v) ? `*** (${v.length} bytes)` : String(v).slice(0, 64);
  }
  return out;
}

/**
 * Decode one frame body (everything after the length prefix). Returns the request or
 * an error message; never throws. Secrets are copied into fresh Buffers.
 */
export function decodeBody(bytes: Uint8Array): PamRequest | string {
  const body = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (body.length < HEADER_SIZE - 4) return 'the frame is shorter than its header';
  if (body[0] !== PAM_PROTOCOL_VERSION) return `protocol version ${body[0]} is not supported (this daemon speaks ${PAM_PROTOCOL_VERSION})`;
  const op = OP_NAMES.get(body[1]);
  if (!op) return `unknown opcode ${body[1]}`;
  if (body[2] !== 0 || body[3] !== 0) return 'the reserved header bytes must be 0';
  const spec = FIELDS[op];
  const out: Record<string, unknown> = { op };
  let at = 4;
  const made: Buffer[] = [];
  const fail = (m: string) => { for (const b of made) b.fill(0); return m; };
  for (const [name, kind] of spec) {
    if (at + 2 > body.length) return fail(`${op}: field "${name}" is missing`);
    const len = (body[at] << 8) | body[at + 1];
    at += 2;
    if (len > LIMITS[kind]) return fail(`${op}: field "${name}" is longer than ${LIMITS[kind]} bytes`);
    if (at + len > body.length) return fail(`${op}: field "${name}" runs past the end of the frame`);
    const start = at;
    at += len;
    if (kind === 'password') {
      const b = Buffer.alloc(len); // not the shared pool: wiped on its own
      body.copy(b, 0, start, at);
      made.push(b);
      out[name] = b;
    } else {
      const s = fieldText(body, start, at - start);
      if ((kind === 'user' || kind === 'service') && (s.length === 0 || s.includes('\0'))) return fail(`${op}: field "${name}" must be non-empty and without NUL`);
      out[name] = s;
    }
  }
  if (at !== body.length) return fail(`${op}: ${body.length - at} bytes after the last field`);
  return out as PamRequest;
}

/**
 * Incremental decoder: feed it chunks as they arrive, in any sizes.
 *
 * A frame that arrives whole in one chunk (what pam_nasauth.so sends: one small frame
 * per connection) is decoded straight from the chunk; only a frame split across chunks
 * is gathered in a buffer of its own, made when first needed. A connection therefore
 * costs no 2 KiB zero-filled buffer (a fresh ArrayBuffer per connection was a large
 * part of the garbage collector's work per PAM login), and the bytes of a request are
 * copied once fewer. Nothing is kept from the chunk: the caller may wipe it.
 */
export class FrameParser {
  private buf: Buffer | null = null; // the current frame's bytes, when it came in pieces
  private have = 0; // bytes of the current frame in buf
  private need = 4; // bytes of the current frame wanted so far (4, then 4 + length)
  private failed = false;

  /** Bytes of an incomplete frame held right now (for the read timeout). */
  get pending(): number { return this.have; }
  get broken(): boolean { return this.failed; }

  /**
   * Consume a chunk. Returns the events it completed, in order; after an 'error' the
   * parser ignores all further input. The chunk is not kept (it may be wiped by the caller).
   */
  push(chunk: Uint8Array): FrameEvent[] {
    const events: FrameEvent[] = [];
    let off = 0;
    // whole frames straight from the chunk, while no piece of a frame is held
    while (!this.failed && this.have === 0 && chunk.length - off >= 4) {
      const len = ((chunk[off] << 24) >>> 0) + ((chunk[off + 1] << 16) | (chunk[off + 2] << 8) | chunk[off + 3]);
      const bad = lengthError(len);
      if (bad) { events.push(this.fail(bad)); return events; }
      if (chunk.length - off < 4 + len) break;
      const r = decodeBody(chunk.subarray(off + 4, off + 4 + len));
      off += 4 + len;
      if (typeof r === 'string') { events.push(this.fail(r)); return events; }
      events.push({ kind: 'request', request: r });
    }
    while (!this.failed && off < chunk.length) {
      const buf = this.buf ?? (this.buf = Buffer.alloc(LIMITS.request));
      const take = Math.min(this.need - this.have, chunk.length - off);
      buf.set(chunk.subarray(off, off + take), this.have);
      this.have += take;
      off += take;
      if (this.have < this.need) break;
      if (this.need === 4) {
        const len = buf.readUInt32BE(0);
        const bad = lengthError(len);
        if (bad) { events.push(this.fail(bad)); break; }
        this.need = 4 + len;
        continue;
      }
      const r = decodeBody(buf.subarray(4, this.need));
      buf.fill(0, 0, this.need);
      this.have = 0;
      this.need = 4;
      if (typeof r === 'string') { events.push(this.fail(r)); break; }
      events.push({ kind: 'request', request: r });
    }
    return events;
  }

  /** Wipe whatever part of a frame is held (connection closed). */
  reset() {
    this.buf?.fill(0);
    this.have = 0;
    this.need = 4;
  }

  private fail(message: string): FrameEvent {
    this.failed = true;
    this.reset();
    return { kind: 'error', message };
  }
}

function lengthError(len: number): string | null {
  if (len < HEADER_SIZE - 4) return `frame length ${len} is shorter than a header`;
  if (len > LIMITS.request - 4) return `frame length ${len} is over the limit of ${LIMITS.request - 4}`;
  return null;
}

/** Cut a UTF-8 string to at most `max` bytes without splitting a character. */
function clip(s: string, max: number): Buffer {
  const b = Buffer.from(s, 'utf8');
  if (b.length <= max) return b;
  let end = max;
  while (end > 0 && (b[end] & 0xc0) === 0x80) end--;
  return b.subarray(0, end);
}

export function encodeReply(code: number, retryAfter: number, message: string): Buffer {
  const msg = clip(message, LIMITS.message);
  // every byte is written below and a reply holds no secret: the shared pool will do
  const out = Buffer.allocUnsafe(HEADER_SIZE + 2 + msg.length);
  out.writeUInt32BE(out.length - 4, 0);
  out[4] = PAM_PROTOCOL_VERSION;
  out[5] = code;
  out.writeUInt16BE(Math.max(0, Math.min(0xffff, Math.ceil(retryAfter || 0))), 6);
  out.writeUInt16BE(msg.length, 8);
  msg.copy(out, 10);
  return out;
}

export interface PamReply { version: number; code: number; retryAfter: number; message: string }

/** Decode one complete reply frame (tests and tools; the C module has its own). */
export function decodeReply(frame: Uint8Array): PamReply | string {
  if (frame.length < HEADER_SIZE + 2) return 'reply shorter than its header';
  const b = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  const len = b.readUInt32BE(0);
  if (len + 4 !== b.length || b.length > LIMITS.reply) return 'reply length mismatch';
  const mlen = b.readUInt16BE(8);
  if (mlen > LIMITS.message || 10 + mlen !== b.length) return 'reply message length mismatch';
  return { version: b[4], code: b[5], retryAfter: b.readUInt16BE(6), message: b.subarray(10).toString('utf8') };
}

/** Encode a request (tests, tools). Fields are strings (UTF-8) or raw bytes. */
export function encodeRequest(op: OpName | number, fields: Array<string | Uint8Array>, opts: { version?: number; reserved?: number } = {}): Buffer {
  const parts = fields.map((f) => (typeof f === 'string' ? Buffer.from(f, 'utf8') : Buffer.from(f)));
  const size = HEADER_SIZE + parts.reduce((n, p) => n + 2 + p.length, 0);
  const out = Buffer.alloc(size);
  out.writeUInt32BE(size - 4, 0);
  out[4] = opts.version ?? PAM_PROTOCOL_VERSION;
  out[5] = typeof op === 'number' ? op : OP[op];
  out.writeUInt16BE(opts.reserved ?? 0, 6);
  let at = HEADER_SIZE;
  for (const p of parts) {
    out.writeUInt16BE(p.length, at);
    p.copy(out, at + 2);
    at += 2 + p.length;
  }
  return out;
}
