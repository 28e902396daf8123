// `nasauth doctor USER [SERVICE]`: why can this person not log in here? Written for the
// NAS owner, not for an engineer: each finding says what the person sees and why, and
// gives the one command (or web page action) that fixes it; the technical detail (flags,
// status codes, file names) is kept for --verbose and --json. A state the admin chose
// (an account switched off, a service not allowed, a password that must be changed) is
// information, not a failure.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { AccountView, Authority } from './authority';
import { canonicalService } from './config';
import { serviceWords, type Check, type Diagnosis } from './doctor-render';

export type { Check, Diagnosis, Level } from './doctor-render';
import { domainsAsked } from './ldap-view';
import { lookupName } from './validate';

/** Extra checks from protocol surfaces (the LDAP view registers "what smbd sees"). */
export type DoctorHook = (a: AccountView, service: string | null) => Promise<Check[]>;

const SMB_SERVICES = new Set(['smb', 'timemachine']);
/** services where the person types the password itself (so the login can repair an NT hash) */
const PLAINTEXT_SERVICES = ['dashboard', 'afp', 'ftp', 'webdav', 'ssh'];

function getent(db: 'passwd' | 'group', key: string): string[] | null {
  try {
    return execFileSync('getent', [db, key], { encoding: 'utf8', timeout: 3000 }).trim().split(':');
  } catch {
    return null;
  }
}

/** smb.conf's NetBIOS name: `netbios name` in [global], else Samba's default (the host name). */
export function smbNetbiosName(conf: string): { name: string; from: string } | null {
  let text: string;
  try { text = readFileSync(conf, 'utf8'); } catch { return null; }
  let section = '';
  for (const raw of text.split('\n')) {
    const l = raw.trim();
    const sec = /^\[([^\]]+)\]/.exec(l);
    if (sec) { section = sec[1].toLowerCase(); continue; }
    const m = /^netbios\s*name\s*=\s*(.*)$/i.exec(l);
    if (m && section === 'global' && m[1].trim()) return { name: m[1].trim().toUpperCase(), from: `${conf}: netbios name` };
  }
  return { name: hostname().split('.')[0].toUpperCase().slice(0, 15), from: `${conf} sets no netbios name, so Samba uses the host name` };
}

