// The query socket's front: its commonest request answered without node:http.
//
// node:http parses each request with llhttp and builds an IncomingMessage, a
// ServerResponse and their streams and events. For a keep-alive cache hit that is about
// half the work: on this project's 2-core VM a bare node:http server answering the
// cache-hit-sized request spent 13.5 µs of CPU per request, the same answers framed by
// hand on a net socket 7.0 µs (docs/performance.md, figure 1). So the front reads every
// connection itself and answers the requests it recognises *exactly*: a narrow subset of
// HTTP/1.1 (below) for the routes given to it. At the first byte it does not recognise,
// it hands the connection, with every byte not yet answered, to the node:http server,
// which owns it from then on: every other route, every unusual request and every
// malformed one is parsed and answered by node:http, as before. Recognising less is
// always safe (the request goes to node:http); recognising more needs a test in
// test/query-front.test.ts, which sends the same bytes to a daemon with the front and one
// without it and wants the same answers.
//
// A request is recognised when all of these hold:
// - its request line is one of the routes' lines, byte for byte ("POST /v1/authenticate
//   HTTP/1.1": no query string, no other version, no other method);
// - its head (request line and headers) is at most HEAD_MAX bytes and ends in CRLF CRLF;
//   every header line is `name:value` with a name from ALLOWED (any case) and a value of
//   printable ASCII or tabs; at most MAX_HEADERS of them; Host among them;
// - Content-Length is given exactly once, as 1-5 digits (spaces before them, nothing
//   after), at most the body limit; Connection at most once, `keep-alive` or `close`
//   (any case, spaces before it, nothing after).
// Anything else (Transfer-Encoding, Expect, a second Content-Length, a bare LF, obs-fold,
// HTTP/1.0, a byte over 0x7e) goes to node:http untouched.
//
// The same limits as node:http's server apply to the connections the front keeps: the
// headers timeout and request timeout from the first byte of a request, the keep-alive
// timeout after an answer (and after the connection opened: node:http has none there;
// the connection cap would close such a connection anyway), one request answered at a
// time and in order, reading paused while an answer waits or while the client does not
// read its answers. A timeout,
// a request cut short by the client's end or bytes after a Connection: close request go to
// the node:http server's 'clientError' listeners (daemon/http-util.ts hardenServer), as
// node:http's own do.
//
// One difference is deliberate: node:http writes an answer a turn after it parsed the
// request, and drops the answers still pending when the client shuts its side or a later
// byte in the same read is malformed; the front answers every complete request it took
// before it closes or hands over. (test/fuzz.test.ts allows exactly that difference, and
// the differences node:http makes itself between reading from the socket and reading
// bytes handed to it.) While an answer is pending the front reads nothing more, so what
// follows can still be handed over whole; the client's end, when it came in the same read,
// is handed over after the bytes, as node:http's own listeners would have heard it.
import { STATUS_CODES, type Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';

/** Answer the request: a status and a JSON body (one call per request; later calls are ignored). */
export type FastReply = (status: number, json: string, retryAfter?: number) => void;
/** A route's handler: the body's bytes (the caller may zero them) and the reply. */
export type FastHandler = (body: Buffer, reply: FastReply) => void;

const HEAD_MAX = 4096;
const MAX_HEADERS = 32;
const ALLOWED = new Set(['host', 'content-type', 'content-length', 'connection', 'user-agent', 'accept']);
const NAME = /^[A-Za-z-]+$/;
const VALUE = /^[\t\x20-\x7e]*$/;
const LENGTH = /^ *[0-9]{1,5}$/; // node:http refuses white space after it
const CONNECTION = /^ *(keep-alive|close)$/i;
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');

export interface FastLimits {
  maxBody: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveMs: number;
}

class Conn {
  /** bytes read and not yet answered or handed over */
  buf: Buffer | null = null;
  /** when the request being read began (its first byte); 0 when none is */
  since = 0;
  /** the head of the request being read is complete (the body is awaited) */
  headDone = false;
  /** an answer is awaited */
  busy = false;
  /** the request being answered asked for Connection: close: the last on this connection */
  closing = false;
  /** the client ended its side */
  ended = false;
  /** the client is not reading: answers wait for 'drain' */
  waitDrain = false;
  /** node:http owns the connection, or it is finished */
  gone = false;
  pumping = false;
  seq = 0;
  last: number;
  constructor(readonly s: Socket, now: number) { this.last = now; }
  // its listeners (set by accept; removed by a handover)
  onData!: (b: Buffer) => void;
  onEnd!: () => void;
  onDrain!: () => void;
}

let dateSec = -1;
let dateText = '';
/** The Date header's text, as node:http writes it (made once a second). */
function utcDate(): string {
  const now = Date.now();
  const sec = Math.floor(now / 1000);
  if (sec !== dateSec) { dateSec = sec; dateText = new Date(now).toUTCString(); }
  return dateText;
}

const statusLines = new Map<number, string>();
function statusLine(status: number): string {
  let l = statusLines.get(status);
  if (l === undefined) { l = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n`; statusLines.set(status, l); }
  return l;
}

/** The head node:http writes for sendJsonText (daemon/http-util.ts) with retry-after set first, or not. */
function answerHead(status: number, length: number, retryAfter: number | undefined, close: boolean, keepAliveMs: number): string {
  return `${statusLine(status)}${retryAfter !== undefined ? `retry-after: ${retryAfter}\r\n` : ''}content-type: application/json\r\ncontent-length: ${length}\r\ncache-control: no-store\r\nDate: ${utcDate()}\r\n${
    close ? 'Connection: close\r\n' : `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(keepAliveMs / 1000)}\r\n`}\r\n`;
}

interface Head { handler: FastHandler; length: number; close: boolean }

export class FastFront {
  /** the server that listens; node:http's server never listens itself */
  readonly server: Server;
  private conns = new Map<Socket, Conn>();
  private lines: string[];
  private timer: NodeJS.Timeout;
  private closing = false;
  /** requests the front recognised (and answered, unless the client left first); connections handed to node:http */
  recognised = 0;
  handedOver = 0;
  /** called with each connection's socket when a request on it begins (the connection cap's bookkeeping) */
  onRequest: (s: Socket) => void = () => undefined;

  constructor(private http: HttpServer, private routes: Map<string, FastHandler>, private limits: FastLimits) {
    this.lines = [...routes.keys()];
    this.server = createServer({ allowHalfOpen: true }); // as node:http's own: an 'end' is answered after the last answer
    // node:http checks its headers and request timeouts from an interval it starts when it
    // listens; it never listens here, so it is told it does (the interval is unref'd)
    http.emit('listening');
    this.timer = setInterval(() => this.check(), 1000);
    this.timer.unref();
  }

  /** Take a new connection (the server's 'connection' listener; after the cap's, which may have closed it). */
  accept(s: Socket): void {
    if (s.destroyed) return;
    const c = new Conn(s, Date.now());
    this.conns.set(s, c);
    c.onData = (b) => this.data(c, b);
    c.onEnd = () => { c.ended = true; this.pump(c); };
    c.onDrain = () => { c.waitDrain = false; this.pump(c); };
    s.on('data', c.onData);
    s.on('end', c.onEnd);
    s.on('drain', c.onDrain);
    s.on('error', noop);
    s.on('close', () => { c.gone = true; c.buf = null; this.conns.delete(s); });
  }

  /** Whether a connection has a request in progress (for the connection cap). */
  busy(s: Socket): boolean {
    const c = this.conns.get(s);
    if (c && !c.gone) return c.busy;
    return (s as Socket & { _httpMessage?: unknown })._httpMessage != null;
  }

  private data(c: Conn, b: Buffer) {
    if (c.gone) return;
    if (c.buf) {
      const old = c.buf;
      c.buf = Buffer.concat([old, b]);
      old.fill(0); // a password may be in either; the copy is the one kept
      b.fill(0);
    } else c.buf = b;
    if (!c.since) c.since = Date.now();
    if (c.busy && c.closing) {
      // bytes after a request that said Connection: close: node:http answers that with a
      // 400 and drops the answer still pending; so does the front
      c.seq++;
      c.busy = false;
      c.buf.fill(0);
      c.buf = null;
      this.clientError(c, 'HPE_CLOSED_CONNECTION', 'data after Connection: close');
      return;
    }
    this.pump(c);
  }

  /** Answer what the buffer holds, one request at a time; hand over from the first that is not ours. */
  private pump(c: Conn) {
    if (c.pumping) return;
    c.pumping = true;
    try {
      while (!c.gone && !c.busy && !c.waitDrain && c.buf) {
        const buf = c.buf;
        const r = this.next(buf);
        if (r === 'foreign') return this.handOver(c);
        if (r === 'head' || r === 'body') { c.headDone = r === 'body'; break; } // the rest is on its way
        c.buf = r.end === buf.length ? null : buf.subarray(r.end);
        c.since = c.buf ? Date.now() : 0;
        c.headDone = false;
        c.closing = r.head.close;
        c.busy = true;
        this.recognised++;
        const seq = ++c.seq;
        this.onRequest(c.s);
        r.head.handler(buf.subarray(r.bodyStart, r.end), (status, json, retryAfter) => this.answer(c, seq, status, json, retryAfter));
        // an answer to wait for: read nothing more meanwhile; after Connection: close keep
        // reading: more bytes are an error, as they are to node:http
        if (c.busy && !c.closing) c.s.pause();
      }
      if (c.s.isPaused() && !c.gone && !c.busy && !c.waitDrain) c.s.resume();
      if (c.ended && !c.gone && !c.busy && !c.waitDrain) this.ended(c); // after every answer the client waits for
    } finally {
      c.pumping = false;
    }
  }

  /**
   * The request at the start of the buffer: complete and recognised, or the valid
   * beginning of one ('head': its head is still arriving, 'body': its body), or not the
   * front's ('foreign').
   */
  private next(buf: Buffer): { head: Head; bodyStart: number; end: number } | 'head' | 'body' | 'foreign' {
    const he = buf.indexOf(CRLFCRLF);
    if (he < 0) return buf.length <= HEAD_MAX && this.validBeginning(buf.toString('latin1')) ? 'head' : 'foreign';
    const head = he <= HEAD_MAX ? this.parseHead(buf.toString('latin1', 0, he)) : null;
    if (!head) return 'foreign';
    const end = he + 4 + head.length;
    if (end > buf.length) return 'body';
    if (head.close && end < buf.length) return 'foreign'; // node:http refuses bytes after Connection: close
    return { head, bodyStart: he + 4, end };
  }

  private answer(c: Conn, seq: number, status: number, json: string, retryAfter: number | undefined) {
    if (seq !== c.seq || !c.busy) return; // answered already
    c.busy = false;
    c.last = Date.now();
    if (c.gone || c.s.destroyed) return;
    const close = c.closing || this.closing;
    const text = answerHead(status, Buffer.byteLength(json), retryAfter, close, this.limits.keepAliveMs) + json;
    if (close) {
      c.gone = true;
      c.buf = null;
      c.s.end(text);
      c.s.destroySoon(); // once written, as node:http does; a client that keeps its side open keeps nothing
      return;
    }
    if (!c.s.write(text)) { c.waitDrain = true; c.s.pause(); }
    this.pump(c);
  }

  /** The client ended its side: a request cut short is an error, as node:http makes it; otherwise end ours. */
  private ended(c: Conn) {
    c.gone = true;
    if (!c.buf) { c.s.end(); return; }
    c.buf.fill(0);
    c.buf = null;
    this.clientError(c, 'HPE_INVALID_EOF_STATE', 'the request was cut short');
  }

  private clientError(c: Conn, code: string, message: string) {
    c.gone = true;
    const err = Object.assign(new Error(message), { code });
    if (!this.http.emit('clientError', err, c.s)) c.s.destroy();
    else c.s.destroySoon(); // after the listener's answer is written
  }

  /**
   * Could these bytes (a head, not yet complete) begin a request the front recognises?
   * Every complete line must pass parseHead's rules and the last one must be a beginning
   * of such a line: then node:http, which accepts more than the front, has found nothing
   * wrong in them either, and a client that ends here gets the same answer from both.
   */
  private validBeginning(text: string): boolean {
    if (text.endsWith('\r')) text = text.slice(0, -1); // half of a line's end
    const lines = text.split('\r\n');
    const first = lines[0];
    if (lines.length === 1) return this.lines.some((l) => l.startsWith(first));
    if (!this.routes.has(first) || lines.length - 2 > MAX_HEADERS) return false;
    const st = { length: -1, connection: false };
    for (let i = 1; i < lines.length - 1; i++) if (!headerLine(lines[i], st)) return false;
    const last = lines[lines.length - 1];
    const colon = last.indexOf(':');
    if (colon < 0) return /^[A-Za-z-]*$/.test(last) && [...ALLOWED].some((n) => n.startsWith(last.toLowerCase()));
    const name = last.slice(0, colon).toLowerCase();
    const value = last.slice(colon + 1);
    if (!NAME.test(last.slice(0, colon)) || !ALLOWED.has(name) || !VALUE.test(value)) return false;
    if (name === 'content-length') return st.length < 0 && /^ *[0-9]{0,5}$/.test(value);
    if (name === 'connection') {
      const v = value.replace(/^ */, '').toLowerCase();
      return !st.connection && ('keep-alive'.startsWith(v) || 'close'.startsWith(v));
    }
    return true;
  }

  private parseHead(head: string): Head | null {
    const lines = head.split('\r\n');
    const handler = this.routes.get(lines[0]);
    if (!handler || lines.length - 1 > MAX_HEADERS) return null;
    const st = { length: -1, connection: false, close: false, host: false };
    for (let i = 1; i < lines.length; i++) if (!headerLine(lines[i], st)) return null;
    if (!st.host || st.length < 0 || st.length > this.limits.maxBody) return null; // node:http refuses a request without Host
    return { handler, length: st.length, close: st.close };
  }

  /** node:http takes the connection from here on, with the bytes not yet answered. */
  private handOver(c: Conn) {
    c.gone = true;
    this.handedOver++;
    const s = c.s;
    s.removeListener('data', c.onData);
    s.removeListener('end', c.onEnd);
    s.removeListener('drain', c.onDrain);
    s.removeListener('error', noop);
    this.conns.delete(s);
    const buf = c.buf;
    c.buf = null;
    if (c.ended) {
      // the client's end was read already (it came in the read that made an answer
      // pending): node:http is given the bytes and the end as its own listeners would
      // have heard them
      this.http.emit('connection', s);
      if (buf) s.emit('data', buf);
      s.emit('end');
      return;
    }
    if (buf) s.unshift(buf);
    if (s.isPaused()) s.resume();
    this.http.emit('connection', s);
  }

  /** The timeouts, once a second: a request too slow to arrive, a connection idle too long. */
  private check() {
    const now = Date.now();
    for (const c of this.conns.values()) {
      if (c.gone || c.busy || c.waitDrain) continue;
      if (c.since) {
        if (now - c.since > (c.headDone ? this.limits.requestTimeoutMs : this.limits.headersTimeoutMs)) {
          c.buf?.fill(0);
          c.buf = null;
          this.clientError(c, 'ERR_HTTP_REQUEST_TIMEOUT', 'request timeout');
        }
      } else if (now - c.last > this.limits.keepAliveMs) c.s.destroy();
    }
  }

  /** Stop taking connections; close idle ones; those awaiting an answer close after it. */
  close(): Promise<void> {
    this.closing = true;
    clearInterval(this.timer);
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const c of this.conns.values()) if (!c.busy) c.s.destroy();
      this.http.close(); // its connection checks stop; its idle connections close
    });
  }
}

/** One header line by the front's rules (the file's head comment), noting what it says in `st`. */
function headerLine(l: string, st: { length: number; connection: boolean; close?: boolean; host?: boolean }): boolean {
  const colon = l.indexOf(':');
  if (colon <= 0) return false;
  const rawName = l.slice(0, colon);
  if (!NAME.test(rawName)) return false;
  const name = rawName.toLowerCase();
  if (!ALLOWED.has(name)) return false;
  const rawValue = l.slice(colon + 1);
  if (!VALUE.test(rawValue)) return false;
  if (name === 'host') st.host = true;
  else if (name === 'content-length') {
    if (st.length >= 0 || !LENGTH.test(rawValue)) return false;
    st.length = Number(rawValue);
  } else if (name === 'connection') {
    if (st.connection || !CONNECTION.test(rawValue)) return false;
    st.connection = true;
    st.close = rawValue.trim().toLowerCase() === 'close';
  }
  return true;
}

function noop() { /* errors end in 'close' */ }
