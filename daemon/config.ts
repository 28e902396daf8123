// Configuration: YAML, a strict schema with defaults, validated before anything starts,
// then frozen. Errors name the file, the key and what was expected.
import { readFileSync, existsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
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
  roles: { admin: { default_services: string[] }; user: { default_services: string[] } };
  nss: { enabled: boolean; dir: string };
  integration: { smb_conf: string; pam_dir: string; pam_services: Record<string, string> };
  first_start: { create_admin: boolean };
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
roles:
  admin: { default_services: [smb, timemachine, afp, dashboard, ssh] }
  user: { default_services: [smb, timemachine, afp, dashboard] }
nss: { enabled: true, dir: .nasauth/nss }
# where nasauth doctor looks for the services that should point at nasauthd
integration:
  smb_conf: /etc/samba/smb.conf
  pam_dir: /etc/pam.d
  pam_services: { afp: netatalk, ssh: sshd, ftp: vsftpd }
first_start: { create_admin: true }
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
  first_start: obj({ create_admin: bool }),
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
  // Unix socket paths are limited to 107 bytes by sun_path.
  const socks = c.sockets as unknown as Record<string, SocketConfig>;
  for (const [name, s] of Object.entries(socks)) {
    const p = isAbsolute(s.path) ? s.path : resolve(c.run_dir, s.path);
    if (Buffer.byteLength(p) > 107) fail(file, `sockets.${name}.path`, 'a socket path of at most 107 bytes (sun_path limit)', p);
    s.path = p;
  }
  const lf = c.sockets.ldap;
  lf.bind_secret_file = isAbsolute(lf.bind_secret_file) ? lf.bind_secret_file : resolve(c.state_dir, lf.bind_secret_file);
  for (const [key, p] of [['state_dir', c.state_dir], ['run_dir', c.run_dir]] as const) {
    if (existsSync(p) && !statSync(p).isDirectory()) fail(file, key, 'a directory (it exists but is not one)', p);
    const parent = dirname(p);
    if (!existsSync(p) && !existsSync(parent) && !existsSync(dirname(parent))) fail(file, key, 'a directory whose parent exists', p);
  }
}

export function canonicalService(c: Config, name: string): string | null {
  const s = c.service_aliases[name] ?? name;
  return Object.prototype.hasOwnProperty.call(c.services, s) ? s : null;
}