export async function diagnose(auth: Authority, user: string, serviceIn: string | null, hooks: DoctorHook[]): Promise<Diagnosis> {
  const cfg = auth.config;
  const checks: Check[] = [];
  const add = (c: Check) => checks.push(c);
  const name = lookupName(user);
  const a = name ? auth.userView(name) : undefined;
  const service = serviceIn === null ? null : canonicalService(cfg, serviceIn);
  const done = (): Diagnosis => ({
    user, service: serviceIn,
    ok: checks.every((c) => c.level !== 'fail'),
    intended: checks.some((c) => c.level === 'info' && c.blocks),
    checks,
  });

  if (serviceIn !== null && !service) {
    add({ id: 'service', level: 'fail', text: `"${serviceIn}" is not a service nasauth knows`, fix: `use one of: ${Object.keys(cfg.services).join(', ')} (PAM names: ${Object.keys(cfg.service_aliases).join(', ')})` });
  }
  if (!a) {
    const sys = getent('passwd', user);
    if (sys) add({ id: 'account', level: 'fail', text: `"${user}" is one of this box's own system accounts, not a NAS account: it cannot sign in to NAS services`, fix: `give the person a NAS account of another name: nasauth user add NAME`, detail: `getent passwd ${user}: uid ${sys[2]}` });
    else add({ id: 'account', level: 'fail', text: `there is no account named "${user}": every sign-in looks like a wrong password`, fix: `check the spelling (nasauth user list), or create it: nasauth user add ${user.toLowerCase()}` });
    return done();
  }
  const n = a.name;
  add({ id: 'account', level: 'ok', text: `the account "${n}" exists (${a.role === 'admin' ? 'an administrator' : 'a user'})`, detail: `uid ${a.uid}, gid ${a.gid}, rid ${a.rid}, version ${a.version}` });
  // a directory account's state, password and NT hash: the upstream hook says (daemon/upstream/doctor.ts)
  const local = a.source !== 'directory';
  if (local && !a.enabled) {
    add({ id: 'enabled', level: 'info', blocks: true, text: `${n}'s account is switched off on purpose: after the right password ${n} is told "this account is disabled", everywhere`, fix: `nasauth user set ${n} --enable`, detail: 'enabled: false; SMB answers NT_STATUS_ACCOUNT_DISABLED, PAM PAM_PERM_DENIED' });
  }

  // the password, and what SMB needs of it
  const v = a.verifier;
  const needsSmb = service === null || SMB_SERVICES.has(service);
  const plain = PLAINTEXT_SERVICES.filter((s) => a.services.includes(s) && cfg.services[s]?.roles.includes(a.role));
  const repair = plain.includes('dashboard') ? `${n} signs in once on the NAS web page with the same password (that repairs it), or the admin sets a new one: nasauth user passwd ${n}`
    : plain.length ? `${n} signs in once with ${serviceWords(plain[0])} using the same password (that repairs it), or the admin sets a new one: nasauth user passwd ${n}`
      : `set a new password for ${n}: nasauth user passwd ${n}`;
  let noPassword = !local;
  if (!local) { /* the directory's password: the upstream hook says */ }
  else if (a.password_empty || v === 'none') {
    noPassword = true;
    add({ id: 'password', level: 'fail', blocks: true, text: `${n} has no password yet, so ${n} cannot sign in anywhere: every try is refused as a wrong password${a.password_empty ? ' (the old system let this account in with an empty password, which nasauth never accepts)' : ''}`, fix: `nasauth user passwd ${n}`, detail: a.password_empty ? 'NT hash of the empty password' : 'no verifier in the store' });
  } else if (v === 'scrypt') add({ id: 'password', level: 'ok', text: `${n} has a password`, detail: 'scrypt verifier' });
  else if (v.startsWith('legacy:')) add({ id: 'password', level: 'ok', text: `${n}'s password from the old system works`, detail: `imported ${v.slice('legacy:'.length)} hash; replaced by scrypt at the first login` });
  else add({ id: 'password', level: 'ok', text: `${n}'s password from the old system works`, detail: 'imported NT hash only (from smbpasswd); scrypt is made at the first login over PAM, AFP or the web page' });
  if (!noPassword) {
    if (!a.nt_hash) {
      add({ id: 'nt_hash', level: needsSmb ? 'fail' : 'warn', blocks: needsSmb, text: `${n} cannot use file sharing (SMB) or Time Machine yet: the old system did not hand over the form of the password that they need`, fix: repair, detail: 'no NT hash in the store (imported from shadow only); the first plaintext login makes it' });
    } else if (!a.nt_confirmed && needsSmb) {
      add({ id: 'nt_unconfirmed', level: 'warn', text: `file sharing (SMB) should take ${n}'s old password, but that is not proven yet: an old Samba stored some passwords with accented or non-English letters in a form that no longer matches`, fix: `if SMB refuses the right password: ${repair}`, detail: 'imported NT hash not yet confirmed by a plaintext login (nt_confirmed: false); the first plaintext login confirms or replaces it' });
    }
  }
  if (a.must_change_password) {
    add({ id: 'must_change', level: 'info', blocks: true, text: `${n} must choose a new password first: the next sign-in asks for it, and file sharing refuses the old one until then`, fix: `${n} signs in on the NAS web page and chooses a new password (or the admin sets one: nasauth user passwd ${n})`, detail: 'must_change_password; SMB answers NT_STATUS_PASSWORD_MUST_CHANGE, PAM PAM_NEW_AUTHTOK_REQD' });
  }

  // services and role
  if (service) {
    const listed = a.services.includes(service);
    const roleOk = cfg.services[service]?.roles.includes(a.role);
    if (listed && roleOk) add({ id: 'service', level: 'ok', text: `${n} may use ${serviceWords(service)}` });
    else if (!listed) add({ id: 'service', level: 'info', blocks: true, text: `${n} may not use ${serviceWords(service)}: the admin has not allowed it (${n} may use ${a.services.map(serviceWords).join(', ') || 'nothing'}); after the right password ${n} is told "this account may not use this service"`, fix: `nasauth service allow ${n} ${service}`, detail: `service_denied; services: ${a.services.join(', ')}` });
    else add({ id: 'service', level: 'info', blocks: true, text: `${serviceWords(service)} is only for ${cfg.services[service].roles.map((r) => (r === 'admin' ? 'administrators' : 'users')).join(' and ')}, and ${n} is ${a.role === 'admin' ? 'an administrator' : 'a user'}`, fix: `only if ${n} should be an administrator: nasauth user set ${n} --role admin`, detail: `service_denied: services.${service}.roles = ${cfg.services[service].roles.join(', ')}` });
  } else {
    add({ id: 'service', level: 'ok', text: `${n} may use ${a.services.map(serviceWords).join(', ') || 'nothing'}`, detail: `services: ${a.services.join(', ')}` });
  }

  // lockout
  const now = auth.now();
  const gate = auth.limiter.gate(a.name, '\0doctor');
  if (a.locked_until && Date.parse(a.locked_until) > now) add({ id: 'lockout', level: 'fail', blocks: true, text: `${n} is locked out until ${a.locked_until} after too many wrong passwords: every sign-in is refused, even with the right password`, fix: `nasauth unlock ${n}`, detail: 'locked_out (persisted); SMB answers NT_STATUS_ACCOUNT_LOCKED_OUT' });
  else if (gate.kind === 'locked_out') add({ id: 'lockout', level: 'fail', blocks: true, text: `${n} is locked out for ${Math.ceil(gate.retryAfterMs / 1000)} s more after too many wrong passwords: every sign-in is refused, even with the right password`, fix: `nasauth unlock ${n}`, detail: 'locked_out' });
  else if (gate.kind === 'rate_limited') add({ id: 'lockout', level: 'warn', text: `recent wrong passwords for ${n}: the next try must wait ${Math.ceil(gate.retryAfterMs / 1000)} s`, fix: `nasauth unlock ${n}`, detail: 'rate_limited' });
  else add({ id: 'lockout', level: 'ok', text: `${n} is not locked out` });

  // NSS: smbd and afpd call getpwnam() before they ask for a password
  if (cfg.nss.enabled) {
    const file = join(cfg.nss.dir, 'passwd');
    const line = existsSync(file) ? readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith(`${a.name}:`)) : undefined;
    const f = line?.split(':');
    if (!f) add({ id: 'nss_file', level: 'fail', blocks: true, text: `the box's user list does not have ${n} yet, so file sharing does not know ${n}`, fix: 'restart nasauthd (it writes the list on every change; check that nss.dir is writable)', detail: `${n} is missing from ${file}` });
    else if (Number(f[2]) !== a.uid || Number(f[3]) !== a.gid) add({ id: 'nss_file', level: 'fail', text: `the box's user list has an old entry for ${n}`, fix: 'restart nasauthd', detail: `${file} says uid/gid ${f[2]}/${f[3]}, the store ${a.uid}/${a.gid}` });
    else add({ id: 'nss_file', level: 'ok', text: `the box's user list has ${n}`, detail: `${file}: uid ${a.uid}` });
  } else add({ scope: 'system', id: 'nss_file', level: 'warn', text: 'nasauth does not write the box\'s user list (nss.enabled is false): the system must know NAS users some other way', fix: 'set nss.enabled: true in nasauth.yaml' });
  // smbd and afpd look the user up before the password; other services do not need it
  if (service === null || needsSmb || service === 'afp') {
    const sys = getent('passwd', a.name);
    if (!sys) add({ scope: 'system', id: 'nss_system', level: needsSmb || service === 'afp' ? 'fail' : 'warn', blocks: needsSmb || service === 'afp', text: `the system does not see NAS accounts such as ${n}, so file sharing refuses them before even asking for the password`, fix: 'add "extrausers" to the passwd and group lines of /etc/nsswitch.conf', detail: `getent passwd ${a.name} finds nothing` });
    else if (Number(sys[2]) !== a.uid) add({ id: 'nss_system', level: 'fail', text: `the system has another "${n}" of its own (uid ${sys[2]}), which wins: files ${n} writes would belong to that other user`, fix: `rename the NAS account (delete it and add it under a free name), or remove the system's ${n}`, detail: `getent passwd ${a.name}: uid ${sys[2]}; nasauth: uid ${a.uid}` });
    else add({ id: 'nss_system', level: 'ok', text: `the system sees ${n}`, detail: `getent passwd ${a.name}: uid ${a.uid}` });
  }
  // a NAS group whose name or gid the system already has loses to the system's
  for (const gname of a.groups) {
    const g = auth.group(gname);
    const sg = getent('group', gname);
    if (g && sg && Number(sg[2]) !== g.gid) add({ id: 'group_clash', level: 'fail', text: `the NAS group "${gname}" has the same name as one of the system's groups, which wins: ${n}'s access through "${gname}" does not work`, fix: `make a NAS group of another name (nasauth group add NAME), move its members, and delete "${gname}"`, detail: `getent group ${gname}: gid ${sg[2]}; nasauth: gid ${g.gid}` });
  }

  // Samba: smb.conf must point at the LDAP view, with the same NetBIOS name
  if (needsSmb) {
    const conf = cfg.integration.smb_conf;
    if (!cfg.sockets.ldap.enabled) add({ scope: 'system', id: 'smb_passdb', level: 'fail', blocks: true, text: 'file sharing (SMB) cannot ask nasauth: its connection for Samba is switched off', fix: 'set sockets.ldap.enabled: true in nasauth.yaml and restart nasauthd', detail: 'sockets.ldap.enabled is false' });
    else if (!existsSync(conf)) add({ scope: 'system', id: 'smb_passdb', level: 'warn', text: 'cannot check that file sharing (SMB) asks nasauth: its configuration file is not where nasauth looks', fix: 'set integration.smb_conf in nasauth.yaml to the smb.conf Samba uses', detail: `${conf} not found` });
    else {
      const text = readFileSync(conf, 'utf8');
      const m = /^\s*passdb backend\s*=\s*(.+)$/im.exec(text);
      const want = `ldapsam:ldapi://${encodeURIComponent(cfg.sockets.ldap.path)}`;
      if (!m) add({ scope: 'system', id: 'smb_passdb', level: 'fail', blocks: true, text: 'file sharing (SMB) keeps passwords of its own instead of asking nasauth: they drift apart from every other service', fix: `in ${conf} [global]: passdb backend = ${want}, then restart smbd`, detail: `${conf} has no "passdb backend" line: smbd uses its own tdbsam` });
      else if (!m[1].trim().toLowerCase().startsWith('ldapsam:ldapi://') || decodeURIComponent(m[1].trim().replace(/^ldapsam:ldapi:\/\//i, '')) !== cfg.sockets.ldap.path) {
        add({ scope: 'system', id: 'smb_passdb', level: 'fail', blocks: true, text: 'file sharing (SMB) asks somewhere else for passwords, not nasauth', fix: `in ${conf} [global]: passdb backend = ${want}, then restart smbd`, detail: `smbd is pointed elsewhere: "passdb backend = ${m[1].trim()}"` });
      } else add({ id: 'smb_passdb', level: 'ok', text: 'file sharing (SMB) asks nasauth', detail: `passdb backend = ${want}` });
      const nb = smbNetbiosName(conf);
      const asked = [...domainsAsked.keys()];
      const other = [...new Set([...(nb ? [nb.name] : []), ...asked])].filter((x) => x !== cfg.netbios_name.toUpperCase());
      if (other.length) {
        add({ scope: 'system', id: 'netbios_name', level: 'warn', text: `the NAS has two names: Samba calls it "${other[0]}", nasauth "${cfg.netbios_name}". File sharing works, because nasauth answers for the name Samba asks, but the two should agree`, fix: `set netbios_name: ${other[0]} in nasauth.yaml, then: kill -HUP $(pidof nasauthd) (or set netbios name = ${cfg.netbios_name} in ${conf} and restart smbd)`, detail: `${nb ? `${nb.from} → ${nb.name}; ` : ''}smbd asked the LDAP view for sambaDomainName ${asked.join(', ') || '(not yet)'}; nasauth.yaml netbios_name: ${cfg.netbios_name}` });
      } else if (nb) add({ id: 'netbios_name', level: 'ok', text: `Samba and nasauth agree on the NAS's name (${cfg.netbios_name})`, detail: nb.from });
    }
  }

  // PAM services: the profile must use pam_nasauth.so on our socket
  const pamFor = service ? cfg.integration.pam_services[service] : undefined;
  if (pamFor) {
    const file = join(cfg.integration.pam_dir, pamFor);
    const svc = serviceWords(service!);
    if (!existsSync(file)) add({ scope: 'system', id: 'pam_profile', level: 'fail', blocks: true, text: `${svc} is not set up to ask nasauth`, fix: `install the profile: cp sysroot/etc/pam.d/${pamFor} ${file}`, detail: `${file} is missing` });
    else {
      const text = readFileSync(file, 'utf8');
      const lines = text.split('\n').filter((l) => /pam_nasauth\.so/.test(l) && !/^\s*#/.test(l));
      const includes = /^\s*@include\s+nasauth\b|^\s*(auth|account)\s+\S+\s+include\s+nasauth\b/m.test(text);
      if (!lines.length && !includes) add({ scope: 'system', id: 'pam_profile', level: 'fail', blocks: true, text: `${svc} checks passwords somewhere else, not with nasauth`, fix: `add "@include nasauth" to ${file} (see sysroot/etc/pam.d/${pamFor})`, detail: `${file} does not use pam_nasauth.so` });
      else {
        const sock = lines.map((l) => /socket=(\S+)/.exec(l)?.[1]).find(Boolean);
        if (sock && sock !== cfg.sockets.pam.path) add({ scope: 'system', id: 'pam_profile', level: 'fail', blocks: true, text: `${svc} asks nasauth at the wrong address, so every sign-in fails`, fix: `in ${file}: socket=${cfg.sockets.pam.path}`, detail: `${file} points pam_nasauth.so at ${sock}, but the daemon listens on ${cfg.sockets.pam.path}` });
        else add({ id: 'pam_profile', level: 'ok', text: `${svc} asks nasauth`, detail: `${file} uses pam_nasauth.so${sock ? ` on ${sock}` : includes ? ' (through the nasauth include)' : ''}` });
      }
    }
  }

  for (const h of hooks) {
    try { checks.push(...(await h(a, service))); } catch (e) { add({ id: 'hook', level: 'warn', text: 'one of the checks could not run', detail: (e as Error).message }); }
  }

  const recent = auth.recent.get(a.name) ?? [];
  if (recent.length) {
    add({ id: 'recent', level: 'info', text: `the last refused sign-ins of ${n}: ${recent.map((r) => `${new Date(r.at).toISOString()} ${serviceWords(r.service)} from ${r.source}`).join('; ')}`, detail: `reasons: ${recent.map((r) => `${r.service}: ${r.reason}`).join('; ')}` });
  }
  return done();
}
