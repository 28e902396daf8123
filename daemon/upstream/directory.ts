// The outgoing LDAP client: nasauthd asking the directory it follows. Only
// daemon/upstream/upstream.ts uses it, and only the authority asks that.
//
// Built on ldapts (maintained, typed, pure JavaScript, bundles into dist/nasauthd.js;
// docs/directory.md says why not ldapjs). What this file adds around it:
//   - every request of a login has one deadline (upstream.timeout_ms); when it passes,
//     the connection is destroyed and the caller gets a 'timeout' failure at once, so
//     nothing waits on a dead or slow directory longer than configured;
//   - one TCP connection per ldapts Client: ldapts silently reconnects a closed client
//     on its next operation, without StartTLS and without a bind, which would send a
//     password in the clear or search anonymously; a second connect is refused here;
//   - failures are classified (unreachable, timeout, tls, service_bind, refused, busy),
//     so the admin is told what to fix and logins know when to answer offline;
//   - URLs are tried in order, starting from the last one that answered.
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { isIP } from 'node:net';
import { AndFilter, Attribute, Change, Client, EqualityFilter, FilterParser, InvalidCredentialsError, OrFilter, ResultCodeError, type Entry, type Filter } from 'ldapts';
import type { UpstreamConfig } from '../config';

export type FailureKind = 'unreachable' | 'timeout' | 'tls' | 'service_bind' | 'refused' | 'busy';

/** A directory that gave no usable answer. `message` is for the admin (no secrets). */
export class DirectoryError extends Error {
  constructor(readonly kind: FailureKind, message: string, readonly url?: string) {
    super(message);
    this.name = 'DirectoryError';
  }
}

/** The directory answered, and said no (wrong old password, policy, access). */
export class DirectoryRefusal extends Error {
  constructor(readonly code: 'invalid_credentials' | 'constraint' | 'access' | 'other', message: string) {
    super(message);
    this.name = 'DirectoryRefusal';
  }
}

export const PASSWORD_MODIFY_OID = '1.3.6.1.4.1.4203.1.11.1';
const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO|CERT_|HOSTNAME_MISMATCH|ERR_OSSL)/;
const NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOENT', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'EACCES', 'ECONNABORTED']);
/** result codes that say "not now" (the offline copy may answer), not "no" */
const TRANSIENT = new Set(['BusyError', 'UnavailableError', 'ConfidentialityRequiredError', 'StrongAuthRequiredError', 'TLSNotSupportedError', 'TimeLimitExceededError', 'AdminLimitExceededError']);
/** idle connections kept for user binds (each bind needs a connection of its own) */
const MAX_IDLE_AUTH = 2;
const IDLE_AUTH_MS = 60_000;

/**
 * One connection. ldapts does not notice when a connection upgraded by StartTLS closes
 * (it watches the plain socket only), so liveness is tracked here: any of our sockets
 * closing makes the connection dead, and whatever waits on it fails at once.
 */
interface Conn { client: Client; url: string; sockets: Set<net.Socket>; used: number; dead: boolean; why?: DirectoryError; waiters: Set<(e: Error) => void> }
const alive = (c: Conn) => !c.dead && c.client.isConnected;

export interface SearchSpec { base: string; filter: Filter; attributes: string[]; sizeLimit?: number }

