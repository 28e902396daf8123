// npm start: the daemon (embedded default config, state under ./.nasauth, no root
// needed) and the web page on loopback, from fresh bundles. Prints the address and,
// on the first start, the admin's one-time password; Ctrl-C stops both.
//   npm start [-- --port N]        (default 8080, or the next free one; $PORT too)
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const cwd = process.cwd();
const argPort = process.argv.indexOf('--port');
const wanted = Number(argPort > 0 ? process.argv[argPort + 1] : process.env.PORT ?? 8080);

const b = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
if (b.status !== 0) process.exit(1);

const free = (port) => new Promise((res) => {
  const s = createServer();
  s.once('error', () => res(false));
  s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
});
let port = wanted;
while (!(await free(port))) { if (port >= wanted + 20) { port = 0; break; } port++; }

const children = [];
const stopAll = (code) => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  setTimeout(() => process.exit(code), 1500).unref();
  Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? null : new Promise((r) => c.once('exit', r))))).then(() => process.exit(code));
};
process.on('SIGINT', () => stopAll(0));
process.on('SIGTERM', () => stopAll(0));

const env = { ...process.env, NASAUTH_CONFIG: '' };
// the JSON log lines go to files; the console shows the address and what went wrong
mkdirSync(join(cwd, '.nasauth'), { recursive: true, mode: 0o700 });
const dLog = createWriteStream(join(cwd, '.nasauth', 'nasauthd.log'), { flags: 'a', mode: 0o600 });
const wLog = createWriteStream(join(cwd, '.nasauth', 'nasauth-web.log'), { flags: 'a', mode: 0o600 });
const daemon = spawn(process.execPath, [join(root, 'dist', 'nasauthd.js')], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
children.push(daemon);
let dOut = '';
let dErr = '';
daemon.stdout.on('data', (c) => { if (dOut.length < 65536) dOut += c; dLog.write(c); });
daemon.stderr.on('data', (c) => { dErr += c; });
daemon.on('exit', (c) => { process.stderr.write(`nasauthd exited (${c}):\n${dErr}`); stopAll(1); });

const until = (probe, what, ms = 20000) => new Promise((res, rej) => {
  const t0 = Date.now();
  const iv = setInterval(() => {
    const v = probe();
    if (v) { clearInterval(iv); res(v); } else if (Date.now() - t0 > ms) { clearInterval(iv); rej(new Error(`timed out waiting for ${what}`)); }
  }, 25);
});

await until(() => dOut.includes('"event":"ready"'), 'nasauthd');
const stateDir = join(cwd, '.nasauth', 'state');
const querySock = join(cwd, '.nasauth', 'run', 'query.sock');

const web = spawn(process.execPath, [join(root, 'dist', 'nasauth-web.js'), '--listen', `127.0.0.1:${port}`, '--query-socket', querySock], { cwd, stdio: ['ignore', 'pipe', 'inherit'] });
children.push(web);
let wOut = '';
web.stdout.on('data', (c) => { if (wOut.length < 65536) wOut += c; wLog.write(c); });
web.on('exit', (c) => { process.stderr.write(`nasauth-web exited (${c})\n`); stopAll(1); });
const url = await until(() => /"event":"ready".*?"url":"([^"]+)"/.exec(wOut)?.[1], 'nasauth-web');

// the one-time password: the file the daemon leaves for root, else its first-start line
const otpFile = join(stateDir, 'initial-admin-password');
// (line 1 is the password; line 2 a comment naming the account)
const otp = existsSync(otpFile) ? readFileSync(otpFile, 'utf8').split('\n')[0].trim() : /one-time password: (\S+)/.exec(dErr)?.[1];
const admin = (existsSync(otpFile) && /account "([^"]+)"/.exec(readFileSync(otpFile, 'utf8'))?.[1]) || 'admin';
const lines = ['', `  nasauth is running. Open ${url}`];
if (otp) lines.push(`  Sign in as "${admin}" with the one-time password ${otp}`, '  (you choose a new one at once).');
else lines.push('  Sign in with an account you made (the admin\'s one-time password was shown at the first start).');
lines.push(`  Logs: .nasauth/nasauthd.log, .nasauth/nasauth-web.log. The CLI: node ${join(root, 'dist', 'nasauth.js')} --help`, '  Ctrl-C stops the daemon and the web page.', '');
process.stdout.write(`${lines.join('\n')}\n`);
