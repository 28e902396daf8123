// nasauth-web over plain HTTP and HTTPS without a browser: the certificate made at
// install, the security headers and cookies, the rules about where plain HTTP and root
// may serve, and hostile requests. The browser flows are test/web-browser.test.ts.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { addUser, cleanup, startDaemon, type Daemon } from './helpers/daemon';
import { isRoot } from './helpers/env';
import { startWeb, WEB, WEB_CERT, type Web } from './helpers/web';
import { tempDir } from './helpers/tmp';

interface Reply { status: number; headers: Record<string, string | string[] | undefined>; body: string }
function req(url: string, opts: { method?: string; body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<Reply> {
  const u = new URL(url);
  const f = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const r = f(u, { method: opts.method ?? 'GET', headers: { ...(opts.body ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(opts.body)) } : {}), ...opts.headers }, rejectUnauthorized: false, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    r.on('error', reject);
    r.end(opts.body);
  });
}
const cookies = (r: Reply) => ([] as string[]).concat(r.headers['set-cookie'] ?? []);
const jar = (r: Reply) => cookies(r).map((c) => c.split(';')[0]).join('; ');
const csrfOf = (r: Reply) => /name="_csrf" value="([^"]+)"/.exec(r.body)?.[1] ?? '';
const form = (o: Record<string, string>) => new URLSearchParams(o).toString();

let d: Daemon;
const dir = tempDir('nasauth-webhttp-');
t.before(async () => {
  // as root, nasauth-web serves as nobody: the query socket is its group's (0660)
  d = await startDaemon(isRoot ? { config: { sockets: { query: { group: 'nogroup' } } } } : {});
  await addUser(d, 'alice', 'Wonderland-1');
});
t.teardown(async () => { await d?.stop(); if (d) cleanup(d); rmSync(dir, { recursive: true, force: true }); });