/** RFC 4515 escaping of an assertion value, for filters shown in logs and docs. */
export function escapeFilterValue(v: string): string {
  // eslint-disable-next-line no-control-regex
  return v.replace(/[*()\\\x00]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * The filter that finds one user: the configured user filter AND (nameAttr = name).
 * Built as a structure, not pasted into a string, so no name can change its meaning
 * (a "*" is a literal star, a ")(" is two characters).
 */
export function userFilter(cfg: UpstreamConfig, name: string): Filter {
  return new AndFilter({ filters: [FilterParser.parseString(cfg.user_filter), new EqualityFilter({ attribute: cfg.attributes.name, value: name })] });
}
export function userFilterText(cfg: UpstreamConfig, name: string): string {
  return `(&${cfg.user_filter}(${cfg.attributes.name}=${escapeFilterValue(name)}))`;
}
/** Groups that list a user: by name (memberUid) or by DN (member). */
export function groupsOfFilter(cfg: UpstreamConfig, name: string, dn: string): Filter {
  const by = cfg.group_membership === 'member'
    ? new EqualityFilter({ attribute: cfg.attributes.member, value: dn })
    : new OrFilter({ filters: [new EqualityFilter({ attribute: cfg.attributes.member_uid, value: name }), new EqualityFilter({ attribute: cfg.attributes.member, value: dn })] });
  return new AndFilter({ filters: [FilterParser.parseString(cfg.group_filter), by] });
}

function errCode(e: unknown): string { return String((e as { code?: unknown })?.code ?? ''); }

/** Put a failure into words an admin can act on. */
export function classify(e: unknown, url: string, phase: 'connect' | 'service_bind' | 'op'): DirectoryError {
  if (e instanceof DirectoryError) return e;
  const msg = (e as Error)?.message ?? String(e);
  const code = errCode(e);
  const at = url.replace(/\/+$/, '');
  if (TLS_CODES.test(code) || /certificate|self.signed|TLS|SSL/i.test(msg) && !/StartTLS is not supported/i.test(msg)) {
    return new DirectoryError('tls', `${at}: TLS failed: ${msg.split('\n')[0]} (is upstream.ca_file the CA that signed the directory's certificate, and does the certificate name the host in the URL?)`, url);
  }
  if (phase === 'service_bind' && e instanceof InvalidCredentialsError) {
    return new DirectoryError('service_bind', `${at}: the directory refused nasauth's service identity (upstream.bind_dn): check upstream.bind_secret_file`, url);
  }
  if (NET_CODES.has(code) || /Connection timeout|Connection closed|Socket error|socket hang up|not established|reconnect refused/i.test(msg)) {
    const why = code || (/Connection timeout/i.test(msg) ? 'no connection within upstream.connect_timeout_ms' : /closed|Socket error|hang up/i.test(msg) ? 'the connection closed' : msg.split('\n')[0]);
    return new DirectoryError('unreachable', `${at}: cannot connect: ${why}`, url);
  }
  if (/timed out/i.test(msg)) return new DirectoryError('timeout', `${at}: no answer in time`, url);
  const name = (e as Error)?.name ?? '';
  if (name === 'BusyError' || name === 'UnavailableError') return new DirectoryError('busy', `${at}: the directory is busy or unavailable: ${msg}`, url);
  if (name === 'ConfidentialityRequiredError' || name === 'StrongAuthRequiredError') {
    return new DirectoryError('refused', `${at}: the directory wants an encrypted connection (use ldaps:// or upstream.start_tls: true)`, url);
  }
  if (name === 'TLSNotSupportedError' || /1\.3\.6\.1\.4\.1\.1466\.20037/.test(msg)) return new DirectoryError('tls', `${at}: the directory does not offer StartTLS (use ldaps://)`, url);
  if (name === 'InsufficientAccessError') return new DirectoryError('refused', `${at}: the directory does not let nasauth's identity read users (check its ACLs for upstream.bind_dn)`, url);
  if (name === 'NoSuchObjectError') return new DirectoryError('refused', `${at}: the base DN does not exist in the directory (upstream.user_base / group_base)`, url);
  return new DirectoryError('refused', `${at}: ${name || 'error'}: ${msg.split('\n')[0]}`, url);
}

/** Close a connection; whatever else waits on it fails with `why` (or "closed"). */
function kill(c: Conn | null | undefined, why?: DirectoryError) {
  if (!c) return;
  if (why && !c.why) c.why = why;
  died(c);
  c.sockets.clear();
}

function died(c: Conn) {
  c.dead = true;
  const e = c.why ?? new DirectoryError('unreachable', `${c.url.replace(/\/+$/, '')}: cannot connect: the connection closed`, c.url);
  const ws = [...c.waiters];
  c.waiters.clear();
  for (const w of ws) w(e);
  for (const s of c.sockets) s.destroy();
}

/** Race `p` against the deadline; past it the connection is destroyed and 'timeout' thrown. */
async function within<T>(c: Conn, deadline: number, p: Promise<T>, what: string): Promise<T> {
  const ms = deadline - Date.now();
  if (ms <= 0) { kill(c); p.catch(() => undefined); throw new DirectoryError('timeout', `${c.url}: no time left for ${what}`, c.url); }
  let timer: NodeJS.Timeout | undefined;
  let waiter: ((e: Error) => void) | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => {
      if (c.dead) { reject(c.why ?? new DirectoryError('unreachable', `${c.url.replace(/\/+$/, '')}: cannot connect: the connection closed`, c.url)); return; }
      waiter = reject;
      c.waiters.add(waiter);
      timer = setTimeout(() => kill(c, new DirectoryError('timeout', `${c.url.replace(/\/+$/, '')}: no answer to ${what} within the time limit (upstream.timeout_ms)`, c.url)), ms);
    })]);
  } finally {
    clearTimeout(timer);
    if (waiter) c.waiters.delete(waiter);
  }
}

