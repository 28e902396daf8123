// The query socket: HTTP/1.1 + JSON over a Unix socket, for the dashboard and scripts.
// Every route is documented in docs/protocol.md ("Query socket").
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Authority, Decision, Profile } from './authority';
import type { SocketConfig } from './config';
import { HEADERS_TIMEOUT_MS, HttpError, KEEPALIVE_TIMEOUT_MS, MAX_BODY, REQUEST_TIMEOUT_MS, SERVER_OPTIONS, capConnections, errorJson, hardenServer, listenUnix, only, parseJsonObject, readJson, readJsonThen, send, sendError, sendJsonText, str } from './http-util';
import { FastFront, type FastReply } from './http-fast';
import { jsonString } from './json-text';
import { metricsText } from './metrics';
import { Portal } from './portal';
import { portalRoute } from './portal-routes';
import { REASONS, type Reason } from './reasons';

export const PROTOCOL_VERSION = 1;
/**
 * Connections at most: each can hold a delayed refusal. At the cap the connection idle
 * longest is closed for a new one (capConnections), so one client holding keep-alive
 * connections cannot lock the others out.
 */
export const QUERY_MAX_CONNECTIONS = 256;

export function decisionBody(d: Decision) {
  return {
    decision: d.reason === 'ok' ? 'allow' : 'deny',
    reason: d.reason,
    code: REASONS[d.reason].code,
    message: d.message,
    ...(d.retry_after !== undefined ? { retry_after: d.retry_after } : {}),
    ...(d.profile ? { user: d.profile } : {}),
    cached: d.cached ?? false,
  };
}

/** The JSON text of each profile, made once (profiles are frozen and memoised: authority.ts profileOf). */
const profileJson = new WeakMap<Profile, string>();

/**
 * JSON.stringify(decisionBody(d)), the same text, with the profile's part made once per
 * profile: serialising the profile on every cache hit was a tenth of the hit's
 * instructions (docs/performance.md). test/perf-units.test.ts checks the two agree.
 */
export function decisionJson(d: Decision): string {
  let user = '';
  if (d.profile) {
    let j = profileJson.get(d.profile);
    if (j === undefined) {
      j = JSON.stringify(d.profile);
      if (Object.isFrozen(d.profile)) profileJson.set(d.profile, j);
    }
    user = `,"user":${j}`;
  }
  const retry = d.retry_after !== undefined ? `,"retry_after":${JSON.stringify(d.retry_after)}` : '';
  return `{"decision":${d.reason === 'ok' ? '"allow"' : '"deny"'},"reason":${jsonString(d.reason)},"code":${REASONS[d.reason].code},"message":${jsonString(d.message)}${retry}${user},"cached":${d.cached ?? false}}`;
}

/** Who is asking, as the caller names it (for the audit line); 'query' when it does not. */
function sourceOf(b: Record<string, unknown>): string {
  return str(b, 'source', { optional: true, max: 128 }) || 'query';
}

const statusOf = (d: Decision) => (d.reason === 'busy' || d.reason === 'unavailable' ? 503 : 200);

function sendDecision(res: ServerResponse, d: Decision) {
  if (d.retry_after !== undefined) res.setHeader('retry-after', String(d.retry_after));
  sendJsonText(res, statusOf(d), decisionJson(d));
}

/**
 * Whether the query socket answers POST /v1/authenticate through its front
 * (daemon/http-fast.ts). NASAUTH_QUERY_FRONT=0 leaves every request to node:http: for
 * comparing the two (test/query-front.test.ts, docs/performance.md), not for production.
 */
export function queryFrontOn(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.NASAUTH_QUERY_FRONT !== '0';
}

export class QuerySocket {
  private server: Server;
  /** the query socket's front, which listens and answers the commonest request itself (null: node:http listens) */
  private front: FastFront | null = null;
  private started = Date.now();
  /** sessions and the users table of the account portal (daemon/portal.ts) */
  readonly portal: Portal;
  constructor(private auth: Authority, private version: string, front = queryFrontOn()) {
    this.portal = new Portal(auth);
    this.server = createServer(SERVER_OPTIONS, (req, res) => {
      // the commonest request first, without the router's promise (see authenticate)
      if (req.url === '/v1/authenticate' && req.method === 'POST') this.authenticate(req, res);
      else this.handle(req, res).catch((e) => this.fail(res, e));
    });
    hardenServer(this.server);
    const onFull = (what: 'evicted' | 'refused', open: number) => this.noteFull(what, open);
    if (front) {
      const f = new FastFront(this.server, new Map([['POST /v1/authenticate HTTP/1.1', (body: Buffer, reply: FastReply) => this.fastAuthenticate(body, reply)]]), {
        maxBody: MAX_BODY, headersTimeoutMs: HEADERS_TIMEOUT_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS, keepAliveMs: KEEPALIVE_TIMEOUT_MS,
      });
      // the cap first: a connection it refuses never reaches the front
      f.onRequest = capConnections(f.server, QUERY_MAX_CONNECTIONS, onFull, { busy: (sock) => f.busy(sock), requests: this.server });
      f.server.on('connection', (sock) => f.accept(sock));
      this.front = f;
    } else capConnections(this.server, QUERY_MAX_CONNECTIONS, onFull);
  }

  private full = { evicted: 0, refused: 0, since: 0 };
  /** One warning a minute while the socket is full (a flood must not flood the log). */
  private noteFull(what: 'evicted' | 'refused', open: number) {
    this.full[what]++;
    const now = Date.now();
    if (now - this.full.since < 60_000) return;
    this.auth.log.warn({ socket: 'query', connections: open, evicted_idle: this.full.evicted, refused: this.full.refused },
      `query socket full (${QUERY_MAX_CONNECTIONS} connections): idle keep-alive connections closed to make room, or new ones refused`);
    this.full = { evicted: 0, refused: 0, since: now };
  }

