// nasauthd following a real OpenLDAP slapd over ldaps:// (a CA this test makes): logins,
// what is kept for offline use, freshness (password changed, disabled, removed, profile
// changed), name clashes with local accounts, and the local-only actions the directory
// owns. Everything through the daemon's real sockets and the bundled CLI.
import t from 'tap';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { addUser, authenticate, cleanup, cli, http, readStore, startDaemon, type Daemon } from './helpers/daemon';
import { tempDir } from './helpers/tmp';
import { canRun } from './helpers/env';
import { daemonPamDir, outcome, pamtester, rmrf } from './helpers/pam';
import {
  PEOPLE, SERVICE_PW, makeCa, posixGroupLdif, serverCert, slapdMissing, startSlapd, upstreamConfig, userLdif, writeSecret, type Slapd,
} from './helpers/slapd';
import { waitFor, waitForMatch } from './helpers/wait';

if (!canRun(t, slapdMissing())) {
  // reported by canRun
} else {
  const tmp = tempDir('nasauth-uplogin-');
  let s: Slapd;
  let d: Daemon;
  const ca = makeCa(join(tmp, 'ca'));
  const secret = writeSecret(tmp);
  t.teardown(async () => {
    await d?.stop();
    if (d) cleanup(d);
    await s?.stop();
    s?.cleanup();
    rmSync(tmp, { recursive: true, force: true });
  });

  const seed = [
    userLdif({ name: 'alice', uid: 20001, password: 'Pass-a-one-1', mail: 'alice@example.org', displayName: 'Alice Ängström', samba: true }),
    userLdif({ name: 'bob', uid: 20002, password: 'Pass-b-22' }),
    userLdif({ name: 'carol', uid: 20003, password: 'Dir-pass-c33' }),
    userLdif({ name: 'dave', uid: 20004, password: 'Pass-d-44', samba: true }),
    userLdif({ name: 'erin', uid: 20005, password: 'Pass-e-55' }),
    userLdif({ name: 'lowuid', uid: 500, password: 'Low-uid-pass-1' }),
    posixGroupLdif('staff', 30001, ['alice', 'bob', 'dave', 'erin']),
    posixGroupLdif('nasadmins', 30002, ['alice']),
    posixGroupLdif('shell', 30003, ['bob']),
  ].join('');

  const config = (extra: Record<string, unknown> = {}) => upstreamConfig(s, {
    url: s.ldapsUrl!, ca: ca.cert, secretFile: secret,
    extra: { admin_groups: ['nasadmins'], service_groups: { ssh: ['shell'] }, cached_auth_seconds: 0, refresh: { interval_seconds: 3600, jitter_seconds: 60, page_size: 2, max_users: 1000, max_groups: 1000 }, ...extra },
  });
  const refresh = async () => {
    const r = await cli(d, ['directory', 'refresh']);
    if (r.code !== 0) throw new Error(`directory refresh: ${r.stdout}${r.stderr}`);
    return r.stdout;
  };
  const account = (name: string) => readStore(d).accounts[name];

  t.before(async () => {
    s = await startSlapd({ ldaps: true, tls: serverCert(ca, join(tmp, 'srv')), seed });
    // a NAS with local accounts, one of them named like a directory user (carol), then
    // set to follow the directory
    d = await startDaemon({ config: { sockets: { ldap: { enabled: true } } } });
    await addUser(d, 'carol', 'Local-pass-c1');
    await addUser(d, 'admin', 'Local-pass-ad1', ['--role', 'admin']);
    await d.stop();
    d = await startDaemon({ dir: d.dir, config: { ...config(), sockets: { ldap: { enabled: true } } } });
  });

  t.test('a directory user signs in; the profile, groups and role come from the directory', async (t) => {
    const r = await authenticate(d, 'alice', 'Pass-a-one-1');
    t.equal(r.body.reason, 'ok', r.body.message);
    t.equal(r.body.cached, false, 'the first login asked the directory');
    t.match(r.body.user, { name: 'alice', uid: 20001, email: 'alice@example.org', full_name: 'Alice Ängström', role: 'admin', source: 'directory' });
    t.same(r.body.user.groups, ['nasadmins', 'staff'], 'directory groups (memberUid)');
    t.ok(r.body.user.services.includes('ssh'), 'admins get the admin role\'s services');
    const a = account('alice');
    t.equal(a.source, 'directory');
    t.equal(a.upstream.dn, `uid=alice,${PEOPLE}`);
    t.match(a.verifiers.scrypt, /^\$scrypt\$/, 'a local scrypt verifier of the proven password is kept');
    t.match(a.verifiers.nt, /^[0-9A-F]{32}$/, 'and its NT hash');
    t.equal(a.upstream.nt_from, 'directory', 'the NT hash equals the directory\'s sambaNTPassword');
    t.ok(a.upstream.verified_at > 0, 'when the directory accepted the password');
    t.match(readFileSync(join(d.dir, 'nss', 'passwd'), 'utf8'), /^alice:x:20001:100:Alice Ängström:/m, 'NSS has the directory user');
    t.match(readFileSync(join(d.dir, 'nss', 'group'), 'utf8'), /^nasadmins:x:30002:alice$/m, 'and the directory group');
  });

  t.test('wrong passwords and unknown names get the same answer', async (t) => {
    t.equal((await authenticate(d, 'alice', 'Pass-a-two-2')).body.reason, 'bad_credentials');
    t.equal((await authenticate(d, 'nobody-here', 'Pass-a-one-1')).body.reason, 'bad_credentials');
    t.equal((await authenticate(d, 'alice', '')).body.reason, 'bad_credentials', 'an empty password is never sent as an (anonymous) bind');
    t.equal((await authenticate(d, 'lowuid', 'Low-uid-pass-1')).body.reason, 'bad_credentials', 'a uid below upstream.min_uid is no NAS account');
    await waitForMatch('the log to say why', d.logs, /"upstream":"skipped","user":"lowuid"[^\n]*must be an integer from 1000/);
  });

  t.test('hostile names never widen the search', async (t) => {
    for (const n of ['*', 'ali*', 'alice)(uid=*', 'x\\2a', '(uid=*)']) {
      const r = await authenticate(d, n, 'Pass-a-one-1');
      t.equal(r.body.reason, 'bad_credentials', JSON.stringify(n));
    }
    t.notMatch(s.log(), /filter="\(&\(objectClass=posixAccount\)\(uid=\*\)\)"/, 'no unescaped wildcard reached the directory');
  });

  t.test('the refresh brings every directory user, with paged searches', async (t) => {
    const searches = () => (s.log().match(/SRCH base="ou=people,dc=example,dc=org" scope=2 deref=0 filter="\(objectClass=posixAccount\)"/g) ?? []).length;
    const before = searches();
    const out = await refresh();
    t.match(out, /5 users, 3 groups/, out);
    t.ok(searches() - before >= 3, `6 entries in pages of 2 (upstream.refresh.page_size): ${searches() - before} search requests`);
    t.match(out, /skipped\s+uid=lowuid/, 'the entry that cannot be an account is reported');
    t.match(out, /clash\s+carol: "carol" is a local account/, 'the name clash is reported');
    const pw = readFileSync(join(d.dir, 'nss', 'passwd'), 'utf8');
    for (const [n, uid] of [['bob', 20002], ['dave', 20004], ['erin', 20005]] as const) t.match(pw, new RegExp(`^${n}:x:${uid}:`, 'm'), `${n} in NSS before any login`);
    t.equal(account('bob').verifiers.scrypt, undefined, 'no verifier before bob signs in');
    t.match(account('dave').verifiers.nt, /^[0-9A-F]{32}$/, 'dave\'s NT hash comes from the directory at once (SMB works before any login)');
    t.equal(account('carol').source, undefined, 'the local carol stays local');
    const st = await cli(d, ['status']);
    t.match(st.stdout, /directory\s+online \(ldaps:\/\/127\.0\.0\.1:\d+\); 4 accounts/, st.stdout);
    t.match(st.stdout, /name clash\s+carol/);
  });

  t.test('a name both local and in the directory: the local account works, the directory one is told why not', async (t) => {
    t.equal((await authenticate(d, 'carol', 'Local-pass-c1')).body.reason, 'ok', 'the local carol signs in');
    const r = await authenticate(d, 'carol', 'Dir-pass-c33');
    t.equal(r.body.reason, 'account_disabled', 'the directory carol is refused after her password is proven');
    t.match(r.body.message, /"carol" is a local account on this NAS; the directory's carol cannot sign in here/);
    t.equal((await authenticate(d, 'carol', 'Wrong-pass-c3')).body.reason, 'bad_credentials');
    const doc = await cli(d, ['doctor', 'carol']);
    t.match(doc.stdout, /warn\s+the directory also has a user named carol/);
  });

  t.test('local-only actions on a directory account say that the directory owns it', async (t) => {
    for (const args of [['user', 'passwd', 'alice'], ['user', 'del', 'alice'], ['user', 'set', 'alice', '--email', 'x@example.org'], ['service', 'allow', 'bob', 'ssh'], ['group', 'del', 'staff'], ['group', 'adduser', 'staff', 'carol']]) {
      const r = await cli(d, args, 'Some-pass-123\n');
      t.equal(r.code, 1, args.join(' '));
      t.match(r.stderr, /comes from the directory \((uid=alice|uid=bob|cn=staff),[^)]*\): .* there; nasauth follows the directory/, r.stderr);
    }
    const show = await cli(d, ['user', 'show', 'alice']);
    t.match(show.stdout, /source\s+directory: uid=alice,ou=people,dc=example,dc=org/);
    t.match(show.stdout, /NT hash from\s+the directory \(sambaNTPassword\)/);
    const list = await cli(d, ['user', 'list']);
    t.match(list.stdout, /^alice .* directory /m);
    t.match(list.stdout, /^carol .* local /m);
    t.equal((await authenticate(d, 'admin', 'Local-pass-ad1')).body.reason, 'ok', 'the local admin is untouched');
  });

  t.test('a password changed in the directory is taken at the next online login, and the old one stops working', async (t) => {
    t.equal((await authenticate(d, 'bob', 'Pass-b-22')).body.reason, 'ok');
    const before = account('bob');
    s.setPassword('bob', 'New-pass-b-23');
    t.equal((await authenticate(d, 'bob', 'Pass-b-22')).body.reason, 'bad_credentials', 'the old password is refused at once');
    t.equal((await authenticate(d, 'bob', 'New-pass-b-23')).body.reason, 'ok', 'the new one works');
    const after = account('bob');
    t.not(after.verifiers.scrypt, before.verifiers.scrypt, 'the cached verifier was replaced');
    t.ok(after.version > before.version, 'the version moved (caches follow)');
    t.equal(after.upstream.nt_from, 'login', 'bob\'s NT hash comes from his plaintext login');
  });

  t.test('a user disabled in the directory is refused at the next online check, with the real reason', async (t) => {
    t.equal((await authenticate(d, 'dave', 'Pass-d-44')).body.reason, 'ok');
    s.modify(`dn: uid=dave,${PEOPLE}\nchangetype: modify\nreplace: sambaAcctFlags\nsambaAcctFlags: [UD         ]\n`);
    const r = await authenticate(d, 'dave', 'Pass-d-44');
    t.equal(r.body.reason, 'account_disabled', r.body.message);
    t.equal((await authenticate(d, 'dave', 'Wrong-d-44')).body.reason, 'bad_credentials', 'a wrong password says nothing');
    const doc = await cli(d, ['doctor', 'dave']);
    t.match(doc.stdout, /FAIL\s+the directory has dave disabled/);
    // shadowExpire in the past disables too
    s.modify(`dn: uid=erin,${PEOPLE}\nchangetype: modify\nadd: shadowExpire\nshadowExpire: 1\n`);
    t.equal((await authenticate(d, 'erin', 'Pass-e-55')).body.reason, 'account_disabled', 'shadowExpire in the past');
    s.modify(`dn: uid=erin,${PEOPLE}\nchangetype: modify\ndelete: shadowExpire\n`);
    t.equal((await authenticate(d, 'erin', 'Pass-e-55')).body.reason, 'ok', 'and enabled again');
  });

  t.test('the refresh follows profile and group changes, bumps the version and the NSS files', async (t) => {
    t.equal((await authenticate(d, 'erin', 'Pass-e-55')).body.reason, 'ok');
    const v0 = account('erin').version;
    s.modify(`dn: uid=erin,${PEOPLE}\nchangetype: modify\nreplace: mail\nmail: erin@new.example.org\n-\nadd: displayName\ndisplayName: Erin New\n`);
    s.modify(`dn: cn=shell,ou=groups,dc=example,dc=org\nchangetype: modify\nadd: memberUid\nmemberUid: erin\n`);
    await refresh();
    const a = account('erin');
    t.equal(a.email, 'erin@new.example.org');
    t.ok(a.version > v0, 'the version moved');
    t.ok(a.services.includes('ssh'), 'a service granted by a directory group (upstream.service_groups)');
    t.match(readFileSync(join(d.dir, 'nss', 'passwd'), 'utf8'), /^erin:x:20005:100:Erin New:/m);
    t.match(readFileSync(join(d.dir, 'nss', 'group'), 'utf8'), /^shell:x:30003:(bob,erin|erin,bob)$/m);
    const r = await authenticate(d, 'erin', 'Pass-e-55');
    t.equal(r.body.cached, false, 'the hot cache entry died with the old version');
  });

  t.test('a user removed from the directory is refused; the admin may then delete the local record', async (t) => {
    t.equal((await authenticate(d, 'erin', 'Pass-e-55')).body.reason, 'ok');
    s.ldap('ldapdelete', `uid=erin,${PEOPLE}\n`);
    s.modify(`dn: cn=staff,ou=groups,dc=example,dc=org\nchangetype: modify\ndelete: memberUid\nmemberUid: erin\n`);
    s.modify(`dn: cn=shell,ou=groups,dc=example,dc=org\nchangetype: modify\ndelete: memberUid\nmemberUid: erin\n`);
    await refresh();
    t.ok(account('erin').upstream.removed_at, 'marked removed');
    t.equal(account('erin').enabled, false);
    const r = await authenticate(d, 'erin', 'Pass-e-55');
    t.equal(r.body.reason, 'bad_credentials', 'refused (the directory has no erin to check the password with)');
    const doc = await cli(d, ['doctor', 'erin']);
    t.match(doc.stdout, /FAIL\s+the directory no longer has erin/);
    const del = await cli(d, ['user', 'del', 'erin']);
    t.equal(del.code, 0, del.stderr);
  });

  t.test('a password change by the user goes to the directory first, then to the local copy', async (t) => {
    const r = await http(d.query, 'POST', '/v1/password', { user: 'alice', old_password: 'Pass-a-one-1', new_password: 'New-pass-a-2' });
    t.equal(r.body.reason, 'ok', r.body.message);
    t.ok(s.bindOk('alice', 'New-pass-a-2'), 'the directory has the new password (Password Modify as the user)');
    t.notOk(s.bindOk('alice', 'Pass-a-one-1'), 'and not the old one');
    t.match(s.search(PEOPLE, '(uid=alice)', ['sambaNTPassword']), new RegExp(`sambaNTPassword: ${account('alice').verifiers.nt}`), 'the directory\'s Samba hash follows (written as the user)');
    t.equal((await authenticate(d, 'alice', 'New-pass-a-2')).body.reason, 'ok');
    t.equal((await authenticate(d, 'alice', 'Pass-a-one-1')).body.reason, 'bad_credentials');
    // the local policy first: nothing reaches the directory
    const weak = await http(d.query, 'POST', '/v1/password', { user: 'alice', old_password: 'New-pass-a-2', new_password: 'short' });
    t.equal(weak.body.reason, 'password_rejected');
    t.ok(s.bindOk('alice', 'New-pass-a-2'), 'the directory is unchanged');
    // a refresh after our own change keeps the new verifiers
    await refresh();
    t.equal((await authenticate(d, 'alice', 'New-pass-a-2')).body.reason, 'ok', 'still the new password after a refresh');
  });

  t.test('a password set without the old one (root\'s passwd, SMB) is refused unless password_resets: service', async (t) => {
    const pamd = daemonPamDir(d);
    t.teardown(() => rmrf(pamd));
    const r = await pamtester({ pamd, service: 'samba', user: 'bob', ops: ['chauthtok'], input: ['New-pass-b-99', 'New-pass-b-99'] });
    t.equal(outcome(r), 'AUTHTOK_ERR', 'root\'s CHPW_ROOT: PAM_AUTHTOK_ERR');
    t.match(r.out, /the directory owns bob's password, and this NAS may change it there only with the old password/, r.out);
    t.ok(s.bindOk('bob', 'New-pass-b-23'), 'the directory is unchanged');
  });

  t.test('secrets never reach the log', async (t) => {
    const log = d.logs();
    for (const secretText of ['Pass-a-one-1', 'New-pass-a-2', 'New-pass-b-23', SERVICE_PW, account('alice').verifiers.nt, account('alice').verifiers.scrypt]) {
      t.notOk(log.includes(secretText), `no ${secretText.slice(0, 6)}… in the log`);
    }
  });

  t.test('the refresh is scheduled by itself, and cached logins skip the directory within cached_auth_seconds', async (t) => {
    await d.stop();
    d = await startDaemon({ dir: d.dir, config: { ...config({ cached_auth_seconds: 600, refresh: { interval_seconds: 3600, jitter_seconds: 60, page_size: 500, max_users: 1000, max_groups: 1000 } }), sockets: { ldap: { enabled: true } } } });
    await waitFor('the first scheduled refresh', () => /"upstream":"refresh","why":"schedule","ok":true/.test(d.logs()));
    const binds = () => (s.log().match(/BIND dn="uid=bob,ou=people/g) ?? []).length;
    t.equal((await authenticate(d, 'bob', 'New-pass-b-23')).body.cached, false, 'the first login after a restart asks the directory');
    const n = binds();
    const r = await authenticate(d, 'bob', 'New-pass-b-23');
    t.equal(r.body.reason, 'ok');
    t.equal(r.body.cached, true, 'answered from the cache');
    await new Promise((res) => setTimeout(res, 200));
    t.equal(binds(), n, 'no bind reached the directory');
  });
}
