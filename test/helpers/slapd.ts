// A real OpenLDAP slapd (Debian's package) for the directory tests: its own folder,
// its own slapd.conf (-f), pid and args files, an ldapi socket of its own and loopback
// ports in 13890-13899. It never reads /etc/ldap/slapd.d and never touches a system
// slapd. Schemas: Debian's core, cosine, inetorgperson and nis (RFC 2307), and the
// Samba attributes nasauth reads (test/env/slapd/samba-subset.schema, written for the
// tests). rfc2307bis-style groups (member DNs, memberOf) are groupOfNames entries with a
// gidNumber (extensibleObject) and slapd's memberof overlay.
//
// TLS: each test makes its own CA with openssl (makeCa), and slapd serves a certificate
// for 127.0.0.1 and localhost signed by it, on ldaps:// and through StartTLS on ldap://.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { needRoot, type Missing } from './env';
import { tempDir } from './tmp';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { join, resolve } from 'node:path';
import { ntHash } from '../../daemon/password';
import { waitFor, pidGone } from './wait';

export const ROOT = resolve(__dirname, '..', '..');
export const SCHEMA_DIR = join(ROOT, 'test', 'env', 'slapd');
export const PORT_MIN = 13890;
export const PORT_MAX = 13899;
export const SUFFIX = 'dc=example,dc=org';
export const ROOT_DN = `cn=admin,${SUFFIX}`;
export const ROOT_PW = 'directory-admin-secret';
export const SERVICE_DN = `cn=nas,ou=services,${SUFFIX}`;
export const SERVICE_PW = 'nas-service-secret-1';
export const PEOPLE = `ou=people,${SUFFIX}`;
export const GROUPS = `ou=groups,${SUFFIX}`;
export const DOMAIN_SID = 'S-1-5-21-1111111111-2222222222-3333333333';

/** Why the directory tests cannot run here, or null. */
export function slapdMissing(): Missing | null {
  if (process.getuid?.() !== 0) return needRoot();
  for (const b of ['slapd', 'slapadd', 'ldapadd', 'ldapmodify', 'ldapsearch', 'ldappasswd', 'openssl']) {
    if (spawnSync('sh', ['-c', `command -v ${b}`]).status !== 0) return { what: `${b} is not installed (slapd, ldap-utils, openssl)`, installable: true };
  }
  if (!fs.existsSync('/usr/lib/ldap/back_mdb.so')) return { what: 'slapd\'s back_mdb module is missing (package slapd)', installable: true };
  return null;
}

// ---- certificates -----------------------------------------------------------------

export interface Ca { dir: string; cert: string; key: string }