export interface DirectoryOptions {
  cfg: UpstreamConfig;
  /** read at start and on reload; null for an anonymous search */
  secret: string | null;
  ca: Buffer | null;
}

export function readSecret(cfg: UpstreamConfig): string | null {
  if (!cfg.bind_secret_file) return null;
  return readFileSync(cfg.bind_secret_file, 'utf8').replace(/\r?\n$/, '');
}
export function readCa(cfg: UpstreamConfig): Buffer | null {
  return cfg.ca_file ? readFileSync(cfg.ca_file) : null;
}

export class Directory {
  private svc: Conn | null = null;
  private svcOpening: Promise<Conn> | null = null;
  private idle: Conn[] = [];
  private preferred = 0;
  /** the URL that last answered (for doctor and status) */
  lastUrl: string | null = null;
  closed = false;

  constructor(private o: DirectoryOptions) {}

  get cfg(): UpstreamConfig { return this.o.cfg; }

  reconfigure(o: DirectoryOptions) {
    this.o = o;
    this.close();
    this.closed = false;
  }

  private tlsOptions(host: string): tls.ConnectionOptions {
    return { ca: this.o.ca ?? undefined, minVersion: 'TLSv1.2', host, ...(isIP(host) ? {} : { servername: host }), rejectUnauthorized: true };
  }

  /** A new connection to one URL (TCP, TLS or ldapi; StartTLS when configured). Not bound. */
  private async open(url: string, deadline: number): Promise<Conn> {
    const sockets = new Set<net.Socket>();
    let created = 0;
    let conn: Conn | null = null;
    const track = <S extends net.Socket>(s: S): S => {
      sockets.add(s);
      s.once('close', () => { sockets.delete(s); if (conn) died(conn); });
      return s;
    };
    // one connection per client: a reconnect would skip StartTLS and the bind
    const once = (make: () => net.Socket): net.Socket => {
      if (created++ > 0) {
        const s = new net.Socket();
        process.nextTick(() => s.destroy(Object.assign(new Error('reconnect refused'), { code: 'ECONNABORTED' })));
        return s;
      }
      return track(make());
    };
    const budget = Math.max(1, Math.min(this.cfg.connect_timeout_ms, deadline - Date.now()));
    const common = { connectTimeout: budget, timeout: this.cfg.timeout_ms, strictDN: false };
    let client: Client;
    const u = new URL(url.replace(/^ldapi:/i, 'ldap:'));
    const scheme = url.slice(0, url.indexOf(':')).toLowerCase();
    const host = u.hostname.replace(/^\[|\]$/g, '') || 'localhost';
    if (scheme === 'ldapi') {
      const path = decodeURIComponent(url.slice('ldapi://'.length)) || '/run/slapd/ldapi';
      client = new Client({ ...common, url: 'ldap://localhost', createConnection: (() => once(() => net.connect(path))) as unknown as typeof net.connect });
    } else if (scheme === 'ldaps') {
      client = new Client({
        ...common, url: `ldaps://${u.host}`, tlsOptions: this.tlsOptions(host),
        createSecureConnection: ((port: number, h: string, opts: tls.ConnectionOptions) => once(() => tls.connect(port, h, opts))) as unknown as typeof tls.connect,
      });
    } else {
      client = new Client({
        ...common, url: `ldap://${u.host}`,
        createConnection: ((port: number, h: string) => once(() => net.connect(port, h))) as unknown as typeof net.connect,
        // StartTLS wraps the existing socket: that is not a second connection
        createSecureConnection: ((opts: tls.ConnectionOptions) => track(tls.connect(opts))) as unknown as typeof tls.connect,
      });
    }
    const c: Conn = { client, url, sockets, used: Date.now(), dead: false, waiters: new Set() };
    conn = c;
    if (scheme === 'ldap' && this.cfg.start_tls) {
      try {
        await within(c, deadline, client.startTLS(this.tlsOptions(host)), 'StartTLS');
      } catch (e) { kill(c); throw classify(e, url, 'connect'); }
    }
    return c;
  }

