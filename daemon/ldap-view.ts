// The LDAP view for Samba: smbd's `passdb backend = ldapsam:ldapi://…` reads the NAS's
// accounts from here, so nasauthd is Samba's only password database. docs/samba.md
// describes the tree, what smbd sends, and what each write does.
//
// - ldapi Unix socket only, 0600 root (trust from the filesystem); ldapjs decodes and
//   routes, ldap-ber.ts guards the wire (size, depth, garbage) before ldapjs sees a byte.
// - Binds: the admin DN with the secret in sockets.ldap.bind_secret_file (smbd), or
//   anonymous (RootDSE only). NT hashes go only to the admin identity.
// - Searches are answered from ldap-directory.ts, rendered from what the authority says
//   smbd may see (Authority.smbDirectory); the view decides nothing and never reads the
//   store. Per-account state here is keyed by rid (an account's identity).
// - Searches are rebuilt when the store or the config changes.
// - Passwords change only through the Password Modify extended operation with the
//   plaintext (smb.conf `ldap passwd sync = only`): Authority.setPasswordChecked makes
//   every verifier at once. A bare write of a hash is refused.
// - smbd's bad-password counters feed nasauth's rate limiter and lockout.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import { dirname } from 'node:path';
import * as net from 'node:net';
import type { Socket } from 'node:net';
// ldapjs is loaded when a connection first needs it (an operation other than bind,
// search and unbind: smbd's modify after a wrong password, a password change). With it
// come node:tls, node:assert and node:dns; an idle NAS whose smbd only logs people in
// never loads any of them (docs/performance.md).
// eslint-disable-next-line @typescript-eslint/no-var-requires
const ldapjsModule = () => require('ldapjs');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const pagedResultsControl = () => require('@ldapjs/controls').PagedResultsControl;
import type { Authority, SmbAccount } from './authority';
import type { Config } from './config';
import type { Logger } from './log';
import {
  MessageFramer, RESULT, encodeSearchEntry, encodeAttribute, encodeResult, noticeOfDisconnection, readPasswordModify, readBind, peekIdAndOp,
} from './ldap-ber';
import {
  Directory, SECRET_ATTRS, SUPPORTED_CONTROLS, PASSWORD_MODIFY_OID, POLICY_CHECK_OID, PAGED_RESULTS_OID,
  acctFlags, candidates, filterText, matches, normDn, type Entry, type LdapFilter,
} from './ldap-directory';
import { listenUnix } from './http-util';
import { MAX_DOMAIN_NAMES, noteDomainAsked } from './ldap-domains';
import { encodeSearchDone, readSearch } from './ldap-search';
import { passwordProblems } from './password-policy';

/** smbd keeps one connection per smbd process open and reconnects by itself. */
export const IDLE_TIMEOUT_MS = 15 * 60_000;
/** A message, once started, must arrive whole within this: smbd writes each at once. */
export const MESSAGE_READ_TIMEOUT_MS = 5_000;
/** One per smbd process plus tools; a flood beyond this is dropped by the kernel queue. */
export const MAX_CONNECTIONS = 1024;
/** Entries per search at most: the NAS has tens of accounts; more is a runaway query. */
export const MAX_SEARCH_ENTRIES = 10_000;

// Writes smbd makes that nasauth accepts and ignores: the values it serves come from the store.
const IGNORED_WRITES = new Set(['sambapwdlastset', 'sambapwdcanchange', 'sambapwdmustchange', 'sambalogontime', 'sambalogofftime', 'sambakickofftime', 'modifytimestamp']);
const LOCKOUT_WRITES = new Set(['sambabadpasswordcount', 'sambabadpasswordtime', 'sambaacctflags']);

interface ConnState { admin: boolean; raw: Buffer | null; id: number }

const NETBIOS_RE = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,14}$/;

/** the attributes live() answers from the account as it is now, not from the built entry */
const LIVE_ATTRS = new Set(['sambaacctflags', 'modifytimestamp', 'sambabadpasswordcount', 'sambabadpasswordtime']);

/** The sambaDomainName a search asks for (equality anywhere in an AND, or a domain DN as base). */
function askedDomain(f: LdapFilter, base: string, suffix: string): string | null {
  // base (normalised) "sambadomainname=NAME,<suffix>", NAME without ',' or '='
  const head = 'sambadomainname=';
  if (base.startsWith(head) && base.length > head.length + suffix.length + 1 && base.endsWith(`,${suffix}`)) {
    const name = base.slice(head.length, base.length - suffix.length - 1);
    if (name.length > 0 && !/[,=]/.test(name)) return name;
  }
  const walk = (x: LdapFilter): string | null => {
    if (x.type === 'EqualityFilter' && (x.attribute ?? '').toLowerCase() === 'sambadomainname') return Buffer.isBuffer(x.value) ? x.value.toString('utf8') : String(x.value ?? '');
    if (x.type === 'AndFilter') for (const c of x.filters ?? []) { const v = walk(c); if (v !== null) return v; }
    return null;
  };
  return walk(f);
}

