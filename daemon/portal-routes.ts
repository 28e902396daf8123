// The account portal's routes on the query socket (docs/protocol.md, "Sessions"):
// POST /v1/sessions signs in; every other route here takes the session's token in
// `Authorization: Bearer TOKEN` and the browser's address in `X-Nasauth-Source`.
// The logic is daemon/portal.ts; this file parses, bounds and renders.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { STATUS } from './admin-socket';
import type { Decision } from './authority';
import { NasauthError } from './errors';
import { HttpError, only, readJson, send, str } from './http-util';
import { type Ctx, isRefusal, type Portal } from './portal';
import { REASONS } from './reasons';

export const PORTAL_PREFIXES = ['/v1/sessions', '/v1/session', '/v1/users', '/v1/password-policy'];

function decisionBody(d: Decision) {
  return {
    decision: d.reason === 'ok' ? 'allow' : 'deny', reason: d.reason, code: REASONS[d.reason].code, message: d.message,
    ...(d.retry_after !== undefined ? { retry_after: d.retry_after } : {}), ...(d.profile ? { user: d.profile } : {}), cached: d.cached ?? false,
  };
}

function sendDecision(res: ServerResponse, d: Decision, extra: Record<string, unknown> = {}) {
  const status = d.reason === 'busy' || d.reason === 'unavailable' ? 503 : 200;
  if (d.retry_after !== undefined) res.setHeader('retry-after', String(d.retry_after));
  send(res, status, { ...decisionBody(d), ...extra });
}

function sendRefusal(res: ServerResponse, status: number, reason: keyof typeof REASONS, message: string, extra: Record<string, unknown> = {}) {
  send(res, status, { error: { reason, code: REASONS[reason].code, message, ...extra } });
}

const bearer = (req: IncomingMessage): string => {
  const h = req.headers.authorization;
  const m = typeof h === 'string' ? /^Bearer ([A-Za-z0-9_-]{1,64})$/.exec(h) : null;
  return m ? m[1] : '';
};

const sourceOf = (req: IncomingMessage): string => {
  const h = req.headers['x-nasauth-source'];
  const v = typeof h === 'string' ? h : '';
  if (v.length > 128) throw new HttpError(400, 'bad_request', '"x-nasauth-source" is too long (at most 128 characters)');
  return v || 'query';
};

