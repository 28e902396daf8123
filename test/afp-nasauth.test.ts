// AFP logins through Netatalk answered by nasauthd: a real afpd (Debian trixie chroot)
// with sysroot/etc/pam.d/netatalk and pam_nasauth.so, the daemon's PAM socket and NSS
// files bind-mounted in. The password changed over AFP must then be the password over
// the query socket, PAM and SMB, and the old one nowhere.
import t from 'tap';
import { canRun, fileCanRun, needRoot } from './helpers/env';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { AfpClient, tryLogin, AFP_RESULT } from './afp';
import { encodeMacRoman } from '../daemon/macroman';
import { startAfpd, type AfpdHandle } from './env/netatalk/afpd';
import { addUser, authenticate, cleanup, cli, startDaemon, type Daemon } from './helpers/daemon';
import { buildModule, daemonPamDir, outcome, pamtester, rmrf } from './helpers/pam';
import { sambaMissing, smbclient, startSamba, type Samba } from './helpers/samba';

if (fileCanRun(needRoot())) {
  let d: Daemon;
  let afpd: AfpdHandle;
  let smb: Samba | null = null;
  const smbMissing = sambaMissing();
  let pamd: string;

  const startD = (dir?: string) => startDaemon({ dir, config: { sockets: { ldap: { enabled: true } }, rate_limit: { backoff_after: 20, lockout_after: 40 } } });

  t.before(async () => {
    d = await startD();
    await addUser(d, 'alice', 'Aa-first-pw1');
    await addUser(d, 'bob', 'Bb-secret-22', ['--disabled']);
    await addUser(d, 'carol', 'Cc-secret-33', ['--services', 'smb,dashboard']);
    await addUser(d, 'dave', 'Dd-secret-44', ['--must-change']);
    await addUser(d, 'umla', 'pässwörd-ü1');
    afpd = await startAfpd({
      // the shipped profile and module, the daemon's sockets and NSS files at their device paths
      pamModule: buildModule(),
      bindDirs: [{ host: d.runDir, inChroot: '/run/nasauth' }, { host: join(d.dir, 'nss'), inChroot: '/var/lib/extrausers', readOnly: true }],
    });
    pamd = daemonPamDir(d);
    if (!smbMissing) {
      const secret = readFileSync(join(d.stateDir, 'ldap-bind.secret'), 'utf8').trim();
      smb = await startSamba({ ldapi: d.ldap, bindSecret: secret, nssDir: join(d.dir, 'nss') });
    }
  });
  t.teardown(async () => { await afpd?.stop(); await smb?.stop(); await d?.stop(); if (d) cleanup(d); if (pamd) rmrf(pamd); });

  const login = (user: string, pw: string | Buffer) => tryLogin(afpd.port, user, Buffer.isBuffer(pw) ? pw : Buffer.from(pw));
  const audit = (user: string, reason: string) => new RegExp(`"audit":"authenticate","user":"${user}","service":"netatalk"[^\\n]*"channel":"pam","reason":"${reason}"`);

  t.test('the shipped profile answers through nasauthd', async (t) => {
    t.match(afpd.exec(['cat', '/etc/pam.d/netatalk']).stdout, /pam_nasauth\.so/, 'afpd uses sysroot/etc/pam.d/netatalk');
    t.match(afpd.exec(['getent', 'passwd', 'alice']).stdout, /^alice:x:\d+:100:/, 'afpd sees the daemon\'s NSS files');
  });

  t.test('DHX2 login: right password in, wrong out', async (t) => {
    t.same(await login('alice', 'Aa-first-pw1'), { code: 0, name: 'kFPNoErr', ok: true, step: 'FPLoginCont(2)' });
    t.ok(await d.waitLog(audit('alice', 'ok')), 'the daemon decided');
    const bad = await login('alice', 'Aa-first-pwX');
    t.equal(bad.code, AFP_RESULT.kFPUserNotAuth, 'kFPUserNotAuth');
    t.ok(await d.waitLog(audit('alice', 'bad_credentials')));
  });

  t.test('disabled, not allowed, must change: refused, and the daemon says why', async (t) => {
    const b = await login('bob', 'Bb-secret-22');
    t.notOk(b.ok, `disabled bob is refused (${b.name})`);
    t.ok(await d.waitLog(audit('bob', 'account_disabled')));
    const c = await login('carol', 'Cc-secret-33');
    t.notOk(c.ok, `carol (no afp) is refused (${c.name})`);
    t.ok(await d.waitLog(audit('carol', 'service_denied')), 'the audit log says service_denied');
    const m = await login('dave', 'Dd-secret-44');
    t.equal(m.code, AFP_RESULT.kFPPwdExpiredErr, 'must-change: kFPPwdExpiredErr');
  });

  t.test('password change over AFP reaches every service; the old password is gone everywhere', async (t) => {
    const c = await AfpClient.connect({ port: afpd.port });
    t.ok((await c.login('alice', Buffer.from('Aa-first-pw1'))).ok);
    const r = await c.changePassword(Buffer.from('Aa-first-pw1'), Buffer.from('Aa-second-pw2'));
    t.equal(r.code, 0, `FPChangePassword with DHX2: ${r.name}`);
    await c.logout();
    await c.close();
    t.ok((await login('alice', 'Aa-second-pw2')).ok, 'AFP: the new password');
    t.notOk((await login('alice', 'Aa-first-pw1')).ok, 'AFP: not the old one');
    t.equal((await authenticate(d, 'alice', 'Aa-second-pw2')).body.reason, 'ok', 'query socket: new');
    t.equal((await authenticate(d, 'alice', 'Aa-first-pw1')).body.reason, 'bad_credentials', 'query socket: old refused');
    t.equal(outcome(await pamtester({ pamd, service: 'netatalk', user: 'alice', ops: ['authenticate'], input: ['Aa-second-pw2'] })), 'ok', 'PAM: new');
    t.equal(outcome(await pamtester({ pamd, service: 'netatalk', user: 'alice', ops: ['authenticate'], input: ['Aa-first-pw1'] })), 'AUTH_ERR', 'PAM: old refused');
    if (canRun(t, smbMissing)) {
      t.equal((await smbclient(smb!, 'Public', 'alice', 'Aa-second-pw2')).code, 0, 'SMB: new');
      t.match((await smbclient(smb!, 'Public', 'alice', 'Aa-first-pw1')).out, /NT_STATUS_LOGON_FAILURE/, 'SMB: old refused');
    }
    // a change that breaks the policy is refused and changes nothing
    const c2 = await AfpClient.connect({ port: afpd.port });
    await c2.login('alice', Buffer.from('Aa-second-pw2'));
    const weak = await c2.changePassword(Buffer.from('Aa-second-pw2'), Buffer.from('short'));
    t.not(weak.code, 0, `a too short password is refused (${weak.name})`);
    await c2.close();
    t.ok((await login('alice', 'Aa-second-pw2')).ok, 'the password is unchanged');
  });

  t.test('non-ASCII: one rule for AFP and SMB', async (t) => {
    // netatalk converts login passwords from MacRoman; a Mac's "ü" is 0x9F
    const mac = encodeMacRoman('pässwörd-ü1');
    t.ok((await login('umla', mac)).ok, 'a password set as UTF-8 works from a MacRoman AFP client');
    // password changes arrive raw (MacRoman); the daemon reads them as MacRoman for AFP
    const c = await AfpClient.connect({ port: afpd.port });
    await c.login('umla', mac);
    const r = await c.changePassword(mac, encodeMacRoman('nëw-päss-ö2'));
    t.equal(r.code, 0, `change with non-ASCII bytes: ${r.name}`);
    await c.close();
    t.ok((await login('umla', encodeMacRoman('nëw-päss-ö2'))).ok, 'AFP: the new non-ASCII password');
    t.equal((await authenticate(d, 'umla', 'nëw-päss-ö2')).body.reason, 'ok', 'the dashboard sees the same password (UTF-8)');
    if (smb) t.equal((await smbclient(smb, 'Public', 'umla', 'nëw-päss-ö2')).code, 0, 'SMB: the same password');
  });

  t.test('daemon down: AFP fails cleanly and afpd keeps running; daemon back: logins work', async (t) => {
    await d.stop();
    const r = await login('alice', 'Aa-second-pw2');
    t.notOk(r.ok, `refused while the daemon is down (${r.name})`);
    t.ok(afpd.alive(), 'afpd is still running');
    d = await startD(d.dir);
    t.ok((await login('alice', 'Aa-second-pw2')).ok, 'the next login after the daemon is back works');
  });
}
