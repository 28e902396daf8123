// Guest helper: one HTTP request over a Unix socket, as the dashboard would make it.
//   node q.js SOCKET METHOD PATH [JSON-BODY]   -> prints "STATUS BODY"; exit 0 on 2xx
'use strict';
const http = require('http');
const [sock, method, path, body] = process.argv.slice(2);
const req = http.request({ socketPath: sock, method, path, headers: body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {} }, (res) => {
  let b = '';
  res.on('data', (d) => (b += d));
  res.on('end', () => { console.log(res.statusCode, b.trim()); process.exit(res.statusCode >= 200 && res.statusCode < 300 ? 0 : 1); });
});
req.on('error', (e) => { console.log('ERR', e.message); process.exit(2); });
req.end(body);