/** An optional integer field (rid) */
function optInt(b: Record<string, unknown>, key: string): number | undefined {
  const v = b[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new HttpError(400, 'bad_request', `"${key}" must be a non-negative integer`);
  return v;
}

function optPassword(b: Record<string, unknown>, key = 'password'): Buffer | null {
  if (b[key] === undefined || b[key] === null || b[key] === '') return null;
  return Buffer.from(str(b, key), 'utf8');
}

/** Handle a portal route; false when the URL is not one (the query socket answers 404). */
export async function portalRoute(portal: Portal, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const raw = (req.url ?? '/').split('?');
  const url = raw[0];
  if (!PORTAL_PREFIXES.some((p) => url === p || url.startsWith(`${p}/`))) return false;
  try {
    await route(portal, req, res, url, new URLSearchParams(raw[1] ?? ''));
  } catch (e) {
    if (!(e instanceof NasauthError)) throw e;
    const reason = e.code === 'NASAUTH_PASSWORD_POLICY' ? 'password_rejected' : 'bad_request';
    sendRefusal(res, STATUS[e.code] >= 500 && e.code === 'NASAUTH_STORE_IO' ? 503 : STATUS[e.code], e.code === 'NASAUTH_STORE_IO' ? 'unavailable' : reason, e.message, { type: e.code, ...(e.field ? { field: e.field } : {}) });
  }
  return true;
}

async function route(portal: Portal, req: IncomingMessage, res: ServerResponse, url: string, q: URLSearchParams) {
  const m = req.method ?? 'GET';
  const source = sourceOf(req);
  const methodNotAllowed = () => { throw new HttpError(405, 'bad_request', `${m} is not allowed on ${url}`); };

  if (url === '/v1/password-policy') {
    if (m !== 'GET') methodNotAllowed();
    return send(res, 200, portal.passwordPolicy());
  }

  if (url === '/v1/sessions') {
    if (m !== 'POST') methodNotAllowed();
    const b = await readJson(req);
    only(b, ['user', 'password', 'source']);
    const pw = Buffer.from(str(b, 'password'), 'utf8');
    try {
      const r = await portal.signIn(str(b, 'user', { max: 256 }), pw, str(b, 'source', { optional: true, max: 128 }) || source);
      return sendDecision(res, r.decision, r.session ? { session: r.session } : {});
    } finally { pw.fill(0); }
  }

  const parts = url.split('/').filter(Boolean); // v1 session ... | v1 users NAME sub
  const admin = parts[1] === 'users';
  const token = bearer(req);
  if (!token) return sendRefusal(res, 401, 'bad_credentials', 'this route needs a session: "Authorization: Bearer TOKEN" from POST /v1/sessions');
  const c = portal.resolve(token, source, { admin });
  if (isRefusal(c)) return sendRefusal(res, c.status, c.reason, c.message);

  if (!admin) return selfRoute(portal, c, req, res, m, parts.slice(2), methodNotAllowed);

  const [, , rawName, sub, extra] = parts;
  if (extra !== undefined) throw new HttpError(404, 'bad_request', `no such route: ${url}`);
  let name: string | undefined;
  try { name = rawName === undefined ? undefined : decodeURIComponent(rawName); } catch { throw new HttpError(400, 'bad_request', 'the account name in the path is not valid percent-encoding'); }
  if (name !== undefined && name.length > 64) throw new HttpError(400, 'bad_request', 'the account name in the path is too long');
  if (name === undefined) {
    if (m === 'GET') return send(res, 200, { users: portal.users(), services: portal.serviceNames() });
    if (m === 'POST') {
      const b = await readJson(req);
      only(b, ['name', 'password', 'role', 'email', 'full_name', 'services', 'enabled', 'must_change_password']);
      const pw = optPassword(b);
      try {
        const { password: _p, ...input } = b;
        return send(res, 201, await portal.addUser(c, input as never, pw));
      } finally { pw?.fill(0); }
    }
    return methodNotAllowed();
  }
  if (sub === undefined) {
    if (m === 'GET') {
      return send(res, 200, { user: portal.user(name) });
    }
    if (m === 'PATCH') {
      const b = await readJson(req);
      only(b, ['email', 'full_name', 'role', 'services', 'enabled', 'rid']);
      const { rid: _r, ...patch } = b;
      if (!Object.keys(patch).length) throw new HttpError(400, 'bad_request', 'nothing to change (give email, full_name, role, services or enabled)');
      return send(res, 200, await portal.setUser(c, name, patch, optInt(b, 'rid')));
    }
    if (m === 'DELETE') return send(res, 200, await portal.delUser(c, name, q.has('rid') ? ridParam(q.get('rid')!) : undefined));
    return methodNotAllowed();
  }
  if (sub === 'password' && m === 'POST') {
    const b = await readJson(req);
    only(b, ['password', 'rid']);
    const pw = optPassword(b);
    try {
      const r = await portal.resetPassword(c, name, pw, optInt(b, 'rid'));
      if ('decision' in r && r.decision) return sendDecision(res, r.decision);
      return send(res, 200, r);
    } finally { pw?.fill(0); }
  }
  if (sub === 'unlock' && m === 'POST') return send(res, 200, await portal.unlock(c, name));
  if (sub === 'doctor' && m === 'GET') {
    const service = q.get('service');
    if (service !== null && service.length > 64) throw new HttpError(400, 'bad_request', '"service" is too long');
    return send(res, 200, await portal.doctor(name, service || null));
  }
  if (['password', 'unlock', 'doctor'].includes(sub)) return methodNotAllowed();
  throw new HttpError(404, 'bad_request', `no such route: ${url}`);
}

function ridParam(v: string): number {
  if (!/^\d{1,10}$/.test(v)) throw new HttpError(400, 'bad_request', '"rid" must be a non-negative integer');
  return Number(v);
}

async function selfRoute(portal: Portal, c: Ctx, req: IncomingMessage, res: ServerResponse, m: string, rest: string[], methodNotAllowed: () => never) {
  const path = rest.join('/');
  if (path === '') {
    if (m === 'GET') return send(res, 200, portal.me(c));
    if (m === 'DELETE') return send(res, 200, { ended: portal.signOut(c, false) });
    return methodNotAllowed();
  }
  if (path === 'all') {
    if (m === 'DELETE') return send(res, 200, { ended: portal.signOut(c, true) });
    return methodNotAllowed();
  }
  if (path === 'profile') {
    if (m !== 'PATCH') return methodNotAllowed();
    const b = await readJson(req);
    only(b, ['email', 'full_name']);
    if (!Object.keys(b).length) throw new HttpError(400, 'bad_request', 'nothing to change (give email or full_name)');
    return send(res, 200, { user: await portal.setOwnProfile(c, b as never) });
  }
  if (path === 'password') {
    if (m !== 'POST') return methodNotAllowed();
    const b = await readJson(req);
    only(b, ['old_password', 'new_password']);
    const oldPw = Buffer.from(str(b, 'old_password'), 'utf8');
    const newPw = Buffer.from(str(b, 'new_password'), 'utf8');
    try {
      return sendDecision(res, await portal.changeOwnPassword(c, oldPw, newPw));
    } finally { oldPw.fill(0); newPw.fill(0); }
  }
  throw new HttpError(404, 'bad_request', `no such route: /v1/session/${path}`);
}