  /** Try each URL (the last good one first) until `fn` gets an answer. */
  private async eachUrl<T>(deadline: number, fn: (url: string) => Promise<T>): Promise<T> {
    const urls = this.cfg.urls;
    let worst: DirectoryError | null = null;
    const rank: Record<FailureKind, number> = { unreachable: 0, timeout: 1, busy: 2, tls: 3, refused: 4, service_bind: 5 };
    for (let k = 0; k < urls.length; k++) {
      const i = (this.preferred + k) % urls.length;
      try {
        const r = await fn(urls[i]);
        this.preferred = i;
        this.lastUrl = urls[i];
        return r;
      } catch (e) {
        if (!(e instanceof DirectoryError)) throw e;
        if (!worst || rank[e.kind] > rank[worst.kind]) worst = e;
        if (Date.now() >= deadline) break;
      }
    }
    throw worst ?? new DirectoryError('unreachable', 'no directory URL configured');
  }

  /** The connection bound as nasauth's service identity (or anonymously). */
  private async service(deadline: number): Promise<Conn> {
    const s = this.svc;
    if (s && alive(s) && s.client.isBound) return s;
    if (s) { kill(s); this.svc = null; }
    if (this.svcOpening) return this.svcOpening;
    this.svcOpening = this.eachUrl(deadline, async (url) => {
      const c = await this.open(url, deadline);
      try {
        await within(c, deadline, c.client.bind(this.cfg.bind_dn ?? '', this.o.secret ?? ''), 'the service bind');
      } catch (e) { kill(c); throw classify(e, url, 'service_bind'); }
      return c;
    }).then((c) => {
      if (this.closed) { kill(c); throw new DirectoryError('unreachable', 'shutting down'); }
      this.svc = c;
      return c;
    }).finally(() => { this.svcOpening = null; });
    return this.svcOpening;
  }

  /** One search with the service identity; a stale connection is replaced once. */
  async search(spec: SearchSpec, deadline: number): Promise<Entry[]> {
    for (let attempt = 0; ; attempt++) {
      const c = await this.service(deadline);
      try {
        if (!alive(c) || !c.client.isBound) throw new DirectoryError('unreachable', `${c.url}: connection lost`, c.url);
        const r = await within(c, deadline, c.client.search(spec.base, { scope: 'sub', filter: spec.filter, attributes: spec.attributes, sizeLimit: spec.sizeLimit ?? 0 }), 'a search');
        c.used = Date.now();
        return r.searchEntries;
      } catch (e) {
        const err = classify(e, c.url, 'op');
        if (this.svc === c) { kill(c); this.svc = null; }
        // a connection the server closed while idle: one fresh try, if time is left
        if (attempt === 0 && (err.kind === 'unreachable') && Date.now() < deadline) continue;
        throw err;
      }
    }
  }

