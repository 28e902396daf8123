// nasauth-web: the account portal. Server-rendered HTML forms (no script needed),
// every decision asked of nasauthd over the query socket; this process holds no
// account data, no password beyond the request that carries it, and no session
// beyond the browser's cookie (nasauthd keeps the session; docs/protocol.md).
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import cookie from '@fastify/cookie';
import csrf from '@fastify/csrf-protection';
import formbody from '@fastify/formbody';
import helmet from '@fastify/helmet';
import { Eta } from 'eta';
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import assets from 'nasauth-web-assets';
import views from 'nasauth-web-views';
import { policyProblem, sessionEnded, serviceLabel, signInRefusal, waitText } from './messages';
import { QueryClient, QueryUnavailable, type QueryReply } from './query';

export interface WebOptions {
  querySocket: string;
  /** HTTPS (Secure cookies, HSTS) when true */
  secure: boolean;
  tls?: { key: Buffer; cert: Buffer };
  site: string;
  version: string;
  log: Logger;
}

// Bounds: a form is a few hundred bytes; a slow client is a bug or an attack.
export const BODY_LIMIT = 16 * 1024;
export const REQUEST_TIMEOUT_MS = 15_000;
export const KEEPALIVE_TIMEOUT_MS = 30_000;
export const MAX_CONNECTIONS = 256;
/** How long the page reuses nasauthd's password rules (they change only with its config). */
export const POLICY_TTL_MS = 30_000;

const ASSET_VERSION = createHash('sha256').update(assets.css).update(assets.js).digest('hex').slice(0, 12);

type Body = Record<string, unknown>;
class BadForm extends Error {}

function field(body: unknown, name: string, max = 256): string {
  const v = (body as Body | undefined)?.[name];
  if (v === undefined) return '';
  if (typeof v !== 'string') throw new BadForm(`the form field "${name}" was sent more than once`);
  if (v.length > max) throw new BadForm(`the form field "${name}" is too long`);
  return v;
}
function list(body: unknown, name: string): string[] {
  const v = (body as Body | undefined)?.[name];
  if (v === undefined) return [];
  const a = Array.isArray(v) ? v : [v];
  if (a.length > 64 || a.some((x) => typeof x !== 'string' || x.length > 64)) throw new BadForm(`the form field "${name}" is not valid`);
  return a as string[];
}

/** The browser's address: the TCP peer (no proxy headers are trusted). */
export const sourceOf = (req: FastifyRequest) => (req.ip ?? '').replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '') || 'web';

const VERIFIER_TEXT = (u: { verifier: string; nt_hash: boolean }) => {
  let text: string; let cls = '';
  if (u.verifier === 'scrypt') text = 'set';
  else if (u.verifier.startsWith('legacy:')) { text = `imported (${u.verifier.slice(7)}); upgraded at the next sign-in`; cls = 'legacy'; }
  else if (u.verifier === 'nt-only') { text = 'imported NT hash only; upgraded at the next sign-in'; cls = 'legacy'; }
  else { text = 'none set: nobody can sign in'; cls = 'none'; }
  if (!u.nt_hash && u.verifier !== 'none') { text += ' · no NT hash: SMB fails until a sign-in here'; cls = 'legacy'; }
  return { verifierText: text, verifierClass: cls };
};
const when = (iso: string | null | undefined) => (iso ? iso.replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, ' UTC') : '');
const refusalText = (r: { at: string; service: string; source: string; reason: string } | null) =>
  (r ? `${r.reason.replace(/_/g, ' ')} (${r.service}, from ${r.source}, ${when(r.at)})` : '');

const DONE: Record<string, string> = {
  saved: 'Saved.', profile: 'Your name and e-mail are saved.', password: 'Your password is changed. It works at once everywhere on this NAS.',
  unlocked: 'Unlocked.', deleted: 'The account was deleted.', signedout: 'You are signed out.', 'signedout-all': 'You are signed out on every browser.',
};

