// The test-only AFP client against a real Netatalk afpd 4.2.x (Debian trixie chroot) with
// plain pam_unix: DHX2 login, wrong password, unknown user, DHX2 password change, and what
// afpd does with non-ASCII password bytes. Needs root (chroot, mount namespace).
import t from 'tap';
import { fileCanRun, needRoot } from './helpers/env';
import { waitFor, waitForMatch } from './helpers/wait';
import { AfpClient, tryLogin, AFP_RESULT } from './afp';
import { encodeMacRoman } from './afp/macroman';
import { startAfpd, ensureChroot, chrootStamp, strayAfpds, AfpdHandle } from './env/netatalk/afpd';

/** Whether a pid still names a process (a zombie not yet reaped counts: it is not gone). */
function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

const PAM_UNIX_ONLY = [
  'auth     required pam_unix.so',
  'account  required pam_unix.so',
  'password required pam_unix.so',
  '',
].join('\n');

const USER = 'alice';
const PW1 = Buffer.from('first-Secret1');
const PW2 = Buffer.from('second-Secret2');
// set through chpasswd as UTF-8 (what a Linux box stores): "pässwörd-1"
const UMLAUT = 'pässwörd-1';

if (fileCanRun(needRoot())) {
  let afpd: AfpdHandle;

  t.before(async () => {
    const dir = ensureChroot();
    const st = chrootStamp(dir);
    t.comment(`chroot ${dir}: netatalk ${st.netatalk}, built in ${st.build_seconds} s, ${st.size}`);
    const started = Date.now();
    afpd = await startAfpd({
      pamService: PAM_UNIX_ONLY,
      setup: [
        `useradd -m -s /bin/sh ${USER}`,
        `printf '%s\\n' '${USER}:${PW1.toString()}' | chpasswd`,
        'useradd -m -s /bin/sh umlaut',
        `printf '%s\\n' 'umlaut:${UMLAUT}' | chpasswd`,
        'useradd -M -s /bin/sh -u 0 -o rootalias',
        `printf '%s\\n' 'rootalias:${PW1.toString()}' | chpasswd`,
      ].join('\n'),
    });
    t.comment(`afpd pid ${afpd.pid} on 127.0.0.1:${afpd.port}, ready after ${Date.now() - started} ms`);
  });

  t.teardown(async () => {
    if (!afpd) return;
    const ns = afpd.processes();
    await afpd.stop();
    // every process of the namespace (afpd and its per-session children) is gone
    // a process that just died is reaped by init a moment later: wait for that, with a deadline
    for (const p of ns) await waitFor(`process ${p} of the afpd namespace to be gone after stop()`, () => !alive(p));
  });

  t.test('FPGetSrvrInfo: DHX2 only, password change advertised', async (t) => {
    const info = await AfpClient.getServerInfo({ port: afpd.port });
    t.same(info.uams, ['DHX2'], 'only DHX2 (uam list = uams_dhx2_pam.so)');
    t.ok(info.afpVersions.includes('AFP3.4'), 'AFP3.4 offered');
    t.ok(info.flagNames.includes('SupportsChgPwd'), 'set password = yes is advertised');
    t.equal(info.serverName, `nasauth-test-${afpd.port}`);
    t.equal(info.utf8ServerName, `nasauth-test-${afpd.port}`);
    t.match(info.machineType, /^Netatalk4\.2/);
    t.equal(info.signature?.length, 16);
  });

  t.test('DHX2 login with the right password (FPLogin and FPLoginExt)', async (t) => {
    const c = await AfpClient.connect({ port: afpd.port });
    const r = await c.login(USER, PW1);
    t.same(r, { code: 0, name: 'kFPNoErr', ok: true, step: 'FPLoginCont(2)' });
    const parms = await c.getSrvrParms();
    t.equal(parms.code, AFP_RESULT.kFPNoErr);
    t.same(parms.volumes.map((v) => v.name), ['nasauth-test'], 'the private test volume is listed');
    t.ok(parms.serverTime instanceof Date && !Number.isNaN(parms.serverTime.getTime()));
    t.equal((await c.logout()).code, 0);
    await c.close();
    const ext = await tryLogin(afpd.port, USER, PW1, { ext: true });
    t.equal(ext.name, 'kFPNoErr', 'FPLoginExt (what Mac OS X sends) works too');
    t.ok(await waitForMatch('afpd\'s log', afpd.log, /DHX2: PAM Auth OK!/));
    t.ok(await waitForMatch('afpd\'s log', afpd.log, new RegExp(`Login by ${USER} \\(AFP3\\.4\\)`)));
  });

  t.test('wrong password, unknown user, root', async (t) => {
    const wrong = await tryLogin(afpd.port, USER, Buffer.from('not-the-password'));
    t.equal(wrong.code, AFP_RESULT.kFPUserNotAuth);
    t.equal(wrong.name, 'kFPUserNotAuth');
    t.equal(wrong.step, 'FPLoginCont(2)', 'refused after the password was checked');
    t.ok(await waitForMatch('afpd\'s log', afpd.log, /DHX2: PAM_Error: Authentication failure/));

    const prefix = await tryLogin(afpd.port, USER, PW1.subarray(0, PW1.length - 1));
    t.equal(prefix.name, 'kFPUserNotAuth', 'a prefix of the password is refused');

    const nouser = await tryLogin(afpd.port, 'nosuchuser', PW1);
    t.equal(nouser.code, AFP_RESULT.kFPUserNotAuth);
    t.equal(nouser.step, 'FPLogin', 'afpd refuses unknown names before any password (getpwnam first)');
    t.ok(await waitForMatch('afpd\'s log', afpd.log, /DHX2: unknown username/));

    const root = await tryLogin(afpd.port, 'rootalias', PW1);
    t.equal(root.name, 'kFPUserNotAuth', 'uid 0 is refused by afpd after PAM said yes');
    t.ok(await waitForMatch('afpd\'s log', afpd.log, /root login denied/));

    const caseFold = await tryLogin(afpd.port, USER.toUpperCase(), PW1);
    t.equal(caseFold.name, 'kFPNoErr', 'afpd maps ALICE to alice itself (getpwent scan) before PAM');
  });

  t.test('DHX2 FPChangePassword', async (t) => {
    const c = await AfpClient.connect({ port: afpd.port });
    t.equal((await c.login(USER, PW1)).name, 'kFPNoErr');

    const same = await c.changePassword(PW1, PW1);
    t.equal(same.code, AFP_RESULT.kFPPwdSameErr, 'same old and new: kFPPwdSameErr');

    const badOld = await c.changePassword(Buffer.from('wrong-old-pw'), PW2);
    t.equal(badOld.code, AFP_RESULT.kFPUserNotAuth, 'wrong old password: kFPUserNotAuth');
    t.equal(badOld.step, 'FPChangePassword(3)');

    const ok = await c.changePassword(PW1, PW2);
    t.same(ok, { code: 0, name: 'kFPNoErr', ok: true, step: 'FPChangePassword(3)' });
    await c.logout();
    await c.close();
    t.ok(await waitForMatch('afpd\'s log', afpd.log, /password change succeeded/));

    t.equal((await tryLogin(afpd.port, USER, PW2)).name, 'kFPNoErr', 'new password works');
    t.equal((await tryLogin(afpd.port, USER, PW1)).name, 'kFPUserNotAuth', 'old password fails');

    // and back, so that the exchange works more than once on one server
    const c2 = await AfpClient.connect({ port: afpd.port });
    t.equal((await c2.login(USER, PW2)).name, 'kFPNoErr');
    t.equal((await c2.changePassword(PW2, PW1)).name, 'kFPNoErr');
    await c2.close();
    t.equal((await tryLogin(afpd.port, USER, PW1)).name, 'kFPNoErr');
  });

  t.test('FPChangePassword needs a logged-in session', async (t) => {
    const c = await AfpClient.connect({ port: afpd.port });
    const r = await c.changePassword(PW1, PW2);
    t.equal(r.code, AFP_RESULT.kFPCallNotSupported, `refused before login: ${r.name} at ${r.step}`);
    await c.close();
    t.equal((await tryLogin(afpd.port, USER, PW1)).name, 'kFPNoErr', 'password unchanged');
  });

  t.test('non-ASCII passwords: login converts MacRoman to UTF-8, change password does not', async (t) => {
    const mac = encodeMacRoman(UMLAUT);
    const utf8 = Buffer.from(UMLAUT, 'utf8');
    t.not(mac.toString('hex'), utf8.toString('hex'));
    t.equal((await tryLogin(afpd.port, 'umlaut', mac)).name, 'kFPNoErr', 'MacRoman bytes log in (afpd converts them to UTF-8)');
    t.equal((await tryLogin(afpd.port, 'umlaut', utf8)).name, 'kFPUserNotAuth', 'UTF-8 bytes are taken as MacRoman and fail');

    // FPChangePassword hands the bytes to PAM as they are: a MacRoman new password is stored as MacRoman...
    const NEW = 'nöu-pässwörd-2';
    const c = await AfpClient.connect({ port: afpd.port });
    t.equal((await c.login('umlaut', mac)).name, 'kFPNoErr');
    // ...and the old password is also checked raw, so MacRoman "old" bytes do not match the UTF-8 hash
    const rawOld = await c.changePassword(mac, encodeMacRoman(NEW));
    t.equal(rawOld.name, 'kFPUserNotAuth', 'old password as MacRoman is NOT converted for the change');
    const utf8Old = await c.changePassword(utf8, encodeMacRoman(NEW));
    t.equal(utf8Old.name, 'kFPNoErr', 'old password as UTF-8 bytes passes pam_authenticate');
    await c.close();
    // now the shadow hash is of the MacRoman bytes; a login converts to UTF-8 first, so nothing matches
    t.equal((await tryLogin(afpd.port, 'umlaut', encodeMacRoman(NEW))).name, 'kFPUserNotAuth', 'MacRoman login fails after a MacRoman change');
    t.equal((await tryLogin(afpd.port, 'umlaut', Buffer.from(NEW, 'utf8'))).name, 'kFPUserNotAuth', 'UTF-8 login fails too');
    const sh = afpd.exec(['getent', 'shadow', 'umlaut']);
    t.equal(sh.code, 0);
    t.match(sh.stdout, /^umlaut:\$/, 'the account still has a hash (the change went through)');
  });

  t.test('20 sequential logins (latency printed, not asserted)', async (t) => {
    const n = 20;
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      const r = await tryLogin(afpd.port, USER, PW1);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      t.equal(r.name, 'kFPNoErr', `login ${i + 1}`);
    }
    const mean = times.reduce((a, b) => a + b, 0) / n;
    const sorted = [...times].sort((a, b) => a - b);
    t.comment(`AFP DHX2 login via pam_unix (connect+login+logout+close): mean ${mean.toFixed(1)} ms, median ${sorted[n >> 1].toFixed(1)} ms, max ${sorted[n - 1].toFixed(1)} ms over ${n}`);
  });

  t.test('afpd is still alive and its children were reaped', async (t) => {
    t.ok(afpd.alive(), 'afpd parent still runs');
    const info = await AfpClient.getServerInfo({ port: afpd.port });
    t.same(info.uams, ['DHX2'], 'and still answers');
    t.notMatch(afpd.log(), /segfault|SIGSEGV|core dumped/i);
  });

  t.test('stop() leaves nothing behind', async (t) => {
    const second = await startAfpd({ pamService: PAM_UNIX_ONLY });
    t.not(second.port, afpd.port, 'a second instance gets another port');
    const c = await AfpClient.connect({ port: second.port });
    t.equal((await c.login(USER, PW1)).name, 'kFPUserNotAuth', 'users of one run do not exist in another (private overlay)');
    const pids = second.processes();
    t.ok(pids.includes(second.pid), 'afpd is in its own mount namespace');
    await c.close().catch(() => undefined);
    await second.stop();
    t.notOk(second.alive(), 'afpd exited');
    for (const p of pids) t.ok(await waitFor(`pid ${p} gone`, () => !alive(p)).catch(() => false), `pid ${p} is gone`);
    t.same(strayAfpds(second.runDir), [], 'no stray afpd from that run');
  });
}
