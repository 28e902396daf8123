// Directory users end to end through the real peers: smbd (ldapsam on nasauth's LDAP
// view), afpd (the Netatalk chroot, PAM profile and pam_nasauth.so), pamtester and the
// query socket, all answered by one nasauthd that follows a real slapd. Password changes
// from SMB, AFP and PAM reach the directory first; with the directory dead, SMB, AFP and
// PAM still answer (smbd reads the local view; the others get the offline copies).
import t from 'tap';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { AfpClient, tryLogin, AFP_RESULT } from './afp';
import { startAfpd, type AfpdHandle } from './env/netatalk/afpd';
import { authenticate, cleanup, cli, readStore, startDaemon, type Daemon } from './helpers/daemon';
import { tempDir } from './helpers/tmp';
import { canRun, firstMissing } from './helpers/env';
import { buildModule, daemonPamDir, outcome, pamtester, rmrf } from './helpers/pam';
import { chgpasswd, sambaMissing, smbclient, startSamba, type Samba } from './helpers/samba';
import { PEOPLE, posixGroupLdif, slapdMissing, startSlapd, upstreamConfig, userLdif, writeSecret, type Slapd } from './helpers/slapd';
import { waitFor } from './helpers/wait';

const NOBODY = 65534; // a user's own password change takes the CHPW path (with the old password)

