// The PAM profiles shipped in sysroot/etc/pam.d, run by real libpam with a private
// /etc/passwd and /etc/shadow (bind-mounted in a private namespace): local system
// accounts keep working while nasauthd is down, and "daemon down" never lets a nasauth
// name in. Also a static check of every shipped line.
import t from 'tap';
import { canRun, needRoot } from './helpers/env';
import { tempDir } from './helpers/tmp';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, addUser, cleanup, startDaemon } from './helpers/daemon';
import { buildModule, makePamDir, outcome, pamtester, rmrf } from './helpers/pam';

const PAMD = join(ROOT, 'sysroot', 'etc', 'pam.d');
const shipped = Object.fromEntries(readdirSync(PAMD).map((f) => [f, readFileSync(join(PAMD, f), 'utf8')]));

t.test('shipped profiles: well-formed, and "daemon down" is never ignored for pam_nasauth', async (t) => {
  t.same(Object.keys(shipped).sort(), ['nasauth', 'netatalk', 'samba']);
  for (const [name, text] of Object.entries(shipped)) {
    const lines = text.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
    for (const l of lines) {
      t.match(l, /^(auth|account|password|session)\s+(required|requisite|sufficient|optional|\[[^\]]+\])\s+pam_\w+\.so(\s+\S+)*\s*$/, `${name}: "${l.trim()}"`);
      if (/pam_nasauth\.so/.test(l)) {
        t.notMatch(l, /ignore_authinfo_unavail|authinfo_unavail=ignore|default=ignore/, `${name}: pam_nasauth failures are final`);
        t.match(l, /default=die/, `${name}: pam_nasauth decides alone`);
      }
    }
    for (const phase of ['auth', 'account', 'password']) t.ok(lines.some((l) => l.startsWith(phase) && l.includes('pam_nasauth.so')), `${name}: ${phase} goes to pam_nasauth`);
  }
});

{
  t.test('live: local accounts survive a dead daemon, nasauth accounts are refused', async (t) => {
    if (!canRun(t, needRoot())) return;
    const mod = buildModule();
    const d = await startDaemon();
    await addUser(d, 'alice', 'Correct-Horse1');
    await addUser(d, 'adam', 'Admin-Pass-11', ['--role', 'admin']);
    const args = `${mod} socket=${d.pam} priv_socket=${d.pamPriv} timeout=2`;
    const files: Record<string, string> = {};
    for (const [name, text] of Object.entries(shipped)) files[name] = text.replace(/(^|\s)pam_nasauth\.so(?=\s|$)/gm, `$1${args}`);
    // sshd as the nasauth profile tells services to use it: as a substack
    files.sshd = 'auth substack nasauth\naccount substack nasauth\npassword substack nasauth\n';
    const pamd = makePamDir(files);

    // a private passwd/shadow: the host's, plus one local account with a known password
    const etc = tempDir('nasauth-etc-');
    chmodSync(etc, 0o755);
    const hash = execFileSync('openssl', ['passwd', '-6', 'Local-Admin-1'], { encoding: 'utf8' }).trim();
    writeFileSync(join(etc, 'passwd'), `${readFileSync('/etc/passwd', 'utf8')}localadm:x:4242:4242:local admin:/root:/bin/sh\n`);
    writeFileSync(join(etc, 'shadow'), `${readFileSync('/etc/shadow', 'utf8')}localadm:${hash}:19000:0:99999:7:::\n`, { mode: 0o640 });
    const binds: Array<[string, string]> = [[join(etc, 'passwd'), '/etc/passwd'], [join(etc, 'shadow'), '/etc/shadow']];
    t.teardown(async () => { await d.stop(); cleanup(d); rmrf(pamd); rmrf(etc); });

    const run = (service: string, user: string, pw: string, ops = ['authenticate', 'acct_mgmt']) =>
      pamtester({ pamd, service, user, ops, input: [pw], binds }).then(outcome);

    t.equal(await run('netatalk', 'alice', 'Correct-Horse1'), 'ok', 'up: nasauth account');
    t.equal(await run('netatalk', 'alice', 'Wrong-Horse1'), 'AUTH_ERR', 'up: wrong password');
    t.equal(await run('samba', 'alice', 'Correct-Horse1'), 'ok', 'up: samba profile');
    t.equal(await run('sshd', 'adam', 'Admin-Pass-11'), 'ok', 'up: sshd through the nasauth substack (admin may ssh)');
    t.equal(await run('sshd', 'alice', 'Correct-Horse1'), 'PERM_DENIED', 'up: a user may not ssh');
    t.equal(await run('netatalk', 'localadm', 'Local-Admin-1'), 'ok', 'up: local account through pam_unix');
    t.equal(await run('netatalk', 'localadm', 'Wrong-Admin-1'), 'AUTH_ERR', 'up: local account, wrong password');

    await d.kill9(); // the socket file stays: a stale socket, the most likely "down"
    for (const svc of ['netatalk', 'samba', 'sshd']) {
      t.equal(await run(svc, 'alice', 'Correct-Horse1'), 'AUTHINFO_UNAVAIL', `down, ${svc}: nasauth account refused even with the right password`);
      t.equal(await run(svc, 'localadm', 'Local-Admin-1'), 'ok', `down, ${svc}: the local account still works`);
      t.equal(await run(svc, 'localadm', 'Wrong-Admin-1'), 'AUTH_ERR', `down, ${svc}: but not with a wrong password`);
      t.not(await run(svc, 'nobody-at-all', ''), 'ok', `down, ${svc}: an unknown name never gets in`);
    }
  });
}
