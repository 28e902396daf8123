// The account portal for a NAS that follows a directory (issue 16: "the CLI and the web
// page show where an account comes from, and local-only actions on a directory account
// say that the directory owns it"), in a real browser against a real slapd: a directory
// user sees that the directory owns their name and e-mail and changes their password on
// the page (it is changed in the directory: slapd binds with it); the admin's table says
// where each account comes from, and a directory user's page offers no edit, reset or
// delete, only why.
import t from 'tap';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { addUser, authenticate, cleanup, readStore, startDaemon, type Daemon } from './helpers/daemon';
import { fileCanRun, firstMissing, needRoot } from './helpers/env';
import { tempDir } from './helpers/tmp';
import { posixGroupLdif, slapdMissing, startSlapd, upstreamConfig, userLdif, writeSecret, type Slapd } from './helpers/slapd';
import { waitFor } from './helpers/wait';
import { chromiumMissing, launchChromium, screenshotDir, startWeb, type Web } from './helpers/web';

if (fileCanRun(firstMissing(needRoot(), chromiumMissing(), slapdMissing()))) {
  const tmp = tempDir('nasauth-webdir-');
  let s: Slapd;
  let d: Daemon;
  let web: Web;
  let browser: Browser;
  let shots: string;
  const adminPw = 'Local-chief-pass-7';

  t.before(async () => {
    s = await startSlapd({
      seed: [
        userLdif({ name: 'dave', uid: 22101, password: 'Pass-dave-dir-1', samba: true }),
        posixGroupLdif('staff', 32101, ['dave']),
      ].join(''),
    });
    d = await startDaemon({
      config: {
        ...upstreamConfig(s, { secretFile: writeSecret(tmp), extra: { cached_auth_seconds: 0, refresh: { interval_seconds: 3600, jitter_seconds: 60, page_size: 100, max_users: 1000, max_groups: 1000 } } }),
        sockets: { query: { group: 'nogroup' } },
      },
    });
    await waitFor('the first refresh', () => /"upstream":"refresh","why":"schedule","ok":true/.test(d.logs()));
    await addUser(d, 'boss', adminPw, ['--role', 'admin', '--full-name', 'Local Boss']);
    web = await startWeb(d, ['--user', 'nobody']);
    browser = await launchChromium(t);
    shots = screenshotDir(t);
  });
  t.teardown(async () => { await web?.stop(); await d?.stop(); if (d) cleanup(d); await s?.stop(); s?.cleanup(); rmSync(tmp, { recursive: true, force: true }); });

  let n = 0;
  async function shoot(page: Page, name: string) {
    n += 1;
    const base = `${String(n).padStart(2, '0')}-${name}`;
    await page.screenshot({ path: join(shots, `${base}.png`), fullPage: true });
    await page.setViewportSize({ width: 375, height: 740 });
    await page.screenshot({ path: join(shots, `${base}-phone.png`), fullPage: true });
    await page.setViewportSize({ width: 1100, height: 800 });
  }
  async function signedIn(user: string, password: string): Promise<Page> {
    const ctx = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    const page = await ctx.newPage();
    await page.goto(`${web.url}signin`);
    await page.getByLabel('User name').fill(user);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForLoadState();
    return page;
  }

  t.test('a directory user: the directory owns the name and e-mail; a password changed here is changed in the directory', async (t) => {
    const page = await signedIn('dave', 'Pass-dave-dir-1');
    t.match(page.url(), /\/account$/, 'the directory password signs in');
    t.match(await page.locator('#from-directory').innerText(), /comes from your organisation's directory/);
    t.equal(await page.getByLabel('E-mail', { exact: true }).count(), 0, 'no e-mail field to edit');
    t.equal(await page.getByRole('button', { name: 'Save' }).count(), 0, 'no Save for the profile');
    await shoot(page, 'directory-user-account');
    await page.getByLabel('Current password').fill('Pass-dave-dir-1');
    await page.getByLabel('New password', { exact: true }).fill('Pass-new-dir-22');
    await page.getByLabel('New password again').fill('Pass-new-dir-22');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.waitForLoadState();
    const after = await page.locator('body').innerText();
    t.match(after, /password is changed/i, `the page after the change: ${page.url()} ${after.slice(-700)}`);
    t.ok(s.bindOk('dave', 'Pass-new-dir-22'), 'slapd takes the new password: it was changed in the directory');
    t.notOk(s.bindOk('dave', 'Pass-dave-dir-1'), 'and no longer the old one');
    t.equal((await authenticate(d, 'dave', 'Pass-new-dir-22')).body.reason, 'ok', 'the NAS takes it too');
    await page.context().close();
  });

  t.test('the admin sees where each account comes from; a directory account offers no local edit, reset or delete', async (t) => {
    const page = await signedIn('boss', adminPw);
    t.match(page.url(), /\/users$/);
    const rows = await page.locator('table.users tbody tr').allInnerTexts();
    t.match(rows.find((r) => /^dave/.test(r)) ?? '', /the directory/, 'dave: the directory');
    t.match(rows.find((r) => /^boss/.test(r)) ?? '', /this NAS/, 'boss: this NAS');
    await shoot(page, 'users-with-directory');
    await page.getByRole('link', { name: 'dave', exact: true }).click();
    await page.waitForLoadState();
    t.match(await page.locator('#from-directory').innerText(), /dave comes from the directory \(uid=dave,ou=people,dc=example,dc=org\): the name, e-mail, role, groups and password are managed there/);
    t.equal(await page.getByLabel('E-mail', { exact: true }).count(), 0, 'no edit form');
    t.equal(await page.getByRole('button', { name: 'Reset password' }).count(), 0, 'no reset');
    t.equal(await page.getByRole('link', { name: /Delete/ }).count(), 0, 'no delete');
    t.match(await page.locator('main').innerText(), /Password last proven here\s+\d{4}-\d\d-\d\d/, 'when the NAS last saw the password proven');
    await shoot(page, 'directory-user-admin-view');
    // a local account keeps every action
    await page.goto(`${web.url}users/boss`);
    t.equal(await page.getByRole('button', { name: 'Reset password' }).count(), 1, 'a local account: reset');
    t.equal(await page.getByRole('link', { name: /Delete/ }).count(), 1, 'and delete');
    // a forged form for the directory account is still refused by the daemon, with the reason
    const rid = readStore(d).accounts.dave.rid as number;
    // a form made in the page and submitted (the page's CSP allows no fetch); a string: the test's TypeScript has no DOM types
    await Promise.all([page.waitForNavigation(), page.evaluate(`(() => {
      const f = document.createElement('form');
      f.method = 'post'; f.action = '/users/dave/password';
      for (const [k, v] of [['_csrf', document.querySelector('input[name=_csrf]').value], ['rid', '${rid}']]) {
        const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i);
      }
      document.body.appendChild(f); f.submit();
    })()`)]);
    const r = { text: await page.locator('.notice.error').innerText() };
    await shoot(page, 'directory-user-reset-refused');
    t.match(r.text, /the directory owns dave's password/, `a reset posted anyway is refused with the reason`);
    t.ok(s.bindOk('dave', 'Pass-new-dir-22'), 'and the directory password is untouched');
    await page.context().close();
  });
}
