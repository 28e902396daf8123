// PLACEHOLDER nasauth CLI (used only while dist/nasauth.js does not exist):
// `nasauth status` asks the admin socket.
'use strict';
const http = require('http');
const sock = process.env.NASAUTH_ADMIN_SOCKET || '/run/nasauth/admin.sock';
if (process.argv[2] !== 'status') { console.error('placeholder nasauth: only "status"'); process.exit(2); }
http.get({ socketPath: sock, path: '/v1/health' }, (res) => {
  let b = ''; res.on('data', (d) => (b += d)); res.on('end', () => { console.log(b); process.exit(res.statusCode === 200 ? 0 : 1); });
}).on('error', (e) => { console.error(`nasauth: ${e.message}`); process.exit(1); });
