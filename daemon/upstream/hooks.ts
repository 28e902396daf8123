// What the authority asks of the upstream directory follower (daemon/upstream/upstream.ts).
// Types only, so daemon/authority.ts depends on nothing else in this folder.
import type { Account } from '../store';
import type { Channel, Decision } from '../authority';

export type ProveResult =
  | { kind: 'ok'; account: Account; cached: boolean }
  | { kind: 'bad'; account?: Account }
  | { kind: 'decision'; decision: Decision };

export interface UpstreamHooks {
  /** Whether a login for `name` is the directory's business (directory accounts, names unknown here, clashes). */
  owns(name: string, acct: Account | undefined): boolean;
  /** Prove a password against the directory, or offline from the cache. The rate gate has run. */
  prove(name: string, password: Uint8Array, acct: Account | undefined): Promise<ProveResult>;
  /** Set a directory account's password: the directory first, then the local cache. */
  setPassword(a: Account, password: Uint8Array, channel: Channel, actor: string, old: Uint8Array | null): Promise<Decision>;
  /** Throws NasauthError (409) when `what` is a local-only action on a directory account or group. */
  guard(kind: 'user' | 'group', name: string, what: string): void;
}
