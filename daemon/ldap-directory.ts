// The directory the LDAP view serves to smbd, rendered from what the authority says smbd
// may see (Authority.smbDirectory: accounts with their NT hash and flags, NAS groups and
// service groups). Pure: no sockets, and no decisions.
//
// Kept up to date in place on every store generation (Directory.update): an entry is made
// (BER-encoded, indexed) again only when what it is made from changed, so one change among
// 10 000 accounts costs one entry, not 10 000 (bench/change.ts measures it). Equality
// indexes cover the attributes smbd looks entries up by.
// Attribute names and values compare case-insensitively (every attribute smbd filters
// on has a caseIgnore or integer matching rule in samba.schema / nis.schema).
//
// Tree (suffix S):
//   S                                  dcObject + organization
//   sambaDomainName=NAS,S              sambaDomain (SID, next RID, password and lockout policy)
//   ou=people,S / uid=NAME,ou=people,S inetOrgPerson + posixAccount + sambaSamAccount
//   ou=groups,S / cn=NAME,ou=groups,S  posixGroup + sambaGroupMapping (NAS groups, service
//                                      groups and the well-known Domain Users/Admins/Guests)
import type { SmbDirectory } from './authority';
import type { Config } from './config';
import { encodeAttribute } from './ldap-ber';

export const PASSWORD_MODIFY_OID = '1.3.6.1.4.1.4203.1.11.1';
/** nasauth's own exop: "would this password pass the policy?" (the check password script uses it) */
export const POLICY_CHECK_OID = '1.3.6.1.4.1.58040.1.1';
export const PAGED_RESULTS_OID = '1.2.840.113556.1.4.319';
export const MANAGE_DSA_IT_OID = '2.16.840.1.113730.3.4.2';
export const SUPPORTED_CONTROLS = [PAGED_RESULTS_OID, MANAGE_DSA_IT_OID];

/** Attributes only the bound admin identity (smbd) may read or filter on. */
export const SECRET_ATTRS = new Set(['sambantpassword', 'sambalmpassword', 'userpassword', 'sambapasswordhistory', 'sambaclearpassword']);
/** Equality-indexed attributes: the lookups pdb_ldap.c makes on every login. */
const INDEXED = ['uid', 'uidnumber', 'gidnumber', 'sambasid', 'objectclass', 'sambadomainname', 'sambagrouptype', 'sambasidlist', 'memberuid', 'cn', 'displayname'];

// Well-known RIDs (MS-SAMR 2.2.1.14) and the gids they map to when no NAS group has them.
export const RID_DOMAIN_ADMINS = 512;
export const RID_DOMAIN_USERS = 513;
export const RID_DOMAIN_GUESTS = 514;
/** gids for Domain Admins/Guests: outside the accounts' uid/gid range, no files are owned by them */
export const DOMAIN_ADMINS_GID = 60512;
export const DOMAIN_GUESTS_GID = 60514;
/** NAS groups get RID 2^30 + gid: never meets a sequential account RID (those start at 1000). */
export const GROUP_RID_BASE = 0x40000000;

/** One attribute of an entry: its values, and its BER encoding as a view into the entry's one buffer. */
export class Attr {
  constructor(readonly name: string, readonly values: string[], private readonly raw: Buffer, private readonly at: number, private readonly len: number) {}
  /** the PartialAttribute, BER-encoded (a view: no copy) */
  get enc(): Buffer { return this.raw.subarray(this.at, this.at + this.len); }
}

export interface Entry {
  dn: string; // as served
  ndn: string; // normalised (lower case, no spaces around separators)
  parent: string; // normalised DN of the parent ('' for the suffix and the RootDSE)
  attrs: Map<string, { readonly name: string; readonly values: string[]; readonly enc: Buffer }>; // key: lower-case name (Attr)
  account?: string; // user entries: the account name
}

export function normDn(dn: string): string {
  return dn.split(',').map((rdn) => rdn.trim().toLowerCase().replace(/\s*=\s*/, '=')).filter((s) => s.length > 0).join(',');
}
export function parentOf(ndn: string): string {
  const i = ndn.indexOf(',');
  return i < 0 ? '' : ndn.slice(i + 1);
}

type Attrs = Record<string, Array<string | number> | string | number | null | undefined>;

/**
 * Make an entry. Its attributes are encoded once into one buffer of its own (not a slice
 * of Node's shared pool, which a replaced entry would keep pinned): one small Buffer per
 * attribute cost 10,000 accounts about 46 MB of buffer memory beside the heap.
 */
