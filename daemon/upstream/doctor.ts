// `nasauth doctor` for directory accounts: where the account comes from, whether the
// directory answers (and if not, why, in words an admin can act on), whether this user
// can sign in offline, and which SMB case the user is in.
import type { Check, DoctorHook } from '../doctor';
import type { AccountView } from '../authority';
import type { Upstream } from './upstream';

const SMB = new Set(['smb', 'timemachine']);
const iso = (ms: number | null | undefined) => (ms ? new Date(ms).toISOString() : 'never');

export function upstreamDoctorHook(up: Upstream, lifetimeSeconds: () => number, now: () => number): DoctorHook {
  return async (view: AccountView, service: string | null): Promise<Check[]> => {
    const out: Check[] = [];
    const add = (id: string, level: Check['level'], text: string) => out.push({ id, level, text });
    const a = up.account(view.name);
    if (!a || a.rid !== view.rid) return out; // gone or replaced since the view was made
    if (a.source !== 'directory') {
      const clash = up.clashes.get(a.name);
      if (clash) add('directory_clash', 'warn', `the directory also has a user named ${a.name}: ${clash}`);
      return out;
    }
    const m = a.upstream!;
    const reach = await up.reachability();
    const lifetimeMs = lifetimeSeconds() * 1000;
    const confirmed = up.confirmedAt(a);
    const offlineUntil = confirmed + lifetimeMs;
    add('directory', 'ok', `${a.name} comes from the directory (${m.dn}); the directory last confirmed the account at ${iso(confirmed)}, and last accepted its password at ${iso(up.verifiedAt(a))}`);
    if (m.removed_at) add('enabled', 'fail', `the directory no longer has ${a.name} (noticed at ${iso(m.removed_at)}): every login is refused; nasauth user del ${a.name} removes what this NAS kept`);
    else if (m.disabled || !a.enabled) add('enabled', 'fail', `the directory has ${a.name} disabled (sambaAcctFlags D, shadowExpire or a password-policy lock): enable it in the directory`);
    else add('enabled', 'ok', 'the account is enabled in the directory');
    const copyFresh = !!a.verifiers.scrypt && now() < offlineUntil;
    if (reach.ok) add('directory_reach', 'ok', reach.text);
    else add('directory_reach', copyFresh ? 'warn' : 'fail', `${reach.text}${copyFresh ? `; ${a.name} can still sign in from the offline copy until ${iso(offlineUntil)}` : ''}`);
    if (!a.verifiers.scrypt) {
      add('password', reach.ok ? 'ok' : 'fail', reach.ok
        ? `no offline copy of ${a.name}'s password yet: the first sign-in while the directory answers makes one (the directory checks the password meanwhile)`
        : `no offline copy of ${a.name}'s password, and the directory cannot be reached: ${a.name} cannot sign in (SMB aside) until it can`);
    } else if (copyFresh) {
      add('password', 'ok', `an offline copy of the password is kept (scrypt); offline sign-in works until ${iso(offlineUntil)} (upstream.offline.lifetime_seconds)`);
    } else {
      add('password', reach.ok ? 'ok' : 'fail', `the offline copy is older than upstream.offline.lifetime_seconds (the directory last confirmed ${a.name} at ${iso(confirmed)})${reach.ok ? '; the next sign-in or refresh renews it' : ': offline sign-in is refused until the directory answers again'}`);
    }
    const needsNt = service === null || SMB.has(service);
    if (a.verifiers.nt && m.nt_from === 'directory') add('nt_hash', 'ok', 'SMB: the NT hash comes from the directory (sambaNTPassword)');
    else if (a.verifiers.nt) add('nt_hash', 'ok', `SMB: the NT hash comes from ${a.name}'s last plaintext sign-in on this NAS (web page, PAM, AFP) at ${iso(up.verifiedAt(a))}`);
    else add('nt_hash', needsNt ? 'fail' : 'warn', `SMB: no NT hash yet (the directory holds no sambaNTPassword for ${a.name}): SMB and Time Machine fail until ${a.name} signs in once on the web page, over AFP or with ssh while the directory answers`);
    return out;
  };
}
