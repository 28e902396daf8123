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
// time and in order, reading paused while an answer waits and more than a request's
// worth of bytes is buffered, or while the client does not read its answers. A timeout
// or a request cut short by the client's end goes to the node:http server's
// 'clientError' listeners (daemon/http-util.ts hardenServer), as node:http's own do.
import { STATUS_CODES, type Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';

/** Answer the request: a status and a JSON body (one call per request; later calls are ignored). */
export type FastReply = (status: number, json: string, retryAfter?: number) => void;
/** A route's handler: the body's bytes (the caller may zero them) and the reply. */
export type FastHandler = (body: Buffer, reply: FastReply) => void;

export const HEAD_MAX = 4096;
export const MAX_HEADERS = 32;
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
  onData: (b: Buffer) => void = () => undefined;
  onEnd: () => void = () => undefined;
  onDrain: () => void = () => undefined;
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
export function answerHead(status: number, length: number, retryAfter: number | undefined, close: boolean, keepAliveMs: number): string {
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
    if ((c.busy || c.waitDrain) && c.buf.length > HEAD_MAX + this.limits.maxBody) c.s.pause();
    this.pump(c);
  }

  /** Answer what the buffer holds, one request at a time; hand over what is not ours. */
  private pump(c: Conn) {
    if (c.pumping) return;
    c.pumping = true;
    try {
      while (!c.gone && !c.busy && !c.waitDrain) {
        const buf = c.buf;
        if (!buf) break;
        const he = buf.indexOf(CRLFCRLF);
        if (he < 0) {
          if (buf.length > HEAD_MAX || !this.couldBe(buf)) return this.handOver(c);
          break; // the rest of the head is on its way
        }
        const head = he <= HEAD_MAX ? this.parseHead(buf.toString('latin1', 0, he)) : null;
        if (!head) return this.handOver(c);
        const end = he + 4 + head.length;
        if (buf.length < end) { c.headDone = true; break; } // the rest of the body is on its way
        const body = buf.subarray(he + 4, end);
        c.buf = end === buf.length ? null : buf.subarray(end);
        c.since = c.buf ? Date.now() : 0;
        c.headDone = false;
        c.closing = head.close;
        c.busy = true;
        this.recognised++;
        const seq = ++c.seq;
        this.onRequest(c.s);
        head.handler(body, (status, json, retryAfter) => this.answer(c, seq, status, json, retryAfter));
      }
      if (c.s.isPaused() && !c.gone && !c.busy && !c.waitDrain) c.s.resume();
      if (c.ended && !c.gone && !c.busy && !c.waitDrain) this.ended(c); // after every answer the client waits for
    } finally {
      c.pumping = false;
    }
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
    if (!c.s.write(text)) c.waitDrain = true;
    this.pump(c);
  }

  /** The client ended its side: a request cut short is an error, as node:http makes it; otherwise end ours. */
  private ended(c: Conn) {
    c.gone = true;
    if (c.buf) {
      c.buf.fill(0);
      c.buf = null;
      this.clientError(c, 'HPE_INVALID_EOF_STATE', 'the request was cut short');
    } else c.s.end();
  }

  private clientError(c: Conn, code: string, message: string) {
    c.gone = true;
    const err = Object.assign(new Error(message), { code });
    if (!this.http.emit('clientError', err, c.s)) c.s.destroy();
    else c.s.destroySoon(); // after the listener's answer is written
  }

  /** Could the bytes so far begin a recognised request? (Only a head still arriving asks.) */
  private couldBe(buf: Buffer): boolean {
    for (const line of this.lines) {
      const n = Math.min(buf.length, line.length);
      if (buf.toString('latin1', 0, n) === line.slice(0, n)) {
        // a line feed without its carriage return is node:http's to judge
        for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) if (i === 0 || buf[i - 1] !== 13) return false;
        return true;
      }
    }
    return false;
  }

  private parseHead(head: string): Head | null {
    const lines = head.split('\r\n');
    const handler = this.routes.get(lines[0]);
    if (!handler || lines.length - 1 > MAX_HEADERS) return null;
    let length = -1;
    let close = false;
    let connection = false;
    let host = false;
    for (let i = 1; i < lines.length; i++) {
      const l = lines[i];
      const colon = l.indexOf(':');
      if (colon <= 0) return null;
      const rawName = l.slice(0, colon);
      if (!NAME.test(rawName)) return null;
      const name = rawName.toLowerCase();
      if (!ALLOWED.has(name)) return null;
      const rawValue = l.slice(colon + 1);
      if (!VALUE.test(rawValue)) return null;
      if (name === 'host') host = true;
      else if (name === 'content-length') {
        if (length >= 0 || !LENGTH.test(rawValue)) return null;
        length = Number(rawValue);
      } else if (name === 'connection') {
        if (connection || !CONNECTION.test(rawValue)) return null;
        connection = true;
        close = rawValue.trim().toLowerCase() === 'close';
      }
    }
    if (!host || length < 0 || length > this.limits.maxBody) return null; // node:http refuses a request without Host
    return { handler, length, close };
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
    if (c.buf) { s.unshift(c.buf); c.buf = null; }
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

function noop() { /* errors end in 'close' */ }
