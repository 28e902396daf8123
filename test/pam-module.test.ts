// pam_nasauth.so through real libpam (pamtester) against the real daemon: every reason
// a login can end with, password changes on both paths (CHPW and root's CHPW_ROOT), the
// Netatalk and Samba flows, and byte-exact passwords. Needs root (mount namespaces).
import t from 'tap';
import { fileCanRun, needRoot } from './helpers/env';
import { addUser, authenticate, cleanup, cli, startDaemon, type Daemon } from './helpers/daemon';
import { PAM_TEXT, buildModule, daemonPamDir, makePamDir, moduleArgs, outcome, pamtester, rmrf } from './helpers/pam';

const NOBODY = 65534; // password changes as an ordinary user take the CHPW path

if (fileCanRun(needRoot())) {
  buildModule();

  // Failures must not throttle the next case: no backoff, no lockout in this daemon.
  const relaxed = { rate_limit: { backoff_after: 1000, backoff_base_ms: 0, backoff_max_ms: 0, lockout_after: 1000, lockout_seconds: 600, source_failures: 1_000_000 } };

  let d: Daemon;
  let pamd: string;
  t.before(async () => {
    d = await startDaemon({ config: relaxed });
    pamd = daemonPamDir(d);
  });
  t.teardown(async () => { await d.stop(); cleanup(d); rmrf(pamd); });

  const run = (service: string, user: string, ops: string[], input: Array<string | Buffer> = [], uid?: number) =>
    pamtester({ pamd, service, user, ops, input, uid });

  t.test('good password, wrong password, unknown user', async (t) => {
    await addUser(d, 'alice', 'Correct-Horse1');
    const good = await run('netatalk', 'alice', ['authenticate', 'acct_mgmt'], ['Correct-Horse1']);
    t.equal(outcome(good), 'ok', good.out);
    t.match(good.out, /successfully authenticated[\s\S]*account management done/);
    t.equal(outcome(await run('netatalk', 'alice', ['authenticate'], ['Correct-Horse2'])), 'AUTH_ERR', 'wrong password');
    t.equal(outcome(await run('netatalk', 'alice', ['authenticate'], [''])), 'AUTH_ERR', 'empty password');
    t.equal(outcome(await run('netatalk', 'nosuchuser', ['authenticate'], ['Correct-Horse1'])), 'AUTH_ERR', 'unknown user: the same answer as a wrong password');
    t.equal(outcome(await run('netatalk', 'nosuchuser', ['acct_mgmt'])), 'USER_UNKNOWN', 'account phase: unknown user');
    t.equal(outcome(await run('netatalk', 'ALICE', ['authenticate'], ['Correct-Horse1'])), 'ok', 'names are case-insensitive (Finder sends any case)');
  });

  t.test('ignore_unknown_user: steps aside for unknown names without prompting, decides for known ones', async (t) => {
    const mod = buildModule();
    const args = moduleArgs({ socket: d.pam, priv: d.pamPriv, args: ['ignore_unknown_user'] });
    const dir = makePamDir({
      netatalk: `auth [success=done ignore=ignore default=die] ${mod} ${args}\nauth required pam_permit.so\n` +
        `account [success=done ignore=ignore default=die] ${mod} ${args}\naccount required pam_permit.so\n`,
    });
    t.teardown(() => rmrf(dir));
    const unknown = await pamtester({ pamd: dir, service: 'netatalk', user: 'localonly', ops: ['authenticate', 'acct_mgmt'] });
    t.equal(outcome(unknown), 'ok', 'PAM_IGNORE, then the next module (pam_permit here) decides');
    t.notMatch(unknown.out, /Password:/, 'no password prompt for a name nasauth does not hold');
    t.equal(outcome(await pamtester({ pamd: dir, service: 'netatalk', user: 'alice', ops: ['authenticate'], input: ['wrong-one-1'] })), 'AUTH_ERR', 'a known user with a wrong password is still refused');
    t.equal(outcome(await pamtester({ pamd: dir, service: 'netatalk', user: 'alice', ops: ['authenticate'], input: ['Correct-Horse1'] })), 'ok');
  });

  t.test('disabled account: the real reason only after the right password', async (t) => {
    await addUser(d, 'dora', 'Dusty-Road1', ['--disabled']);
    const r = await run('netatalk', 'dora', ['authenticate'], ['Dusty-Road1']);
    t.equal(outcome(r), 'PERM_DENIED');
    t.match(r.out, /disabled/, 'the user is told why');
    const bad = await run('netatalk', 'dora', ['authenticate'], ['Dusty-Road2']);
    t.equal(outcome(bad), 'AUTH_ERR');
    t.notMatch(bad.out, /disabled/, 'a wrong password learns nothing');
    t.equal(outcome(await run('netatalk', 'dora', ['acct_mgmt'])), 'PERM_DENIED', 'account phase');
  });

  t.test('service_denied: not allowed afp through the PAM service netatalk', async (t) => {
    await addUser(d, 'sam', 'Sunny-Side1', ['--services', 'smb']);
    const r = await run('netatalk', 'sam', ['authenticate'], ['Sunny-Side1']);
    t.equal(outcome(r), 'PERM_DENIED');
    t.match(r.out, /may not use this service/);
    t.equal(outcome(await run('netatalk', 'sam', ['acct_mgmt'])), 'PERM_DENIED', 'account phase too');
    t.equal(outcome(await run('samba', 'sam', ['authenticate', 'acct_mgmt'], ['Sunny-Side1'])), 'ok', 'samba -> smb is allowed');
    t.equal(outcome(await run('nasauth-dashboard', 'sam', ['authenticate'], ['Sunny-Side1'])), 'PERM_DENIED', 'service= option overrides the PAM service');
  });

  t.test('must_change_password: auth succeeds, the account phase asks for a new token', async (t) => {
    await addUser(d, 'mona', 'Misty-Lake1', ['--must-change']);
    t.equal(outcome(await run('netatalk', 'mona', ['authenticate'], ['Misty-Lake1'])), 'ok', 'the password is proven');
    const acct = await run('netatalk', 'mona', ['acct_mgmt']);
    t.equal(outcome(acct), 'NEW_AUTHTOK_REQD');
    t.equal(outcome(await run('netatalk', 'mona', ['authenticate'], ['Misty-Lake2'])), 'AUTH_ERR', 'a wrong password is still wrong');
    // the change clears the flag
    const ch = await run('netatalk', 'mona', ['chauthtok'], ['Misty-Lake1', 'Misty-Pond22', 'Misty-Pond22'], NOBODY);
    t.equal(outcome(ch), 'ok', ch.out);
    t.equal(outcome(await run('netatalk', 'mona', ['authenticate', 'acct_mgmt'], ['Misty-Pond22'])), 'ok', 'no longer must change');
  });

  t.test('chauthtok as a user (CHPW): good, wrong old, mismatch, policy refused', async (t) => {
    await addUser(d, 'carl', 'Cold-Coffee1');
    const wrong = await run('netatalk', 'carl', ['chauthtok'], ['Cold-Coffee9', 'Warm-Tea-22', 'Warm-Tea-22'], NOBODY);
    t.equal(outcome(wrong), 'AUTH_ERR', 'wrong old password: PAM_AUTH_ERR, as pam_unix');
    t.notMatch(wrong.out, /New password/, 'refused before asking for the new one');
    const mismatch = await run('netatalk', 'carl', ['chauthtok'], ['Cold-Coffee1', 'Warm-Tea-22', 'Warm-Tea-23'], NOBODY);
    t.equal(outcome(mismatch), 'AUTHTOK_ERR');
    t.match(mismatch.out, /do not match/);
    const weak = await run('netatalk', 'carl', ['chauthtok'], ['Cold-Coffee1', 'short', 'short'], NOBODY);
    t.equal(outcome(weak), 'AUTHTOK_ERR', 'policy refused');
    t.match(weak.out, /at least 8 characters/, 'the policy says why');
    t.equal((await authenticate(d, 'carl', 'Cold-Coffee1', 'afp')).body.reason, 'ok', 'nothing changed so far');
    const good = await run('netatalk', 'carl', ['chauthtok'], ['Cold-Coffee1', 'Warm-Tea-22', 'Warm-Tea-22'], NOBODY);
    t.equal(outcome(good), 'ok', good.out);
    t.match(good.out, /Current password: /);
    t.equal((await authenticate(d, 'carl', 'Warm-Tea-22', 'afp')).body.reason, 'ok', 'the new password works over the query socket');
    t.equal((await authenticate(d, 'carl', 'Cold-Coffee1', 'afp')).body.reason, 'bad_credentials', 'the old one does not');
    t.equal(outcome(await run('samba', 'carl', ['authenticate'], ['Warm-Tea-22'])), 'ok', 'and over PAM');
    t.ok(await d.waitLog(/"audit":"password_set","user":"carl","by":"carl"/), 'changed by the user himself');
  });

  t.test('chauthtok as root (CHPW_ROOT over the privileged socket): Samba passwd chat prompts', async (t) => {
    await addUser(d, 'rita', 'Rainy-Day11', ['--services', 'smb']);
    const r = await run('samba', 'rita', ['chauthtok'], ['Sunny-Day22', 'Sunny-Day22']);
    t.equal(outcome(r), 'ok', r.out);
    t.notMatch(r.out, /Current password/, 'root is not asked for the old password');
    const prompts = ['New password: ', 'Retype new password: '];
    for (const p of prompts) t.match(r.out, p, `prompt "${p}"`);
    // Samba trims the prompt and matches it, case-insensitively, against its default chat
    const chat = /^\*new\*password\*$/i;
    const wild = (pat: string, s: string) => new RegExp(`^${pat.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`, 'i').test(s);
    for (const p of prompts) t.ok(wild('*new*password*', p.trim()) && chat.test('*new*password*'), `"${p.trim()}" matches Samba's default passwd chat`);
    t.equal((await authenticate(d, 'rita', 'Sunny-Day22', 'smb')).body.reason, 'ok', 'the new password works');
    t.equal((await authenticate(d, 'rita', 'Rainy-Day11', 'smb')).body.reason, 'bad_credentials', 'the old one does not');
    t.ok(await d.waitLog(/"by":"root via PAM samba"/), 'audited as set by root');
    t.equal(outcome(await run('samba', 'nosuchuser', ['chauthtok'], ['Sunny-Day22', 'Sunny-Day22'])), 'USER_UNKNOWN', 'root: unknown account');
    t.equal(outcome(await run('netatalk', 'rita', ['chauthtok'], ['Sunny-Day33', 'Sunny-Day33'])), 'PERM_DENIED', 'root: an account that may not use the service');
    const weak = await run('samba', 'rita', ['chauthtok'], ['tiny', 'tiny']);
    t.equal(outcome(weak), 'AUTHTOK_ERR', 'root: the policy still applies');
  });

  t.test('Netatalk flow: authenticate(old) then chauthtok in one handle, every prompt answered with the new password', async (t) => {
    await addUser(d, 'nina', 'Night-Owl11');
    // pamtester answers from stdin: the first line is the old password (auth), then only the new one
    const r = await run('netatalk', 'nina', ['authenticate', 'chauthtok'], ['Night-Owl11', 'Early-Bird22', 'Early-Bird22']);
    t.equal(outcome(r), 'ok', r.out);
    t.notMatch(r.out, /Current password/, 'the proven old password was kept: no prompt that would get the new one');
    t.equal((await authenticate(d, 'nina', 'Early-Bird22', 'afp')).body.reason, 'ok');
    t.equal((await authenticate(d, 'nina', 'Night-Owl11', 'afp')).body.reason, 'bad_credentials');
    t.ok(await d.waitLog(/"audit":"password_set","user":"nina","by":"nina"/), 'CHPW with the old password, not root\'s CHPW_ROOT');
    const bad = await run('netatalk', 'nina', ['authenticate', 'chauthtok'], ['Night-Owl11', 'Late-Bat-333', 'Late-Bat-333']);
    t.equal(outcome(bad), 'AUTH_ERR', 'a wrong old password stops the flow at authenticate');
  });

  t.test('byte-exact passwords', async (t) => {
    await addUser(d, 'ute', 'Pässwörd-ünï1');
    t.equal(outcome(await run('netatalk', 'ute', ['authenticate'], ['Pässwörd-ünï1'])), 'ok', 'UTF-8');
    t.equal(outcome(await run('netatalk', 'ute', ['authenticate'], ['Passwörd-ünï1'])), 'AUTH_ERR', 'one letter differs');

    const quoted = `It's "quoted" \\ back\\slash $HOME \`x\` 1`;
    await addUser(d, 'quinn', quoted);
    t.equal(outcome(await run('netatalk', 'quinn', ['authenticate'], [quoted])), 'ok', 'quotes, backslashes, $ and backticks');
    t.equal((await authenticate(d, 'quinn', quoted, 'afp')).body.reason, 'ok', 'the same over the query socket');

    // Latin-1: set by root through PAM (the CLI reads UTF-8), then checked byte-exact.
    // (Through the AFP service netatalk, non-UTF-8 bytes are MacRoman instead: test/afp-nasauth.test.ts.)
    await addUser(d, 'lena', 'Start-Pass11');
    const e9 = Buffer.from('Caf\xe9-Latin1', 'latin1');
    const e8 = Buffer.from('Caf\xe8-Latin1', 'latin1');
    t.equal(outcome(await run('samba', 'lena', ['chauthtok'], [e9, e9])), 'ok', 'a Latin-1 password set through PAM');
    t.equal(outcome(await run('samba', 'lena', ['authenticate'], [e9])), 'ok', 'the same Latin-1 bytes');
    t.equal(outcome(await run('samba', 'lena', ['authenticate'], [e8])), 'AUTH_ERR', 'another Latin-1 password does not collide');
    t.equal((await authenticate(d, 'lena', 'Café-Latin1', 'smb')).body.reason, 'ok', 'the UTF-8 of the same text matches (one canonical form, docs/protocol.md)');
    t.equal((await authenticate(d, 'lena', 'Cafè-Latin1', 'smb')).body.reason, 'bad_credentials');

    // tabs and other control characters: the policy refuses them on every path
    const tab = await run('netatalk', 'lena', ['chauthtok'], ['Tab\there-Pass1', 'Tab\there-Pass1']);
    t.equal(outcome(tab), 'AUTHTOK_ERR', 'a tab is refused by the policy');
    t.match(tab.out, /control characters/);
    const cliTab = await cli(d, ['user', 'passwd', 'lena'], 'Tab\there-Pass1\n');
    t.not(cliTab.code, 0, 'the admin path refuses it too');

    // 255 bytes (the test policy's maximum)
    const long = `L1-${'x'.repeat(252)}`;
    t.equal(Buffer.byteLength(long), 255);
    await addUser(d, 'lars', long);
    t.equal(outcome(await run('netatalk', 'lars', ['authenticate'], [long])), 'ok', '255-byte password');
    t.equal(outcome(await run('netatalk', 'lars', ['authenticate'], [long.slice(0, 254)])), 'AUTH_ERR', 'one byte short');
    t.equal(outcome(await run('netatalk', 'lars', ['authenticate'], [`${long}${'y'.repeat(400)}`])), 'AUTH_ERR', 'over 512 bytes: refused cleanly');
  });

  t.test('user names: over-long refused cleanly, odd ones answered', async (t) => {
    const huge = await run('netatalk', 'u'.repeat(300), ['authenticate', 'acct_mgmt'], ['Correct-Horse1']);
    t.equal(outcome(huge), 'USER_UNKNOWN', 'over 256 bytes: refused in the module, no round trip');
    t.equal(outcome(await run('netatalk', 'v'.repeat(100), ['authenticate'], ['Correct-Horse1'])), 'AUTH_ERR', 'longer than any account: bad_credentials');
    t.equal(outcome(await run('netatalk', 'v'.repeat(100), ['acct_mgmt'])), 'USER_UNKNOWN');
    t.equal(outcome(await run('netatalk', 'm\xfcller', ['authenticate'], ['Correct-Horse1'])), 'AUTH_ERR', 'non-ASCII name');
    t.equal(d.proc.exitCode, null, 'the daemon is fine');
  });

  t.test('locked_out: PAM_MAXTRIES in auth, PAM_PERM_DENIED in the account phase', async (t) => {
    const d2 = await startDaemon({ config: { rate_limit: { backoff_after: 3, backoff_base_ms: 0, backoff_max_ms: 0, lockout_after: 3, lockout_seconds: 600, source_failures: 1_000_000 } } });
    const dir = daemonPamDir(d2);
    t.teardown(async () => { await d2.stop(); cleanup(d2); rmrf(dir); });
    await addUser(d2, 'lou', 'Lucky-Star11');
    for (let i = 0; i < 3; i++) await pamtester({ pamd: dir, service: 'netatalk', user: 'lou', ops: ['authenticate'], input: [`Wrong-Star-${i}`] });
    const r = await pamtester({ pamd: dir, service: 'netatalk', user: 'lou', ops: ['authenticate'], input: ['Lucky-Star11'] });
    t.equal(outcome(r), 'MAXTRIES', 'even the right password, while locked');
    t.match(r.out, /locked/);
    t.equal(outcome(await pamtester({ pamd: dir, service: 'netatalk', user: 'lou', ops: ['acct_mgmt'] })), 'PERM_DENIED');
    t.equal((await cli(d2, ['unlock', 'lou'])).code, 0);
    t.equal(outcome(await pamtester({ pamd: dir, service: 'netatalk', user: 'lou', ops: ['authenticate', 'acct_mgmt'], input: ['Lucky-Star11'] })), 'ok', 'unlocked by the admin');
  });
}

// keep the PAM_TEXT import meaningful for readers: every outcome above is one of these
void PAM_TEXT;
