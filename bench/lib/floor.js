#!/usr/bin/env node
// The floors the daemon is compared with: the least a Node server on a Unix socket can
// do with the same framing. Plain JavaScript (no transpiler) so that its start-up is a
// fair peer of the esbuild bundle's, and so that it runs on the armhf runtime as is.
//
//   node floor.js http SOCKET   HTTP/1.1 keep-alive server: reads the body, JSON.parse, answers a fixed small JSON
//   node floor.js pam SOCKET    length-prefixed frames (docs/protocol.md "PAM socket"): answers a fixed "ok" reply per frame
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');

const [mode, path] = process.argv.slice(2);
if (!path || (mode !== 'http' && mode !== 'pam')) {
  process.stderr.write('usage: floor.js http|pam SOCKET\n');
  process.exit(2);
}
try { fs.unlinkSync(path); } catch { /* none */ }

let server;
if (mode === 'http') {
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