function entry(dn: string, attrs: Attrs, account?: string): Entry {
  const parts: Array<[string, string[], Buffer]> = [];
  let total = 0;
  for (const [name, v] of Object.entries(attrs)) {
    if (v === null || v === undefined) continue;
    const values = (Array.isArray(v) ? v : [v]).map(String);
    if (values.length === 0) continue;
    const enc = encodeAttribute(name, values);
    parts.push([name, values, enc]);
    total += enc.length;
  }
  const raw = Buffer.allocUnsafeSlow(total);
  const m = new Map<string, Attr>();
  let at = 0;
  for (const [name, values, enc] of parts) {
    enc.copy(raw, at);
    m.set(name.toLowerCase(), new Attr(name, values, raw, at, enc.length));
    at += enc.length;
  }
  const ndn = normDn(dn);
  return { dn, ndn, parent: parentOf(ndn), attrs: m, account };
}

export function groupRid(gid: number): number { return GROUP_RID_BASE + gid; }

/**
 * The flags smbd reads: U normal user, D disabled, L locked (auto-lock), X password never
 * expires (nasauth has no password ageing). A must-change account has no X: smbd then
 * reads sambaPwdLastSet 0 as "must change at next logon".
 */
export function acctFlags(disabled: boolean, locked: boolean, mustChange = false): string {
  const f = `U${disabled ? 'D' : ''}${locked ? 'L' : ''}${mustChange ? '' : 'X'}`;
  return `[${f.padEnd(11, ' ')}]`;
}

export class Directory {
  readonly rootDse: Entry;
  /** every entry but the RootDSE, by normalised DN; its order is the order searches scan */
  readonly byDn = new Map<string, Entry>();
  private list: Entry[] | null = null;
  private index = new Map<string, Map<string, Entry[]>>();
  /** per DN as made: what the entry was made from, its normalised DN */
  private made = new Map<string, { sig: string; ndn: string }>();
  readonly suffix: string;
  readonly userBase: string;
  readonly groupBase: string;
  private data!: Readonly<SmbDirectory>;

  constructor(readonly cfg: Config, data: Readonly<SmbDirectory>) {
    const suffix = cfg.sockets.ldap.suffix;
    this.suffix = normDn(suffix);
    this.userBase = `ou=people,${suffix}`;
    this.groupBase = `ou=groups,${suffix}`;
    this.rootDse = entry('', {
      objectClass: ['top', 'nasauthRootDSE'],
      namingContexts: suffix,
      supportedLDAPVersion: 3,
      supportedExtension: [PASSWORD_MODIFY_OID, POLICY_CHECK_OID],
      supportedControl: SUPPORTED_CONTROLS,
      supportedSASLMechanisms: [],
      vendorName: 'nasauth',
    });
    this.update(data);
  }

  /** Every entry, in scan order (made again only after a change). */
  get entries(): Entry[] { return (this.list ??= [...this.byDn.values()]); }