  /** Pages of a large search (RFC 2696), one page in memory at a time. */
  async *pages(spec: SearchSpec, pageSize: number, pageTimeoutMs: number): AsyncGenerator<Entry[]> {
    const c = await this.service(Date.now() + pageTimeoutMs);
    const it = c.client.searchPaginated(spec.base, { scope: 'sub', filter: spec.filter, attributes: spec.attributes, paged: { pageSize } });
    try {
      for (;;) {
        if (!alive(c) || !c.client.isBound) throw new DirectoryError('unreachable', `${c.url}: connection lost`, c.url);
        const r = await within(c, Date.now() + pageTimeoutMs, it.next(), 'a page of the refresh');
        if (r.done) return;
        c.used = Date.now();
        yield r.value.searchEntries;
      }
    } catch (e) {
      if (this.svc === c) { kill(c); this.svc = null; }
      throw classify(e, c.url, 'op');
    } finally {
      await it.return(undefined).catch(() => undefined);
    }
  }

  private takeIdle(): Conn | null {
    const now = Date.now();
    while (this.idle.length) {
      const c = this.idle.pop()!;
      if (alive(c) && now - c.used < IDLE_AUTH_MS) return c;
      kill(c);
    }
    return null;
  }

  private release(c: Conn, reusable: boolean) {
    if (reusable && !this.closed && alive(c) && this.idle.length < MAX_IDLE_AUTH) { c.used = Date.now(); this.idle.push(c); }
    else kill(c);
  }

  /**
   * Run `fn` on a connection of its own (a bind changes who the connection is).
   * An idle connection is reused when it is still open; else each URL is tried.
   */
  private async withAuthConn<T>(deadline: number, fn: (c: Conn) => Promise<T>): Promise<T> {
    const reuse = this.takeIdle();
    if (reuse) {
      try {
        const r = await fn(reuse);
        this.release(reuse, true);
        return r;
      } catch (e) {
        this.release(reuse, e instanceof DirectoryRefusal);
        if (!(e instanceof DirectoryError) || e.kind !== 'unreachable' || Date.now() >= deadline) throw e;
        // the server closed it while idle: fall through to a fresh connection
      }
    }
    return this.eachUrl(deadline, async (url) => {
      const c = await this.open(url, deadline);
      try {
        const r = await fn(c);
        this.release(c, true);
        return r;
      } catch (e) {
        this.release(c, e instanceof DirectoryRefusal);
        throw e;
      }
    });
  }

  private async userBind(c: Conn, dn: string, password: string, deadline: number): Promise<void> {
    try {
      await within(c, deadline, c.client.bind(dn, password), 'the password check');
    } catch (e) {
      if (e instanceof InvalidCredentialsError) throw new DirectoryRefusal('invalid_credentials', 'the directory refused the password');
      // any other answer of the directory to this user's bind (a locked account, a policy)
      // is a no for this login, not a reason to answer from the offline copy
      const name = (e as Error)?.name ?? '';
      if (e instanceof ResultCodeError && !TRANSIENT.has(name)) throw new DirectoryRefusal('other', `the directory refused the bind: ${(e as Error).message.replace(/\s*Code: 0x[0-9a-f]+$/i, '')}`);
      throw classify(e, c.url, 'op');
    }
  }

  /** Bind as `dn` with `password`: true when the directory accepts it. */
  async checkPassword(dn: string, password: string, deadline: number): Promise<boolean> {
    try {
      await this.withAuthConn(deadline, (c) => this.userBind(c, dn, password, deadline));
      return true;
    } catch (e) {
      if (e instanceof DirectoryRefusal && e.code === 'invalid_credentials') return false;
      throw e;
    }
  }

