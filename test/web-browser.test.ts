// The account portal in a real browser: Debian's chromium driven by playwright-core,
// against the shipped bundles (nasauth-web running as `nobody`, in the query socket's
// group, and nasauthd), with a real smbd on nasauthd's LDAP view for the SMB step.
// Every page is screenshotted (desktop and phone width) into a temporary folder, or into
// NASAUTH_KEEP_SCREENSHOTS=DIR for a person to look at.
import t from 'tap';
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { addUser, cleanup, cli, oneTimePassword, readStore, startDaemon, type Daemon } from './helpers/daemon';
import { fileCanRun, firstMissing, needRoot } from './helpers/env';
import { sambaMissing, smbclient, startSamba, type Samba } from './helpers/samba';
import { waitFor } from './helpers/wait';
import { chromiumMissing, launchChromium, screenshotDir, startWeb, type Web } from './helpers/web';

if (fileCanRun(firstMissing(needRoot(), chromiumMissing(), sambaMissing()))) {
  let d: Daemon;
  let web: Web;
  let smb: Samba;
  let browser: Browser;
  let shots: string;
  let adminOtp: string;

  t.before(async () => {
    d = await startDaemon({ createAdmin: true, config: { sockets: { ldap: { enabled: true }, query: { group: 'nogroup' } } } });
    adminOtp = oneTimePassword(d) ?? '';
    await addUser(d, 'alice', 'Wonderland-1', ['--email', 'alice@example.com', '--full-name', 'Alice Liddell']);
    await addUser(d, 'bob', 'Builder-pass-1', ['--services', 'smb,timemachine', '--full-name', 'Bob']);
    await addUser(d, 'carol', 'Seaside-pass-123', ['--full-name', 'Carol']);
    web = await startWeb(d, ['--user', 'nobody']);
    browser = await launchChromium(t);
    shots = screenshotDir(t);
    const secret = readFileSync(join(d.stateDir, 'ldap-bind.secret'), 'utf8').trim();
    smb = await startSamba({ ldapi: d.ldap, bindSecret: secret, nssDir: join(d.dir, 'nss') });
  });
  t.teardown(async () => { await web?.stop(); await smb?.stop(); await d?.stop(); if (d) cleanup(d); });

  t.test('setup', async (t) => {
    t.ok(adminOtp, 'the first start made an admin one-time password');
    const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${web.pid}/status`, 'utf8'))?.[1];
    t.equal(uid, '65534', 'nasauth-web runs as nobody, not root');
  });

  let n = 0;
  /** Screenshot the page at desktop width and at a phone's width. */
  async function shoot(page: Page, name: string) {
    n += 1;
    const base = `${String(n).padStart(2, '0')}-${name}`;
    await page.setViewportSize({ width: 1100, height: 800 });
    await page.screenshot({ path: join(shots, `${base}.png`), fullPage: true });
    await page.setViewportSize({ width: 375, height: 740 });
    await page.screenshot({ path: join(shots, `${base}-phone.png`), fullPage: true });
    await page.setViewportSize({ width: 1100, height: 800 });
  }
  async function newPage() {
    const ctx = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    const page = await ctx.newPage();
    page.on('dialog', (dlg) => { dialogs.push(dlg.message()); void dlg.dismiss(); });
    return page;
  }
  const dialogs: string[] = [];
  async function signIn(page: Page, user: string, password: string) {
    await page.goto(`${web.url}signin`);
    await page.getByLabel('User name').fill(user);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForLoadState();
  }
  async function changeForced(page: Page, oldPw: string, newPw: string) {
    await page.getByLabel(/Current password/).fill(oldPw);
    await page.getByLabel('New password', { exact: true }).fill(newPw);
    await page.getByLabel('New password again').fill(newPw);
    await page.getByRole('button', { name: /Change password/ }).click();
    await page.waitForLoadState();
  }

  t.test('a user signs in and sees their account', async (t) => {
    const page = await newPage();
    await page.goto(web.url);
    t.match(page.url(), /\/signin$/, 'the start page is the sign-in form');
    await shoot(page, 'signin');
    for (const label of ['User name', 'Password']) t.equal(await page.getByLabel(label, { exact: true }).count(), 1, `a label for "${label}"`);
    await signIn(page, 'alice', 'Wonderland-1');
    t.match(page.url(), /\/account$/);
    t.equal(await page.getByRole('heading', { name: 'My account' }).count(), 1);
    const services = await page.locator('ul.access').innerText();
    t.match(services, /File sharing \(SMB/);
    t.match(services, /Remote shell \(ssh\)[\s\S]*not allowed|not allowed[\s\S]*ssh/i, 'and what not');
    t.equal(await page.getByLabel('E-mail', { exact: true }).inputValue(), 'alice@example.com');
    await shoot(page, 'account');
    await page.context().close();
  });

  t.test('a wrong password says so, and nothing more', async (t) => {
    const page = await newPage();
    await signIn(page, 'alice', 'not-her-password');
    t.match(await page.locator('.notice.error').innerText(), /^Incorrect user name or password\.$/);
    await signIn(page, 'nobody-here', 'not-a-password');
    t.match(await page.locator('.notice.error').innerText(), /^Incorrect user name or password\.$/, 'an unknown name: the same words');
    await shoot(page, 'signin-wrong');
    await page.context().close();
  });

  t.test('a right password without web access: the true reason, not "incorrect"', async (t) => {
    const page = await newPage();
    await signIn(page, 'bob', 'Builder-pass-1');
    const msg = await page.locator('.notice.error').innerText();
    t.match(msg, /may use file sharing but not this page/);
    t.match(msg, /ask the administrator of this NAS/i);
    t.notMatch(msg, /incorrect/i);
    t.match(page.url(), /\/signin$/, 'still signed out');
    await shoot(page, 'signin-no-web');
    await page.context().close();
  });

  let admin: Page;
  const adminPw = 'Family-boss-2024';
  t.test('the admin\'s first sign-in: the one-time password, a forced change, then the users table', async (t) => {
    admin = await newPage();
    await signIn(admin, 'admin', adminOtp);
    t.equal(await admin.getByRole('heading', { name: 'Choose a new password' }).count(), 1, 'only the change-password form');
    t.equal(await admin.locator('nav').count(), 0, 'and nowhere else to go');
    await shoot(admin, 'forced-change');
    await changeForced(admin, adminOtp, 'short');
    t.match(await admin.locator('.field-error').innerText(), /must have at least 8 characters/, 'the policy\'s reason next to the field');
    await changeForced(admin, adminOtp, adminPw);
    t.match(admin.url(), /\/users$/);
    const table = await admin.locator('table.users').innerText();
    for (const x of ['alice', 'alice@example.com', 'bob', 'carol', 'admin']) t.match(table, x);
    await shoot(admin, 'users');
    t.equal((await cli(d, ['user', 'show', 'admin', '--json'])).stdout.includes('"must_change_password": true'), false, 'the must-change flag is gone');
  });

  t.test('the admin changes a user\'s e-mail and resets a password; the user must change it', async (t) => {
    await admin.getByRole('link', { name: 'alice', exact: true }).click();
    await admin.getByLabel('E-mail', { exact: true }).fill('alice@family.example');
    await admin.getByRole('button', { name: 'Save' }).click();
    await admin.waitForLoadState();
    t.match(await admin.locator('.notice.ok').innerText(), /Saved/);
    t.equal(readStore(d).accounts.alice.email, 'alice@family.example');
    await shoot(admin, 'user-edit');
    await admin.getByRole('button', { name: 'Reset password' }).click();
    await admin.waitForLoadState();
    const otp = (await admin.locator('#otp').innerText()).trim();
    t.match(otp, /^\w{4}-\w{4}-\w{4}-\w{4}$/, 'a one-time password, shown once');
    await shoot(admin, 'user-reset');

    const page = await newPage();
    await signIn(page, 'alice', 'Wonderland-1');
    t.match(await page.locator('.notice.error').innerText(), /Incorrect/, 'the old password is gone');
    await signIn(page, 'alice', otp);
    t.equal(await page.getByRole('heading', { name: 'Choose a new password' }).count(), 1, 'forced to change it');
    await changeForced(page, otp, 'Looking-glass-7');
    t.match(page.url(), /\/account$/);
    t.equal(await page.getByLabel('E-mail', { exact: true }).inputValue(), 'alice@family.example');
    await page.context().close();
  });

  t.test('a password changed on the page is the SMB password at once', async (t) => {
    let r = await smbclient(smb, 'Public', 'alice', 'Looking-glass-7');
    t.equal(r.code, 0, `smbclient with the page's password: ${r.out}`);
    const page = await newPage();
    await signIn(page, 'alice', 'Looking-glass-7');
    await page.getByLabel('Current password').fill('Looking-glass-7');
    await page.getByLabel('New password', { exact: true }).fill('Through-mirror-8');
    await page.getByLabel('New password again').fill('Through-mirror-8');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.waitForLoadState();
    t.match(await page.locator('.notice.ok').innerText(), /password is changed/);
    await shoot(page, 'account-password-changed');
    r = await smbclient(smb, 'Public', 'alice', 'Through-mirror-8');
    t.equal(r.code, 0, `the new password over SMB: ${r.out}`);
    r = await smbclient(smb, 'Public', 'alice', 'Looking-glass-7');
    t.match(r.out, /NT_STATUS_LOGON_FAILURE/, 'the old one is refused');
    await page.goto(`${web.url}account`);
    t.equal(await page.getByRole('heading', { name: 'My account' }).count(), 1, 'the page that changed it stays signed in');
    await page.context().close();
  });

  t.test('a user changes their own name and e-mail and stays signed in', async (t) => {
    const page = await newPage();
    await signIn(page, 'alice', 'Through-mirror-8');
    await page.getByLabel('Full name', { exact: true }).fill('Alice P. Liddell');
    await page.getByLabel('E-mail', { exact: true }).fill('alice@wonder.example');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.waitForLoadState();
    t.match(await page.locator('.notice.ok').innerText(), /name and e-mail are saved/);
    t.equal(await page.getByLabel('E-mail', { exact: true }).inputValue(), 'alice@wonder.example', 'still signed in, showing the new address');
    t.match(readStore(d).accounts.alice, { email: 'alice@wonder.example', full_name: 'Alice P. Liddell' });
    // the browser's own check lets this through (no dot needed); nasauthd's does not
    await page.getByLabel('E-mail', { exact: true }).fill('alice@localhost');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.waitForLoadState();
    t.match(await page.locator('.notice.error').innerText(), /not a valid e-mail address/, 'a bad address: the daemon\'s reason');
    await shoot(page, 'account-bad-email');
    await page.context().close();
  });

  t.test('disable a signed-in user: their next click is refused', async (t) => {
    const page = await newPage();
    await signIn(page, 'carol', 'Seaside-pass-123');
    t.match(page.url(), /\/account$/);
    await admin.goto(`${web.url}users/carol`);
    await admin.getByLabel(/Enabled/).uncheck();
    await admin.getByRole('button', { name: 'Save' }).click();
    await admin.waitForLoadState();
    t.equal(readStore(d).accounts.carol.enabled, false);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.waitForLoadState();
    t.match(await page.locator('.notice.error').innerText(), /disabled/, 'refused, with the reason');
    t.equal(await page.getByRole('heading', { name: 'Sign in' }).count(), 1);
    await shoot(page, 'disabled-refused');
    await page.goto(`${web.url}account`);
    t.match(page.url(), /\/signin$/, 'and signed out');
    await page.context().close();
  });

  t.test('a hostile full name is text', async (t) => {
    const hostile = '<img src=x onerror=alert(1)>';
    await admin.goto(`${web.url}users/bob`);
    await admin.getByLabel('Full name', { exact: true }).fill(hostile);
    await admin.getByRole('button', { name: 'Save' }).click();
    await admin.waitForLoadState();
    await admin.goto(`${web.url}users`);
    t.match(await admin.locator('table.users').innerText(), hostile, 'shown as typed');
    t.equal(await admin.locator('table.users img').count(), 0, 'no element made from it');
    t.same(dialogs, [], 'no script ran');
    await shoot(admin, 'users-hostile');
  });

  t.test('a form posted from another origin without the token is refused', async (t) => {
    const page = await newPage();
    await signIn(page, 'alice', 'Through-mirror-8');
    const target = `${web.url}account/profile`;
    const evil: Server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<form id="f" method="post" action="${target}"><input name="email" value="evil@attacker.example"><input name="full_name" value="pwned"></form><script>document.getElementById('f').submit()</script>`);
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', () => r()));
    t.teardown(() => new Promise<void>((r) => evil.close(() => r())));
    const port = (evil.address() as { port: number }).port;
    const refused = page.waitForResponse((r) => r.url() === target);
    await page.goto(`http://127.0.0.1:${port}/`);
    const res = await refused;
    t.equal(res.status(), 403, 'refused');
    await page.waitForLoadState();
    t.match(await page.locator('h1').innerText(), /refused/);
    await shoot(page, 'csrf-refused');
    t.equal(readStore(d).accounts.alice.email, 'alice@wonder.example', 'nothing changed');
    await page.context().close();
  });

  t.test('keyboard only: sign in without a mouse', async (t) => {
    const page = await newPage();
    await page.goto(`${web.url}signin`);
    t.equal(await page.evaluate('document.activeElement && document.activeElement.id'), 'user', 'the cursor starts in the user name');
    await page.keyboard.type('alice');
    await page.keyboard.press('Tab');
    t.equal(await page.evaluate('document.activeElement && document.activeElement.id'), 'password', 'Tab goes to the password');
    await page.keyboard.type('Through-mirror-8');
    await page.keyboard.press('Enter');
    await waitFor('the account page', () => /\/account$/.test(page.url()));
    t.equal(await page.getByRole('heading', { name: 'My account' }).count(), 1);
    await page.context().close();
  });

  t.test('sign out everywhere; the admin\'s doctor and delete pages', async (t) => {
    const a = await newPage();
    const b = await newPage();
    await signIn(a, 'alice', 'Through-mirror-8');
    await signIn(b, 'alice', 'Through-mirror-8');
    await a.getByRole('button', { name: 'Sign out everywhere' }).click();
    await a.waitForLoadState();
    t.match(await a.locator('.notice.ok').innerText(), /every browser/);
    await b.goto(`${web.url}account`);
    t.equal(await b.getByRole('heading', { name: 'Sign in' }).count(), 1, 'the other browser is signed out too');
    t.match(await b.locator('.notice.error').innerText(), /signed out/);
    await a.context().close();
    await b.context().close();

    await admin.goto(`${web.url}users/bob`);
    await admin.getByLabel('Service', { exact: true }).selectOption('dashboard');
    await admin.getByRole('button', { name: 'Check' }).click();
    await admin.waitForLoadState();
    t.match(await admin.locator('.verdict').innerText(), /bob cannot sign in to this web page, as the admin intended/);
    t.match(await admin.locator('ul.checks').innerText(), /bob may not use the NAS web page[\s\S]*nasauth service allow bob dashboard/, 'the finding and its fix');
    await shoot(admin, 'doctor');
    await admin.getByRole('link', { name: 'Delete…' }).click();
    await shoot(admin, 'delete-confirm');
    await admin.getByRole('button', { name: 'Delete bob' }).click();
    await admin.waitForLoadState();
    t.match(await admin.locator('.notice.ok').innerText(), /deleted/);
    t.notOk(readStore(d).accounts.bob);
    await admin.goto(`${web.url}users/admin/delete`);
    await admin.getByRole('button', { name: 'Delete admin' }).click();
    await admin.waitForLoadState();
    t.match(await admin.locator('.notice.error').innerText(), /last enabled administrator/, 'never the last admin');
    await admin.goto(`${web.url}users`);
    await admin.getByLabel('User name').fill('dave');
    await admin.getByLabel('E-mail', { exact: true }).fill('dave@example.com');
    await admin.getByRole('button', { name: 'Add user' }).click();
    await admin.waitForLoadState();
    t.match(await admin.locator('#otp').innerText(), /^\w{4}-\w{4}-\w{4}-\w{4}$/, 'a new user gets a one-time password');
    await shoot(admin, 'user-added');
    await admin.context().close();
  });

  t.test('no password, token or cookie in the web log', async (t) => {
    const logs = web.logs();
    for (const s of ['Wonderland-1', 'Looking-glass-7', 'Through-mirror-8', adminPw, adminOtp, 'Seaside-pass-123']) t.notOk(logs.includes(s), `not in the log: ${s.slice(0, 4)}…`);
    t.notMatch(logs, /nasauth=|__Host-|cookie|authorization|Bearer/i);
    t.match(logs, /"path":"\/signin","status":303/, 'requests are logged (method, path, status)');
  });
}
