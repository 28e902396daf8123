#!/usr/bin/env node
// The floors the daemon is compared with: the least a Node server on a Unix socket can
// do with the same framing. Plain JavaScript (no transpiler) so that its start-up is a
// fair peer of the esbuild bundle's, and so that it runs on the armhf runtime as is.
//
//   node floor.js http SOCKET   HTTP/1.1 keep-alive server: reads the body, JSON.parse, answers a fixed small JSON
//   node floor.js pam SOCKET    length-prefixed frames (docs/protocol.md "PAM socket"): answers a fixed "ok" reply per frame
//   node floor.js http-work SOCKET LOG
//                               the http floor plus the least a cache-hit decision must do under
//                               nasauth's rules: the keyed hash of name and password (HMAC-SHA256
//                               from two one-shot hashes, as daemon/cache.ts), a constant-time
//                               compare, one audit line per decision appended to LOG (batched up
//                               to 64 KiB, as daemon/log-batch.ts) and a reply naming the user.
//                               No limiter, no account lookup, no policy: a lower bound, not a
//                               daemon (figure 1's experiment row)
//   node floor.js http-store SOCKET STORE
//                               the http floor after reading STORE (a nasauth store file) as
//                               the daemon must before it answers: read, SHA-256, JSON.parse
//                               (figure 6's experiment row)
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');

const [mode, path, extra] = process.argv.slice(2);
if (!path || !['http', 'pam', 'http-work', 'http-store'].includes(mode) || (mode.startsWith('http-') && !extra)) {
  process.stderr.write('usage: floor.js http|pam SOCKET | http-work SOCKET LOG | http-store SOCKET STORE\n');
  process.exit(2);
}
if (mode === 'http-store') {
  const b = fs.readFileSync(extra);
  const nl = b.indexOf(10);
  const body = b.subarray(nl + 1);
  require('node:crypto').createHash('sha256').update(body).digest('hex');
  globalThis.floorStore = JSON.parse(body.toString('utf8')); // kept, as the daemon keeps its store
}
try { fs.unlinkSync(path); } catch { /* none */ }

let server;
if (mode === 'http-work') {
  const crypto = require('node:crypto');
  const hash = crypto.hash; // Node >= 20.12, as daemon/cache.ts uses it
  const key = crypto.randomBytes(32);
  const inner = Buffer.alloc(64 + 512);
  const outer = Buffer.alloc(64 + 32);
  for (let i = 0; i < 64; i++) { inner[i] = (key[i] ?? 0) ^ 0x36; outer[i] = (key[i] ?? 0) ^ 0x5c; }
  const mac = (name, pw) => {
    let n = 64 + inner.write(name, 64, 'utf8');
    inner[n++] = 0;
    n += inner.write(pw, n, 'utf8');
    inner[n++] = 0;
    outer.write(hash('sha256', inner.subarray(0, n), 'binary'), 64, 'latin1');
    const d = Buffer.from(hash('sha256', outer, 'binary'), 'latin1');
    inner.fill(0, 64, n);
    return d;
  };
  const known = new Map(); // name -> the MAC of the first password seen (the "cache")
  const fd = fs.openSync(extra, 'a', 0o600);
  let batch = '';
  const flush = () => { if (batch) { const b = batch; batch = ''; fs.write(fd, b, () => undefined); } };
  setInterval(flush, 1000).unref();
  let ms = 0;
  let iso = '';
  server = http.createServer({ keepAliveTimeout: 30000 }, (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (!chunks.length) { // GET (the readiness probe)
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': 15 });
        res.end('{"reason":"ok"}');
        return;
      }
      const b = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const d = mac(String(b.user), String(b.password));
      let want = known.get(b.user);
      if (!want) { want = d; known.set(b.user, d); }
      const ok = crypto.timingSafeEqual(d, want);
      const now = Date.now();
      if (now !== ms) { ms = now; iso = new Date(now).toISOString(); }
      batch += `{"level":30,"time":"${iso}","svc":"nasauthd","audit":"authenticate","user":${JSON.stringify(b.user)},"service":${JSON.stringify(b.service)},"source":${JSON.stringify(b.source)},"channel":"http","reason":"${ok ? 'ok' : 'bad_credentials'}","cached":true}\n`;
      if (batch.length >= 65536) flush();
      const body = `{"decision":"${ok ? 'allow' : 'deny'}","reason":"${ok ? 'ok' : 'bad_credentials'}","code":0,"message":"accepted","cached":true,"user":{"name":${JSON.stringify(b.user)}}}`;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
      res.end(body);
    });
  });
} else if (mode === 'http' || mode === 'http-store') {
  const FIXED = JSON.stringify({ decision: 'allow', reason: 'ok', code: 0, message: 'accepted', cached: true });
  server = http.createServer({ keepAliveTimeout: 30000 }, (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (chunks.length) JSON.parse(Buffer.concat(chunks).toString('utf8'));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(FIXED), 'cache-control': 'no-store' });
      res.end(FIXED);
    });
  });
} else {
  const msg = Buffer.from('accepted');
  const REPLY = Buffer.alloc(10 + msg.length);
  REPLY.writeUInt32BE(REPLY.length - 4, 0);
  REPLY[4] = 1; // version
  REPLY[5] = 0; // reason ok
  REPLY.writeUInt16BE(0, 6);
  REPLY.writeUInt16BE(msg.length, 8);
  msg.copy(REPLY, 10);
  server = net.createServer({ allowHalfOpen: true }, (s) => {
    let buf = Buffer.alloc(0);
    s.on('error', () => undefined);
    s.on('end', () => s.end());
    s.on('data', (c) => {
      buf = buf.length ? Buffer.concat([buf, c]) : c;
      while (buf.length >= 4) {
        const len = buf.readUInt32BE(0);
        if (buf.length < 4 + len) break;
        buf = buf.subarray(4 + len);
        s.write(REPLY);
      }
    });
  });
}
server.listen(path, () => { fs.chmodSync(path, 0o666); });
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
