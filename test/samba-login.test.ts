// Samba answers from nasauth: a real smbd (Debian's) with passdb backend = ldapsam
// reading nasauthd's LDAP view, driven by real smbclient and rpcclient.
import t from 'tap';
import { fileCanRun } from './helpers/env';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addUser, authenticate, cleanup, cli, readStore, startDaemon, type Daemon } from './helpers/daemon';
import { chgpasswd, sambaMissing, smbclient, startSamba, type Samba } from './helpers/samba';

const missing = sambaMissing();
if (fileCanRun(missing)) {
  let d: Daemon;
  let s: Samba;
  t.before(async () => {
    d = await startDaemon({ config: { sockets: { ldap: { enabled: true } }, rate_limit: { lockout_after: 4, backoff_after: 3 } } });
    await addUser(d, 'alice', 'Secret-pass1', ['--services', 'smb,timemachine']);
    const secret = readFileSync(join(d.stateDir, 'ldap-bind.secret'), 'utf8').trim();
    s = await startSamba({ ldapi: d.ldap, bindSecret: secret, nssDir: join(d.dir, 'nss') });
  });
  t.teardown(async () => { await s?.stop(); await d?.stop(); if (d) cleanup(d); });

  t.test('NTLMv2 login: right password in, wrong password out', async (t) => {
    let r = await smbclient(s, 'Public', 'alice', 'Secret-pass1');
    t.equal(r.code, 0, `logs in and lists the share: ${r.out}\n--- the end of smbd's log:\n${s.logs().slice(-3000)}`);
    t.match(r.out, /blocks of size/);
    r = await smbclient(s, 'Public', 'alice', 'Secret-pass2');
    t.not(r.code, 0);
    t.match(r.out, /NT_STATUS_LOGON_FAILURE/, 'a wrong password is a logon failure');
    r = await smbclient(s, 'Public', 'nobody-here', 'Secret-pass1');
    t.match(r.out, /NT_STATUS_LOGON_FAILURE/, 'an unknown user looks the same');
  });

  t.test('a non-ASCII password with spaces', async (t) => {
    await addUser(d, 'bruno', 'päss wörd€1', ['--services', 'smb']);
    let r = await smbclient(s, 'Public', 'bruno', 'päss wörd€1');
    t.equal(r.code, 0, `logs in: ${r.out}`);
    r = await smbclient(s, 'Public', 'bruno', 'pass word€1');
    t.match(r.out, /NT_STATUS_LOGON_FAILURE/, 'a near miss is refused');
  });

  t.test('disabled accounts and accounts without SMB are refused, with the real reason', async (t) => {
    await addUser(d, 'carol', 'Secret-pass1', ['--services', 'smb']);
    let r = await smbclient(s, 'Public', 'carol', 'Secret-pass1');
    t.equal(r.code, 0, 'carol can log in while enabled');
    const set = await cli(d, ['user', 'set', 'carol', '--disable']);
    t.equal(set.code, 0, set.stderr);
    r = await smbclient(s, 'Public', 'carol', 'Secret-pass1');
    t.match(r.out, /NT_STATUS_ACCOUNT_DISABLED/, 'disabled at once, without restarting smbd');
    r = await smbclient(s, 'Public', 'carol', 'Wrong-pass1');
    t.match(r.out, /NT_STATUS_LOGON_FAILURE/, 'a wrong password says nothing about the account');

    await addUser(d, 'dave', 'Secret-pass1', ['--services', 'afp,dashboard']);
    r = await smbclient(s, 'Public', 'dave', 'Secret-pass1');
    t.not(r.code, 0, 'an account without smb/timemachine cannot use SMB');
    t.match(r.out, /NT_STATUS_ACCOUNT_DISABLED/);
    t.ok(await d.waitLog(/"audit":"ldap_smb_closed","user":"dave","why":"the account may not use smb or timemachine"/), 'the audit log says why');
    t.equal(d.logs().split('\n').filter((l) => l.includes('"audit":"ldap_smb_closed","user":"dave"')).length, 1, 'once');
    const allow = await cli(d, ['service', 'allow', 'dave', 'smb']);
    t.equal(allow.code, 0, allow.stderr);
    r = await smbclient(s, 'Public', 'dave', 'Secret-pass1');
    t.equal(r.code, 0, 'allowed smb: logs in at once');
  });

  t.test('a user added with the CLI logs in at once', async (t) => {
    await addUser(d, 'erin', 'Fresh-pass9', ['--services', 'smb']);
    const r = await smbclient(s, 'Public', 'erin', 'Fresh-pass9');
    t.equal(r.code, 0, r.out);
  });

  t.test('the user story: a password changed over SMB is the password everywhere', async (t) => {
    await addUser(d, 'frank', 'Old-pass-123', ['--services', 'smb,dashboard']);
    const before = readStore(d).accounts.frank;
    let r = await chgpasswd(s, 'frank', 'Old-pass-123', 'New-pass-456');
    t.equal(r.code, 0, `chgpasswd3 over SAMR: ${r.out}`);
    t.notMatch(r.out, /NT_STATUS_(?!OK)/);
    const after = readStore(d).accounts.frank;
    t.not(after.verifiers.scrypt, before.verifiers.scrypt, 'the scrypt verifier changed');
    t.not(after.verifiers.nt, before.verifiers.nt, 'the NT hash changed');
    t.ok(after.version > before.version, 'version bumped');
    let a = await authenticate(d, 'frank', 'New-pass-456', 'dashboard');
    t.equal(a.body.reason, 'ok', 'the dashboard (query socket) takes the new password');
    a = await authenticate(d, 'frank', 'Old-pass-123', 'dashboard');
    t.equal(a.body.reason, 'bad_credentials', 'and refuses the old one');
    r = await smbclient(s, 'Public', 'frank', 'New-pass-456');
    t.equal(r.code, 0, 'SMB takes the new password');
    r = await smbclient(s, 'Public', 'frank', 'Old-pass-123');
    t.match(r.out, /NT_STATUS_LOGON_FAILURE/, 'SMB refuses the old one');
    t.ok(await d.waitLog(/"audit":"password_set","user":"frank","by":"smbd \(LDAP password modify\)","channel":"ldap"/));
  });

  t.test('a new password that breaks the policy: NT_STATUS_PASSWORD_RESTRICTION, nothing changed', async (t) => {
    await addUser(d, 'gina', 'Good-pass-123', ['--services', 'smb']);
    const before = readStore(d).accounts.gina;
    for (const bad of ['short1', 'my-gina-pass-1']) { // too short (smbd's own check); contains the user name (nasauth's)
      const r = await chgpasswd(s, 'gina', 'Good-pass-123', bad);
      t.match(r.out, /NT_STATUS_PASSWORD_RESTRICTION/, `"${bad}" refused: ${r.out.trim()}`);
    }
    const after = readStore(d).accounts.gina;
    t.same(after.verifiers, before.verifiers, 'verifiers unchanged');
    t.equal(after.version, before.version, 'account unchanged');
    const r = await smbclient(s, 'Public', 'gina', 'Good-pass-123');
    t.equal(r.code, 0, 'the old password still works');
  });

  t.test('the reverse: a password set with the CLI reaches SMB at once', async (t) => {
    await addUser(d, 'hank', 'First-pass-1', ['--services', 'smb']);
    let r = await smbclient(s, 'Public', 'hank', 'First-pass-1');
    t.equal(r.code, 0);
    const p = await cli(d, ['user', 'passwd', 'hank'], 'Second-pass-2\n');
    t.equal(p.code, 0, p.stderr);
    r = await smbclient(s, 'Public', 'hank', 'Second-pass-2');
    t.equal(r.code, 0, 'new password works over SMB without restarting smbd');
    r = await smbclient(s, 'Public', 'hank', 'First-pass-1');
    t.match(r.out, /NT_STATUS_LOGON_FAILURE/, 'the old one is gone');
  });

  t.test('must-change accounts are told so', async (t) => {
    await addUser(d, 'ivy', 'Temp-pass-123', ['--services', 'smb', '--must-change']);
    const r = await smbclient(s, 'Public', 'ivy', 'Temp-pass-123');
    t.match(r.out, /NT_STATUS_PASSWORD_MUST_CHANGE/, r.out);
  });

  t.test('Time Machine share: a file written by the user is owned by the user', async (t) => {
    const local = join(d.dir, 'tm-probe.txt');
    writeFileSync(local, 'backup bytes\n');
    const r = await smbclient(s, 'TimeMachine', 'alice', 'Secret-pass1', `put ${local} probe.txt; ls`);
    t.equal(r.code, 0, r.out);
    const st = statSync(join(s.tmDir, 'probe.txt'));
    t.equal(st.uid, readStore(d).accounts.alice.uid, 'owned by alice\'s uid (from the store, via NSS)');
    t.equal(st.gid, readStore(d).accounts.alice.gid, 'and her primary gid');
  });

  t.test('SMB wrong passwords lock the account in nasauth too', async (t) => {
    await addUser(d, 'jack', 'Right-pass-1', ['--services', 'smb,dashboard']);
    const outs: string[] = [];
    for (let i = 0; i < 5; i++) outs.push((await smbclient(s, 'Public', 'jack', `Wrong-pass-${i}`)).out);
    t.match(outs.slice(0, 4).join('\n'), /^(?![\s\S]*LOCKED)/, 'the first lockout_after (4) attempts are plain failures');
    t.match(outs[4], /NT_STATUS_ACCOUNT_LOCKED_OUT/, 'then smbd locks, at nasauth\'s lockout_after');
    let r = await smbclient(s, 'Public', 'jack', 'Right-pass-1');
    t.match(r.out, /NT_STATUS_ACCOUNT_LOCKED_OUT/, 'even the right password, until the lockout ends');
    t.ok(readStore(d).accounts.jack.lockout_until > Date.now(), 'the lockout is nasauth\'s, persisted');
    const a = await authenticate(d, 'jack', 'Right-pass-1', 'dashboard');
    t.equal(a.body.reason, 'locked_out', 'the dashboard sees it too');
    const u = await cli(d, ['unlock', 'jack']);
    t.equal(u.code, 0, u.stderr);
    r = await smbclient(s, 'Public', 'jack', 'Right-pass-1');
    t.equal(r.code, 0, `nasauth unlock clears it for SMB: ${r.out}`);
  });
}