function openssl(args: string[], cwd: string) {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/** A throwaway CA (EC P-256, valid two days). */
export function makeCa(dir: string, name = 'nasauth test CA'): Ca {
  fs.mkdirSync(dir, { recursive: true });
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', `/CN=${name}`], dir);
  return { dir, cert: join(dir, 'ca.pem'), key: join(dir, 'ca.key') };
}

/** A server certificate for 127.0.0.1 and localhost signed by `ca`. */
export function serverCert(ca: Ca, dir: string): { cert: string; key: string } {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(join(dir, 'san.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost'], dir);
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.cnf'], dir);
  return { cert: join(dir, 'server.pem'), key: join(dir, 'server.key') };
}

// ---- data -------------------------------------------------------------------------

/** userPassword in OpenLDAP's {SSHA} form. */
export function ssha(pw: string): string {
  const salt = randomBytes(8);
  return `{SSHA}${Buffer.concat([createHash('sha1').update(Buffer.from(pw, 'utf8')).update(salt).digest(), salt]).toString('base64')}`;
}

export interface UserSpec {
  name: string; uid: number; gid?: number; password: string;
  mail?: string; displayName?: string; cn?: string;
  /** add sambaSamAccount with sambaNTPassword of the password */
  samba?: boolean; flags?: string; rid?: number;
  shadowExpire?: number;
}

export function userLdif(u: UserSpec): string {
  const lines = [
    `dn: uid=${u.name},${PEOPLE}`,
    'objectClass: inetOrgPerson', 'objectClass: posixAccount', 'objectClass: shadowAccount',
    ...(u.samba ? ['objectClass: sambaSamAccount'] : []),
    `uid: ${u.name}`, `cn: ${u.cn ?? u.name}`, `sn: ${u.name}`,
    `uidNumber: ${u.uid}`, `gidNumber: ${u.gid ?? 100}`, `homeDirectory: /home/${u.name}`, 'loginShell: /bin/sh',
    `userPassword: ${ssha(u.password)}`,
  ];
  if (u.mail) lines.push(`mail: ${u.mail}`);
  if (u.displayName) lines.push(`displayName:: ${Buffer.from(u.displayName, 'utf8').toString('base64')}`);
  if (u.shadowExpire !== undefined) lines.push(`shadowExpire: ${u.shadowExpire}`);
  if (u.samba) {
    lines.push(`sambaSID: ${DOMAIN_SID}-${u.rid ?? u.uid * 2 + 1000}`, `sambaNTPassword: ${ntHash(Buffer.from(u.password, 'utf8')).toString('hex').toUpperCase()}`,
      `sambaAcctFlags: ${u.flags ?? '[U          ]'}`, `sambaPwdLastSet: ${Math.floor(Date.now() / 1000)}`);
  }
  return lines.join('\n') + '\n\n';
}

/** RFC 2307 group: posixGroup with memberUid. */
export function posixGroupLdif(name: string, gid: number, members: string[]): string {
  return [`dn: cn=${name},${GROUPS}`, 'objectClass: posixGroup', `cn: ${name}`, `gidNumber: ${gid}`, ...members.map((m) => `memberUid: ${m}`)].join('\n') + '\n\n';
}

/** rfc2307bis-style group: member DNs (groupOfNames) and a gidNumber. */
export function dnGroupLdif(name: string, gid: number, members: string[]): string {
  return [`dn: cn=${name},${GROUPS}`, 'objectClass: groupOfNames', 'objectClass: extensibleObject', `cn: ${name}`, `gidNumber: ${gid}`,
    ...(members.length ? members : ['']).map((m) => `member: ${m ? `uid=${m},${PEOPLE}` : ''}`)].join('\n') + '\n\n';
}

export function baseLdif(): string {
  return [
    `dn: ${SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n`,
    `dn: ${PEOPLE}\nobjectClass: organizationalUnit\nou: people\n`,
    `dn: ${GROUPS}\nobjectClass: organizationalUnit\nou: groups\n`,
    `dn: ou=services,${SUFFIX}\nobjectClass: organizationalUnit\nou: services\n`,
    `dn: ${SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: nas\nuserPassword: ${ssha(SERVICE_PW)}\n`,
  ].join('\n') + '\n';
}

// ---- the server -------------------------------------------------------------------

export interface SlapdOptions {
  /** listeners besides ldapi: StartTLS-capable ldap:// and/or ldaps:// (TLS needs `tls`) */
  ldap?: boolean;
  ldaps?: boolean;
  tls?: { cert: string; key: string };
  /** LDIF loaded with slapadd before the start (fast, for large directories) */
  seed?: string;
  /** the nasauth service identity may set passwords (Password Modify without the old one) */
  serviceResets?: boolean;
  /** memberof overlay (memberOf on users of groupOfNames groups) */
  memberOf?: boolean;
  /** syncprov overlay: may serve syncrepl consumers */
  provider?: boolean;
  /** a syncrepl consumer of this provider (read-only replica; refreshAndPersist) */
  consumerOf?: Slapd;
  /** server-side size limit (to prove paging) */
  sizeLimit?: number;
  /** anonymous clients may read users and groups (for an anonymous search) */
  anonymousRead?: boolean;
  /** reuse the folder of a stopped slapd (same database, same ports) */
  reuse?: Slapd;
}

export interface Slapd {
  dir: string; conf: string; ldapi: string; ldapiUrl: string;
  ldapPort: number | null; ldapsPort: number | null; ldapUrl: string | null; ldapsUrl: string | null;
  pid: number; proc: ChildProcess; opts: SlapdOptions;
  log(): string;
  /** ldapmodify/ldapadd/ldapdelete as the root DN over ldapi; throws on failure */
  ldap(tool: 'ldapadd' | 'ldapmodify' | 'ldapdelete', input: string, extra?: string[]): string;
  add(ldif: string): void;
  modify(ldif: string): void;
  /** a user's password set by the directory's admin (ldappasswd) */
  setPassword(name: string, pw: string): void;
  search(base: string, filter: string, attrs?: string[]): string;
  /** ldapsearch as nasauth's service identity (subject to the size limit); exit code and output */
  searchAsService(base: string, filter: string, attrs?: string[]): { code: number | null; out: string };
  /** whether the directory accepts `pw` for the user (ldapwhoami, a simple bind) */
  bindOk(name: string, pw: string): boolean;
  /** SIGKILL (a crash) and wait until it is gone */
  kill(): Promise<void>;
  /** SIGTERM and wait */
  stop(): Promise<void>;
  /** remove the folder (after stop) */
  cleanup(): void;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = net.createServer();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });
}

