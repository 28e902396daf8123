// Prometheus text exposition of the daemon's counters.
import type { Authority } from './authority';

/** The query socket's front (daemon/http-fast.ts), when it has one. */
export interface FrontCounts { recognised: number; handedOver: number }

export function metricsText(auth: Authority, started: number, front: FrontCounts | null = null): string {
  const lines: string[] = [];
  const put = (name: string, type: string, help: string, samples: Array<[string, number]>) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) lines.push(`${name}${labels} ${v}`);
  };
  const decisions: Array<[string, number]> = [];
  for (const [k, v] of auth.counters) {
    const [reason, service, cached] = k.split('|');
    decisions.push([`{reason="${reason}",service="${service}",cached="${cached === '1'}"}`, v]);
  }
  put('nasauth_decisions_total', 'counter', 'Authentication decisions by reason, service and whether the cache answered.', decisions);
  put('nasauth_cache_hits_total', 'counter', 'Password checks answered by the hot-path cache.', [['', auth.cache.hits]]);
  put('nasauth_cache_misses_total', 'counter', 'Password checks the cache could not answer.', [['', auth.cache.misses]]);
  put('nasauth_cache_entries', 'gauge', 'Entries in the hot-path cache.', [['', auth.cache.size]]);
  const store = auth.storeInfo();
  put('nasauth_accounts', 'gauge', 'Accounts in the store.', [['', store.accounts]]);
  put('nasauth_store_generation', 'counter', 'Changes written to the store since it was created.', [['', store.generation]]);
  put('nasauth_hash_in_flight', 'gauge', 'Slow password hashes running.', [['', auth.verifier.pool.inFlight]]);
  put('nasauth_hash_queued', 'gauge', 'Slow password hashes waiting.', [['', auth.verifier.pool.queued]]);
  put('nasauth_hash_limit', 'gauge', 'Slow password hashes allowed at once (one fewer during a flood of wrong passwords).', [['', auth.verifier.pool.currentLimit]]);
  put('nasauth_ratelimit_tracked_names', 'gauge', 'Names with recent failures.', [['', auth.limiter.trackedNames]]);
  put('nasauth_ratelimit_tracked_sources', 'gauge', 'Sources with recent failures.', [['', auth.limiter.trackedSources]]);
  put('nasauth_sessions', 'gauge', 'Signed-in sessions of the web page.', [['', auth.sessions.size]]);
  if (front) {
    put('nasauth_query_front_requests_total', 'counter', 'Requests on the query socket answered by its front, without node:http (docs/performance.md).', [['', front.recognised]]);
    put('nasauth_query_front_handovers_total', 'counter', 'Query socket connections handed to node:http: other routes, or requests the front does not recognise.', [['', front.handedOver]]);
  }
  put('process_resident_memory_bytes', 'gauge', 'Resident memory of the daemon.', [['', process.memoryUsage.rss()]]);
  put('nasauth_uptime_seconds', 'gauge', 'Seconds since the daemon started.', [['', Math.round((Date.now() - started) / 1000)]]);
  return lines.join('\n') + '\n';
}
