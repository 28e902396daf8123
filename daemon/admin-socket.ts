// The admin socket: everything the CLI does. Root only (mode 0600 in a root-owned
// folder); the filesystem is the access check, since Node has no SO_PEERCRED.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Authority } from './authority';
import type { SocketConfig } from './config';
import { NasauthError, type ErrorCode } from './errors';
import { HttpError, SERVER_OPTIONS, hardenServer, listenUnix, readJson, send, sendError, str } from './http-util';
import type { Sources } from './import-parse';
import { diagnose, type DoctorHook } from './doctor';
import type { Upstream } from './upstream/upstream';

const IMPORT_MAX_BODY = 32 * 1024 * 1024; // parsed account files of an old NAS

export const STATUS: Record<ErrorCode, number> = {
  NASAUTH_CONFIG: 400, NASAUTH_STORE_CORRUPT: 500, NASAUTH_STORE_IO: 507, NASAUTH_INVALID_NAME: 400,
  NASAUTH_INVALID_EMAIL: 400, NASAUTH_INVALID_FIELD: 400, NASAUTH_EXISTS: 409, NASAUTH_NOT_FOUND: 404,
  NASAUTH_PASSWORD_POLICY: 422, NASAUTH_UID_CONFLICT: 409, NASAUTH_CONFLICT: 409,
};

export class AdminSocket {
  private server: Server;
  readonly doctorHooks: DoctorHook[] = [];
  /** the directory follower, when upstream.enabled (routes /v1/admin/upstream) */
  upstream: Upstream | null = null;
  constructor(private auth: Authority, private version: string, private extraStatus: () => Record<string, unknown> = () => ({})) {
    this.server = createServer(SERVER_OPTIONS, (req, res) => { this.handle(req, res).catch((e) => this.fail(res, e)); });
    hardenServer(this.server);
  }

