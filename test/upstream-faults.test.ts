// The directory fails in every way we know, and for each: what the user sees (reason and
// message, over the query socket and PAM), what `nasauth doctor` says, and that nobody
// waits on it. "Nobody waits" is proven structurally, never by a stopwatch: a proxy of
// ours holds nasauthd's requests forever (never forwards them to slapd), and the answers
// still arrive, over the query socket and through pam_nasauth.so (which would say
// PAM_AUTHINFO_UNAVAIL had it given up waiting). How long they take is the bench's job.
import t from 'tap';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { addUser, authenticate, cleanup, cli, startDaemon, testConfig, type Daemon } from './helpers/daemon';
import { tempDir } from './helpers/tmp';
import { canRun } from './helpers/env';
import { daemonPamDir, outcome, pamtester, rmrf } from './helpers/pam';
import { makeCa, serverCert, slapdMissing, startSlapd, upstreamConfig, userLdif, posixGroupLdif, writeSecret, type Slapd } from './helpers/slapd';
import { startProxy, type Proxy } from './helpers/tcp-proxy';
import { waitFor, waitForMatch } from './helpers/wait';

if (!canRun(t, slapdMissing())) {
  // reported by canRun
} else {
  const tmp = tempDir('nasauth-upfault-');
  let s: Slapd;
  let p: Proxy;
  let d: Daemon;
  let pamd = '';
  const ca = makeCa(join(tmp, 'ca'));
  const otherCa = makeCa(join(tmp, 'other-ca'), 'some other CA');
  const secret = writeSecret(tmp);
  const wrongSecret = writeSecret(tmp, 'not-the-secret-1', 'wrong.secret');
  t.teardown(async () => {
    if (process.env.NASAUTH_DEBUG_LOG) writeFileSync(process.env.NASAUTH_DEBUG_LOG, d?.logs() ?? '');
    await d?.stop();
    if (d) cleanup(d);
    await p?.close();
    await s?.stop();
    s?.cleanup();
    if (pamd) rmrf(pamd);
    rmSync(tmp, { recursive: true, force: true });
  });

  const upstream = (over: Record<string, unknown> = {}, o: { ca?: string; secret?: string } = {}) => upstreamConfig(s, {
    url: p.url, ca: o.ca ?? ca.cert, secretFile: o.secret ?? secret,
    extra: {
      timeout_ms: 1500, connect_timeout_ms: 1000, cached_auth_seconds: 0,
      offline: { enabled: true, lifetime_seconds: 3600, retry_seconds: 3600 },
      refresh: { interval_seconds: 3600, jitter_seconds: 60, page_size: 100, max_users: 1000, max_groups: 1000 },
      ...over,
    },
  });
  /** Rewrite the daemon's config and reload it (SIGHUP), waiting for the daemon to say so. */
  const reload = async (cfg: Record<string, unknown>) => {
    writeFileSync(d.config, stringify(testConfig(d.dir, cfg)));
    const n = (d.logs().match(/"event":"reloaded"/g) ?? []).length;
    d.proc.kill('SIGHUP');
    await waitFor('the reload', () => (d.logs().match(/"event":"reloaded"/g) ?? []).length > n);
  };
  const pam = (user: string, pw: string) => pamtester({ pamd, service: 'nasauth-dashboard', user, ops: ['authenticate'], input: [pw] });
  // --verbose: the checks that pass are shown too (the plain words show only what is wrong)
  const doctor = async (user: string) => (await cli(d, ['doctor', '--verbose', user])).stdout;

  t.before(async () => {
    s = await startSlapd({
      ldap: true, tls: serverCert(ca, join(tmp, 'srv')),
      seed: userLdif({ name: 'alice', uid: 21001, password: 'Pass-a-one-1' }) + userLdif({ name: 'bob', uid: 21002, password: 'Pass-b-two-2' }) + posixGroupLdif('staff', 31001, ['alice', 'bob']),
    });
    p = await startProxy({ port: s.ldapPort! });
    d = await startDaemon();
    await addUser(d, 'admin', 'Local-pass-ad1', ['--role', 'admin']);
    await d.stop();
    d = await startDaemon({ dir: d.dir, config: upstream() });
    await waitFor('the first refresh', () => /"upstream":"refresh","why":"schedule","ok":true/.test(d.logs()));
    pamd = daemonPamDir(d);
    // alice signs in once while the directory answers: she has an offline copy, bob not
    const r = await authenticate(d, 'alice', 'Pass-a-one-1');
    if (r.body.reason !== 'ok') throw new Error(`first login: ${JSON.stringify(r.body)}`);
  });

  t.test('slapd made slow: answered from the offline copy, the request still held by the proxy', async (t) => {
    p.hold();
    const stuck = p.stuck();
    const r = await authenticate(d, 'alice', 'Pass-a-one-1');
    t.ok(p.stuck() > stuck, 'nasauthd asked the directory, and the proxy never passed the request on: the answer did not come from slapd');
    t.equal(r.body.reason, 'ok', 'alice signs in from the offline copy');
    t.equal(r.body.cached, true);
    await waitForMatch('the log to say the directory timed out', d.logs, /"upstream":"offline","kind":"timeout"/);
    const b = await authenticate(d, 'bob', 'Pass-b-two-2');
    t.equal(b.body.reason, 'unavailable', 'bob, who never signed in here, cannot be checked');
    t.match(b.body.message, /^the directory cannot be reached since \S+, and this NAS has no offline copy of this sign-in/, b.body.message);
    t.equal(b.status, 503);
    t.equal((await authenticate(d, 'alice', 'Pass-wrong-1')).body.reason, 'bad_credentials', 'a wrong password is still wrong offline');
    t.equal((await authenticate(d, 'admin', 'Local-pass-ad1')).body.reason, 'ok', 'the local admin always works');
    // once offline, logins go straight to the copy: no new connection to the directory
    const n = p.accepted();
    t.equal((await authenticate(d, 'alice', 'Pass-a-one-1')).body.reason, 'ok');
    t.equal(p.accepted(), n, 'no connection attempt for a login while the directory is known to be down');
    // PAM through pam_nasauth.so: the same answers, while the proxy holds
    t.equal(outcome(await pam('alice', 'Pass-a-one-1')), 'ok', 'PAM: alice signs in');
    t.equal(outcome(await pam('bob', 'Pass-b-two-2')), 'AUTHINFO_UNAVAIL', 'PAM: bob gets PAM_AUTHINFO_UNAVAIL (not a wrong password)');
    const stuckDoc = p.stuck();
    const doc = await doctor('alice');
    t.ok(p.stuck() > stuckDoc, 'the doctor asked the directory afresh, and answered without it');
    t.match(doc, /warn\s+the directory cannot be reached since \S+: ldap:\/\/127\.0\.0\.1:\d+: no answer to [A-Za-z ]+ within the time limit \(upstream\.timeout_ms\); alice can still sign in from the offline copy until /, doc);
    t.match(await doctor('bob'), /FAIL\s+no offline copy of bob's password, and the directory cannot be reached/);
    const st = await cli(d, ['status']);
    t.match(st.stdout, /directory\s+OFFLINE since \S+: ldap:\/\/127\.0\.0\.1:\d+: no answer/);
  });

  t.test('the directory back: the next check finds it, logins go online again', async (t) => {
    p.pass();
    const doc = await doctor('alice');
    t.match(doc, /ok\s+the directory answers \(ldap:\/\/127\.0\.0\.1:\d+\)/, 'the doctor asks and finds it');
    const binds = () => (s.log().match(/BIND dn="uid=alice,ou=people/g) ?? []).length;
    const n = binds();
    const r = await authenticate(d, 'alice', 'Pass-a-one-1');
    t.equal(r.body.reason, 'ok');
    t.equal(r.body.cached, false, 'answered by the directory');
    t.ok(binds() > n, 'slapd saw alice\'s bind');
    t.equal((await authenticate(d, 'bob', 'Pass-b-two-2')).body.reason, 'ok', 'bob can sign in again');
  });

  t.test('slapd killed mid-login: the broken connection is answered at once from the copy', async (t) => {
    p.hold();
    const pending = authenticate(d, 'alice', 'Pass-a-one-1');
    await waitFor('the login to reach the proxy', () => p.held() >= 1);
    await s.kill();
    p.pass(); // forwards to a dead slapd: the proxy drops the connection
    const r = await pending;
    t.equal(r.body.reason, 'ok', 'alice signs in from the offline copy');
    await waitForMatch('the log to say the directory broke off', d.logs, /"upstream":"offline","kind":"unreachable","err":"[^"]*cannot connect/);
    const doc = await doctor('alice');
    t.match(doc, /warn\s+the directory cannot be reached since \S+: ldap:\/\/127\.0\.0\.1:\d+: cannot connect/, doc);
    s = await startSlapd({ reuse: s });
    await waitFor('the directory to answer again', async () => /ok\s+the directory answers/.test(await doctor('alice')));
  });

  t.test('the directory gone in the middle of a refresh: the refresh fails, and the next one works', async (t) => {
    p.hold();
    const pending = cli(d, ['directory', 'refresh']);
    await waitFor('the refresh to reach the proxy', () => p.held() >= 1);
    await s.kill();
    p.pass();
    const r = await pending;
    t.match(r.stdout, /the refresh failed: .*cannot connect/, r.stdout + r.stderr);
    s = await startSlapd({ reuse: s });
    const again = await cli(d, ['directory', 'refresh']);
    t.match(again.stdout, /refreshed in \d+ ms: 2 users, 1 groups/, again.stdout + again.stderr);
    // the directory back schedules a refresh of its own about a second later: let it run
    // here, or its connection is the one the next test holds (CI at 2622413)
    await waitFor('the refresh the directory\'s return scheduled', () => /"upstream":"refresh","why":"schedule"/.test(d.logs().split('"upstream":"online"').pop() ?? ''));
  });

  t.test('a reload in the middle of a refresh: that refresh is dropped, not taken for the directory going away', async (t) => {
    p.hold();
    const pending = cli(d, ['directory', 'refresh']);
    await waitFor('the refresh to reach the proxy', () => p.held() >= 1);
    await reload(upstream());
    p.pass();
    const r = await pending;
    t.match(r.stdout, /the refresh failed: the settings changed during the refresh \(a reload\): nothing was changed/, r.stdout + r.stderr);
    await waitFor('the refresh the reload scheduled', () => /"upstream":"refresh","why":"schedule","ok":true/.test(d.logs().split('"event":"reloaded"').pop() ?? ''));
    t.notMatch(d.logs().split('"event":"reloaded"').pop() ?? '', /"upstream":"offline"/, 'the directory was never said to be offline');
    t.match((await cli(d, ['directory'])).stdout, /state\s+online/);
  });

  t.test('wrong CA: TLS fails, the admin is told which file to check', async (t) => {
    await reload(upstream({}, { ca: otherCa.cert }));
    t.equal((await authenticate(d, 'alice', 'Pass-a-one-1')).body.reason, 'ok', 'alice: from the offline copy');
    const b = await authenticate(d, 'bob', 'Pass-b-two-2');
    t.equal(b.body.reason, 'ok', 'bob signed in online before: he has a copy now too');
    const dir = await cli(d, ['directory']);
    t.match(dir.stdout, /problem\s+ldap:\/\/127\.0\.0\.1:\d+: TLS failed: .* \(is upstream\.ca_file the CA that signed the directory's certificate/, dir.stdout);
    t.match(await doctor('alice'), /warn\s+the directory cannot be reached since \S+: .*TLS failed/);
  });

  t.test('wrong bind secret: the directory refuses the service identity, and the doctor says so', async (t) => {
    await reload(upstream({}, { secret: wrongSecret }));
    t.equal((await authenticate(d, 'alice', 'Pass-a-one-1')).body.reason, 'ok', 'alice: from the offline copy');
    const doc = await doctor('alice');
    t.match(doc, /the directory refused nasauth's service identity \(upstream\.bind_dn\): check upstream\.bind_secret_file/, doc);
    t.notMatch(d.logs(), /not-the-secret-1/, 'the secret is never logged');
    await reload(upstream());
    await waitFor('the directory to answer again', async () => /ok\s+the directory answers/.test(await doctor('alice')));
  });

  t.test('unreachable longer than the offline lifetime: unavailable, then back again by itself', async (t) => {
    await reload(upstream({ offline: { enabled: true, lifetime_seconds: 2, retry_seconds: 1 } }));
    // the refresh after the reload done (the next one is an hour away): only the probe
    // can find the directory again; a probe scheduled before the reload, at the old
    // retry_seconds (an hour), once hid it (CI at f517d4f)
    await waitFor('the refresh after the reload', () => /"upstream":"refresh","why":"schedule","ok":true/.test(d.logs().split('"event":"reloaded"').pop() ?? ''));
    t.equal((await authenticate(d, 'alice', 'Pass-a-one-1')).body.reason, 'ok', 'online');
    await s.stop();
    t.equal((await authenticate(d, 'alice', 'Pass-a-one-1')).body.reason, 'ok', 'offline, within the lifetime');
    const r = await waitFor('the offline lifetime to pass', async () => {
      const x = await authenticate(d, 'alice', 'Pass-a-one-1');
      return x.body.reason === 'unavailable' ? x : null;
    }, 20_000, 250);
    t.match(r.body.message, /the directory cannot be reached since \S+, and this NAS has no offline copy of this sign-in that the directory confirmed in the last 2 seconds/, r.body.message);
    t.equal(outcome(await pam('alice', 'Pass-a-one-1')), 'AUTHINFO_UNAVAIL', 'PAM: PAM_AUTHINFO_UNAVAIL');
    t.match(await doctor('alice'), /FAIL\s+the offline copy is older than upstream\.offline\.lifetime_seconds .*: offline sign-in is refused until the directory answers again/);
    t.equal((await authenticate(d, 'admin', 'Local-pass-ad1')).body.reason, 'ok', 'the local admin still works');
    s = await startSlapd({ reuse: s });
    // the background probe (every retry_seconds) finds it: nobody has to ask
    await waitFor('the probe to find the directory', () => /"upstream":"online"/.test(d.logs().split('"event":"reloaded"').pop() ?? ''), 20_000);
    const back = await authenticate(d, 'alice', 'Pass-a-one-1');
    t.equal(back.body.reason, 'ok', 'alice signs in again');
    t.equal(back.body.cached, false, 'checked by the directory');
  });
}
