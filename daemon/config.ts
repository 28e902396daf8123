// Configuration: YAML, a strict schema with defaults, validated before anything starts,
// then frozen. Errors name the file, the key and what was expected.
import { readFileSync, existsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { readPlainYaml } from './config-yaml';
import { NasauthError } from './errors';

export interface SocketConfig { path: string; mode: number; group: string | number | null }
export interface Config {
  version: 1;
  state_dir: string;
  run_dir: string;
  netbios_name: string;
  sockets: {
    query: SocketConfig;
    pam: SocketConfig;
    pam_priv: SocketConfig;
    admin: SocketConfig;
    ldap: SocketConfig & { enabled: boolean; suffix: string; bind_dn: string; bind_secret_file: string };
  };
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'; file: string | null; max_bytes: number; keep: number; collapse_seconds: number };
  scrypt: { log_n: number; r: number; p: number; max_in_flight: number; max_queued: number };
  cache: { enabled: boolean; ttl_seconds: number; max_entries: number };
  rate_limit: {
    backoff_after: number; backoff_base_ms: number; backoff_max_ms: number;
    lockout_after: number; lockout_seconds: number;
    source_failures: number; source_window_seconds: number;
    tracked_names: number; tracked_sources: number;
    failure_delay_ms: number;
  };
  password_policy: { min_length: number; max_length: number; min_classes: number; reject_username: boolean };
  accounts: { uid_min: number; uid_max: number; default_gid: number; home_base: string; shell: string };
  services: Record<string, { roles: Array<'admin' | 'user'> }>;
  service_aliases: Record<string, string>;
  /** groups nasauth renders per service (NSS + LDAP view); smb.conf admits shares through them */
  service_groups: Record<string, { name: string; gid: number }>;
  roles: { admin: { default_services: string[] }; user: { default_services: string[] } };
  nss: { enabled: boolean; dir: string };
  integration: { smb_conf: string; pam_dir: string; pam_services: Record<string, string> };
  first_start: { create_admin: boolean; admin_name: string };
  /** the account portal's sessions (daemon/sessions.ts) */
  sessions: { idle_seconds: number; absolute_seconds: number; max_per_account: number; max_total: number };
  upstream: UpstreamConfig;
}

/** Following a directory (docs/directory.md). */
export interface UpstreamConfig {
  enabled: boolean;
  urls: string[];
  start_tls: boolean;
  ca_file: string | null;
  bind_dn: string | null;
  bind_secret_file: string | null;
  user_base: string;
  user_filter: string;
  group_base: string | null;
  group_filter: string;
  group_membership: 'member_uid' | 'member' | 'member_of';
  attributes: {
    name: string; uid: string; gid: string; email: string; full_name: string[];
    nt_hash: string; acct_flags: string; group_name: string; group_gid: string;
    member_uid: string; member: string; member_of: string;
  };
  admin_groups: string[];
  service_groups: Record<string, string[]>;
  min_uid: number;
  timeout_ms: number;
  connect_timeout_ms: number;
  cached_auth_seconds: number;
  max_in_flight: number;
  max_queued: number;
  password_resets: 'refuse' | 'service';
  refresh: { interval_seconds: number; jitter_seconds: number; page_size: number; max_users: number; max_groups: number };
  offline: { enabled: boolean; lifetime_seconds: number; retry_seconds: number };
}

// The embedded default: runs without root, everything under ./.nasauth
export const DEFAULT_CONFIG_YAML = `# nasauth configuration (version 1). Relative paths are relative to this file.
version: 1
state_dir: .nasauth/state
run_dir: .nasauth/run
netbios_name: NAS
sockets:
  query: { path: query.sock, mode: "0660", group: null }
  pam: { path: pam.sock, mode: "0666", group: null }
  pam_priv: { path: pam-priv.sock, mode: "0600", group: null }
  admin: { path: admin.sock, mode: "0600", group: null }
  ldap:
    enabled: false
    path: ldapi.sock
    mode: "0600"
    group: null
    suffix: dc=nas,dc=local
    bind_dn: cn=samba,dc=nas,dc=local
    bind_secret_file: ldap-bind.secret
log: { level: info, file: null, max_bytes: 4194304, keep: 3, collapse_seconds: 60 }
scrypt: { log_n: 14, r: 8, p: 1, max_in_flight: 2, max_queued: 32 }
cache: { enabled: true, ttl_seconds: 900, max_entries: 4096 }
rate_limit:
  backoff_after: 3
  backoff_base_ms: 1000
  backoff_max_ms: 30000
  lockout_after: 10
  lockout_seconds: 900
  source_failures: 50
  source_window_seconds: 60
  tracked_names: 10000
  tracked_sources: 4096
  failure_delay_ms: 500
password_policy: { min_length: 8, max_length: 128, min_classes: 1, reject_username: true }
accounts: { uid_min: 1000, uid_max: 59999, default_gid: 100, home_base: /shares, shell: /usr/sbin/nologin }
services:
  smb: { roles: [admin, user] }
  timemachine: { roles: [admin, user] }
  afp: { roles: [admin, user] }
  dashboard: { roles: [admin, user] }
  ssh: { roles: [admin] }
  ftp: { roles: [admin, user] }
  webdav: { roles: [admin, user] }
service_aliases: { samba: smb, netatalk: afp, sshd: ssh, login: ssh, su: ssh, vsftpd: ftp, proftpd: ftp }
# One group per service whose members are exactly the accounts that may use it (enabled,
# service allowed for the account and its role), rendered into the NSS group file and the
# LDAP view. smb.conf admits shares through them: valid users = @nasauth-timemachine.
service_groups:
  smb: { name: nasauth-smb, gid: 60530 }
  timemachine: { name: nasauth-timemachine, gid: 60531 }
roles:
  admin: { default_services: [smb, timemachine, afp, dashboard, ssh] }
  user: { default_services: [smb, timemachine, afp, dashboard] }
nss: { enabled: true, dir: .nasauth/nss }
# where nasauth doctor looks for the services that should point at nasauthd
integration:
  smb_conf: /etc/samba/smb.conf
  pam_dir: /etc/pam.d
  pam_services: { afp: netatalk, ssh: sshd, ftp: vsftpd }
# the account made on the first start (one-time password); a firmware that already has a
# system user of this name needs another one here
first_start: { create_admin: true, admin_name: admin }
# the web page's sign-in sessions (kept in memory only; a restart signs everybody out)
sessions: { idle_seconds: 1800, absolute_seconds: 43200, max_per_account: 10, max_total: 1000 }
# follow a directory (OpenLDAP, 389-DS, ...): docs/directory.md
upstream:
  enabled: false
  urls: []
  start_tls: true
  ca_file: null
  bind_dn: null
  bind_secret_file: null
  user_base: ""
  user_filter: (objectClass=posixAccount)
  group_base: null
  group_filter: (objectClass=posixGroup)
  group_membership: member_uid
  attributes:
    name: uid
    uid: uidNumber
    gid: gidNumber
    email: mail
    full_name: [displayName, cn]
    nt_hash: sambaNTPassword
    acct_flags: sambaAcctFlags
    group_name: cn
    group_gid: gidNumber
    member_uid: memberUid
    member: member
    member_of: memberOf
  admin_groups: []
  service_groups: {}
  min_uid: 1000
  timeout_ms: 4000
  connect_timeout_ms: 2000
  cached_auth_seconds: 120
  max_in_flight: 4
  max_queued: 64
  password_resets: refuse
  refresh: { interval_seconds: 900, jitter_seconds: 120, page_size: 500, max_users: 50000, max_groups: 20000 }
  offline: { enabled: true, lifetime_seconds: 604800, retry_seconds: 30 }
`;

// ---- a small strict schema --------------------------------------------------------
type Schema =
  | { t: 'int'; min: number; max: number }
  | { t: 'bool' }
  | { t: 'str'; re?: RegExp; what?: string }
  | { t: 'path' }
  | { t: 'relpath' }
  | { t: 'mode' }
  | { t: 'enum'; values: readonly string[] }
  | { t: 'nullable'; of: Schema }
  | { t: 'group' }
  | { t: 'list'; of: Schema }
  | { t: 'map'; of: Schema; key: RegExp }
  | { t: 'obj'; fields: Record<string, Schema> };

const int = (min: number, max: number): Schema => ({ t: 'int', min, max });
const bool: Schema = { t: 'bool' };
const path: Schema = { t: 'path' };
const obj = (fields: Record<string, Schema>): Schema => ({ t: 'obj', fields });
const SERVICE_RE = /^[a-z][a-z0-9_-]{0,31}$/;
const LDAP_DN_RE = /^[^\0=,]+=[^\0]{1,1024}$/;
const LDAP_FILTER_RE = /^\([^\0]{1,1022}\)$/;
const ldapAttr: Schema = { t: 'str', re: /^[A-Za-z][A-Za-z0-9-]{0,63}$/, what: 'an LDAP attribute name' };
// relative to run_dir (sockets) or state_dir (secrets), resolved after the merge
const relpath: Schema = { t: 'relpath' };
const socket = (extra: Record<string, Schema> = {}) =>
  obj({ path: relpath, mode: { t: 'mode' }, group: { t: 'nullable', of: { t: 'group' } }, ...extra });

const SCHEMA: Schema = obj({
  version: int(1, 1),
  state_dir: path,
  run_dir: path,
  netbios_name: { t: 'str', re: /^[A-Za-z0-9][A-Za-z0-9-]{0,14}$/, what: 'a NetBIOS name (1-15 letters, digits, -)' },
  sockets: obj({
    query: socket(),
    pam: socket(),
    pam_priv: socket(),
    admin: socket(),
    ldap: socket({
      enabled: bool,
      suffix: { t: 'str', re: /^(dc=[a-z0-9-]+)(,dc=[a-z0-9-]+)*$/i, what: 'an LDAP suffix like dc=nas,dc=local' },
      bind_dn: { t: 'str', re: /^cn=[a-z0-9-]+(,dc=[a-z0-9-]+)+$/i, what: 'a DN like cn=samba,dc=nas,dc=local' },
      bind_secret_file: relpath,
    }),
  }),
  log: obj({
    level: { t: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
    file: { t: 'nullable', of: path },
    // the daemon rotates log.file itself at max_bytes (0: never; then rotate it from
    // outside and send SIGUSR1), keeping `keep` old files
    max_bytes: int(0, 1024 * 1024 * 1024),
    keep: int(1, 100),
    // repeated refusals of one kind (reason, user, source) collapse into one line per this many seconds (0: never)
    collapse_seconds: int(0, 3600),
  }),
  scrypt: obj({ log_n: int(10, 20), r: int(1, 32), p: int(1, 16), max_in_flight: int(1, 16), max_queued: int(0, 10000) }),
  cache: obj({ enabled: bool, ttl_seconds: int(1, 86400), max_entries: int(1, 1_000_000) }),
  rate_limit: obj({
    backoff_after: int(1, 1000), backoff_base_ms: int(0, 3_600_000), backoff_max_ms: int(0, 3_600_000),
    lockout_after: int(1, 10000), lockout_seconds: int(1, 30 * 86400),
    source_failures: int(1, 1_000_000), source_window_seconds: int(1, 86400),
    tracked_names: int(16, 10_000_000), tracked_sources: int(16, 10_000_000),
    failure_delay_ms: int(0, 10_000),
  }),
  password_policy: obj({ min_length: int(1, 128), max_length: int(8, 1024), min_classes: int(1, 4), reject_username: bool }),
  accounts: obj({ uid_min: int(1, 2 ** 31 - 2), uid_max: int(1, 2 ** 31 - 2), default_gid: int(0, 2 ** 31 - 2), home_base: path, shell: path }),
  services: { t: 'map', key: SERVICE_RE, of: obj({ roles: { t: 'list', of: { t: 'enum', values: ['admin', 'user'] } } }) },
  service_aliases: { t: 'map', key: /^[A-Za-z0-9_.-]{1,64}$/, of: { t: 'str', re: SERVICE_RE, what: 'a service name' } },
  service_groups: {
    t: 'map', key: SERVICE_RE,
    of: obj({ name: { t: 'str', re: /^[a-z_][a-z0-9_-]{0,31}$/, what: 'a group name (lower case, up to 32 characters)' }, gid: int(1, 2 ** 31 - 2) }),
  },
  roles: obj({
    admin: obj({ default_services: { t: 'list', of: { t: 'str', re: SERVICE_RE, what: 'a service name' } } }),
    user: obj({ default_services: { t: 'list', of: { t: 'str', re: SERVICE_RE, what: 'a service name' } } }),
  }),
  nss: obj({ enabled: bool, dir: path }),
  integration: obj({
    smb_conf: path,
    pam_dir: path,
    pam_services: { t: 'map', key: SERVICE_RE, of: { t: 'str', re: /^[A-Za-z0-9_.-]{1,64}$/, what: 'a PAM service name' } },
  }),
  first_start: obj({ create_admin: bool, admin_name: { t: 'str', re: /^[a-z_][a-z0-9_.-]{0,31}$/, what: 'an account name (lower case letters, digits, _ . -)' } }),
  sessions: obj({ idle_seconds: int(60, 7 * 86400), absolute_seconds: int(60, 30 * 86400), max_per_account: int(1, 1000), max_total: int(1, 1_000_000) }),
  upstream: obj({
    enabled: bool,
    urls: { t: 'list', of: { t: 'str', re: /^(ldaps?:\/\/[^\s/?#]+\/?|ldapi:\/\/[^\s?#]+)$/i, what: 'an ldap://HOST[:PORT], ldaps://HOST[:PORT] or ldapi://PATH URL' } },
    start_tls: bool,
    ca_file: { t: 'nullable', of: path },
    bind_dn: { t: 'nullable', of: { t: 'str', re: LDAP_DN_RE, what: 'a DN like cn=nas,ou=services,dc=example,dc=org' } },
    bind_secret_file: { t: 'nullable', of: path },
    user_base: { t: 'str', re: /^(|[^\0]{1,1024})$/, what: 'a DN like ou=people,dc=example,dc=org' },
    user_filter: { t: 'str', re: LDAP_FILTER_RE, what: 'an LDAP filter in parentheses, like (objectClass=posixAccount)' },
    group_base: { t: 'nullable', of: { t: 'str', re: LDAP_DN_RE, what: 'a DN like ou=groups,dc=example,dc=org' } },
    group_filter: { t: 'str', re: LDAP_FILTER_RE, what: 'an LDAP filter in parentheses, like (objectClass=posixGroup)' },
    group_membership: { t: 'enum', values: ['member_uid', 'member', 'member_of'] },
    attributes: obj({
      name: ldapAttr, uid: ldapAttr, gid: ldapAttr, email: ldapAttr, full_name: { t: 'list', of: ldapAttr },
      nt_hash: ldapAttr, acct_flags: ldapAttr, group_name: ldapAttr, group_gid: ldapAttr,
      member_uid: ldapAttr, member: ldapAttr, member_of: ldapAttr,
    }),
    admin_groups: { t: 'list', of: { t: 'str', re: /^[^\0]{1,256}$/, what: 'a directory group name' } },
    service_groups: { t: 'map', key: SERVICE_RE, of: { t: 'list', of: { t: 'str', re: /^[^\0]{1,256}$/, what: 'a directory group name' } } },
    min_uid: int(1, 2 ** 31 - 2),
    // below pam_nasauth.so's own 10 s timeout, so PAM callers always get our answer
    timeout_ms: int(100, 8000),
    connect_timeout_ms: int(100, 8000),
    cached_auth_seconds: int(0, 86400),
    max_in_flight: int(1, 64),
    max_queued: int(0, 10000),
    password_resets: { t: 'enum', values: ['refuse', 'service'] },
    refresh: obj({ interval_seconds: int(1, 7 * 86400), jitter_seconds: int(0, 86400), page_size: int(1, 10000), max_users: int(1, 1_000_000), max_groups: int(1, 1_000_000) }),
    offline: obj({ enabled: bool, lifetime_seconds: int(1, 366 * 86400), retry_seconds: int(1, 86400) }),
  }),
});

function fail(file: string, key: string, expected: string, got?: unknown): never {
  const shown = got === undefined ? '' : `, got ${JSON.stringify(got)?.slice(0, 60)}`;
  throw new NasauthError('NASAUTH_CONFIG', `${file}: ${key || '(top level)'}: expected ${expected}${shown}`, key);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// Merge user values over defaults (objects deep, everything else replaced), checking
// the shape of every user value against the schema.
function check(s: Schema, v: unknown, dflt: unknown, file: string, key: string, base: string): unknown {
  switch (s.t) {
    case 'int':
      if (typeof v !== 'number' || !Number.isInteger(v) || v < s.min || v > s.max) fail(file, key, `an integer from ${s.min} to ${s.max}`, v);
      return v;
    case 'bool':
      if (typeof v !== 'boolean') fail(file, key, 'true or false', v);
      return v;
    case 'str':
      if (typeof v !== 'string' || (s.re && !s.re.test(v))) fail(file, key, s.what ?? 'a string', v);
      return v;
    case 'enum':
      if (typeof v !== 'string' || !s.values.includes(v)) fail(file, key, `one of ${s.values.join(', ')}`, v);
      return v;
    case 'path':
    case 'relpath': {
      if (typeof v !== 'string' || v.length === 0 || v.includes('\0') || v.length > 4096) fail(file, key, 'a file system path', v);
      return s.t === 'relpath' || isAbsolute(v) ? v : resolve(base, v);
    }
    case 'mode': {
      if (typeof v !== 'string' || !/^0?[0-7]{3}$/.test(v)) fail(file, key, 'an octal mode in quotes, like "0660"', v);
      const m = parseInt(v, 8);
      if (m & 0o111) fail(file, key, 'a mode without execute bits', v);
      return m;
    }
    case 'group':
      if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
      if (typeof v === 'string' && /^[a-z_][a-z0-9_-]{0,31}$/.test(v)) return v;
      return fail(file, key, 'a group name or number', v);
    case 'nullable':
      return v === null ? null : check(s.of, v, dflt, file, key, base);
    case 'list':
      if (!Array.isArray(v)) fail(file, key, 'a list', v);
      return v.map((x, i) => check(s.of, x, undefined, file, `${key}[${i}]`, base));
    case 'map': {
      if (!isPlainObject(v)) fail(file, key, 'a mapping', v);
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        if (!s.key.test(k)) fail(file, `${key}.${k}`, 'a valid name as key', k);
        out[k] = check(s.of, x, undefined, file, `${key}.${k}`, base);
      }
      return out;
    }
    case 'obj': {
      if (!isPlainObject(v)) fail(file, key, 'a mapping', v);
      const d = isPlainObject(dflt) ? dflt : {};
      for (const k of Object.keys(v)) {
        if (!(k in s.fields)) fail(file, key ? `${key}.${k}` : k, `no such key (known: ${Object.keys(s.fields).join(', ')})`);
      }
      const out: Record<string, unknown> = {};
      for (const [k, fs] of Object.entries(s.fields)) {
        const sub = key ? `${key}.${k}` : k;
        if (k in v) out[k] = check(fs, v[k], d[k], file, sub, base);
        else if (k in d) out[k] = d[k];
        else fail(file, sub, 'a value (the key is required)');
      }
      return out;
    }
  }
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
  }
  return o;
}

function parseYaml(text: string, file: string): unknown {
  try {
    return parseYamlDoc(text, file);
  } catch (e) {
    // the yaml library throws on an alias it cannot resolve and runs out of stack on
    // absurd nesting: a broken file either way, said with the file's name
    if (e instanceof NasauthError) throw e;
    throw new NasauthError('NASAUTH_CONFIG', `${file}: not valid YAML: ${e instanceof RangeError ? 'nested too deeply' : (e as Error).message.split('\n')[0].slice(0, 200)}`);
  }
}

function parseYamlDoc(text: string, file: string): unknown {
  // the config files' usual YAML without the general parser (daemon/config-yaml.ts); the
  // library only for the rest, and for every error message
  const quick = readPlainYaml(text);
  if (quick !== undefined) return quick;
  const { parseDocument } = require('yaml') as typeof import('yaml');
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    let pos = e.linePos?.[0];
    if (!pos) {
      const before = text.slice(0, e.pos[0]).split('\n');
      pos = { line: before.length, col: before[before.length - 1].length + 1 };
    }
    throw new NasauthError('NASAUTH_CONFIG', `${file}:${pos.line}:${pos.col} not valid YAML: ${e.message.split('\n')[0]}`);
  }
  return doc.toJS({ maxAliasCount: 100 });
}

/** The embedded defaults, checked by the same schema, relative paths resolved against `base`. */
function defaults(base: string): Config {
  return check(SCHEMA, parseYaml(DEFAULT_CONFIG_YAML, '(embedded default)'), {}, '(embedded default)', '', base) as Config;
}

/** Load and validate a config. `file` null means the embedded default. */
export function loadConfig(file: string | null, cwd = process.cwd()): Config {
  let cfg: Config;
  if (file === null) {
    cfg = defaults(cwd);
  } else {
    let text: string;
    try {
      if (statSync(file).size > 1024 * 1024) throw new NasauthError('NASAUTH_CONFIG', `${file}: larger than 1 MiB; is this the right file?`);
      text = readFileSync(file, 'utf8');
    } catch (e) {
      if (e instanceof NasauthError) throw e;
      throw new NasauthError('NASAUTH_CONFIG', `${file}: cannot read the configuration: ${(e as Error).message}`);
    }
    const raw = parseYaml(text, file) ?? {};
    // Defaults resolve relative to the config file's folder, like the user's values.
    const base = dirname(resolve(file));
    cfg = check(SCHEMA, raw, defaults(base), file, '', base) as Config;
  }
  semantic(cfg, file ?? '(embedded default)');
  return deepFreeze(cfg);
}

function semantic(c: Config, file: string) {
  if (c.accounts.uid_min > c.accounts.uid_max) fail(file, 'accounts.uid_min', 'a value not above accounts.uid_max', c.accounts.uid_min);
  if (c.password_policy.min_length > c.password_policy.max_length) fail(file, 'password_policy.min_length', 'a value not above max_length');
  if (c.sessions.idle_seconds > c.sessions.absolute_seconds) fail(file, 'sessions.idle_seconds', 'a value not above sessions.absolute_seconds');
  if (c.log.max_bytes !== 0 && c.log.max_bytes < 65536) fail(file, 'log.max_bytes', '0 (never rotate) or at least 65536 bytes', c.log.max_bytes);
  if (c.rate_limit.backoff_after > c.rate_limit.lockout_after) fail(file, 'rate_limit.backoff_after', 'a value not above rate_limit.lockout_after');
  for (const role of ['admin', 'user'] as const) {
    c.roles[role].default_services.forEach((s, i) => {
      if (!c.services[s]) fail(file, `roles.${role}.default_services[${i}]`, `a service listed under services (${Object.keys(c.services).join(', ')})`, s);
    });
  }
  for (const [alias, svc] of Object.entries(c.service_aliases)) {
    if (!c.services[svc]) fail(file, `service_aliases.${alias}`, 'a service listed under services', svc);
  }
  const groupNames = new Map<string, string>();
  const groupGids = new Map<number, string>();
  for (const [svc, g] of Object.entries(c.service_groups)) {
    const key = `service_groups.${svc}`;
    if (!c.services[svc]) fail(file, key, 'a service listed under services', svc);
    if (groupNames.has(g.name)) fail(file, `${key}.name`, `a name no other service group has (service_groups.${groupNames.get(g.name)} has it)`, g.name);
    if (groupGids.has(g.gid)) fail(file, `${key}.gid`, `a gid no other service group has (service_groups.${groupGids.get(g.gid)} has it)`, g.gid);
    if (g.gid === c.accounts.default_gid || g.gid === 60512 || g.gid === 60514) {
      fail(file, `${key}.gid`, 'a gid of its own (not accounts.default_gid, nor 60512/60514, which the LDAP view gives Domain Admins/Guests)', g.gid);
    }
    groupNames.set(g.name, svc);
    groupGids.set(g.gid, svc);
  }
  // Unix socket paths are limited to 107 bytes by sun_path.
  const socks = c.sockets as unknown as Record<string, SocketConfig>;
  for (const [name, s] of Object.entries(socks)) {
    const p = isAbsolute(s.path) ? s.path : resolve(c.run_dir, s.path);
    if (Buffer.byteLength(p) > 107) fail(file, `sockets.${name}.path`, 'a socket path of at most 107 bytes (sun_path limit)', p);
    s.path = p;
  }
  upstreamSemantic(c.upstream, c, (key, expected, got) => fail(file, key, expected, got));
  const lf = c.sockets.ldap;
  lf.bind_secret_file = isAbsolute(lf.bind_secret_file) ? lf.bind_secret_file : resolve(c.state_dir, lf.bind_secret_file);
  for (const [key, p] of [['state_dir', c.state_dir], ['run_dir', c.run_dir]] as const) {
    if (existsSync(p) && !statSync(p).isDirectory()) fail(file, key, 'a directory (it exists but is not one)', p);
    const parent = dirname(p);
    if (!existsSync(p) && !existsSync(parent) && !existsSync(dirname(parent))) fail(file, key, 'a directory whose parent exists', p);
  }
}

/** What an enabled upstream needs beyond the shapes (docs/directory.md). */
function upstreamSemantic(u: UpstreamConfig, c: Config, bad: (key: string, expected: string, got?: unknown) => never) {
  for (const [svc, groups] of Object.entries(u.service_groups)) {
    if (!c.services[svc]) bad(`upstream.service_groups.${svc}`, 'a service listed under services', svc);
    void groups;
  }
  for (const k of ['user_filter', 'group_filter'] as const) {
    let depth = 0;
    for (const ch of u[k].replace(/\\./g, '')) {
      if (ch === '(') depth++;
      else if (ch === ')' && --depth < 0) break;
    }
    if (depth !== 0) bad(`upstream.${k}`, 'an LDAP filter with balanced parentheses', u[k]);
  }
  if (!u.enabled) return;
  if (u.urls.length === 0) bad('upstream.urls', 'at least one directory URL (upstream.enabled is true)');
  if (!LDAP_DN_RE.test(u.user_base)) bad('upstream.user_base', 'the DN under which the directory keeps its users (upstream.enabled is true)', u.user_base);
  if ((u.bind_dn === null) !== (u.bind_secret_file === null)) {
    bad(u.bind_dn === null ? 'upstream.bind_dn' : 'upstream.bind_secret_file', 'bind_dn and bind_secret_file together (or neither, for an anonymous search)');
  }
  if (u.bind_secret_file !== null && !existsSync(u.bind_secret_file)) bad('upstream.bind_secret_file', 'an existing file holding the bind password', u.bind_secret_file);
  if (u.ca_file !== null && !existsSync(u.ca_file)) bad('upstream.ca_file', 'an existing PEM file with the CA certificate(s)', u.ca_file);
  if (u.connect_timeout_ms > u.timeout_ms) bad('upstream.connect_timeout_ms', 'a value not above upstream.timeout_ms', u.connect_timeout_ms);
  if (u.refresh.jitter_seconds >= u.refresh.interval_seconds) bad('upstream.refresh.jitter_seconds', 'a value below upstream.refresh.interval_seconds', u.refresh.jitter_seconds);
  u.urls.forEach((url, i) => {
    if (/^ldapi:/i.test(url) && Buffer.byteLength(decodeURIComponent(url.slice(8))) > 107) bad(`upstream.urls[${i}]`, 'an ldapi socket path of at most 107 bytes', url);
  });
}

export function canonicalService(c: Config, name: string): string | null {
  const s = c.service_aliases[name] ?? name;
  return Object.prototype.hasOwnProperty.call(c.services, s) ? s : null;
}