export async function buildApp(o: WebOptions): Promise<{ app: FastifyInstance; query: QueryClient }> {
  const query = new QueryClient(o.querySocket);
  const eta = new Eta({ autoEscape: true, autoTrim: false, cache: true, useWith: false, varName: 'it' });
  for (const [name, text] of Object.entries(views)) eta.loadTemplate(`@${name}`, text);

  const app = Fastify({
    logger: false,
    bodyLimit: BODY_LIMIT,
    trustProxy: false,
    requestTimeout: REQUEST_TIMEOUT_MS,
    keepAliveTimeout: KEEPALIVE_TIMEOUT_MS,
    connectionTimeout: REQUEST_TIMEOUT_MS,
    routerOptions: { maxParamLength: 100 },
    return503OnClosing: true,
    ...(o.tls ? { https: { key: o.tls.key, cert: o.tls.cert, minVersion: 'TLSv1.2' as const } } : {}),
  });
  app.server.maxConnections = MAX_CONNECTIONS;
  app.server.headersTimeout = 10_000;

  const SESSION_COOKIE = o.secure ? '__Host-nasauth' : 'nasauth';
  const cookieOpts = { path: '/', httpOnly: true, sameSite: 'strict' as const, secure: o.secure };

  await app.register(cookie);
  await app.register(formbody, { bodyLimit: BODY_LIMIT });
  await app.register(csrf, {
    cookieKey: o.secure ? '__Host-nasauth-csrf' : 'nasauth-csrf',
    cookieOpts,
    getToken: (req) => field(req.body, '_csrf', 128),
  });
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        'default-src': ["'none'"], 'script-src': ["'self'"], 'style-src': ["'self'"], 'img-src': ["'self'"],
        'form-action': ["'self'"], 'frame-ancestors': ["'none'"], 'base-uri': ["'none'"],
        ...(o.secure ? { 'upgrade-insecure-requests': [] } : {}),
      },
    },
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: o.secure ? { maxAge: 31536000, includeSubDomains: false } : false,
    crossOriginEmbedderPolicy: false,
    frameguard: { action: 'deny' },
  });

  // One line per request: method, path, status, time, source. Never a header, a body or a query string.
  app.addHook('onResponse', async (req, reply) => {
    o.log.info({ method: req.method, path: req.url.split('?')[0].slice(0, 200), status: reply.statusCode, ms: Math.round(reply.elapsedTime), source: sourceOf(req) });
  });

  // A form from another site is refused before its token is even looked at: the
  // browser says where a request comes from (Sec-Fetch-Site), and an Origin header, when
  // it is not "null" (what Chromium sends under Referrer-Policy: no-referrer), must be ours.
  app.addHook('onRequest', async (req, reply) => {
    if (req.method === 'GET' || req.method === 'HEAD') return;
    const site = req.headers['sec-fetch-site'];
    const origin = req.headers.origin;
    const host = req.headers.host;
    const crossSite = (site !== undefined && site !== 'same-origin' && site !== 'none')
      || (typeof origin === 'string' && origin !== 'null' && origin !== `${o.secure ? 'https' : 'http'}://${host}`);
    if (crossSite) return refuseForm(req, reply);
  });

  const page = (reply: FastifyReply, status: number, view: string, data: Record<string, unknown>) => {
    const body = eta.render(`@${view}`, { site: o.site, version: o.version, asset: ASSET_VERSION, me: null, csrf: '', notice: null, ...data });
    return reply.code(status).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(body);
  };
  function refuseForm(_req: FastifyRequest, reply: FastifyReply) {
    return page(reply, 403, 'message', { title: 'Refused', heading: 'This form was refused', text: 'It was sent from another site, or it expired. Go back, reload the page and try again.', link: { href: '/', text: 'Back to the start' } });
  }

  app.setErrorHandler((err: Error & { code?: string; statusCode?: number }, req, reply) => {
    if (err.code?.startsWith('FST_CSRF')) return refuseForm(req, reply);
    if (err instanceof BadForm) return page(reply, 400, 'message', { title: 'Bad request', heading: 'The form could not be read', text: err.message, link: { href: '/', text: 'Back to the start' } });
    if (err instanceof QueryUnavailable) {
      o.log.error({ err: err.message }, 'nasauthd did not answer');
      return page(reply, 503, 'message', { title: 'Unavailable', heading: 'The NAS cannot check accounts right now', text: 'Its account service is not answering. Try again in a moment.' });
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      return page(reply, err.statusCode, 'message', { title: 'Bad request', heading: 'The request could not be read', text: err.statusCode === 413 ? 'It is too large.' : 'It is not a form this page sends.', link: { href: '/', text: 'Back to the start' } });
    }
    o.log.error({ err: err.message, path: req.url.split('?')[0].slice(0, 200) }, 'internal error');
    return page(reply, 500, 'message', { title: 'Error', heading: 'Something went wrong', text: 'The page could not be shown. The web server log (nasauth-web) says more.' });
  });
  app.setNotFoundHandler((_req, reply) => page(reply, 404, 'message', { title: 'Not found', heading: 'No such page', text: 'This address is not a page of this NAS.', link: { href: '/', text: 'Back to the start' } }));

  // ---- static: one stylesheet, one script, cached for good under a content hash --------
  for (const [path, text, type] of [['/static/app.css', assets.css, 'text/css; charset=utf-8'], ['/static/app.js', assets.js, 'text/javascript; charset=utf-8']] as const) {
    app.get(path, async (req, reply) => {
      const fresh = (req.query as Record<string, string>).v === ASSET_VERSION;
      return reply.header('cache-control', fresh ? 'public, max-age=31536000, immutable' : 'no-cache').type(type).send(text);
    });
  }

  // ---- sessions ---------------------------------------------------------------------
  const tokenOf = (req: FastifyRequest) => {
    const t = req.cookies[SESSION_COOKIE];
    return t && /^[A-Za-z0-9_-]{43}$/.test(t) ? t : '';
  };
  const setSession = (reply: FastifyReply, token: string) => reply.setCookie(SESSION_COOKIE, token, cookieOpts);
  const clearSession = (reply: FastifyReply) => reply.clearCookie(SESSION_COOKIE, cookieOpts);
  const ask = (req: FastifyRequest, method: string, path: string, body?: unknown): Promise<QueryReply> =>
    query.call(method, path, { body, token: tokenOf(req), source: sourceOf(req) });

  interface Me { name: string; role: string; user: Record<string, any>; access: Record<string, boolean>; session: Record<string, any> } // eslint-disable-line @typescript-eslint/no-explicit-any
  /** The signed-in person, or null after the reply was sent (sign-in page, or the refusal). */
  async function me(req: FastifyRequest, reply: FastifyReply): Promise<Me | null> {
    if (!tokenOf(req)) { reply.redirect('/signin', 303); return null; }
    const r = await ask(req, 'GET', '/v1/session');
    if (r.status === 200) return { name: r.body.user.name, role: r.body.role, user: r.body.user, access: r.body.access, session: r.body.session };
    await ended(req, reply, r);
    return null;
  }
  async function ended(req: FastifyRequest, reply: FastifyReply, r: QueryReply) {
    if (r.status === 403) {
      // signed in, but not an administrator: the session goes on
      return page(reply, 403, 'message', { title: 'Administrators only', heading: 'Administrators only', text: 'Only an administrator of this NAS may see this page.', link: { href: '/account', text: 'My account' } });
    }
    clearSession(reply);
    const reason = r.body?.error?.reason ?? '';
    return page(reply, 401, 'signin', { title: 'Sign in', csrf: reply.generateCsrf(), error: sessionEnded(reason) });
  }
  // the password rules change only with nasauthd's config: asked at most every POLICY_TTL_MS
  let policy: { at: number; body: Record<string, any> } | null = null; // eslint-disable-line @typescript-eslint/no-explicit-any
  const policyRules = async (): Promise<string> => {
    if (!policy || Date.now() - policy.at > POLICY_TTL_MS) {
      const r = await query.call('GET', '/v1/password-policy');
      if (r.status === 200) policy = { at: Date.now(), body: r.body };
    }
    const p = policy?.body ?? {};
    const parts = [`At least ${p.min_length ?? 8} characters`];
    if ((p.min_classes ?? 1) > 1) parts.push(`from at least ${p.min_classes} of: lower case, upper case, digits, other`);
    if (p.reject_username) parts.push('not containing the user name');
    return `${parts.join(', ')}.`;
  };
  const doneNotice = (req: FastifyRequest) => {
    const d = (req.query as Record<string, string>).done;
    return d && DONE[d] ? { kind: 'ok', text: DONE[d] } : null;
  };

  // ---- pages --------------------------------------------------------------------------
  app.get('/', async (req, reply) => reply.redirect(tokenOf(req) ? '/account' : '/signin', 303));

  app.get('/signin', async (req, reply) => page(reply, 200, 'signin', { title: 'Sign in', csrf: reply.generateCsrf(), notice: doneNotice(req) }));

  app.post('/signin', { preHandler: app.csrfProtection }, async (req, reply) => {
    const user = field(req.body, 'user', 256).trim();
    const password = field(req.body, 'password', 1024);
    if (!user || !password) return page(reply, 400, 'signin', { title: 'Sign in', csrf: reply.generateCsrf(), user, error: 'Enter your user name and password.' });
    const r = await query.call('POST', '/v1/sessions', { body: { user, password, source: sourceOf(req) } });
    return afterSignIn(req, reply, r, user);
  });

  function afterSignIn(req: FastifyRequest, reply: FastifyReply, r: QueryReply, typed: string) {
    const d = r.body ?? {};
    if (d.reason === 'ok' && d.session?.token) {
      setSession(reply, d.session.token);
      return reply.redirect(d.user?.role === 'admin' ? '/users' : '/account', 303);
    }
    if (d.reason === 'must_change_password') return changePage(reply, 200, d.user?.name ?? typed, {});
    if (d.error) throw new Error(`nasauthd refused the sign-in request: ${d.error.message}`);
    const status = d.reason === 'bad_credentials' ? 401 : d.reason === 'busy' || d.reason === 'unavailable' ? 503 : d.reason === 'rate_limited' || d.reason === 'locked_out' ? 429 : 403;
    if (d.retry_after) reply.header('retry-after', String(d.retry_after));
    return page(reply, status, 'signin', { title: 'Sign in', csrf: reply.generateCsrf(), user: typed, error: signInRefusal(d.reason, d) });
  }

  async function changePage(reply: FastifyReply, status: number, user: string, x: { error?: string; problem?: string }) {
    return page(reply, status, 'change-password', { title: 'Choose a new password', csrf: reply.generateCsrf(), user, rules: await policyRules(), ...x });
  }

  app.post('/change-password', { preHandler: app.csrfProtection }, async (req, reply) => {
    const user = field(req.body, 'user', 256);
    const oldPw = field(req.body, 'old_password', 1024);
    const newPw = field(req.body, 'new_password', 1024);
    if (!user) return reply.redirect('/signin', 303);
    if (newPw !== field(req.body, 'confirm_password', 1024)) return changePage(reply, 400, user, { problem: 'The two new passwords differ.' });
    const r = await query.call('POST', '/v1/password', { body: { user, old_password: oldPw, new_password: newPw, service: 'dashboard', source: sourceOf(req) } });
    const d = r.body ?? {};
    if (d.reason === 'ok') {
      const s = await query.call('POST', '/v1/sessions', { body: { user, password: newPw, source: sourceOf(req) } });
      return afterSignIn(req, reply, s, user);
    }
    if (d.reason === 'password_rejected') return changePage(reply, 400, user, { problem: policyProblem(d.message) });
    if (d.reason === 'bad_credentials') return changePage(reply, 401, user, { error: 'The current password is not right.' });
    return afterSignIn(req, reply, r, user);
  });

  app.post('/signout', { preHandler: app.csrfProtection }, async (req, reply) => {
    if (tokenOf(req)) await ask(req, 'DELETE', '/v1/session');
    clearSession(reply);
    return reply.redirect('/signin?done=signedout', 303);
  });
  app.post('/signout-all', { preHandler: app.csrfProtection }, async (req, reply) => {
    if (tokenOf(req)) await ask(req, 'DELETE', '/v1/session/all');
    clearSession(reply);
    return reply.redirect('/signin?done=signedout-all', 303);
  });

  // ---- my account -------------------------------------------------------------------
  async function accountPage(req: FastifyRequest, reply: FastifyReply, m: Me, status: number, x: Record<string, unknown> = {}) {
    const access = Object.entries(m.access).map(([name, allowed]) => ({ name, allowed, label: serviceLabel(name) }));
    const idleMs = Date.parse(m.session.idle_expires_at) - Date.now();
    return page(reply, status, 'account', {
      title: 'My account', nav: 'account', me: m, csrf: reply.generateCsrf(), notice: doneNotice(req),
      user: m.user, role: m.role, access, changed: when(m.user.password_changed_at), sessions: m.session.sessions,
      idle: waitText(Math.max(60, Math.round(idleMs / 1000))), rules: await policyRules(), ...x,
    });
  }

  app.get('/account', async (req, reply) => {
    const m = await me(req, reply);
    if (m) return accountPage(req, reply, m, 200);
  });

  app.post('/account/profile', { preHandler: app.csrfProtection }, async (req, reply) => {
    const email = field(req.body, 'email', 254).trim();
    const full = field(req.body, 'full_name', 256).trim();
    const r = await ask(req, 'PATCH', '/v1/session/profile', { email: email || null, full_name: full });
    if (r.status === 200) return reply.redirect('/account?done=profile', 303);
    if (r.status === 401 || r.status === 403) return ended(req, reply, r);
    const m = await me(req, reply);
    if (m) return accountPage(req, reply, { ...m, user: { ...m.user, email, full_name: full } }, r.status, { profileError: r.body?.error?.message ?? 'not saved' });
  });

  app.post('/account/password', { preHandler: app.csrfProtection }, async (req, reply) => {
    const oldPw = field(req.body, 'old_password', 1024);
    const newPw = field(req.body, 'new_password', 1024);
    const m = await me(req, reply);
    if (!m) return;
    if (newPw !== field(req.body, 'confirm_password', 1024)) return accountPage(req, reply, m, 400, { problem: 'The two new passwords differ.' });
    const r = await ask(req, 'POST', '/v1/session/password', { old_password: oldPw, new_password: newPw });
    const d = r.body ?? {};
    if (r.status === 401 || r.status === 403) return ended(req, reply, r);
    if (d.reason === 'ok') return reply.redirect('/account?done=password', 303);
    if (d.reason === 'password_rejected') return accountPage(req, reply, m, 400, { problem: policyProblem(d.message) });
    if (d.reason === 'bad_credentials') return accountPage(req, reply, m, 401, { passwordError: 'The current password is not right.' });
    return accountPage(req, reply, m, 503, { passwordError: signInRefusal(d.reason, d) });
  });

  // ---- users (administrators) ------------------------------------------------------
  const enc = encodeURIComponent;
  const userName = (req: FastifyRequest) => {
    const n = (req.params as Record<string, string>).name;
    if (!/^[a-z_][a-z0-9_.-]{0,31}$/.test(n)) throw new BadForm('that is not an account name');
    return n;
  };
  const serviceRows = (services: string[], u: { services: string[]; access: Record<string, boolean> }) =>
    services.map((s) => ({ name: s, label: serviceLabel(s), listed: u.services.includes(s), allowed: !!u.access[s] }));

  async function usersPage(req: FastifyRequest, reply: FastifyReply, status: number, x: Record<string, unknown> = {}) {
    const m = await me(req, reply);
    if (!m) return;
    const r = await ask(req, 'GET', '/v1/users');
    if (r.status !== 200) return ended(req, reply, r);
    const users = r.body.users.map((u: any) => ({ // eslint-disable-line @typescript-eslint/no-explicit-any
      ...u, ...VERIFIER_TEXT(u), services: u.services.join(', ') || '—', locked: when(u.locked_until), lastRefusal: refusalText(u.last_refusal),
    }));
    return page(reply, status, 'users', { title: 'Users', nav: 'users', me: m, csrf: reply.generateCsrf(), notice: doneNotice(req), users, add: {}, ...x });
  }

  async function userPage(req: FastifyRequest, reply: FastifyReply, name: string, status: number, x: Record<string, unknown> = {}) {
    const m = await me(req, reply);
    if (!m) return;
    const r = await ask(req, 'GET', `/v1/users/${enc(name)}`);
    if (r.status === 401 || r.status === 403) return ended(req, reply, r);
    if (r.status === 404) return page(reply, 404, 'message', { title: 'Not found', me: m, csrf: reply.generateCsrf(), heading: 'No such user', text: `There is no account named "${name}".`, link: { href: '/users', text: 'Users' } });
    const u = r.body.user;
    const names = (await ask(req, 'GET', '/v1/users')).body?.services ?? Object.keys(u.access);
    return page(reply, status, 'user', {
      title: u.name, nav: 'users', me: m, csrf: reply.generateCsrf(), notice: doneNotice(req), u, ...VERIFIER_TEXT(u),
      services: serviceRows(names, u), locked: when(u.locked_until), lastRefusal: refusalText(u.last_refusal), doctorService: 'dashboard',
      dirSeen: when(u.directory?.seen_at), dirProven: when(u.directory?.verified_at), dirRemoved: when(u.directory?.removed_at), ...x,
    });
  }

  app.get('/users', async (req, reply) => usersPage(req, reply, 200));

  app.post('/users', { preHandler: app.csrfProtection }, async (req, reply) => {
    const add = { name: field(req.body, 'name', 64).trim(), full_name: field(req.body, 'full_name', 256).trim(), email: field(req.body, 'email', 254).trim(), role: field(req.body, 'role', 16) || 'user' };
    const r = await ask(req, 'POST', '/v1/users', { ...add, email: add.email || null });
    if (r.status === 201) return userPage(req, reply, r.body.user.name, 201, { otp: r.body.one_time_password });
    if (r.status === 401 || r.status === 403) return ended(req, reply, r);
    return usersPage(req, reply, r.status, { add, addError: r.body?.error?.message ?? 'not added' });
  });

  app.get('/users/:name', async (req, reply) => userPage(req, reply, userName(req), 200));

  app.post('/users/:name', { preHandler: app.csrfProtection }, async (req, reply) => {
    const name = userName(req);
    const rid = Number(field(req.body, 'rid', 12));
    const patch = {
      full_name: field(req.body, 'full_name', 256).trim(), email: field(req.body, 'email', 254).trim() || null,
      role: field(req.body, 'role', 16), services: list(req.body, 'services'), enabled: field(req.body, 'enabled', 8) === 'yes',
      ...(Number.isInteger(rid) && rid > 0 ? { rid } : {}),
    };
    const r = await ask(req, 'PATCH', `/v1/users/${enc(name)}`, patch);
    if (r.status === 200) return reply.redirect(`/users/${enc(name)}?done=saved`, 303);
    if (r.status === 401 || r.status === 403) return ended(req, reply, r);
    return userPage(req, reply, name, r.status, { editError: r.body?.error?.message ?? 'not saved' });
  });

  app.post('/users/:name/password', { preHandler: app.csrfProtection }, async (req, reply) => {
    const name = userName(req);
    const rid = Number(field(req.body, 'rid', 12));
    const r = await ask(req, 'POST', `/v1/users/${enc(name)}/password`, Number.isInteger(rid) && rid > 0 ? { rid } : {});
    if (r.status === 401 || r.status === 403) return ended(req, reply, r);
    if (r.status === 200 && r.body.one_time_password) return userPage(req, reply, name, 200, { otp: r.body.one_time_password });
    return userPage(req, reply, name, r.status === 200 ? 503 : r.status, { editError: r.body?.error?.message ?? r.body?.message ?? 'the password was not reset' });
  });

  app.post('/users/:name/unlock', { preHandler: app.csrfProtection }, async (req, reply) => {
    const name = userName(req);
    const r = await ask(req, 'POST', `/v1/users/${enc(name)}/unlock`);
    if (r.status === 200) return reply.redirect(`/users/${enc(name)}?done=unlocked`, 303);
    if (r.status === 401 || r.status === 403) return ended(req, reply, r);
    return userPage(req, reply, name, r.status, { editError: r.body?.error?.message ?? 'not unlocked' });
  });

  app.get('/users/:name/doctor', async (req, reply) => {
    const name = userName(req);
    const service = String((req.query as Record<string, string>).service ?? 'dashboard').slice(0, 64);
    const r = await ask(req, 'GET', `/v1/users/${enc(name)}/doctor?service=${enc(service)}`);
    if (r.status === 401 || r.status === 403) return ended(req, reply, r);
    if (r.status !== 200) return userPage(req, reply, name, r.status, { editError: r.body?.error?.message ?? 'the check could not run' });
    return userPage(req, reply, name, 200, { diagnosis: r.body.diagnosis, doctorService: service, doctorLabel: serviceLabel(service).toLowerCase() });
  });

  app.get('/users/:name/delete', async (req, reply) => {
    const name = userName(req);
    const m = await me(req, reply);
    if (!m) return;
    const r = await ask(req, 'GET', `/v1/users/${enc(name)}`);
    if (r.status !== 200) return r.status === 404 ? reply.redirect('/users', 303) : ended(req, reply, r);
    return page(reply, 200, 'confirm-delete', { title: `Delete ${name}`, nav: 'users', me: m, csrf: reply.generateCsrf(), u: r.body.user });
  });

  app.post('/users/:name/delete', { preHandler: app.csrfProtection }, async (req, reply) => {
    const name = userName(req);
    const rid = Number(field(req.body, 'rid', 12));
    const r = await ask(req, 'DELETE', `/v1/users/${enc(name)}${Number.isInteger(rid) && rid > 0 ? `?rid=${rid}` : ''}`);
    if (r.status === 200) return reply.redirect('/users?done=deleted', 303);
    if (r.status === 401 || r.status === 403) return ended(req, reply, r);
    return userPage(req, reply, name, r.status, { editError: r.body?.error?.message ?? 'not deleted' });
  });

  app.addHook('onClose', async () => query.close());
  return { app, query };
}
