// Shared pieces of the two HTTP+JSON surfaces (query socket, admin socket): bounded
// bodies, strict UTF-8 JSON, and Unix sockets created with the narrowest permissions.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Server as NetServer, Socket } from 'node:net';
import type { EventEmitter } from 'node:events';
import { chmodSync, chownSync, mkdirSync, unlinkSync, lstatSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { execFileSync } from 'node:child_process';
import type { SocketConfig } from './config';
import { probeSocket } from './instance-lock';
import { REASONS, type Reason } from './reasons';

export const MAX_BODY = 16 * 1024; // a credential request is a few hundred bytes
// Named timeouts: a local client has its whole request ready; a slow one is a bug or an attack.
export const HEADERS_TIMEOUT_MS = 5_000;
export const REQUEST_TIMEOUT_MS = 10_000;
export const KEEPALIVE_TIMEOUT_MS = 30_000; // dashboards keep one connection open

/** Options for createServer: the timeouts are enforced by a check every second. */
export const SERVER_OPTIONS = {
  headersTimeout: HEADERS_TIMEOUT_MS,
  requestTimeout: REQUEST_TIMEOUT_MS,
  keepAliveTimeout: KEEPALIVE_TIMEOUT_MS,
  connectionsCheckingInterval: 1000,
  maxHeaderSize: 8192,
} as const;

export class HttpError extends Error {
  constructor(readonly status: number, readonly reason: Reason, message: string) { super(message); }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The Content-Length a request declares (0 if none), read from rawHeaders: the first
 * use of req.headers builds an object of every header, a cost node:http's own floor
 * does not pay (docs/performance.md). Duplicates were already refused by node:http.
 */
export function declaredLength(req: IncomingMessage): number {
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i];
    if (k.length === 14 && k.toLowerCase() === 'content-length') return Number(raw[i + 1]);
  }
  return 0;
}

export function readJson(req: IncomingMessage, limit = MAX_BODY): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => readJsonThen(req, limit, (e, body) => (e ? reject(e) : resolve(body!))));
}

/**
 * readJson without a promise: `done` hears once, with the body or the error, in the turn
 * the request's last bytes arrived (the query socket's cache hits are answered in that
 * turn, as node:http's own floor answers; docs/performance.md, figure 1).
 */
export function readJsonThen(req: IncomingMessage, limit: number, done: (e: Error | null, body?: Record<string, unknown>) => void): void {
  // Any content type is read as JSON (curl -d sends a form type; nothing else is accepted anyway).
  const declared = declaredLength(req);
  if (declared > limit) { done(new HttpError(413, 'bad_request', `the body is larger than ${limit} bytes`)); req.resume(); return; }
  const chunks: Buffer[] = [];
  let size = 0;
  let failed = false;
  req.on('data', (c: Buffer) => {
    if (failed) return;
    size += c.length;
    if (size > limit) { failed = true; chunks.length = 0; done(new HttpError(413, 'bad_request', `the body is larger than ${limit} bytes`)); return; }
    chunks.push(c);
  });
  req.on('error', (e) => { if (!failed) { failed = true; done(e); } });
  req.on('end', () => {
    if (failed) return;
    let body: Record<string, unknown>;
    try { body = parseJsonObject(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)); } catch (e) { return done(e as Error); }
    done(null, body);
  });
}

/** A request body as a JSON object, or an HttpError saying why not; the bytes are zeroed either way. */
export function parseJsonObject(buf: Buffer): Record<string, unknown> {
  let text: string;
  try { text = utf8.decode(buf); } catch { buf.fill(0); throw new HttpError(400, 'bad_request', 'the body is not valid UTF-8'); }
  buf.fill(0);
  let v: unknown;
  try { v = JSON.parse(text); } catch { throw new HttpError(400, 'bad_request', 'the body is not valid JSON'); }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new HttpError(400, 'bad_request', 'the body must be a JSON object');
  return v as Record<string, unknown>;
}

/** The JSON text of an error answer (sendError's body). */
export function errorJson(reason: Reason, message: string): string {
  return JSON.stringify({ error: { reason, code: REASONS[reason].code, message } });
}

export function str(body: Record<string, unknown>, key: string, opts: { optional?: boolean; max?: number } = {}): string {
  const v = body[key];
  if (v === undefined && opts.optional) return '';
  if (typeof v !== 'string') throw new HttpError(400, 'bad_request', `"${key}" must be a string`);
  if (v.length > (opts.max ?? 1024)) throw new HttpError(400, 'bad_request', `"${key}" is too long (at most ${opts.max ?? 1024} characters)`);
  return v;
}

export function only(body: Record<string, unknown>, keys: string[]) {
  for (const k of Object.keys(body)) if (!keys.includes(k)) throw new HttpError(400, 'bad_request', `unknown field "${k}" (expected: ${keys.join(', ')})`);
}

export function send(res: ServerResponse, status: number, body: unknown) {
  sendJsonText(res, status, JSON.stringify(body));
}

