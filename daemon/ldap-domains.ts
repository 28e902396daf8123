// The domain names smbd asked the LDAP view for (its own NetBIOS name, for a standalone
// server), with when it last asked: `nasauth doctor` compares them with netbios_name. In
// a module of its own so that doctor does not load the LDAP view (and ldapjs) into a
// daemon that has the view switched off. Bounded: a name is a short token and smbd asks
// for one or two.
export const domainsAsked = new Map<string, number>();
export const MAX_DOMAIN_NAMES = 8;

export function noteDomainAsked(name: string, at: number) {
  const k = name.toUpperCase();
  if (!domainsAsked.has(k) && domainsAsked.size >= MAX_DOMAIN_NAMES) domainsAsked.delete(domainsAsked.keys().next().value as string);
  domainsAsked.set(k, at);
}