const silent = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {}, child() { return silent; } };

function readOrCreateSecret(file: string, log: Logger): Buffer {
  try {
    const st = fs.statSync(file);
    if ((st.mode & 0o077) !== 0) { fs.chmodSync(file, 0o600); log.warn({ file }, 'the LDAP bind secret file was readable by others; mode set to 0600'); }
    const s = fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    if (s.length < 16) throw new Error(`${file}: the LDAP bind secret is shorter than 16 characters; delete the file to have a new one made`);
    return Buffer.from(s, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  fs.mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const secret = randomBytes(24).toString('base64url');
  const old = process.umask(0o077);
  try { fs.writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' }); } finally { process.umask(old); }
  log.info({ file }, 'created the LDAP bind secret; store it for smbd (on stdin, never as an argument) with: { cat FILE; cat FILE; } | smbpasswd -s -W');
  return Buffer.from(secret, 'utf8');
}

const digest = (b: Uint8Array) => createHash('sha256').update(b).digest();

export class LdapView {
  /** the socket's listener: every connection starts in accept() */
  private listener: net.Server;
  /** ldapjs' server, made the first time a connection needs it */
  private ldapjs: any = null; // eslint-disable-line @typescript-eslint/no-explicit-any
  private dir!: Directory;
  private builtGen = -1;
  private builtCfg: Config | null = null;
  private secretDigest: Buffer;
  private bindDn: string;
  private conns = new Set<Socket>();
  private nextConnId = 1;
  // per account, keyed by rid: a deleted and re-created name starts afresh
  private disabledSeen = new Map<number, string | null>();
  /** what smbd last wrote as sambaBadPasswordCount/Time, per account (bounded by the accounts) */
  private bad = new Map<number, { count: number; time: number }>();
  /** when the view first saw each account's current version: served as modifyTimestamp */
  private changedAt = new Map<number, { version: number; at: number }>();
  private lockedSeen = new Map<number, boolean>();
  private aliasWarned = new Set<string>();
  readonly stats = { connections: 0, binds: 0, searches: 0, modifies: 0, exops: 0, refused: 0 };

  constructor(private auth: Authority, private log: Logger) {
    const cfg = auth.config;
    this.secretDigest = digest(readOrCreateSecret(cfg.sockets.ldap.bind_secret_file, log));
    this.bindDn = normDn(cfg.sockets.ldap.bind_dn);
    this.rebuild();
    auth.onChange(() => { try { this.rebuild(); } catch (e) { log.error({ err: (e as Error).message }, 'LDAP view rebuild failed'); } });
    this.listener = net.createServer((c) => this.accept(c));
  }

  /** ldapjs' server with our routes (it never listens: connections are handed to it). */
  private ldapServer(): any { // eslint-disable-line @typescript-eslint/no-explicit-any
    if (!this.ldapjs) {
      const s = ldapjsModule().createServer({ log: silent });
      s.on('error', (e: Error) => this.log.debug({ ldap: 'error', err: e.message }, 'LDAP connection error'));
      s.on('clientError', (e: Error) => this.log.debug({ ldap: 'client_error', err: e.message }, 'LDAP client error'));
      this.ldapjs = s;
      this.routes();
    }
    return this.ldapjs;
  }

  // ---- the directory --------------------------------------------------------------

  private rebuild() {
    const cfg = this.auth.config;
    const data = this.auth.smbDirectory();
    if (this.dir && this.dir.cfg === cfg) this.dir.update(data);
    else this.dir = new Directory(cfg, data);
    this.builtGen = data.generation;
    this.builtCfg = cfg;
    // say once per change why an account is closed to SMB
    const now = new Map<number, string | null>();
    for (const a of data.accounts) {
      let why = a.closed;
      if (!why && !a.nt) why = 'no NT hash (imported without one): SMB logins fail until the password is set again';
      now.set(a.rid, why);
      const before = this.disabledSeen.get(a.rid);
      if (before !== why && !(before === undefined && why === null)) {
        if (why) this.log.info({ audit: 'ldap_smb_closed', user: a.name, why }, `SMB refuses ${a.name}: ${why}`);
        else this.log.info({ audit: 'ldap_smb_open', user: a.name }, `SMB accepts ${a.name} again`);
      }
    }
    this.disabledSeen = now;
    // a lockout that ended in nasauth (nasauth unlock, a new password) also ends smbd's count
    const byRid = new Map(data.accounts.map((a) => [a.rid, a]));
    for (const [rid, rec] of this.bad) {
      const a = byRid.get(rid);
      if (!a || (rec.count > 0 && !a.locked && this.lockedSeen.get(rid))) this.bad.delete(rid);
    }
    // modifyTimestamp: smbd keeps bad-password counts in its own login cache and trusts
    // that cache only while it is newer than the entry (second resolution). A change is
    // stamped with its second, so counts smbd caches right after it stay valid; a lockout
    // that ended is stamped one second ahead, so every count and auto-lock smbd cached
    // before it is dropped.
    const t = this.auth.now();
    for (const a of data.accounts) {
      const c = this.changedAt.get(a.rid);
      const unlocked = this.lockedSeen.get(a.rid) === true && !a.locked;
      if (!c || c.version !== a.version) this.changedAt.set(a.rid, { version: a.version, at: unlocked ? (Math.floor(t / 1000) + 1) * 1000 : Math.floor(t / 1000) * 1000 });
    }
    this.lockedSeen = new Map(data.accounts.map((a) => [a.rid, a.locked]));
    for (const rid of this.changedAt.keys()) if (!byRid.has(rid)) this.changedAt.delete(rid);
  }

  private current(): Directory {
    if (this.auth.smbDirectory().generation !== this.builtGen || this.auth.config !== this.builtCfg) this.rebuild();
    return this.dir;
  }

  /**
   * Live attributes of user entries: lockout flag and smbd's own bad-password counters.
   * `accountOf` gives the entry's account as smbd may see it now, when the caller keeps
   * it (one search reads it once per entry, not once per attribute).
   */
  private live(e: Entry, attr: string, accountOf?: (e: Entry) => SmbAccount | undefined): readonly string[] | undefined {
    if (!e.account || !LIVE_ATTRS.has(attr)) return undefined;
    const a = accountOf ? accountOf(e) : this.auth.smbAccount(e.account);
    if (!a) return undefined;
    if (attr === 'sambaacctflags') return [acctFlags(a.closed !== null, a.locked, a.must_change)];
    if (attr === 'modifytimestamp') {
      const c = this.changedAt.get(a.rid);
      return c ? [new Date(c.at).toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z')] : undefined;
    }
    if (attr === 'sambabadpasswordcount') return [String(this.bad.get(a.rid)?.count ?? 0)];
    if (attr === 'sambabadpasswordtime') return [String(this.bad.get(a.rid)?.time ?? 0)];
    return undefined;
  }

  // ---- connections ----------------------------------------------------------------

  private accept(c: Socket) {
    const st: ConnState = { admin: false, raw: null, id: this.nextConnId++ };
    this.stats.connections++;
    this.conns.add(c);
    c.on('close', () => this.conns.delete(c));
    c.setTimeout(IDLE_TIMEOUT_MS);
    c.on('timeout', () => c.destroy());
    c.on('error', () => c.destroy()); // a client gone mid-write; nothing to tell it
    (c as any).nasauth = st; // eslint-disable-line @typescript-eslint/no-explicit-any
    const framer = new MessageFramer();
    // ldapjs takes the connection only when an operation needs it (modify, extended, ...):
    // smbd's connections bind, search and unbind, all answered here from the raw bytes,
    // and setting ldapjs up cost each connection more than its bind (docs/performance.md)
    let parser: { write(b: Buffer): void } | null = null;
    const ldapjs = () => {
      if (!parser) {
        const ours = new Set(c.listeners('data'));
        this.ldapServer().newConnection(c);
        // ldapjs' own feeder goes: the framer below feeds it whole messages
        for (const l of c.listeners('data')) if (!ours.has(l)) c.removeListener('data', l as (b: Buffer) => void);
        parser = (c as any).parser; // eslint-disable-line @typescript-eslint/no-explicit-any
      }
      return parser!;
    };
    const onData = (chunk: Buffer) => {
      for (const ev of framer.push(chunk)) {
        if (ev.kind === 'fatal') {
          this.stats.refused++;
          this.log.warn({ ldap: 'closed', conn: st.id, why: ev.why }, 'LDAP connection closed: not LDAP');
          if (c.writable) c.end(noticeOfDisconnection(RESULT.protocolError, ev.why)); else c.destroy();
          return;
        }
        if (ev.kind === 'refuse') {
          this.stats.refused++;
          this.log.warn({ ldap: 'refused', conn: st.id, op: ev.op, why: ev.why }, 'LDAP request refused');
          if (ev.reply && c.writable) c.write(ev.reply);
          continue;
        }
        const peek = peekIdAndOp(ev.raw, 0, ev.raw.length);
        if (peek?.op === 0x60) { // binds are answered here, from the raw bytes
          try { c.write(this.bind(st, ev.raw)); } catch (e) {
            this.log.warn({ ldap: 'closed', conn: st.id, err: (e as Error).message }, 'malformed LDAP bind; connection closed');
            c.destroy();
            return;
          }
          continue;
        }
        if (peek?.op === 0x42) { // unbind (RFC 4511 4.3): no response; the server closes the connection
          // (ending an ended socket makes Node build an error with a stack: smbd often closes first)
          if (!c.writableEnded && !c.destroyed) c.end();
          return;
        }
        if (peek?.op === 0x63) { // searches too (about 30 per SMB login): ldap-search.ts reads them
          try { this.searchRaw(c, ev.raw); } catch (e) {
            this.log.warn({ ldap: 'closed', conn: st.id, err: (e as Error).message }, 'malformed LDAP search; connection closed');
            c.destroy();
            return;
          }
          continue;
        }
        st.raw = ev.raw;
        try {
          ldapjs().write(ev.raw);
        } catch (e) {
          this.log.warn({ ldap: 'closed', conn: st.id, err: (e as Error).message }, 'LDAP request could not be handled; connection closed');
          c.destroy();
          return;
        } finally {
          st.raw = null;
        }
      }
    };
    c.on('data', onData);
    this.readTimeout(c, st, framer);
  }

  /**
   * A half-sent message would hold the connection (and its buffer) until the idle
   * timeout; idleness between whole messages is smbd's normal state. Runs after the
   * framer's 'data' listener, so it sees what is still pending after each chunk.
   */
  private readTimeout(c: Socket, st: ConnState, framer: MessageFramer) {
    let timer: NodeJS.Timeout | null = null;
    const clear = () => { if (timer) { clearTimeout(timer); timer = null; } };
    c.on('close', clear);
    c.on('data', () => {
      if (c.destroyed || !framer.pending) { clear(); return; }
      if (timer) return;
      const mine: NodeJS.Timeout = setTimeout(() => setImmediate(() => {
        // setImmediate: after the poll phase, so bytes that arrived while the event loop
        // was busy are read first; a stall of the daemon is not the client's slowness
        if (timer !== mine) return; // cleared (the message completed) meanwhile
        timer = null;
        if (c.destroyed || !framer.pending) return;
        const why = `a message stayed incomplete for ${MESSAGE_READ_TIMEOUT_MS} ms`;
        this.stats.refused++;
        this.log.warn({ ldap: 'closed', conn: st.id, why }, 'LDAP connection closed: incomplete message');
        if (c.writable) c.end(noticeOfDisconnection(RESULT.protocolError, why));
        setTimeout(() => c.destroy(), 1000).unref(); // a peer that never reads
      }), MESSAGE_READ_TIMEOUT_MS);
      timer = mine;
      timer.unref();
    });
  }

  private state(req: any): ConnState { return req.connection.nasauth; } // eslint-disable-line @typescript-eslint/no-explicit-any

  // ---- operations -----------------------------------------------------------------

  private routes() {
    /* eslint-disable @typescript-eslint/no-explicit-any */
    const s = this.ldapjs;
    // RFC 4511 4.1.11: an unknown critical control fails the operation
    const controls = (req: any, res: any, next: any) => {
      for (const ctl of req.controls ?? []) {
        if (ctl.criticality && !SUPPORTED_CONTROLS.includes(ctl.type)) {
          this.stats.refused++;
          res.diagnosticMessage = `critical control ${String(ctl.type).slice(0, 64)} is not supported`;
          return res.end(RESULT.unavailableCriticalExtension);
        }
      }
      return next();
    };
    s.use(controls);
    s.search('', (req: any, res: any) => this.search(req, res));
    s.modify('', (req: any, res: any) => { void this.modify(req, res); });
    const readOnly = (what: string) => (req: any, res: any) => {
      this.log.warn({ ldap: what, conn: this.state(req).id, dn: String(req.dn ?? '').slice(0, 200) }, `LDAP ${what} refused`);
      res.diagnosticMessage = `the NAS's accounts are managed by nasauth: ${what} is refused; use the nasauth CLI (nasauth user add/del)`;
      res.end(RESULT.unwillingToPerform);
    };
    s.add('', readOnly('add'));
    s.del('', readOnly('delete'));
    s.modifyDN('', readOnly('modrdn'));
    s.compare('', readOnly('compare'));
    s.exop(PASSWORD_MODIFY_OID, (req: any, res: any) => { void this.passwordModify(req, res); });
    s.exop(POLICY_CHECK_OID, (req: any, res: any) => this.policyCheck(req, res));
    /* eslint-enable @typescript-eslint/no-explicit-any */
  }

  /** Simple bind as the admin DN, or anonymous. Every bind starts anonymous (RFC 4513 5.1). */
  private bind(st: ConnState, raw: Buffer): Buffer {
    st.admin = false;
    this.stats.binds++;
    const b = readBind(raw);
    const reply = (code: number, msg = '') => encodeResult(b.id, 0x60, code, msg) as Buffer;
    try {
      const bad = b.criticalControls.find((oid) => !SUPPORTED_CONTROLS.includes(oid));
      if (bad) return reply(RESULT.unavailableCriticalExtension, `critical control ${bad.slice(0, 64)} is not supported`);
      if (b.version !== 3) return reply(RESULT.protocolError, 'only LDAP version 3 is supported');
      if (!b.simple) return reply(RESULT.authMethodNotSupported, 'only simple bind is supported');
      const name = normDn(b.name);
      if (b.simple.length === 0) {
        if (name === '') return reply(RESULT.success); // anonymous: the RootDSE only
        // a name without a password is an "unauthenticated bind", a classic mistake: refuse it
        return reply(RESULT.unwillingToPerform, 'a bind with a name needs a password (unauthenticated binds are refused)');
      }
      const ok = timingSafeEqual(digest(b.simple), this.secretDigest) && name === this.bindDn;
      if (!ok) {
        this.log.warn({ ldap: 'bind', conn: st.id, dn: name.slice(0, 200), result: RESULT.invalidCredentials }, 'LDAP bind refused');
        return reply(RESULT.invalidCredentials, 'invalid credentials');
      }
      st.admin = true;
      this.log.debug({ ldap: 'bind', conn: st.id, result: 0 }, 'LDAP bind');
      return reply(RESULT.success);
    } finally {
      b.simple?.fill(0);
    }
  }

  /**
   * A search read from the raw message (ldap-search.ts) instead of by ldapjs, answered
   * by search() below through a request and a response of the shape ldapjs gives it;
   * SearchResultDone is written here too. The controls check is the ldapjs route's.
   */
  private searchRaw(c: Socket, raw: Buffer) {
    const s = readSearch(raw);
    const controls: Buffer[] = [];
    const res = {
      connection: c,
      matchedDN: '',
      diagnosticMessage: '',
      addControl(ctl: { toBer(): { buffer: Buffer } }) { controls.push(ctl.toBer().buffer); },
      end(code: number) { if (c.writable) c.write(encodeSearchDone(s.messageId, code, this.matchedDN, this.diagnosticMessage, controls)); },
    };
    const bad = s.controls.find((x) => x.criticality && !SUPPORTED_CONTROLS.includes(x.type));
    if (bad) {
      this.stats.refused++;
      res.diagnosticMessage = `critical control ${bad.type.slice(0, 64)} is not supported`;
      return res.end(RESULT.unavailableCriticalExtension);
    }
    // the entries and SearchResultDone leave in one write (writev), not one per message
    c.cork();
    try {
      return this.search({ ...s, connection: c }, res);
    } finally {
      c.uncork();
    }
  }

  /**
   * Search bases normalised once (smbd asks from the same few bases ~30 times per login).
   * Bounded: at most 256 bases of at most 512 characters are kept, whoever asks.
   */
  private bases = new Map<string, string>();
  private normBase(dn: string): string {
    let n = this.bases.get(dn);
    if (n === undefined) {
      n = normDn(dn);
      if (dn.length <= 512) {
        if (this.bases.size >= 256) this.bases.clear();
        this.bases.set(dn, n);
      }
    }
    return n;
  }

  private search(req: any, res: any) { // eslint-disable-line @typescript-eslint/no-explicit-any
    const st = this.state(req);
    this.stats.searches++;
    const dir = this.current();
    const base = this.normBase(req.baseObject.toString());
    const scope: number = typeof req.scope === 'number' ? req.scope : ({ base: 0, one: 1, sub: 2 } as Record<string, number>)[req.scope] ?? 0;
    const filter = req.filter as LdapFilter;
    const requested: string[] = (req.attributes ?? []).map((a: string) => String(a).toLowerCase());
    const all = requested.length === 0 || requested.includes('*');
    const none = requested.length === 1 && requested[0] === '1.1';
    const want = new Set(requested);
    const secretOk = st.admin;
    // the account behind the entry last asked about, read once per entry of this search
    let seen: Entry | null = null;
    let seenAcct: SmbAccount | undefined;
    const accountOf = (e: Entry) => {
      if (e !== seen) { seen = e; seenAcct = this.auth.smbAccount(e.account!); }
      return seenAcct;
    };
    const liveOf = (e: Entry, a: string) => this.live(e, a, accountOf);
    const get = (e: Entry, a: string) => {
      if (!secretOk && SECRET_ATTRS.has(a)) return undefined;
      return liveOf(e, a) ?? e.attrs.get(a)?.values;
    };
    const paged = (req.controls ?? []).find((c: { type: string }) => c.type === PAGED_RESULTS_OID);
    const done = (code: number, msg = '', sent = 0) => {
      if (paged) res.addControl(new (pagedResultsControl())({ value: { size: 0, cookie: Buffer.alloc(0) } }));
      // smbd sends ~20 searches per login: build the debug line only when it is wanted
      if (this.log.isLevelEnabled('debug')) this.log.debug({ ldap: 'search', conn: st.id, base, scope, filter: filterText(filter), attrs: requested.slice(0, 40), entries: sent, result: code }, 'LDAP search');
      if (msg) res.diagnosticMessage = msg;
      return res.end(code);
    };

    // smbd looks its domain up by its own NetBIOS name. When smb.conf's name is not
    // netbios_name (the box was renamed, the firmware sets its own), answer for the name
    // smbd asks (same SID, same policy) instead of letting every SMB login fail; say once
    // per name that the two disagree, and let doctor show it.
    let alias: Entry | null = null;
    const asked = st.admin ? askedDomain(filter, base, dir.suffix) : null;
    if (asked !== null && NETBIOS_RE.test(asked)) {
      noteDomainAsked(asked, this.auth.now());
      const configured = this.auth.config.netbios_name;
      if (asked.toUpperCase() !== configured.toUpperCase()) {
        alias = dir.domainEntry(asked);
        if (!this.aliasWarned.has(asked.toUpperCase())) {
          if (this.aliasWarned.size >= MAX_DOMAIN_NAMES) this.aliasWarned.clear(); // bounded; smbd asks for one name
          this.aliasWarned.add(asked.toUpperCase());
          this.log.warn({ ldap: 'domain_name', asked, configured }, `smbd asks for the domain "${asked}" but netbios_name is "${configured}": answering for "${asked}"; set netbios_name: ${asked} in nasauth.yaml (or netbios name = ${configured} in smb.conf) so that they agree`);
        }
      }
    }

    let pool: Entry[];
    if (base === '' && scope === 0) pool = [dir.rootDse];
    else if (alias && base === alias.ndn) pool = [alias];
    else {
      if (!st.admin) return done(RESULT.insufficientAccessRights, `bind as ${this.auth.config.sockets.ldap.bind_dn} to read the directory`);
      if (base === '') pool = scope === 1 ? dir.entries.filter((e) => e.ndn === dir.suffix) : dir.entries;
      else {
        const b = dir.byDn.get(base);
        if (!b) {
          if (base === dir.suffix || base.endsWith(`,${dir.suffix}`)) res.matchedDN = this.auth.config.sockets.ldap.suffix;
          return done(RESULT.noSuchObject, `no entry ${req.baseObject.toString().slice(0, 200)}`);
        }
        if (scope === 0) pool = [b];
        else {
          const cand = candidates(dir, filter, secretOk) ?? dir.entries;
          pool = cand.filter((e) => (scope === 1 ? e.parent === base : e.ndn === base || e.ndn.endsWith(`,${base}`)));
        }
      }
    }
    if (alias && base !== alias.ndn && (scope === 2 ? (base === '' || alias.ndn.endsWith(`,${base}`)) : scope === 1 && alias.parent === base)) pool = [...pool, alias];
    const limit = Math.min(req.sizeLimit > 0 ? req.sizeLimit : MAX_SEARCH_ENTRIES, MAX_SEARCH_ENTRIES);
    let sent = 0;
    for (const e of pool) {
      if (!matches(filter, e, get)) continue;
      if (sent >= limit) return done(RESULT.sizeLimitExceeded, `more than ${limit} entries match`, sent);
      const attrs: Buffer[] = [];
      if (!none) {
        for (const [k, at] of e.attrs) {
          if (!all && !want.has(k)) continue;
          if (!secretOk && SECRET_ATTRS.has(k)) continue;
          const live = liveOf(e, k);
          attrs.push(req.typesOnly ? encodeAttribute(at.name, []) : live ? encodeAttribute(at.name, live) : at.enc);
        }
        if (e.account) {
          for (const [k, name] of [['sambabadpasswordcount', 'sambaBadPasswordCount'], ['sambabadpasswordtime', 'sambaBadPasswordTime'], ['modifytimestamp', 'modifyTimestamp']]) {
            if (all || want.has(k)) attrs.push(encodeAttribute(name, req.typesOnly ? [] : liveOf(e, k) ?? []));
          }
        }
      }
      res.connection.write(encodeSearchEntry(req.messageId, e.dn, attrs));
      sent++;
    }
    return done(RESULT.success, '', sent);
  }

  /** The account a DN (or a bare user name) names, if it is a user entry. */
  private accountFor(identity: string): SmbAccount | undefined {
    const dir = this.current();
    const e = dir.byDn.get(normDn(identity));
    const name = e?.account ?? (/^[^=,]+$/.test(identity) ? identity : undefined);
    return name ? this.auth.smbAccount(name) : undefined;
  }

  private async modify(req: any, res: any) { // eslint-disable-line @typescript-eslint/no-explicit-any
    const st = this.state(req);
    this.stats.modifies++;
    const dn = req.object.toString();
    const changes: Array<{ op: string; attr: string; values: string[] }> = (req.changes ?? []).map((c: any) => ({ // eslint-disable-line @typescript-eslint/no-explicit-any
      op: String(c.operation), attr: String(c.modification.type).toLowerCase(), values: (c.modification.values ?? []).map(String),
    }));
    const logged = changes.map((c) => `${c.op}:${c.attr}${SECRET_ATTRS.has(c.attr) ? '' : `=${c.values.join('|').slice(0, 40)}`}`);
    const refuse = (code: number, msg: string) => {
      this.stats.refused++;
      this.log.warn({ ldap: 'modify', conn: st.id, dn: dn.slice(0, 200), changes: logged, result: code, why: msg }, 'LDAP modify refused');
      res.diagnosticMessage = msg;
      return res.end(code);
    };
    if (!st.admin) return refuse(RESULT.insufficientAccessRights, `bind as ${this.auth.config.sockets.ldap.bind_dn} to modify`);
    const secret = changes.find((c) => SECRET_ATTRS.has(c.attr));
    if (secret) {
      return refuse(RESULT.unwillingToPerform, `${secret.attr} cannot be written: nasauth sets passwords only from the plaintext (Password Modify extended operation; smb.conf: ldap passwd sync = only), so that SMB and every other service keep one password`);
    }
    const a = this.accountFor(dn);
    if (!a) return refuse(this.current().byDn.has(normDn(dn)) ? RESULT.unwillingToPerform : RESULT.noSuchObject, `only user entries take writes here; ${dn.slice(0, 200)} is managed by nasauth (nasauth.yaml / the nasauth CLI)`);
    for (const c of changes) {
      if (!IGNORED_WRITES.has(c.attr) && !LOCKOUT_WRITES.has(c.attr)) {
        return refuse(RESULT.unwillingToPerform, `${c.attr} is managed by nasauth; change it with the nasauth CLI (nasauth user set ${a.name} …)`);
      }
    }
    // smbd writes replace, or delete-old + add-new pairs: work out each attribute's final value
    const rec = { ...(this.bad.get(a.rid) ?? { count: 0, time: 0 }) };
    const finals = new Map<string, string[]>();
    const currentOf = (attr: string): string[] => {
      if (attr === 'sambabadpasswordcount') return [String(rec.count)];
      if (attr === 'sambabadpasswordtime') return [String(rec.time)];
      if (attr === 'sambaacctflags') return [acctFlags(a.closed !== null, a.locked, a.must_change)];
      return [];
    };
    for (const c of changes) {
      if (!LOCKOUT_WRITES.has(c.attr)) continue;
      let cur = finals.get(c.attr) ?? currentOf(c.attr);
      if (c.op === 'replace') cur = [...c.values];
      else if (c.op === 'add') cur = [...cur, ...c.values];
      else if (c.op === 'delete') cur = c.values.length ? cur.filter((v) => !c.values.some((d) => d.trim().toLowerCase() === v.trim().toLowerCase())) : [];
      finals.set(c.attr, cur);
    }
    const flags = finals.get('sambaacctflags');
    let lock = false;
    if (flags) {
      const strip = (f: string) => f.replace(/[[\]\sL]/g, '').split('').sort().join('');
      const served = acctFlags(a.closed !== null, false, a.must_change);
      if (flags.length !== 1 || strip(flags[0]) !== strip(served)) {
        return refuse(RESULT.unwillingToPerform, `sambaAcctFlags ${flags.join(' ')} would change more than the lockout flag; enable or disable accounts with nasauth user set ${a.name} --enable/--disable`);
      }
      // smbd's auto-lock (its own count reached sambaLockoutThreshold): make it nasauth's lockout
      if (flags[0].includes('L') && !a.locked) lock = true;
    }
    // everything was checked above, so a modify applies whole or not at all
    const num = (attr: string, dflt: number) => { const v = finals.get(attr); if (!v) return dflt; const n = Number(v[0] ?? 0); return Number.isFinite(n) ? n : 0; };
    const nextCount = num('sambabadpasswordcount', rec.count);
    if (nextCount === 0 && rec.count > 0) this.auth.smbFailuresCleared(a.name);
    rec.count = nextCount;
    rec.time = num('sambabadpasswordtime', rec.time);
    this.bad.set(a.rid, rec);
    if (lock) await this.auth.smbLockout(a.name, a.rid, rec.count);
    this.log.debug({ ldap: 'modify', conn: st.id, user: a.name, changes: logged, result: 0 }, 'LDAP modify');
    return res.end(RESULT.success);
  }

  private async passwordModify(req: any, res: any) { // eslint-disable-line @typescript-eslint/no-explicit-any
    const st = this.state(req);
    this.stats.exops++;
    const fail = (code: number, msg: string, user?: string) => {
      this.log.warn({ ldap: 'passwd', conn: st.id, user, result: code, why: msg }, 'LDAP password modify refused');
      res.diagnosticMessage = msg;
      return res.end(code);
    };
    if (!st.admin) return fail(RESULT.insufficientAccessRights, `bind as ${this.auth.config.sockets.ldap.bind_dn} to change passwords`);
    let v;
    try { v = readPasswordModify(st.raw ?? Buffer.alloc(0)); } catch (e) { return fail(RESULT.protocolError, `malformed password modify request: ${(e as Error).message}`); }
    try {
      if (!v.user) return fail(RESULT.unwillingToPerform, 'name the user (userIdentity): the admin identity has no password of its own here');
      if (!v.newPw) return fail(RESULT.unwillingToPerform, 'send the new password: nasauth does not generate passwords');
      const a = this.accountFor(v.user.toString('utf8'));
      if (!a) return fail(RESULT.noSuchObject, 'no such user');
      const d = await this.auth.smbSetPassword(a.name, v.newPw);
      switch (d.reason) {
        case 'ok':
          this.log.debug({ ldap: 'passwd', conn: st.id, user: a.name, result: 0 }, 'LDAP password modify');
          return res.end(RESULT.success);
        case 'password_rejected': return fail(RESULT.constraintViolation, d.message, a.name);
        case 'account_disabled': case 'service_denied': return fail(RESULT.unwillingToPerform, d.message, a.name);
        case 'unknown_user': return fail(RESULT.noSuchObject, 'no such user', a.name);
        case 'busy': return fail(RESULT.busy, d.message, a.name);
        case 'unavailable': return fail(RESULT.unavailable, d.message, a.name);
        default: return fail(RESULT.other, d.message, a.name);
      }
    } finally {
      v.newPw?.fill(0);
      v.oldPw?.fill(0);
    }
  }

  /** "Would this password pass the policy?" for smb.conf's check password script. Changes nothing. */
  private policyCheck(req: any, res: any) { // eslint-disable-line @typescript-eslint/no-explicit-any
    const st = this.state(req);
    this.stats.exops++;
    let v;
    try { v = readPasswordModify(st.raw ?? Buffer.alloc(0)); } catch (e) {
      res.diagnosticMessage = `malformed policy check request: ${(e as Error).message}`;
      return res.end(RESULT.protocolError);
    }
    const user = v.user?.toString('utf8') ?? '';
    const problems = passwordProblems(v.newPw ?? Buffer.alloc(0), user, this.auth.config.password_policy);
    v.newPw?.fill(0);
    if (problems.length) {
      res.diagnosticMessage = `the new password needs ${problems.join('; ')}`;
      this.log.info({ ldap: 'policy_check', user: user.slice(0, 64), result: RESULT.constraintViolation }, 'password refused by the policy');
      return res.end(RESULT.constraintViolation);
    }
    return res.end(RESULT.success);
  }

  // ---- lifecycle ------------------------------------------------------------------

  async listen(): Promise<void> {
    const s = this.auth.config.sockets.ldap;
    this.listener.maxConnections = MAX_CONNECTIONS;
    await listenUnix(this.listener, { path: s.path, mode: s.mode, group: s.group });
    this.log.info({ ldap: 'listening', path: s.path, suffix: s.suffix }, 'LDAP view for Samba ready');
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      for (const c of this.conns) c.destroy();
      try { this.listener.close(() => resolve()); } catch { resolve(); }
    });
  }
}

export async function startLdapView(auth: Authority, log: Logger): Promise<LdapView> {
  const v = new LdapView(auth, log);
  await v.listen();
  return v;
}
