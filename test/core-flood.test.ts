// A flood of bad passwords for random names from many sources: memory stays bounded
// (tracked names/sources capped, slow-hash queue capped) and cache hits for a real
// user keep working during the flood. No timing thresholds: only bounds and answers.
import t from 'tap';
import { addUser, authenticate, cleanup, http, metric, startDaemon } from './helpers/daemon';

t.test('bad-password flood', async (t) => {
  const d = await startDaemon({ config: { rate_limit: { tracked_names: 200, tracked_sources: 50 }, scrypt: { log_n: 10, max_in_flight: 2, max_queued: 8 } } });
  t.teardown(async () => { await d.stop(); cleanup(d); });
  await addUser(d, 'alice', 'Correct-horse-1');
  t.equal((await authenticate(d, 'alice', 'Correct-horse-1')).body.reason, 'ok');
  const reasons = new Map<string, number>();
  let aliceOk = 0;
  for (let wave = 0; wave < 10; wave++) {
    const batch = Array.from({ length: 100 }, (_, i) => authenticate(d, `flood${wave}x${i}`, 'guess-guess', 'smb', `203.0.113.${(wave * 100 + i) % 250}`));
    batch.push(authenticate(d, 'alice', 'Correct-horse-1', 'dashboard', '192.0.2.10').then((r) => { if (r.body.reason === 'ok' && r.body.cached) aliceOk++; return r; }));
    for (const r of await Promise.all(batch)) reasons.set(r.body.reason, (reasons.get(r.body.reason) ?? 0) + 1);
    const m = (await http(d.query, 'GET', '/v1/metrics')).text;
    t.ok(metric(m, 'nasauth_ratelimit_tracked_names') <= 200, `wave ${wave}: tracked names bounded`);
    t.ok(metric(m, 'nasauth_ratelimit_tracked_sources') <= 50, `wave ${wave}: tracked sources bounded`);
    t.ok(metric(m, 'nasauth_hash_queued') <= 8, `wave ${wave}: slow-hash queue bounded`);
  }
  t.equal(aliceOk, 10, 'every cache-hit login of the real user succeeded during the flood');
  // one slot fewer for slow hashes while most of them fail (daemon/verifier.ts), said once
  t.match(d.logs(), /"event":"hash_flood","hashes_at_once":1/, 'the daemon saw the flood and kept a core for cache hits');
  const said = (d.logs().match(/"event":"hash_flood"/g) ?? []).length;
  t.ok(said >= 1 && said <= 3, `said when the flood began, not per request (${said} of 1000 refusals)`);
  t.ok((reasons.get('busy') ?? 0) > 0, 'excess slow-hash work was refused (busy), not queued');
  t.notOk(reasons.has('ok') && reasons.get('ok')! > 10, 'no flood request succeeded');
});