/**
 * Ports handed out stay reserved for their slapd until cleanup(), across test files: a
 * test that stops its directory and starts it again on the same ports (reuse) found the
 * port taken by another file's slapd that had looked while it was down (CI at 398fc98).
 * A reservation is a file naming the test process; one whose process is gone is free.
 * Not under TMPDIR: the test run counts what is left there as a test that did not clean up.
 */
const RESERVED = fs.existsSync('/dev/shm') ? '/dev/shm/nasauth-test-ports' : '/tmp/nasauth-test-ports';
const mine = new Set<number>();

export function reservePort(port: number): boolean {
  if (mine.has(port)) return false;
  if (fs.mkdirSync(RESERVED, { recursive: true, mode: 0o1777 })) try { fs.chmodSync(RESERVED, 0o1777); } catch { /* another uid made it first */ }
  const f = join(RESERVED, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(f, String(process.pid), { flag: 'wx' });
      mine.add(port);
      return true;
    } catch { /* reserved: by a live test process? */ }
    let owner = 0;
    try { owner = Number(fs.readFileSync(f, 'utf8')); } catch { continue; }
    if (owner > 0 && !pidGone(owner)) return false;
    try { fs.unlinkSync(f); } catch { /* another process took it over first */ }
  }
  return false;
}

export function releasePort(port: number | null) {
  if (port === null || !mine.delete(port)) return;
  const f = join(RESERVED, String(port));
  try { if (fs.readFileSync(f, 'utf8') === String(process.pid)) fs.unlinkSync(f); } catch { /* gone */ }
}

/** A free loopback port in 13890-13899, reserved until releasePort (another test may still take it first: callers retry). */
export async function freePort(exclude: number[] = []): Promise<number> {
  const start = PORT_MIN + Math.floor(Math.random() * (PORT_MAX - PORT_MIN + 1));
  for (let k = 0; k <= PORT_MAX - PORT_MIN; k++) {
    const p = PORT_MIN + ((start - PORT_MIN + k) % (PORT_MAX - PORT_MIN + 1));
    if (exclude.includes(p) || !reservePort(p)) continue;
    if (await portFree(p)) return p;
    releasePort(p);
  }
  throw new Error(`no free port in ${PORT_MIN}-${PORT_MAX}`);
}

function conf(dir: string, o: SlapdOptions): string {
  const lines = [
    'include /etc/ldap/schema/core.schema',
    'include /etc/ldap/schema/cosine.schema',
    'include /etc/ldap/schema/inetorgperson.schema',
    'include /etc/ldap/schema/nis.schema',
    `include ${join(SCHEMA_DIR, 'samba-subset.schema')}`,
    `pidfile ${join(dir, 'slapd.pid')}`,
    `argsfile ${join(dir, 'slapd.args')}`,
    'modulepath /usr/lib/ldap',
    'moduleload back_mdb',
    ...(o.provider ? ['moduleload syncprov'] : []),
    ...(o.memberOf ? ['moduleload memberof'] : []),
    'loglevel stats',
    // a server-side limit on plain searches; paged searches may return everything
    ...(o.sizeLimit ? [`sizelimit size.soft=${o.sizeLimit} size.hard=${o.sizeLimit} size.pr=${o.sizeLimit} size.prtotal=unlimited`] : []),
    ...(o.tls ? [`TLSCertificateFile ${o.tls.cert}`, `TLSCertificateKeyFile ${o.tls.key}`] : []),
    'database mdb',
    `suffix "${SUFFIX}"`,
    `rootdn "${ROOT_DN}"`,
    `rootpw ${ROOT_PW}`,
    `directory ${join(dir, 'db')}`,
    'maxsize 268435456',
    'index objectClass eq',
    'index uid,memberUid,member,cn eq',
    // who may do what: users bind and change their own password; the service identity
    // reads users and groups (and the Samba hash), and sets passwords when allowed
    'access to attrs=userPassword',
    '  by self write',
    ...(o.serviceResets ? [`  by dn.exact="${SERVICE_DN}" write`] : []),
    '  by anonymous auth',
    '  by * none',
    'access to attrs=sambaNTPassword,sambaLMPassword,sambaPwdLastSet',
    '  by self write',
    `  by dn.exact="${SERVICE_DN}" ${o.serviceResets ? 'write' : 'read'}`,
    '  by * none',
    'access to *',
    `  by dn.exact="${SERVICE_DN}" read`,
    '  by self read',
    '  by users read',
    ...(o.anonymousRead ? ['  by anonymous read'] : []),
    '  by * none',
  ];
  if (o.memberOf) lines.push('overlay memberof');
  if (o.provider) lines.push('overlay syncprov', 'syncprov-checkpoint 1 1');
  if (o.consumerOf) {
    const p = o.consumerOf;
    lines.push(`syncrepl rid=001 provider=ldap://127.0.0.1:${p.ldapPort} bindmethod=simple binddn="${ROOT_DN}" credentials=${ROOT_PW} searchbase="${SUFFIX}" type=refreshAndPersist retry="1 +" timeout=3`);
  }
  return lines.join('\n') + '\n';
}