  /**
   * RFC 3062 Password Modify. With `oldPw`: as the user (bind as the user, then the
   * operation with the old and the new password). Without: as the service identity
   * (the directory's ACLs must let it set passwords).
   */
  async modifyPassword(dn: string, oldPw: string | null, newPw: Buffer, deadline: number): Promise<void> {
    const value = passwordModifyValue(dn, oldPw === null ? null : Buffer.from(oldPw, 'utf8'), newPw);
    const run = async (c: Conn) => {
      try {
        await within(c, deadline, c.client.exop(PASSWORD_MODIFY_OID, value), 'the password change');
      } catch (e) {
        if (e instanceof DirectoryError) throw e;
        const name = (e as Error)?.name ?? '';
        const msg = ((e as Error)?.message ?? '').replace(/\s*Code: 0x[0-9a-f]+$/i, '');
        if (name === 'ConstraintViolationError' || name === 'UnwillingToPerformError' && /passw/i.test(msg)) throw new DirectoryRefusal('constraint', msg || 'the directory refused the new password');
        if (name === 'InsufficientAccessError') throw new DirectoryRefusal('access', msg || 'insufficient access');
        if (name === 'InvalidCredentialsError') throw new DirectoryRefusal('invalid_credentials', 'the directory refused the old password');
        const err = classify(e, c.url, 'op');
        if (err.kind === 'refused') throw new DirectoryRefusal('other', msg || name);
        throw err;
      } finally {
        value.fill(0);
      }
    };
    if (oldPw !== null) {
      await this.withAuthConn(deadline, async (c) => { await this.userBind(c, dn, oldPw, deadline); await run(c); });
    } else {
      const c = await this.service(deadline);
      await run(c);
    }
  }

  /** Write attributes of an entry (the Samba hash beside a changed password), as the user or the service. */
  async modifyAttributes(dn: string, asUser: { password: string } | null, changes: Record<string, string>, deadline: number): Promise<void> {
    const list = Object.entries(changes).map(([type, v]) => new Change({ operation: 'replace', modification: new Attribute({ type, values: [v] }) }));
    const run = async (c: Conn) => {
      try { await within(c, deadline, c.client.modify(dn, list), 'a modify'); } catch (e) {
        if (e instanceof DirectoryError) throw e;
        const name = (e as Error)?.name ?? '';
        if (name === 'InsufficientAccessError') throw new DirectoryRefusal('access', (e as Error).message);
        const err = classify(e, c.url, 'op');
        if (err.kind === 'refused') throw new DirectoryRefusal('other', (e as Error).message);
        throw err;
      }
    };
    if (asUser) await this.withAuthConn(deadline, async (c) => { await this.userBind(c, dn, asUser.password, deadline); await run(c); });
    else await run(await this.service(deadline));
  }

  /** Can we reach the directory as the service identity? Throws DirectoryError when not. */
  async probe(deadline: number): Promise<string> {
    const c = await this.service(deadline);
    // a real round trip on the (possibly reused) connection
    await this.search({ base: '', filter: FilterParser.parseString('(objectClass=*)'), attributes: ['1.1'], sizeLimit: 1 }, deadline).catch(async (e) => {
      // the RootDSE may be hidden from this identity; the user base must not be
      if (e instanceof DirectoryError && (e.kind === 'refused')) {
        await this.search({ base: this.cfg.user_base, filter: FilterParser.parseString('(objectClass=*)'), attributes: ['1.1'], sizeLimit: 1 }, deadline);
        return;
      }
      throw e;
    });
    return c.url;
  }

  close() {
    this.closed = true;
    kill(this.svc);
    this.svc = null;
    for (const c of this.idle) kill(c);
    this.idle = [];
  }
}

/** PasswdModifyRequestValue ::= SEQUENCE { userIdentity [0], oldPasswd [1], newPasswd [2] } (RFC 3062). */
export function passwordModifyValue(dn: string, oldPw: Buffer | null, newPw: Buffer): Buffer {
  const len = (n: number) => {
    if (n < 0x80) return Buffer.from([n]);
    const out: number[] = [];
    while (n > 0) { out.unshift(n & 0xff); n = Math.floor(n / 256); }
    return Buffer.from([0x80 | out.length, ...out]);
  };
  const tlv = (tag: number, b: Buffer) => Buffer.concat([Buffer.from([tag]), len(b.length), b]);
  const parts = [tlv(0x80, Buffer.from(dn, 'utf8'))];
  if (oldPw) parts.push(tlv(0x81, oldPw));
  parts.push(tlv(0x82, newPw));
  const body = Buffer.concat(parts);
  for (const p of parts) p.fill(0);
  oldPw?.fill(0);
  const out = tlv(0x30, body);
  body.fill(0);
  return out;
}