/** send() for a body that is already JSON text. */
export function sendJsonText(res: ServerResponse, status: number, text: string) {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

export function sendError(res: ServerResponse, status: number, reason: Reason, message: string) {
  if (res.headersSent) { res.destroy(); return; }
  sendJsonText(res, status, errorJson(reason, message));
}

/**
 * At most `max` connections, and a client holding idle keep-alive connections cannot
 * lock others out: at the cap a new connection closes the idle one (no request in
 * progress) whose last request came longest ago; only when every connection has a
 * request in progress is the new one closed at once. (server.maxConnections would drop
 * the new one whatever the others do.)
 */
export function capConnections(server: NetServer, max: number, onFull: (what: 'evicted' | 'refused', open: number) => void = () => {},
  o: { busy?: (s: Socket) => boolean; requests?: EventEmitter } = {}): (s: Socket) => void {
  // per connection: when its latest request came. Whether a request is in progress is
  // read only when the cap is reached: for node:http, from its own bookkeeping, the
  // response it is writing on that socket (`_httpMessage`, set when a response is given
  // the socket and cleared when it has finished; node:http's API since its first
  // versions, and test/http-cap.test.ts fails if that ever changes); for the query
  // socket's front (daemon/http-fast.ts), from the front (`o.busy`). So a request costs
  // one store, not a listener and a closure per response (docs/performance.md, figure
  // 1); holding the response itself until the next request would keep it alive past a
  // collection.
  const conns = new Map<Socket, { last: number }>();
  const busy = o.busy ?? ((s: Socket) => (s as Socket & { _httpMessage?: unknown })._httpMessage != null);
  server.on('connection', (s: Socket) => {
    if (conns.size >= max) {
      let victim: Socket | null = null;
      let oldest = Infinity;
      for (const [c, st] of conns) if (!busy(c) && st.last < oldest) { oldest = st.last; victim = c; }
      if (!victim) { onFull('refused', conns.size); s.destroy(); return; }
      onFull('evicted', conns.size);
      conns.delete(victim);
      victim.destroy();
    }
    conns.set(s, { last: Date.now() });
    s.on('close', () => conns.delete(s));
  });
  const touch = (s: Socket) => {
    const st = conns.get(s);
    if (st) st.last = Date.now();
  };
  (o.requests ?? server).on('request', (req: IncomingMessage) => touch(req.socket));
  return touch;
}

export function hardenServer(server: Server) {
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.keepAliveTimeout = KEEPALIVE_TIMEOUT_MS;
  server.maxHeadersCount = 32;
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (socket.writable && err.code !== 'ECONNRESET') {
      const why = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
      const body = JSON.stringify({ error: { reason: 'bad_request', code: REASONS.bad_request.code, message: `malformed HTTP request (${err.code ?? 'error'})` } });
      socket.end(`HTTP/1.1 ${why} Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    } else socket.destroy();
  });
}

export function resolveGid(group: string | number | null): number | null {
  if (group === null) return null;
  if (typeof group === 'number') return group;
  // /etc/group first: busybox firmware often has no getent; then NSS for other sources
  try {
    for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[0] === group && /^\d+$/.test(f[2] ?? '')) return Number(f[2]);
    }
  } catch { /* no /etc/group */ }
  try {
    const out = execFileSync('getent', ['group', group], { encoding: 'utf8' });
    return Number(out.split(':')[2]);
  } catch {
    throw new Error(`group "${group}" does not exist (sockets.*.group)`);
  }
}

function isSocket(path: string): boolean {
  try { return lstatSync(path).isSocket(); } catch { return false; }
}

/** Remove a stale socket file (never anything else) and make its folder. */
export function prepareSocketPath(path: string) {
  if (mkdirSync(dirname(path), { recursive: true, mode: 0o755 })) chmodSync(dirname(path), 0o755); // whatever the umask
  try {
    const st = lstatSync(path);
    if (!st.isSocket()) throw new Error(`${path} exists and is not a socket; refusing to remove it`);
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/**
 * Listen on a Unix socket so that it is never, even for an instant, more open than
 * configured: the umask closes it while it is created, then mode and group are set.
 */
export async function listenUnix(server: { listen(path: string, cb: () => void): unknown; once(ev: 'error', cb: (e: Error) => void): unknown }, s: SocketConfig): Promise<void> {
  // a socket file is removed only when nothing answers on it (a killed daemon's);
  // one that answers belongs to a live process, another nasauthd most likely
  if (isSocket(s.path) && (await probeSocket(s.path)).answers) {
    throw new Error(`${s.path} is answered by another process (another nasauthd with other state?); refusing to remove it`);
  }
  prepareSocketPath(s.path);
  const gid = resolveGid(s.group);
  return new Promise((resolve, reject) => {
    const old = process.umask(0o177);
    server.once('error', (e) => { process.umask(old); reject(e); });
    server.listen(s.path, () => {
      process.umask(old);
      try {
        if (gid !== null) chownSync(s.path, -1, gid);
        chmodSync(s.path, s.mode);
        resolve();
      } catch (e) { reject(e); }
    });
  });
}
