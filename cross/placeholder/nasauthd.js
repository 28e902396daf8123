// PLACEHOLDER nasauthd, used by cross/package.sh only while dist/nasauthd.js does not
// exist. It behaves like the daemon towards the init script: --config FILE, JSON log
// lines on stdout, Unix sockets under run_dir (admin/query/pam), SIGHUP reload,
// SIGTERM/SIGINT clean stop removing its sockets. It answers HTTP GET /v1/health.
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');
const t0 = Date.now();
const log = (o) => process.stdout.write(JSON.stringify({ time: Date.now(), placeholder: true, ...o }) + '\n');
const i = process.argv.indexOf('--config');
const cfgFile = i > 0 ? process.argv[i + 1] : null;
let runDir = '/run/nasauth';
if (cfgFile) {
  const m = /^run_dir:\s*(\S+)/m.exec(fs.readFileSync(cfgFile, 'utf8'));
  if (m) runDir = path.resolve(path.dirname(cfgFile), m[1]);
}
fs.mkdirSync(runDir, { recursive: true, mode: 0o755 });
const names = ['admin', 'query', 'pam'];
const socks = names.map((n) => path.join(runDir, `${n}.sock`));
const servers = socks.map((p) => {
  try { fs.unlinkSync(p); } catch { /* none */ }
  const s = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ ok: true, placeholder: true, pid: process.pid, rss: process.memoryUsage().rss }));
  });
  return new Promise((resolve, reject) => s.listen(p, () => resolve(s)).on('error', reject));
});
Promise.all(servers).then((list) => {
  log({ event: 'ready', pid: process.pid, sockets: socks, ms: Date.now() - t0 });
  const stop = (sig) => {
    log({ event: 'stopping', signal: sig });
    for (const s of list) s.close();
    for (const p of socks) { try { fs.unlinkSync(p); } catch { /* gone */ } }
    log({ event: 'stopped' });
    process.exit(0);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => log({ event: 'reloaded' }));
}, (e) => { log({ event: 'fatal', err: e.message }); process.exit(4); });