t.test('nasauth-web-cert: a self-signed certificate, the key for the web user only', async (t) => {
  const cert = join(dir, 'web.crt');
  const key = join(dir, 'web.key');
  const r = spawnSync(process.execPath, [WEB_CERT, '--cert', cert, '--key', key, '--hostname', 'nas.local', '--days', '30', ...(isRoot ? ['--group', 'nogroup'] : [])], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  const x = new X509Certificate(readFileSync(cert));
  t.match(x.subject, /CN=nas\.local/);
  t.match(x.subjectAltName ?? '', /DNS:nas\.local/);
  t.match(x.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
  t.equal(x.publicKey.asymmetricKeyType, 'ec');
  t.ok(Date.parse(x.validTo) - Date.now() < 31 * 86_400_000, 'valid for the days asked');
  t.equal(statSync(key).mode & 0o777, isRoot ? 0o640 : 0o600, 'the key: readable by root and the web group only');
  t.equal(statSync(cert).mode & 0o777, 0o644);
  t.notOk(r.stdout.includes('PRIVATE KEY'), 'the key is not printed');
  for (const bad of [['--cert', cert], ['--cert', cert, '--key', key, '--days', '0'], ['--cert', cert, '--key', key, '--hostname', 'a b'], ['--cert', cert, '--key', key, '--bogus']]) {
    const b = spawnSync(process.execPath, [WEB_CERT, ...bad], { encoding: 'utf8' });
    t.equal(b.status, 2, `refused: ${bad.slice(2).join(' ') || 'no --key'}: ${b.stderr.trim()}`);
  }
});

t.test('HTTPS: HSTS, Secure __Host- cookies, a full sign-in round trip', async (t) => {
  const web = await startWeb(d, ['--cert', join(dir, 'web.crt'), '--key', join(dir, 'web.key'), ...(isRoot ? ['--user', 'nobody'] : [])]).catch((e) => { throw e; });
  t.teardown(() => web.stop());
  t.match(web.url, /^https:\/\/127\.0\.0\.1:\d+\/$/);
  let r = await req(`${web.url}signin`);
  t.equal(r.status, 200);
  t.match(String(r.headers['strict-transport-security']), /max-age=31536000/);
  t.match(String(r.headers['content-security-policy']), /default-src 'none'.*script-src 'self'.*frame-ancestors 'none'/);
  t.notMatch(String(r.headers['content-security-policy']), /unsafe-inline/);
  t.equal(r.headers['referrer-policy'], 'no-referrer');
  t.equal(r.headers['x-frame-options'], 'DENY');
  t.equal(r.headers['cache-control'], 'no-store');
  const c = cookies(r).find((x) => x.startsWith('__Host-nasauth-csrf='))!;
  t.ok(c, 'the CSRF cookie has the __Host- prefix');
  t.match(c, /; Secure/i);
  t.match(c, /HttpOnly/i);
  t.match(c, /SameSite=Strict/i);
  const cj = jar(r);
  r = await req(`${web.url}signin`, { method: 'POST', body: form({ _csrf: csrfOf(r), user: 'alice', password: 'Wonderland-1' }), headers: { cookie: cj } });
  t.equal(r.status, 303, r.body.match(/<p class="notice[^>]*>([^<]*)/)?.[1] ?? r.body.slice(0, 300));
  t.equal(r.headers.location, '/account');
  const s = cookies(r).find((x) => x.startsWith('__Host-nasauth='))!;
  t.match(s, /^__Host-nasauth=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; Secure; SameSite=Strict$/i, 'the session cookie');
  r = await req(`${web.url}account`, { headers: { cookie: `${cj}; ${s.split(';')[0]}` } });
  t.equal(r.status, 200);
  t.match(r.body, /My account/);
  if (isRoot) {
    const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${web.pid}/status`, 'utf8'))?.[1];
    t.equal(uid, '65534', 'started as root, serving as nobody');
  }
});

t.test('plain HTTP only on loopback; never root on the LAN; bad options', async (t) => {
  const run = (args: string[]) => spawnSync(process.execPath, [WEB, '--query-socket', d.query, ...args], { encoding: 'utf8', timeout: 10_000 });
  let r = run(['--listen', '0.0.0.0:0']);
  t.equal(r.status, 2);
  t.match(r.stderr, /plain HTTP is for loopback only/);
  if (isRoot) {
    r = run(['--listen', '0.0.0.0:0', '--cert', join(dir, 'web.crt'), '--key', join(dir, 'web.key')]);
    t.equal(r.status, 2);
    t.match(r.stderr, /refusing to serve the LAN as root/);
    r = run(['--user', 'no-such-user-here']);
    t.equal(r.status, 2);
    t.match(r.stderr, /no such user/);
  }
  for (const [args, re] of [[['--listen', 'nowhere'], /expected ADDR:PORT/], [['--cert', join(dir, 'web.crt')], /go together/], [['--bogus'], /Unknown option/], [['--cert', '/nonexistent', '--key', '/nonexistent'], /cannot read/]] as const) {
    r = run([...args]);
    t.equal(r.status, 2, `${args.join(' ')}: ${r.stderr.trim().split('\n')[0]}`);
    t.match(r.stderr, re);
  }
});

t.test('hostile requests get a clear refusal and change nothing', async (t) => {
  const web: Web = await startWeb(d);
  t.teardown(() => web.stop());
  const g = await req(`${web.url}signin`);
  const cj = jar(g);
  const tok = csrfOf(g);
  const post = (path: string, body: string | Buffer, headers: Record<string, string> = {}) => req(`${web.url}${path}`, { method: 'POST', body, headers: { cookie: cj, ...headers } });
  let r = await post('signin', form({ user: 'alice', password: 'Wonderland-1' }));
  t.equal(r.status, 403, 'no CSRF token: refused');
  r = await post('signin', form({ _csrf: 'forged', user: 'alice', password: 'Wonderland-1' }));
  t.equal(r.status, 403, 'a forged token: refused');
  r = await req(`${web.url}signin`, { method: 'POST', body: form({ _csrf: tok, user: 'alice', password: 'Wonderland-1' }) });
  t.equal(r.status, 403, 'a token without its cookie: refused');
  r = await post('signin', form({ _csrf: tok, user: 'alice', password: 'Wonderland-1' }), { origin: 'http://evil.example' });
  t.equal(r.status, 403, 'another origin: refused');
  r = await post('signin', form({ _csrf: tok, user: 'alice', password: 'Wonderland-1' }), { 'sec-fetch-site': 'cross-site' });
  t.equal(r.status, 403, 'a cross-site fetch: refused');
  r = await post('signin', form({ _csrf: tok, user: 'alice', password: 'Wonderland-1' }), { origin: 'null' });
  t.equal(r.status, 303, 'Origin: null (Chromium under no-referrer) with the token: accepted');
  r = await post('signin', `_csrf=${tok}&user=alice&user=bob&password=x`);
  t.equal(r.status, 400, 'a field twice');
  t.match(r.body, /sent more than once/);
  r = await post('signin', Buffer.alloc(40_000, 0x61));
  t.equal(r.status, 413, 'too large');
  r = await post('signin', form({ _csrf: tok, user: 'alice', password: 'x'.repeat(2000) }));
  t.equal(r.status, 400, 'a password over the bound');
  r = await post('signin', '{"user":"alice"}', { 'content-type': 'application/json' });
  t.ok([400, 403, 415].includes(r.status), `JSON is not a form: ${r.status}`);
  r = await req(`${web.url}users/..%2f..%2fetc`);
  t.ok([303, 400, 404].includes(r.status), `a hostile path: ${r.status}`);
  r = await req(`${web.url}account`, { headers: { cookie: `nasauth=${'A'.repeat(43)}` } });
  t.equal(r.status, 401, 'a made-up session cookie: signed out');
  r = await req(`${web.url}static/app.js?v=x`);
  t.equal(r.status, 200);
  t.match(String(r.headers['content-type']), /javascript/);
  r = await req(`${web.url}nope`);
  t.equal(r.status, 404);
  t.notMatch(r.body, /stack|Error:|at .*\.js/, 'no internals in an error page');
  t.notOk(web.logs().includes('Wonderland-1'), 'no password in the log');
});

t.test('a user who opens the users table is told it is for administrators, and stays signed in', async (t) => {
  const web: Web = await startWeb(d);
  t.teardown(() => web.stop());
  const g = await req(`${web.url}signin`);
  const s = await req(`${web.url}signin`, { method: 'POST', body: form({ _csrf: csrfOf(g), user: 'alice', password: 'Wonderland-1' }), headers: { cookie: jar(g) } });
  t.equal(s.status, 303);
  const cookie = `${jar(g)}; ${jar(s)}`;
  let r = await req(`${web.url}users`, { headers: { cookie } });
  t.equal(r.status, 403);
  t.match(r.body, /Only an administrator of this NAS may see this page/);
  t.notOk(cookies(r).some((c) => /^nasauth=;/.test(c)), 'the session cookie is not cleared');
  r = await req(`${web.url}account`, { headers: { cookie } });
  t.equal(r.status, 200, 'still signed in');
});

t.test('too many wrong passwords: the page says how long to wait', async (t) => {
  await addUser(d, 'walt', 'Whitman-pass-1');
  const web: Web = await startWeb(d);
  t.teardown(() => web.stop());
  const g = await req(`${web.url}signin`);
  let r: Reply | undefined;
  for (let i = 0; i < 6; i++) {
    r = await req(`${web.url}signin`, { method: 'POST', body: form({ _csrf: csrfOf(g), user: 'walt', password: `wrong-${i}-pw` }), headers: { cookie: jar(g) } });
    if (r.status === 429) break;
  }
  t.equal(r!.status, 429, 'backing off');
  t.match(r!.body, /Too many failed attempts\. Wait \d+ seconds? before you try again\./);
  t.ok(r!.headers['retry-after'], 'with Retry-After');
});

t.test('nasauthd stopped: the page says so instead of failing', async (t) => {
  const d2 = await startDaemon();
  const web = await startWeb(d2);
  t.teardown(async () => { await web.stop(); cleanup(d2); });
  await d2.stop();
  const g = await req(`${web.url}signin`);
  const r = await req(`${web.url}signin`, { method: 'POST', body: form({ _csrf: csrfOf(g), user: 'alice', password: 'Wonderland-1' }), headers: { cookie: jar(g) } });
  t.equal(r.status, 503);
  t.match(r.body, /cannot check accounts right now/);
});
