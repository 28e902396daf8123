// Doctor check for SMB: ask the LDAP view exactly what smbd asks (bind as the Samba
// admin DN, search the account by uid), over the real ldapi socket, and say in plain
// words what smbd will make of the answer.
import { readFileSync } from 'node:fs';
import ldap from 'ldapjs';
import type { Config } from './config';
import type { Check, DoctorHook } from './doctor';

interface Seen { flags?: string; nt: boolean; uidNumber?: string; sid?: string }

function lookup(cfg: Config, name: string): Promise<Seen | null> {
  const l = cfg.sockets.ldap;
  const secret = readFileSync(l.bind_secret_file, 'utf8').replace(/\r?\n$/, '');
  return new Promise((resolve, reject) => {
    // ldapjs takes socketPath for ldapi (its types only know url)
    const client = ldap.createClient({ socketPath: l.path, timeout: 3000, connectTimeout: 3000 } as unknown as ldap.ClientOptions);
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
      return [{ id: 'smb_view', level: 'fail', text: `smbd could not read the LDAP view: ${(e as Error).message}` }];
    }
    if (!seen) return [{ id: 'smb_view', level: 'fail', text: `the LDAP view has no Samba entry for ${a.name}: smbd answers NT_STATUS_LOGON_FAILURE` }];
    if (seen.flags?.includes('D')) out.push({ id: 'smb_view', level: 'fail', text: `smbd sees the account disabled (${seen.flags}): NT_STATUS_ACCOUNT_DISABLED${!a.enabled ? '' : ' (it may use neither smb nor timemachine)'}` });
    else if (seen.flags?.includes('L')) out.push({ id: 'smb_view', level: 'fail', text: `smbd sees the account locked (${seen.flags}): NT_STATUS_ACCOUNT_LOCKED_OUT (nasauth unlock ${a.name})` });
    else if (!seen.nt) out.push({ id: 'smb_view', level: 'fail', text: 'smbd gets no NT hash from the LDAP view: every SMB login fails until the password is set again' });
    else out.push({ id: 'smb_view', level: 'ok', text: `smbd sees ${a.name} through the LDAP view: flags ${seen.flags}, uid ${seen.uidNumber}, SID ${seen.sid}` });
    if (seen.uidNumber && Number(seen.uidNumber) !== a.uid) out.push({ id: 'smb_uid', level: 'fail', text: `the LDAP view says uid ${seen.uidNumber}, the store ${a.uid}` });
    return out;
  };
}