export async function startSlapd(o: SlapdOptions = {}): Promise<Slapd> {
  if (o.consumerOf && !o.consumerOf.ldapPort) throw new Error('a syncrepl provider needs an ldap:// port');
  const dir = o.reuse?.dir ?? tempDir('nasauth-slapd-', 0o700);
  fs.chmodSync(dir, 0o755);
  const db = join(dir, 'db');
  const fresh = !fs.existsSync(db);
  fs.mkdirSync(db, { recursive: true, mode: 0o700 });
  const cf = join(dir, 'slapd.conf');
  const opts = o.reuse ? { ...o.reuse.opts, ...o, reuse: undefined } : o;
  fs.writeFileSync(cf, conf(dir, opts));
  if (fresh && !opts.consumerOf) {
    const seed = join(dir, 'seed.ldif');
    fs.writeFileSync(seed, baseLdif() + (opts.seed ?? ''));
    const r = spawnSync('slapadd', ['-q', '-f', cf, '-l', seed], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`slapadd failed: ${r.stderr}${r.stdout}`);
  }
  const ldapi = join(dir, 'ldapi');
  const ldapiUrl = `ldapi://${encodeURIComponent(ldapi)}`;
  let lastErr = '';
  for (let attempt = 0; attempt < 12; attempt++) {
    const taken: number[] = [];
    const ldapPort = opts.ldap ? (o.reuse?.ldapPort ?? await freePort()) : null;
    if (ldapPort) taken.push(ldapPort);
    const ldapsPort = opts.ldaps ? (o.reuse?.ldapsPort ?? await freePort(taken)) : null;
    const urls = [ldapiUrl, ...(ldapPort ? [`ldap://127.0.0.1:${ldapPort}/`] : []), ...(ldapsPort ? [`ldaps://127.0.0.1:${ldapsPort}/`] : [])];
    // the log goes to a file, not a pipe: a parent busy in spawnSync would not drain a
    // pipe, and slapd would block on a full one
    const logFile = join(dir, `slapd-${attempt}.log`);
    const fd = fs.openSync(logFile, 'a');
    const proc = spawn('slapd', ['-f', cf, '-h', urls.join(' '), '-d', 'stats', '-s', '0'], { stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    const out = '';
    const readLog = () => { try { return fs.readFileSync(logFile, 'utf8'); } catch { return out; } };
    let exited = false;
    proc.on('exit', () => { exited = true; });
    const ready = await waitFor('slapd to answer on its ldapi socket', () => {
      if (exited) return 'exited';
      const r = spawnSync('ldapsearch', ['-x', '-H', ldapiUrl, '-b', '', '-s', 'base', '-LLL', 'namingContexts'], { encoding: 'utf8', timeout: 3000 });
      return r.status === 0 ? 'ready' : false;
    }, 20_000, 50).catch((e) => { proc.kill('SIGKILL'); throw e; });
    if (ready === 'exited') {
      lastErr = readLog();
      if (/bind\(|Address already in use|errno=98/.test(lastErr) && !o.reuse) { releasePort(ldapPort); releasePort(ldapsPort); continue; } // a port was taken meanwhile
      if (/bind\(|errno=98/.test(lastErr) && o.reuse && attempt < 10) { await new Promise((r) => setTimeout(r, 300)); continue; }
      if (!o.reuse) { releasePort(ldapPort); releasePort(ldapsPort); }
      throw new Error(`slapd did not start:\n${lastErr}`);
    }
    const pid = proc.pid!;
    const ldap = (tool: 'ldapadd' | 'ldapmodify' | 'ldapdelete', input: string, extra: string[] = []) => {
      const r = spawnSync(tool, ['-x', '-H', ldapiUrl, '-D', ROOT_DN, '-w', ROOT_PW, ...extra], { input, encoding: 'utf8', timeout: 30_000 });
      if (r.status !== 0) throw new Error(`${tool} failed (${r.status}): ${r.stderr}${r.stdout}`);
      return r.stdout;
    };
    const gone = async (sig: NodeJS.Signals) => {
      if (!pidGone(pid)) { try { process.kill(pid, sig); } catch { /* gone */ } }
      await waitFor(`slapd ${pid} to exit`, () => exited || pidGone(pid), 20_000);
    };
    const s: Slapd = {
      dir, conf: cf, ldapi, ldapiUrl, ldapPort, ldapsPort,
      ldapUrl: ldapPort ? `ldap://127.0.0.1:${ldapPort}` : null, ldapsUrl: ldapsPort ? `ldaps://127.0.0.1:${ldapsPort}` : null,
      pid, proc, opts,
      log: readLog,
      ldap,
      add: (l) => { ldap('ldapadd', l); },
      modify: (l) => { ldap('ldapmodify', l); },
      setPassword: (name, pw) => { ldap('ldapmodify', `dn: uid=${name},${PEOPLE}\nchangetype: modify\nreplace: userPassword\nuserPassword: ${ssha(pw)}\n`); },
      search: (base, filter, attrs = []) => {
        const r = spawnSync('ldapsearch', ['-x', '-H', ldapiUrl, '-D', ROOT_DN, '-w', ROOT_PW, '-LLL', '-o', 'ldif-wrap=no', '-b', base, filter, ...attrs], { encoding: 'utf8', timeout: 30_000 });
        if (r.status !== 0 && r.status !== 32) throw new Error(`ldapsearch failed: ${r.stderr}`);
        return r.stdout;
      },
      searchAsService: (base, filter, attrs = ['1.1']) => {
        const r = spawnSync('ldapsearch', ['-x', '-H', ldapiUrl, '-D', SERVICE_DN, '-w', SERVICE_PW, '-LLL', '-b', base, filter, ...attrs], { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
        return { code: r.status, out: r.stdout + r.stderr };
      },
      bindOk: (name, pw) => spawnSync('ldapwhoami', ['-x', '-H', ldapiUrl, '-D', `uid=${name},${PEOPLE}`, '-w', pw], { encoding: 'utf8', timeout: 10_000 }).status === 0,
      kill: () => gone('SIGKILL'),
      stop: () => gone('SIGTERM'),
      cleanup: () => {
        releasePort(ldapPort);
        releasePort(ldapsPort);
        try { fs.rmSync(dir, { recursive: true, force: true }); } catch { /* best effort */ }
      },
    };
    return s;
  }
  throw new Error(`slapd could not get a port in ${PORT_MIN}-${PORT_MAX}:\n${lastErr}`);
}

/** Config for nasauthd's `upstream:` against this slapd (deep-merged by the daemon helper). */
export function upstreamConfig(s: Slapd, o: { url?: string; ca?: string | null; secretFile: string; groups?: 'posix' | 'dn' | 'memberof'; extra?: Record<string, unknown> }): Record<string, unknown> {
  return {
    upstream: {
      enabled: true,
      urls: [o.url ?? s.ldapiUrl],
      start_tls: true,
      ca_file: o.ca ?? null,
      bind_dn: SERVICE_DN,
      bind_secret_file: o.secretFile,
      user_base: PEOPLE,
      group_base: GROUPS,
      group_filter: o.groups === 'dn' || o.groups === 'memberof' ? '(objectClass=groupOfNames)' : '(objectClass=posixGroup)',
      group_membership: o.groups === 'dn' ? 'member' : o.groups === 'memberof' ? 'member_of' : 'member_uid',
      timeout_ms: 3000,
      connect_timeout_ms: 1500,
      ...o.extra,
    },
  };
}

/** Write the service identity's secret where the daemon config points (mode 0600). */
export function writeSecret(dir: string, secret = SERVICE_PW, name = 'directory.secret'): string {
  const f = join(dir, name);
  fs.writeFileSync(f, `${secret}\n`, { mode: 0o600 });
  return f;
}
