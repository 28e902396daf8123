// A scripted browser for the web page (the guest's node and the host's node both run it):
//   node web.js URL USER PASSWORD [CERT.pem]
// GET /signin (CSRF token and cookie), a wrong password (must be refused), the right
// one (303 to /account with a Secure HttpOnly session cookie), GET /account (the
// account page), sign out. With CERT.pem, the served certificate must be that one.
// Prints "web ok first_ms=.. signin_ms=.. account_ms=.." or "web fail WHY"; exit 0/1.
'use strict';
const https = require('https');
const http = require('http');
const fs = require('fs');
const crypto = require('crypto');
const [base, user, password, certFile] = process.argv.slice(2);
const jar = new Map();
let served = null;

function req(method, path, body) {
  const u = new URL(path, base);
  const f = u.protocol === 'https:' ? https : http;
  const headers = { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') };
  if (body) { headers['content-type'] = 'application/x-www-form-urlencoded'; headers['content-length'] = Buffer.byteLength(body); }
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const r = f.request(u, { method, headers, rejectUnauthorized: false, agent: false, timeout: 120000 }, (res) => {
      if (res.socket.getPeerCertificate) served = res.socket.getPeerCertificate().raw || served;
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => {
        for (const c of [].concat(res.headers['set-cookie'] || [])) {
          const [kv] = c.split(';');
          const i = kv.indexOf('=');
          jar.set(kv.slice(0, i), kv.slice(i + 1));
        }
        resolve({ status: res.statusCode, headers: res.headers, text, ms: Date.now() - t0, cookies: [].concat(res.headers['set-cookie'] || []) });
      });
    });
    r.on('timeout', () => r.destroy(new Error('timeout')));
    r.on('error', reject);
    r.end(body);
  });
}
const fail = (why) => { console.log(`web fail ${why}`); process.exit(1); };
const token = (r) => (/name="_csrf" value="([^"]+)"/.exec(r.text) || [])[1] || fail(`no CSRF token on ${r.status} page`);
const form = (o) => new URLSearchParams(o).toString();

(async () => {
  let r = await req('GET', '/signin');
  const first = r.ms;
  if (r.status !== 200 || !/<h1>Sign in<\/h1>/.test(r.text)) fail(`GET /signin: ${r.status}`);
  if (base.startsWith('https:') && !/max-age=\d+/.test(r.headers['strict-transport-security'] || '')) fail('no HSTS header');
  if (certFile) {
    const want = new crypto.X509Certificate(fs.readFileSync(certFile)).raw;
    if (!served || !Buffer.from(served).equals(want)) fail(`the served certificate is not ${certFile}`);
  }
  r = await req('POST', '/signin', form({ _csrf: token(r), user, password: `${password}-wrong` }));
  if (r.status !== 401 || !/Incorrect user name or password/.test(r.text)) fail(`a wrong password: ${r.status}`);
  r = await req('POST', '/signin', form({ _csrf: token(r), user, password }));
  const signin = r.ms;
  if (r.status !== 303 || r.headers.location !== '/account') fail(`sign-in: ${r.status} ${r.headers.location || (/class="notice[^>]*>([^<]*)/.exec(r.text) || [])[1] || ''}`);
  const sc = r.cookies.find((c) => /^(__Host-)?nasauth=/.test(c)) || fail('no session cookie');
  if (!/HttpOnly/i.test(sc) || !/SameSite=Strict/i.test(sc) || (base.startsWith('https:') && !/Secure/i.test(sc))) fail(`session cookie flags: ${sc.replace(/=[^;]*/, '=…')}`);
  r = await req('GET', '/account');
  const account = r.ms;
  if (r.status !== 200 || !/My account/.test(r.text) || !r.text.includes(user)) fail(`GET /account: ${r.status}`);
  r = await req('POST', '/signout', form({ _csrf: token(r) }));
  if (r.status !== 303) fail(`sign out: ${r.status}`);
  console.log(`web ok first_ms=${first} signin_ms=${signin} account_ms=${account}`);
})().catch((e) => fail(e.message));
