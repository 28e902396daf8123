// Doctor check for SMB: ask the LDAP view exactly what smbd asks (bind as the Samba
// admin DN, search the account by uid), over the real ldapi socket, and say in plain
// words what smbd will make of the answer.
import { readFileSync } from 'node:fs';
import type * as Ldapjs from 'ldapjs';
import type { Config } from './config';
import type { Check, DoctorHook } from './doctor';

interface Seen { flags?: string; nt: boolean; uidNumber?: string; sid?: string }

function lookup(cfg: Config, name: string): Promise<Seen | null> {
  const l = cfg.sockets.ldap;
  const secret = readFileSync(l.bind_secret_file, 'utf8').replace(/\r?\n$/, '');
  return new Promise((resolve, reject) => {
    // ldapjs takes socketPath for ldapi (its types only know url)
    // loaded when a doctor runs: the hook is registered at every start (docs/performance.md)
    const ldap = require('ldapjs') as typeof Ldapjs; // eslint-disable-line @typescript-eslint/no-var-requires
    const client = ldap.createClient({ socketPath: l.path, timeout: 3000, connectTimeout: 3000 } as unknown as Ldapjs.ClientOptions);
    const done = (e: Error | null, v?: Seen | null) => { client.unbind(() => client.destroy()); if (e) reject(e); else resolve(v ?? null); };
    client.on('error', (e: Error) => done(e));
    client.bind(l.bind_dn, secret, (e: Error | null) => {
      if (e) return done(new Error(`the Samba admin bind was refused: ${e.message}`));
      client.search(l.suffix, { scope: 'sub', filter: `(&(uid=${name})(objectClass=sambaSamAccount))`, attributes: ['sambaAcctFlags', 'sambaNTPassword', 'uidNumber', 'sambaSID'] }, (err, res) => {
        if (err) return done(err);
        let seen: Seen | null = null;
        res.on('searchEntry', (entry) => {
          const get = (a: string) => entry.attributes.find((x) => x.type.toLowerCase() === a.toLowerCase())?.values?.[0];
          seen = { flags: get('sambaAcctFlags'), nt: !!get('sambaNTPassword'), uidNumber: get('uidNumber'), sid: get('sambaSID') };
        });
        res.on('error', (e2: Error) => done(e2));
        res.on('end', () => done(null, seen));
      });
    });
  });
}

export function ldapDoctorHook(cfg: () => Config): DoctorHook {
  return async (a, service) => {
    if (service !== null && service !== 'smb' && service !== 'timemachine') return [];
    const out: Check[] = [];
    let seen: Seen | null;
    try {
      seen = await lookup(cfg(), a.name);
    } catch (e) {
      return [{ id: 'smb_view', level: 'fail', blocks: true, text: 'file sharing (SMB) cannot read the NAS accounts from nasauth', fix: 'check that nasauthd runs and that smb.conf\'s ldap admin dn and the bind secret (smbpasswd -w) match nasauth.yaml', detail: `smbd could not read the LDAP view: ${(e as Error).message}` }];
    }
    if (!seen) return [{ id: 'smb_view', level: 'fail', blocks: true, text: `file sharing (SMB) cannot find ${a.name}: every SMB sign-in fails as a wrong password`, fix: 'restart nasauthd, then check again', detail: `the LDAP view has no sambaSamAccount entry for ${a.name}: smbd answers NT_STATUS_LOGON_FAILURE` }];
    const detail = `what smbd reads from the LDAP view: flags ${seen.flags}, uid ${seen.uidNumber}, SID ${seen.sid}, NT hash ${seen.nt ? 'present' : 'absent'}`;
    if (seen.flags?.includes('D')) {
      // the reasons (switched off, no SMB service) are findings of their own above
      out.push({ id: 'smb_view', level: 'info', blocks: true, text: `file sharing (SMB) tells ${a.name} "account disabled"${a.enabled ? `: ${a.name} may use neither file sharing nor Time Machine` : ''}`, fix: a.enabled ? `nasauth service allow ${a.name} smb` : `nasauth user set ${a.name} --enable`, detail: `${detail}; smbd answers NT_STATUS_ACCOUNT_DISABLED` });
    } else if (seen.flags?.includes('L')) out.push({ id: 'smb_view', level: 'fail', blocks: true, text: `file sharing (SMB) sees ${a.name} locked out`, fix: `nasauth unlock ${a.name}`, detail: `${detail}; smbd answers NT_STATUS_ACCOUNT_LOCKED_OUT` });
    else if (!seen.nt && !a.nt_hash) out.push({ id: 'smb_view', level: 'ok', text: `file sharing (SMB) sees ${a.name} as nasauth does (without a password form, see above)`, detail });
    else if (!seen.nt) out.push({ id: 'smb_view', level: a.nt_hash ? 'fail' : 'warn', text: `file sharing (SMB) gets no password form for ${a.name}: every SMB sign-in fails`, fix: a.nt_hash ? 'restart nasauthd' : `nasauth user passwd ${a.name}`, detail });
    else out.push({ id: 'smb_view', level: 'ok', text: `file sharing (SMB) sees ${a.name} as nasauth does`, detail });
    if (seen.uidNumber && Number(seen.uidNumber) !== a.uid) out.push({ id: 'smb_uid', level: 'fail', text: `file sharing (SMB) sees another uid for ${a.name}`, fix: 'restart nasauthd', detail: `the LDAP view says uid ${seen.uidNumber}, the store ${a.uid}` });
    return out;
  };
}