  /**
   * Bring the directory to `data` (same config). Each entry is described by a signature
   * of its inputs, made cheaply; only entries whose signature changed are made (encoded)
   * and re-indexed, and entries no longer described are removed. Synchronous: a search
   * never sees half an update.
   */
  update(data: Readonly<SmbDirectory>) {
    this.data = data;
    const cfg = this.cfg;
    const suffix = cfg.sockets.ldap.suffix;
    const sid = data.domain_sid;
    const seen = new Set<string>();
    const put = (dn: string, sig: string, attrs: () => Attrs, account?: string) => {
      seen.add(dn);
      const was = this.made.get(dn);
      if (was && was.sig === sig) return;
      if (was) this.remove(was.ndn);
      const e = entry(dn, attrs(), account);
      this.made.set(dn, { sig, ndn: e.ndn });
      this.byDn.set(e.ndn, e);
      this.addIndex(e);
      this.list = null;
    };

    const dc = suffix.split(',')[0].split('=')[1];
    put(suffix, cfg.netbios_name, () => ({ objectClass: ['top', 'dcObject', 'organization'], dc, o: cfg.netbios_name }));
    put(this.userBase, '', () => ({ objectClass: ['top', 'organizationalUnit'], ou: 'people' }));
    put(this.groupBase, '', () => ({ objectClass: ['top', 'organizationalUnit'], ou: 'groups' }));
    const domainDn = `sambaDomainName=${cfg.netbios_name},${suffix}`;
    put(domainDn, `${sid}|${data.next_rid}`, () => this.domainAttrs(cfg.netbios_name));

    // groups: the well-known three, merged with a NAS group that has the same gid
    const nasGroups = data.groups;
    const byGid = new Map(nasGroups.map((g) => [g.gid, g]));
    const wellKnown: Array<[number, number, string, string]> = [
      [RID_DOMAIN_USERS, cfg.accounts.default_gid, 'Domain Users', 'All NAS accounts'],
      [RID_DOMAIN_ADMINS, DOMAIN_ADMINS_GID, 'Domain Admins', 'Domain administrators (no NAS rights are attached)'],
      [RID_DOMAIN_GUESTS, DOMAIN_GUESTS_GID, 'Domain Guests', 'Guests'],
    ];
    const wkGids = new Set<number>();
    for (const [rid, gid, display, desc] of wellKnown) {
      if (wkGids.has(gid)) continue;
      wkGids.add(gid);
      const g = byGid.get(gid);
      const cn = g ? g.name : display.replace(' ', '_').toLowerCase();
      put(`cn=${cn},${this.groupBase}`, `${sid}|${g ? g.members.join(',') : ''}`, () => ({
        objectClass: ['top', 'posixGroup', 'sambaGroupMapping'],
        cn,
        gidNumber: gid,
        memberUid: g ? [...g.members] : [],
        sambaSID: `${sid}-${rid}`,
        sambaGroupType: 2,
        displayName: display,
        description: desc,
      }));
    }
    for (const g of nasGroups) {
      if (wkGids.has(g.gid)) continue;
      put(`cn=${g.name},${this.groupBase}`, `${sid}|${g.gid}|${g.members.join(',')}`, () => ({
        objectClass: ['top', 'posixGroup', 'sambaGroupMapping'],
        cn: g.name,
        gidNumber: g.gid,
        memberUid: [...g.members],
        sambaSID: `${sid}-${groupRid(g.gid)}`,
        sambaGroupType: 2,
        displayName: g.name,
      }));
    }

    const home = cfg.accounts.home_base;
    for (const a of data.accounts) {
      const primary = a.gid === cfg.accounts.default_gid || !byGid.has(a.gid) ? `${sid}-${RID_DOMAIN_USERS}` : `${sid}-${groupRid(a.gid)}`;
      const mustChange = a.must_change;
      // must-change: pwdLastSet 0 makes smbd answer NT_STATUS_PASSWORD_MUST_CHANGE
      const lastSet = mustChange ? 0 : Math.floor(a.password_last_set / 1000);
      const closed = a.closed !== null;
      // every input of the entry below, \0-separated (no field holds a NUL; \u0001: null)
      const sig = `${a.full_name}\0${a.email ?? '\u0001'}\0${a.uid}\0${a.gid}\0${primary}\0${a.rid}\0${a.nt ?? '\u0001'}\0${lastSet}\0${mustChange}\0${closed}`;
      put(`uid=${a.name},${this.userBase}`, sig, () => {
        const display = a.full_name || a.name;
        return {
          objectClass: ['top', 'person', 'organizationalPerson', 'inetOrgPerson', 'posixAccount', 'sambaSamAccount'],
          uid: a.name,
          cn: display,
          sn: a.name,
          displayName: display,
          gecos: a.full_name.replace(/[:\n]/g, ' ') || undefined,
          mail: a.email,
          uidNumber: a.uid,
          gidNumber: a.gid,
          homeDirectory: `${home}/${a.name}`,
          loginShell: cfg.accounts.shell,
          sambaSID: `${sid}-${a.rid}`,
          sambaPrimaryGroupSID: primary,
          sambaNTPassword: a.nt,
          sambaPwdLastSet: lastSet,
          sambaPwdCanChange: 0,
          sambaPwdMustChange: mustChange ? 0 : 2147483647,
          sambaAcctFlags: acctFlags(closed, false, mustChange),
        };
      }, a.name);
    }

    if (seen.size !== this.made.size) {
      for (const [dn, m] of this.made) if (!seen.has(dn)) { this.remove(m.ndn); this.made.delete(dn); this.list = null; }
    }
  }

  /**
   * The sambaDomain entry for `name`. smbd looks its domain up by its own NetBIOS name
   * (smb.conf `netbios name`, for a standalone server); the view also answers for a name
   * other than netbios_name (ldap-view.ts), with the same SID and policy.
   */
  domainEntry(name: string): Entry {
    return entry(`sambaDomainName=${name},${this.cfg.sockets.ldap.suffix}`, this.domainAttrs(name));
  }

