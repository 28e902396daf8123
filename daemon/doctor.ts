// `nasauth doctor USER [SERVICE]`: why can this user not log in here? Store by store, in
// plain words. Each check says what it found and, when it fails, what to do.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AccountView, Authority } from './authority';
import { canonicalService } from './config';
import { lookupName } from './validate';

export type Level = 'ok' | 'warn' | 'fail';
export interface Check { id: string; level: Level; text: string }
export interface Diagnosis { user: string; service: string | null; ok: boolean; checks: Check[] }

/** Extra checks from protocol surfaces (the LDAP view registers "what smbd sees"). */
export type DoctorHook = (a: AccountView, service: string | null) => Promise<Check[]>;

const SMB_SERVICES = new Set(['smb', 'timemachine']);

function getent(db: 'passwd' | 'group', key: string): string[] | null {
  try {
    return execFileSync('getent', [db, key], { encoding: 'utf8', timeout: 3000 }).trim().split(':');
  } catch {
    return null;
  }
}

export async function diagnose(auth: Authority, user: string, serviceIn: string | null, hooks: DoctorHook[]): Promise<Diagnosis> {
  const cfg = auth.config;
  const checks: Check[] = [];
  const add = (id: string, level: Level, text: string) => checks.push({ id, level, text });
  const name = lookupName(user);
  const a = name ? auth.userView(name) : undefined;
  const service = serviceIn === null ? null : canonicalService(cfg, serviceIn);
  const done = (): Diagnosis => ({ user, service: serviceIn, ok: checks.every((c) => c.level !== 'fail'), checks });

  if (serviceIn !== null && !service) {
    add('service', 'fail', `"${serviceIn}" is not a service nasauth knows (known: ${Object.keys(cfg.services).join(', ')}; PAM names: ${Object.keys(cfg.service_aliases).join(', ')})`);
  }
  if (!a) {
    const sys = getent('passwd', user);
    add('account', 'fail', sys
      ? `"${user}" is not a NAS account but a system account (uid ${sys[2]}); NAS logins need a nasauth account (nasauth user add ${user.toLowerCase()})`
      : `there is no account named "${user}" (nasauth user list shows who exists)`);
    return done();
  }
  add('account', 'ok', `account "${a.name}" exists (uid ${a.uid}, gid ${a.gid}, role ${a.role})`);
  // a directory account's state, password and NT hash: the upstream hook says (daemon/upstream/doctor.ts)
  const local = a.source !== 'directory';
  if (local) add('enabled', a.enabled ? 'ok' : 'fail', a.enabled ? 'the account is enabled' : `the account is disabled: nobody can log in as ${a.name} (nasauth user set ${a.name} --enable)`);

  // password verifiers
  const v = a.verifier;
  const needsNt = service === null || SMB_SERVICES.has(service);
  if (local) {
    if (v === 'scrypt') add('password', 'ok', 'a password is set (modern verifier: scrypt)');
    else if (v.startsWith('legacy:')) add('password', 'ok', `a password is set (imported ${v.slice('legacy:'.length)}; upgraded at the first login)`);
    else if (v === 'nt-only') add('password', 'ok', 'only an NT hash is set (imported from Samba); the first login over PAM, AFP or the dashboard upgrades it');
    else add('password', 'fail', `no password is set: nobody can log in until the admin sets one (nasauth user passwd ${a.name})`);
    if (a.nt_hash) add('nt_hash', 'ok', 'the NT hash SMB needs is present');
    else add('nt_hash', needsNt ? 'fail' : 'warn', `no NT hash: SMB and Time Machine will fail until ${a.name} logs in once elsewhere (dashboard, AFP, ssh) or the admin resets the password`);
  }
  if (a.must_change_password) {
    add('must_change', 'fail', 'the password must be changed first: the next login answers must_change_password (change it on the dashboard or with nasauth user passwd)');
  }

  // services and role
  if (service) {
    const listed = a.services.includes(service);
    const roleOk = cfg.services[service]?.roles.includes(a.role);
    if (listed && roleOk) add('service', 'ok', `${a.name} may use ${service}`);
    else if (!listed) add('service', 'fail', `${a.name} may not use ${service} (allowed: ${a.services.join(', ') || 'nothing'}); nasauth service allow ${a.name} ${service}`);
    else add('service', 'fail', `${service} is only for the roles ${cfg.services[service].roles.join(', ')}, and ${a.name} is a ${a.role}`);
  } else {
    add('service', 'ok', `services allowed: ${a.services.join(', ') || 'none'}`);
  }

  // lockout
  const now = auth.now();
  const gate = auth.limiter.gate(a.name, '\0doctor');
  if (a.locked_until && Date.parse(a.locked_until) > now) add('lockout', 'fail', `locked out until ${a.locked_until} after too many failed attempts (nasauth unlock ${a.name})`);
  else if (gate.kind === 'locked_out') add('lockout', 'fail', `locked out for ${Math.ceil(gate.retryAfterMs / 1000)} s more after too many failed attempts (nasauth unlock ${a.name})`);
  else if (gate.kind === 'rate_limited') add('lockout', 'warn', `recent failed attempts: the next try must wait ${Math.ceil(gate.retryAfterMs / 1000)} s (nasauth unlock ${a.name} clears it)`);
  else add('lockout', 'ok', 'not locked out');

  // NSS: smbd and afpd call getpwnam() before they ask for a password
  if (cfg.nss.enabled) {
    const file = join(cfg.nss.dir, 'passwd');
    const line = existsSync(file) ? readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith(`${a.name}:`)) : undefined;
    const f = line?.split(':');
    if (!f) add('nss_file', 'fail', `${a.name} is missing from ${file} (the daemon renders it on every change; is nss.dir writable?)`);
    else if (Number(f[2]) !== a.uid || Number(f[3]) !== a.gid) add('nss_file', 'fail', `${file} says uid/gid ${f[2]}/${f[3]}, the store ${a.uid}/${a.gid}`);
    else add('nss_file', 'ok', `${file} has ${a.name} with uid ${a.uid}`);
  } else add('nss_file', 'warn', 'nss.enabled is false: the system must know NAS users some other way');
  const sys = getent('passwd', a.name);
  if (!sys) add('nss_system', needsNt || service === 'afp' ? 'fail' : 'warn', `the system does not see ${a.name} (getent passwd ${a.name} fails): smbd and afpd refuse unknown users; add "extrausers" to the passwd and group lines of /etc/nsswitch.conf`);
  else if (Number(sys[2]) !== a.uid) add('nss_system', 'fail', `the system says ${a.name} has uid ${sys[2]}, nasauth says ${a.uid}: another source (/etc/passwd?) has a different ${a.name}; files would be owned by the wrong uid`);
  else add('nss_system', 'ok', `the system resolves ${a.name} to uid ${a.uid}`);

  // Samba: smb.conf must point at the LDAP view
  if (needsNt) {
    const conf = cfg.integration.smb_conf;
    if (!cfg.sockets.ldap.enabled) add('smb_passdb', 'fail', 'the LDAP view for Samba is off (sockets.ldap.enabled): smbd cannot ask nasauth');
    else if (!existsSync(conf)) add('smb_passdb', 'warn', `${conf} not found: cannot check that smbd asks nasauth`);
    else {
      const text = readFileSync(conf, 'utf8');
      const m = /^\s*passdb backend\s*=\s*(.+)$/im.exec(text);
      const want = `ldapsam:ldapi://${encodeURIComponent(cfg.sockets.ldap.path)}`;
      if (!m) add('smb_passdb', 'fail', `${conf} has no "passdb backend" line: smbd uses its own tdbsam, and its passwords drift from nasauth's; set passdb backend = ${want}`);
      else if (!m[1].trim().toLowerCase().startsWith('ldapsam:ldapi://') || decodeURIComponent(m[1].trim().replace(/^ldapsam:ldapi:\/\//i, '')) !== cfg.sockets.ldap.path) {
        add('smb_passdb', 'fail', `smbd is pointed elsewhere: ${conf} says "passdb backend = ${m[1].trim()}", nasauth serves ${want}`);
      } else add('smb_passdb', 'ok', `smbd asks nasauth (${want})`);
    }
  }

  // PAM services: the profile must use pam_nasauth.so on our socket
  const pamFor = service ? cfg.integration.pam_services[service] : undefined;
  if (pamFor) {
    const file = join(cfg.integration.pam_dir, pamFor);
    if (!existsSync(file)) add('pam_profile', 'fail', `${file} is missing: ${pamFor} cannot ask nasauth (install sysroot/etc/pam.d/${pamFor})`);
    else {
      const text = readFileSync(file, 'utf8');
      const lines = text.split('\n').filter((l) => /pam_nasauth\.so/.test(l) && !/^\s*#/.test(l));
      const includes = /^\s*@include\s+nasauth\b|^\s*(auth|account)\s+\S+\s+include\s+nasauth\b/m.test(text);
      if (!lines.length && !includes) add('pam_profile', 'fail', `${file} does not use pam_nasauth.so: ${pamFor} checks passwords somewhere else`);
      else {
        const sock = lines.map((l) => /socket=(\S+)/.exec(l)?.[1]).find(Boolean);
        if (sock && sock !== cfg.sockets.pam.path) add('pam_profile', 'fail', `${file} points pam_nasauth.so at ${sock}, but the daemon listens on ${cfg.sockets.pam.path}`);
        else add('pam_profile', 'ok', `${file} uses pam_nasauth.so${sock ? ` on ${sock}` : includes ? ' (through the nasauth include)' : ''}`);
      }
    }
  }

  for (const h of hooks) {
    try { checks.push(...(await h(a, service))); } catch (e) { add('hook', 'warn', `a check could not run: ${(e as Error).message}`); }
  }

  const recent = auth.recent.get(a.name) ?? [];
  if (recent.length) {
    add('recent', 'ok', `last refusals: ${recent.map((r) => `${new Date(r.at).toISOString()} ${r.service} from ${r.source}: ${r.reason}`).join('; ')}`);
  }
  return done();
}