  private fail(res: ServerResponse, e: unknown) {
    if (e instanceof HttpError) return sendError(res, e.status, e.reason, e.message);
    if (e instanceof NasauthError) {
      return send(res, STATUS[e.code], { error: { code: e.code, reason: e.code === 'NASAUTH_PASSWORD_POLICY' ? 'password_rejected' : 'bad_request', message: e.message, field: e.field } });
    }
    this.auth.log.error({ err: (e as Error).message }, 'admin socket: internal error');
    sendError(res, 500, 'internal_error', `internal error: ${(e as Error).message}`);
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const a = this.auth;
    const actor = String(req.headers['x-nasauth-actor'] ?? 'admin-socket').slice(0, 64);
    let url: string;
    // a path that is not percent-encoded UTF-8 is the client's mistake (it was a 500; found by test/fuzz.test.ts)
    try { url = decodeURIComponent((req.url ?? '/').split('?')[0]); } catch { throw new HttpError(400, 'bad_request', 'the path is not valid percent-encoded UTF-8'); }
    const parts = url.split('/').filter(Boolean); // v1 admin users NAME ...
    if (parts[0] !== 'v1' || parts[1] !== 'admin') throw new HttpError(404, 'bad_request', `no such route: ${url}`);
    const [, , kind, name, sub] = parts;
    const m = req.method ?? 'GET';
    // what the admin sees of an account (Authority.userView: everything but the verifiers)
    const user = (n: string) => {
      const x = a.userView(n);
      if (!x) throw new NasauthError('NASAUTH_NOT_FOUND', `no account named "${n}"`, 'name');
      return x;
    };
    const pwOf = (b: Record<string, unknown>, key = 'password') => (b[key] === undefined || b[key] === null ? null : Buffer.from(str(b, key), 'utf8'));
    if (kind === 'status' && m === 'GET') return send(res, 200, this.status());
    if (kind === 'upstream') {
      if (!this.upstream) throw new HttpError(404, 'bad_request', 'this NAS follows no directory (upstream.enabled is false)');
      if (!name && m === 'GET') return send(res, 200, { upstream: this.upstream.status() });
      if (name === 'refresh' && m === 'POST') return send(res, 200, { report: await this.upstream.refresh(`admin (${actor})`) });
    }
    if (kind === 'doctor' && m === 'GET') {
      const q = new URLSearchParams((req.url ?? '').split('?')[1] ?? '');
      const service = q.get('service');
      if (!name) {
        const all = [];
        for (const x of a.userViews()) all.push(await diagnose(a, x.name, service, this.doctorHooks));
        return send(res, 200, { diagnoses: all });
      }
      return send(res, 200, { diagnosis: await diagnose(a, name, service, this.doctorHooks) });
    }
    if (kind === 'import' && m === 'POST') {
      const b = await readJson(req, IMPORT_MAX_BODY);
      const src = b.sources as Sources;
      if (!src || typeof src !== 'object' || !['passwd', 'shadow', 'group', 'smb', 'meta'].every((k) => Array.isArray((src as unknown as Record<string, unknown>)[k]))) {
        throw new HttpError(400, 'bad_request', '"sources" must hold passwd, shadow, group, smb and meta lists (as the CLI sends them)');
      }
      const map = (k: string, num: boolean): Record<string, string> | Record<string, number> | undefined => {
        const v = b[k];
        if (v === undefined) return undefined;
        if (!v || typeof v !== 'object' || Array.isArray(v) || Object.keys(v).length > 10000) throw new HttpError(400, 'bad_request', `"${k}" must be an object of old name → ${num ? 'number' : 'new name'}`);
        for (const [old, x] of Object.entries(v as Record<string, unknown>)) {
          if (old.length > 256 || (num ? !(typeof x === 'number' && Number.isInteger(x) && x >= 0 && x < 2 ** 31) : !(typeof x === 'string' && x.length <= 64))) {
            throw new HttpError(400, 'bad_request', `"${k}.${old.slice(0, 64)}" must be ${num ? 'a uid (a whole number)' : 'a name'}`);
          }
        }
        return Object.assign(Object.create(null), v);
      };
      if (b.owner !== undefined && (typeof b.owner !== 'string' || b.owner.length > 256)) throw new HttpError(400, 'bad_request', '"owner" must be an account name');
      return send(res, 200, {
        report: await a.importAccounts(src, {
          dryRun: b.dry_run === true, overwrite: b.overwrite === true, owner: b.owner as string | undefined,
          rename: map('rename', false) as Record<string, string> | undefined, uid: map('uid', true) as Record<string, number> | undefined,
          renameGroup: map('rename_group', false) as Record<string, string> | undefined,
        }, actor),
      });
    }
    if (kind === 'users') {
      if (!name && m === 'GET') return send(res, 200, { users: a.userViews() });
      if (!name && m === 'POST') {
        const b = await readJson(req);
        const pw = pwOf(b);
        try {
          const { password: _p, ...input } = b;
          const acct = await a.addUser(input as never, pw, actor);
          return send(res, 201, { user: user(acct.name) });
        } finally { pw?.fill(0); }
      }
      if (name && !sub && m === 'GET') return send(res, 200, { user: user(name) });
      if (name && !sub && m === 'PATCH') return send(res, 200, { user: user((await a.setUser(name, await readJson(req), actor)).name) });
      if (name && !sub && m === 'DELETE') { await a.delUser(name, actor); return send(res, 200, { deleted: name }); }
      if (name && sub === 'password' && m === 'POST') {
        const b = await readJson(req);
        const pw = pwOf(b);
        if (!pw) throw new HttpError(400, 'bad_request', '"password" is required');
        try {
          user(name);
          const d = await a.setPasswordChecked(name, pw, 'admin', actor, { mustChange: b.must_change_password === true });
          if (d.reason !== 'ok') return send(res, d.reason === 'password_rejected' ? 422 : d.reason === 'unknown_user' ? 404 : 503, { error: { reason: d.reason, message: d.message } });
          return send(res, 200, { user: user(name) });
        } finally { pw.fill(0); }
      }
      if (name && sub === 'unlock' && m === 'POST') { await a.unlock(name, actor); return send(res, 200, { user: user(name) }); }
      if (name && sub === 'services' && m === 'POST') {
        const b = await readJson(req);
        if (typeof b.allow !== 'boolean') throw new HttpError(400, 'bad_request', '"allow" must be true or false');
        return send(res, 200, { user: user((await a.setServices(name, str(b, 'service', { max: 64 }), b.allow, actor)).name) });
      }
    }
    if (kind === 'groups') {
      if (!name && m === 'GET') return send(res, 200, { groups: a.groups() });
      if (!name && m === 'POST') {
        const b = await readJson(req);
        if (b.gid !== undefined && typeof b.gid !== 'number') throw new HttpError(400, 'bad_request', '"gid" must be a number');
        return send(res, 201, { group: await a.addGroup(str(b, 'name', { max: 64 }), b.gid as number | undefined, actor) });
      }
      if (name && !sub && m === 'GET') {
        const g = a.group(name);
        if (!g) throw new NasauthError('NASAUTH_NOT_FOUND', `no group named "${name}"`, 'name');
        return send(res, 200, { group: g });
      }
      if (name && !sub && m === 'DELETE') { await a.delGroup(name, actor); return send(res, 200, { deleted: name }); }
      if (name && sub === 'members' && m === 'POST') {
        const b = await readJson(req);
        if (typeof b.add !== 'boolean') throw new HttpError(400, 'bad_request', '"add" must be true or false');
        await a.groupMember(name, str(b, 'user', { max: 64 }), b.add, actor);
        return send(res, 200, { group: a.group(name) });
      }
    }
    throw new HttpError(404, 'bad_request', `no such route: ${m} ${url}`);
  }

  status() {
    const a = this.auth;
    const accts = a.userViews();
    return {
      version: this.version,
      store: a.storeInfo(),
      verifiers: {
        modern: accts.filter((x) => x.verifier === 'scrypt').length,
        legacy: accts.filter((x) => x.verifier.startsWith('legacy:')).length,
        nt_only: accts.filter((x) => x.verifier === 'nt-only').length,
        none: accts.filter((x) => x.verifier === 'none').length,
        without_nt_hash: accts.filter((x) => !x.nt_hash).map((x) => x.name),
      },
      locked: a.lockedAccounts(),
      must_change_password: accts.filter((x) => x.must_change_password).map((x) => x.name),
      disabled: accts.filter((x) => !x.enabled).map((x) => x.name),
      cache: { entries: a.cache.size, hits: a.cache.hits, misses: a.cache.misses },
      memory: { rss_bytes: process.memoryUsage.rss() },
      ...this.extraStatus(),
    };
  }

  listen(s: SocketConfig) { return listenUnix(this.server, s); }
  close(): Promise<void> { return new Promise((r) => { this.server.close(() => r()); this.server.closeIdleConnections(); }); }
}