  /** What answers an error: its status, reason and message (an unexpected one is logged and answered 500). */
  private errorAnswer(e: unknown): [number, Reason, string] {
    if (e instanceof HttpError) return [e.status, e.reason, e.message];
    this.auth.log.error({ err: (e as Error).message }, 'query socket: internal error');
    return [500, 'internal_error', 'internal error; see the daemon log'];
  }

  private fail(res: ServerResponse, e: unknown) {
    sendError(res, ...this.errorAnswer(e));
  }

  /** fail() for an answer through the front. */
  private failFast(reply: FastReply, e: unknown) {
    const [status, reason, message] = this.errorAnswer(e);
    reply(status, errorJson(reason, message));
  }

  /**
   * POST /v1/authenticate. A cache hit is decided synchronously (authenticateNow), so it is
   * answered in the turn its body arrived, with no promise between request and answer:
   * the daemon's CPU per request at 8 connections went from 36.8 to 29.2 µs (A/B,
   * docs/performance.md figure 1). The same checks, errors and answers as every route.
   */
  private authenticate(req: IncomingMessage, res: ServerResponse) {
    readJsonThen(req, MAX_BODY, (err, b) => {
      if (err) return this.fail(res, err);
      this.decideAuthenticate(b!, (d) => sendDecision(res, d), (e) => this.fail(res, e));
    });
  }

  /** authenticate() for a request the front read (daemon/http-fast.ts): the same checks and answers. */
  private fastAuthenticate(body: Buffer, reply: FastReply) {
    let b: Record<string, unknown>;
    try { b = parseJsonObject(body); } catch (e) { return this.failFast(reply, e); }
    this.decideAuthenticate(b, (d) => reply(statusOf(d), decisionJson(d), d.retry_after), (e) => this.failFast(reply, e));
  }

  private decideAuthenticate(b: Record<string, unknown>, answer: (d: Decision) => void, fail: (e: unknown) => void) {
    let pw: Buffer | null = null;
    try {
      only(b, ['user', 'password', 'service', 'source']);
      pw = Buffer.from(str(b, 'password'), 'utf8');
      const d = this.auth.authenticateNow({ user: str(b, 'user', { max: 256 }), password: pw, service: str(b, 'service', { max: 64 }), source: sourceOf(b), channel: 'query' });
      if (d instanceof Promise) {
        const held = pw;
        pw = null; // zeroed once the slow path is done with it, as before
        d.then((x) => { held.fill(0); answer(x); }, (e) => { held.fill(0); fail(e); }).catch(fail);
      } else answer(d);
    } catch (e) {
      fail(e);
    } finally {
      pw?.fill(0);
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const url = (req.url ?? '/').split('?')[0];
    const route = `${req.method} ${url}`;
    switch (route) {
      case 'GET /v1/health':
        return send(res, 200, { status: 'ok', protocol: PROTOCOL_VERSION, version: this.version, accounts: this.auth.storeInfo().accounts, uptime_seconds: Math.round((Date.now() - this.started) / 1000) });
      case 'GET /v1/metrics': {
        const text = metricsText(this.auth, this.started, this.front);
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4', 'content-length': Buffer.byteLength(text) });
        return res.end(text);
      }
      case 'POST /v1/authenticate':
        return this.authenticate(req, res); // with a query string; without one it does not come here
      case 'POST /v1/authorize': {
        const b = await readJson(req);
        only(b, ['user', 'service', 'source']);
        return sendDecision(res, this.auth.authorize({ user: str(b, 'user', { max: 256 }), service: str(b, 'service', { max: 64 }), source: sourceOf(b), channel: 'query' }));
      }
      case 'POST /v1/profile': {
        const b = await readJson(req);
        only(b, ['user', 'password', 'source']);
        const pw = Buffer.from(str(b, 'password'), 'utf8');
        try {
          return sendDecision(res, await this.auth.profile({ user: str(b, 'user', { max: 256 }), password: pw, service: 'dashboard', source: sourceOf(b), channel: 'query' }));
        } finally { pw.fill(0); }
      }
      case 'POST /v1/password': {
        const b = await readJson(req);
        only(b, ['user', 'old_password', 'new_password', 'service', 'source']);
        const oldPw = Buffer.from(str(b, 'old_password'), 'utf8');
        const newPw = Buffer.from(str(b, 'new_password'), 'utf8');
        try {
          return sendDecision(res, await this.auth.changePassword({
            user: str(b, 'user', { max: 256 }), password: oldPw, newPassword: newPw,
            service: str(b, 'service', { optional: true, max: 64 }) || 'dashboard', source: sourceOf(b), channel: 'query',
          }));
        } finally { oldPw.fill(0); newPw.fill(0); }
      }
      default:
        if (await portalRoute(this.portal, req, res)) return;
        if (['/v1/health', '/v1/metrics', '/v1/authenticate', '/v1/authorize', '/v1/profile', '/v1/password'].includes(url)) {
          throw new HttpError(405, 'bad_request', `${req.method} is not allowed on ${url}`);
        }
        throw new HttpError(404, 'bad_request', `no such route: ${url} (see docs/protocol.md)`);
    }
  }

  listen(s: SocketConfig) { return listenUnix(this.front?.server ?? this.server, s); }
  close(): Promise<void> {
    if (this.front) return this.front.close();
    return new Promise((r) => { this.server.close(() => r()); this.server.closeIdleConnections(); });
  }
  get httpServer() { return this.server; }
}