  private domainAttrs(name: string): Attrs {
    const cfg = this.cfg;
    const data = this.data;
    const pol = cfg.password_policy;
    const rl = cfg.rate_limit;
    const lockMinutes = Math.max(1, Math.ceil(rl.lockout_seconds / 60));
    return {
      objectClass: ['top', 'sambaDomain'],
      sambaDomainName: name,
      sambaSID: data.domain_sid,
      sambaNextRid: data.next_rid,
      sambaNextUserRid: data.next_rid,
      sambaAlgorithmicRidBase: 1000,
      sambaMinPwdLength: pol.min_length,
      sambaPwdHistoryLength: 0,
      sambaLogonToChgPwd: 0,
      sambaMaxPwdAge: -1,
      sambaMinPwdAge: 0,
      sambaLockoutThreshold: rl.lockout_after,
      sambaLockoutDuration: lockMinutes,
      sambaLockoutObservationWindow: lockMinutes,
      sambaForceLogoff: -1,
      sambaRefuseMachinePwdChange: 0,
    };
  }

  private addIndex(e: Entry) {
    for (const k of INDEXED) {
      const at = e.attrs.get(k);
      if (!at) continue;
      let idx = this.index.get(k);
      if (!idx) { idx = new Map(); this.index.set(k, idx); }
      for (const v of at.values) {
        const key = v.toLowerCase();
        const list = idx.get(key);
        // an entry's values are indexed together, so a repeat is always the list's last
        // one (includes() here made 10 000 accounts quadratic: 'top' is on every entry)
        if (list) { if (list[list.length - 1] !== e) list.push(e); } else idx.set(key, [e]);
      }
    }
  }

  private remove(ndn: string) {
    const e = this.byDn.get(ndn);
    if (!e) return;
    this.byDn.delete(ndn);
    for (const k of INDEXED) {
      const at = e.attrs.get(k);
      const idx = at && this.index.get(k);
      if (!at || !idx) continue;
      for (const v of at.values) {
        const key = v.toLowerCase();
        const list = idx.get(key);
        if (!list) continue;
        const i = list.lastIndexOf(e);
        if (i >= 0) list.splice(i, 1);
        if (list.length === 0) idx.delete(key);
      }
    }
  }

  isIndexed(attr: string): boolean { return INDEXED.includes(attr); }
  lookup(attr: string, value: string): Entry[] { return this.index.get(attr)?.get(value.toLowerCase()) ?? []; }
}

// ---- filters ----------------------------------------------------------------------
// The filter objects come from @ldapjs/filter; their depth is bounded by the framer
// (MAX_BER_DEPTH), so plain recursion is safe here.

/** The subset of @ldapjs/filter's classes this evaluator reads. */
export interface LdapFilter {
  type: string;
  attribute?: string;
  value?: unknown;
  filters?: LdapFilter[];
  filter?: LdapFilter;
  subInitial?: string; subAny?: string[]; subFinal?: string;
}

export type Getter = (e: Entry, attrLower: string) => readonly string[] | undefined;

const asText = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v ?? ''));
const isInt = (s: string) => /^-?\d{1,16}$/.test(s);

/**
 * A long list of values (a group's memberUid: every account of a service) lower-cased
 * once, for the equality test smbd makes on every login ("is this user a member"), instead
 * of lower-casing every value again per group per search. Kept as long as the list is.
 */
const loweredSets = new WeakMap<readonly string[], Set<string>>();
function lowered(vals: readonly string[]): Set<string> {
  let s = loweredSets.get(vals);
  if (!s) { s = new Set(vals.map((v) => v.toLowerCase())); loweredSets.set(vals, s); }
  return s;
}