if (!canRun(t, firstMissing(slapdMissing(), sambaMissing()))) {
  // reported by canRun
} else {
  const tmp = tempDir('nasauth-upe2e-');
  let s: Slapd;
  let d: Daemon;
  let smb: Samba;
  let afpd: AfpdHandle;
  let pamd = '';
  t.teardown(async () => {
    await afpd?.stop();
    await smb?.stop();
    await d?.stop();
    if (d) cleanup(d);
    await s?.stop();
    s?.cleanup();
    if (pamd) rmrf(pamd);
    rmSync(tmp, { recursive: true, force: true });
  });

  t.before(async () => {
    s = await startSlapd({
      serviceResets: true,
      seed: [
        userLdif({ name: 'dave', uid: 22001, password: 'Pass-d-one-1', samba: true }),
        userLdif({ name: 'frank', uid: 22002, password: 'Pass-f-one-1' }),
        userLdif({ name: 'gina', uid: 22003, password: 'Pass-g-one-1', samba: true }),
        posixGroupLdif('staff', 32001, ['dave', 'frank', 'gina']),
      ].join(''),
    });
    d = await startDaemon({
      config: {
        sockets: { ldap: { enabled: true } },
        ...upstreamConfig(s, { secretFile: writeSecret(tmp), extra: { password_resets: 'service', cached_auth_seconds: 0, refresh: { interval_seconds: 3600, jitter_seconds: 60, page_size: 100, max_users: 1000, max_groups: 1000 } } }),
      },
    });
    await waitFor('the first refresh', () => /"upstream":"refresh","why":"schedule","ok":true/.test(d.logs()));
    const secret = readFileSync(join(d.stateDir, 'ldap-bind.secret'), 'utf8').trim();
    smb = await startSamba({ ldapi: d.ldap, bindSecret: secret, nssDir: join(d.dir, 'nss') });
    afpd = await startAfpd({
      pamModule: buildModule(),
      bindDirs: [{ host: d.runDir, inChroot: '/run/nasauth' }, { host: join(d.dir, 'nss'), inChroot: '/var/lib/extrausers', readOnly: true }],
    });
    pamd = daemonPamDir(d);
  });

  const pam = (user: string, pw: string) => pamtester({ pamd, service: 'netatalk', user, ops: ['authenticate', 'acct_mgmt'], input: [pw] });
  const afp = (user: string, pw: string) => tryLogin(afpd.port, user, Buffer.from(pw));

  t.test('SMB works at once for a directory user whose entry holds sambaNTPassword', async (t) => {
    const r = await smbclient(smb, 'Public', 'dave', 'Pass-d-one-1');
    t.equal(r.code, 0, r.out);
    t.match((await smbclient(smb, 'Public', 'dave', 'Pass-d-wrong')).out, /NT_STATUS_LOGON_FAILURE/);
    const doc = await cli(d, ['doctor', 'dave', 'smb']);
    t.match(doc.stdout, /ok\s+SMB: the NT hash comes from the directory \(sambaNTPassword\)/, doc.stdout);
    t.match(doc.stdout, /ok\s+smbd sees dave through the LDAP view: flags \[UX {9}\], uid 22001/, 'and what smbd sees');
  });

  t.test('without Samba attributes, SMB works after one plaintext sign-in; doctor says which case', async (t) => {
    t.match((await smbclient(smb, 'Public', 'frank', 'Pass-f-one-1')).out, /NT_STATUS_LOGON_FAILURE/, 'no NT hash yet');
    const before = await cli(d, ['doctor', 'frank', 'smb']);
    t.match(before.stdout, /FAIL\s+SMB: no NT hash yet \(the directory holds no sambaNTPassword for frank\): SMB and Time Machine fail until frank signs in once on the web page, over AFP or with ssh/);
    t.equal(outcome(await pam('frank', 'Pass-f-one-1')), 'ok', 'PAM: frank signs in (the directory checks the password)');
    const r = await smbclient(smb, 'Public', 'frank', 'Pass-f-one-1');
    t.equal(r.code, 0, `SMB now works: ${r.out}`);
    const after = await cli(d, ['doctor', 'frank', 'smb']);
    t.match(after.stdout, /ok\s+SMB: the NT hash comes from frank's last plaintext sign-in on this NAS/);
  });

  t.test('AFP: a directory user signs in through afpd, PAM and nasauthd', async (t) => {
    t.same(await afp('frank', 'Pass-f-one-1'), { code: 0, name: 'kFPNoErr', ok: true, step: 'FPLoginCont(2)' });
    t.equal((await afp('frank', 'Pass-f-wrong')).code, AFP_RESULT.kFPUserNotAuth);
    t.equal((await authenticate(d, 'gina', 'Pass-g-one-1', 'afp')).body.reason, 'ok', 'and the query socket');
  });

  t.test('a password change over SMB goes to the directory first (Password Modify as the service identity)', async (t) => {
    const r = await chgpasswd(smb, 'gina', 'Pass-g-one-1', 'Pass-g-two-2');
    t.equal(r.code, 0, r.out);
    t.ok(s.bindOk('gina', 'Pass-g-two-2'), 'the directory has the new password');
    t.notOk(s.bindOk('gina', 'Pass-g-one-1'), 'and not the old one');
    const nt = readStore(d).accounts.gina.verifiers.nt;
    t.match(s.search(PEOPLE, '(uid=gina)', ['sambaNTPassword']), new RegExp(`sambaNTPassword: ${nt}`), 'the directory\'s Samba hash follows');
    t.equal((await smbclient(smb, 'Public', 'gina', 'Pass-g-two-2')).code, 0, 'SMB: the new password');
    t.match((await smbclient(smb, 'Public', 'gina', 'Pass-g-one-1')).out, /NT_STATUS_LOGON_FAILURE/, 'SMB: not the old one');
    t.equal((await authenticate(d, 'gina', 'Pass-g-two-2')).body.reason, 'ok', 'the query socket: the new password');
    t.ok(await d.waitLog(/"audit":"password_set","user":"gina","by":"smbd \(LDAP password modify\)","channel":"ldap","directory":"service"/));
  });

  t.test('a password change over AFP goes to the directory first (as the user)', async (t) => {
    const c = await AfpClient.connect({ port: afpd.port });
    t.ok((await c.login('frank', Buffer.from('Pass-f-one-1'))).ok);
    const r = await c.changePassword(Buffer.from('Pass-f-one-1'), Buffer.from('Pass-f-two-2'));
    t.equal(r.code, 0, `FPChangePassword: ${r.name}`);
    await c.close();
    t.ok(s.bindOk('frank', 'Pass-f-two-2'), 'the directory has the new password');
    t.notOk(s.bindOk('frank', 'Pass-f-one-1'), 'and not the old one');
    t.ok((await afp('frank', 'Pass-f-two-2')).ok, 'AFP: the new password');
    t.notOk((await afp('frank', 'Pass-f-one-1')).ok, 'AFP: not the old one');
    t.equal((await smbclient(smb, 'Public', 'frank', 'Pass-f-two-2')).code, 0, 'SMB: the new password (NT hash of the change)');
  });

  t.test('a password change through PAM (chauthtok as the user) goes to the directory first', async (t) => {
    const r = await pamtester({ pamd, service: 'netatalk', user: 'dave', ops: ['chauthtok'], input: ['Pass-d-one-1', 'Pass-d-two-2', 'Pass-d-two-2'], uid: NOBODY });
    t.equal(outcome(r), 'ok', r.out);
    t.ok(s.bindOk('dave', 'Pass-d-two-2'), 'the directory has the new password');
    t.equal(outcome(await pam('dave', 'Pass-d-two-2')), 'ok', 'PAM: the new password');
    t.equal(outcome(await pam('dave', 'Pass-d-one-1')), 'AUTH_ERR', 'PAM: not the old one');
    t.equal((await smbclient(smb, 'Public', 'dave', 'Pass-d-two-2')).code, 0, 'SMB: the new password');
    // the directory's own refusal reaches the user: the old password is wrong in the directory
    s.setPassword('dave', 'Pass-d-three-3');
    const wrong = await pamtester({ pamd, service: 'netatalk', user: 'dave', ops: ['chauthtok'], input: ['Pass-d-two-2', 'Pass-d-four-4', 'Pass-d-four-4'], uid: NOBODY });
    t.equal(outcome(wrong), 'AUTH_ERR', 'the directory no longer takes the old password: PAM_AUTH_ERR, nothing changed');
    t.ok(s.bindOk('dave', 'Pass-d-three-3'), 'the directory is unchanged');
  });

  t.test('the directory dead: smbd, afpd and PAM do not wait on it', async (t) => {
    await s.kill();
    t.equal((await smbclient(smb, 'Public', 'gina', 'Pass-g-two-2')).code, 0, 'SMB: gina (smbd reads the local view)');
    t.equal(outcome(await pam('frank', 'Pass-f-two-2')), 'ok', 'PAM: frank from the offline copy');
    t.ok((await afp('frank', 'Pass-f-two-2')).ok, 'AFP: frank from the offline copy');
    t.equal((await authenticate(d, 'gina', 'Pass-g-two-2')).body.reason, 'ok', 'query socket: gina from the offline copy');
    const chg = await pamtester({ pamd, service: 'netatalk', user: 'frank', ops: ['chauthtok'], input: ['Pass-f-two-2', 'Pass-f-three-3', 'Pass-f-three-3'], uid: NOBODY });
    t.equal(outcome(chg), 'AUTHINFO_UNAVAIL', 'a password change cannot happen without the directory');
    t.match(chg.out, /cannot be changed while the directory cannot be reached|the directory did not answer/, chg.out);
    t.equal((await authenticate(d, 'frank', 'Pass-f-two-2')).body.reason, 'ok', 'nothing changed');
  });
}