export function matches(f: LdapFilter, e: Entry, get: Getter): boolean {
  switch (f.type) {
    case 'AndFilter': return (f.filters ?? []).every((c) => matches(c, e, get));
    case 'OrFilter': return (f.filters ?? []).some((c) => matches(c, e, get));
    case 'NotFilter': return !matches(f.filter as LdapFilter, e, get);
    case 'PresenceFilter': return (get(e, (f.attribute ?? '').toLowerCase())?.length ?? 0) > 0;
    case 'EqualityFilter':
    case 'ApproximateFilter': {
      const want = asText(f.value).toLowerCase();
      const vals = get(e, (f.attribute ?? '').toLowerCase());
      if (!vals) return false;
      if (isInt(want)) return vals.some((v) => v.toLowerCase() === want || (isInt(v) && Number(v) === Number(want)));
      if (vals.length > 8) return lowered(vals).has(want);
      return vals.some((v) => v.toLowerCase() === want);
    }
    case 'GreaterThanEqualsFilter':
    case 'LessThanEqualsFilter': {
      const want = asText(f.value).toLowerCase();
      const ge = f.type === 'GreaterThanEqualsFilter';
      return (get(e, (f.attribute ?? '').toLowerCase()) ?? []).some((v) => {
        const c = isInt(v) && isInt(want) ? Math.sign(Number(v) - Number(want)) : v.toLowerCase().localeCompare(want);
        return ge ? c >= 0 : c <= 0;
      });
    }
    case 'SubstringFilter': {
      const init = (f.subInitial ?? '').toLowerCase();
      const fin = (f.subFinal ?? '').toLowerCase();
      const any = (f.subAny ?? []).map((s) => s.toLowerCase());
      return (get(e, (f.attribute ?? '').toLowerCase()) ?? []).some((raw) => {
        const v = raw.toLowerCase();
        if (!v.startsWith(init)) return false;
        let pos = init.length;
        for (const a of any) { const i = v.indexOf(a, pos); if (i < 0) return false; pos = i + a.length; }
        return v.length - fin.length >= pos && v.endsWith(fin);
      });
    }
    default: return false; // extensible matches: Undefined, which a search treats as false
  }
}

/**
 * Entries that can match `f`, from the equality indexes; null when the filter gives no
 * indexed handle (then the caller scans). Candidates are always re-checked with matches().
 * `limit`: a caller that already holds this many candidates has no use for more, so a
 * union that would exceed it is not built (null): smbd's "(&(objectClass=posixGroup)
 * (|(memberUid=u)(gidNumber=100)))" holds 5 groups after its first term, and uniting
 * every account whose gidNumber is 100 into a set cost each such search ~20 µs.
 */
export function candidates(dir: Directory, f: LdapFilter, secretOk: boolean, limit = Infinity): Entry[] | null {
  switch (f.type) {
    case 'EqualityFilter': {
      const a = (f.attribute ?? '').toLowerCase();
      if (!dir.isIndexed(a)) return null;
      return dir.lookup(a, asText(f.value));
    }
    case 'AndFilter': {
      let best: Entry[] | null = null;
      // plain terms first: they are one lookup each, and bound what a union below may cost
      const terms = f.filters ?? [];
      for (const pass of [0, 1]) {
        for (const c of terms) {
          if ((c.type === 'EqualityFilter' ? 0 : 1) !== pass) continue;
          const s = candidates(dir, c, secretOk, best ? best.length : limit);
          if (s && (!best || s.length < best.length)) best = s;
          if (best && best.length === 0) return best;
        }
      }
      return best;
    }
    case 'OrFilter': {
      const out = new Set<Entry>();
      for (const c of f.filters ?? []) {
        const s = candidates(dir, c, secretOk, limit);
        if (!s || s.length > limit) return null;
        for (const e of s) out.add(e);
        if (out.size > limit) return null;
      }
      return [...out];
    }
    default: return null;
  }
}

/** Render a filter for the debug log (values of secret attributes are masked). */
export function filterText(f: LdapFilter): string {
  const at = (f.attribute ?? '');
  const val = () => (SECRET_ATTRS.has(at.toLowerCase()) ? '***' : asText(f.value));
  switch (f.type) {
    case 'AndFilter': return `(&${(f.filters ?? []).map(filterText).join('')})`;
    case 'OrFilter': return `(|${(f.filters ?? []).map(filterText).join('')})`;
    case 'NotFilter': return `(!${filterText(f.filter as LdapFilter)})`;
    case 'PresenceFilter': return `(${at}=*)`;
    case 'EqualityFilter': return `(${at}=${val()})`;
    case 'ApproximateFilter': return `(${at}~=${val()})`;
    case 'GreaterThanEqualsFilter': return `(${at}>=${val()})`;
    case 'LessThanEqualsFilter': return `(${at}<=${val()})`;
    case 'SubstringFilter': return `(${at}=${f.subInitial ?? ''}*${(f.subAny ?? []).map((s) => `${s}*`).join('')}${f.subFinal ?? ''})`;
    default: return `(${f.type})`;
  }
}
