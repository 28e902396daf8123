// The README's promises: its two commands are the ones CI runs, and the plain start
// (the daemon on the embedded default config, state under ./.nasauth, and the web page on
// loopback) works.
import t from 'tap';
import { tempDir } from './helpers/tmp';
import { untapped } from './helpers/env';
import { spawn } from 'node:child_process';
import { readFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, http } from './helpers/daemon';
import { waitFor, waitForMatch } from './helpers/wait';

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```sh\n([^`]*)```/g)].map((m) => m[1].trim());

t.test('the README starts with the two commands, and CI runs the second', async (t) => {
  t.equal(blocks[0], 'npm ci && npm start');
  t.equal(blocks[1], 'npm ci && npm test');
  const ci = readFileSync(join(ROOT, '.ci', 'run'), 'utf8');
  t.match(ci, /npm ci[^\n]*&& npm test/);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  t.match(pkg.scripts.start, /node scripts\/start\.mjs/);
  t.match(pkg.devDependencies.typescript, /^\^?5\./, 'typescript pinned to 5.x');
});

t.test('npm start: the daemon and the web page on loopback, the URL and the one-time password printed', async (t) => {
  const cwd = tempDir('nasauth-start-');
  // tap instruments child processes through NODE_OPTIONS; run the start command as a user would, without it
  const p = spawn(...untapped(process.execPath, [join(ROOT, 'scripts', 'start.mjs'), '--port', '0']), { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NASAUTH_CONFIG: '' } });
  let out = '';
  let err = '';
  p.stdout.on('data', (c) => { out += c; });
  p.stderr.on('data', (c) => { err += c; });
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  t.teardown(async () => { p.kill('SIGINT'); await exited; });
  const m = await waitForMatch('the start banner', () => out, /Open (http:\/\/127\.0\.0\.1:\d+\/)[\s\S]*one-time password (\S+)/, 60_000)
    .catch((e) => { throw new Error(`${(e as Error).message}\n${out}\n${err}`); });
  const [, url, pw] = m;
  const sock = join(cwd, '.nasauth', 'run', 'query.sock');
  t.ok(existsSync(sock), 'sockets under ./.nasauth/run');
  t.equal(statSync(join(cwd, '.nasauth', 'state', 'store.json')).mode & 0o777, 0o600, 'store under ./.nasauth/state');
  const pwFile = join(cwd, '.nasauth', 'state', 'initial-admin-password');
  t.equal(existsSync(pwFile) ? readFileSync(pwFile, 'utf8').split('\n')[0] : undefined, pw, 'the printed password is the one in .nasauth/state/initial-admin-password');
  const r = await http(sock, 'POST', '/v1/authenticate', { user: 'admin', password: pw, service: 'dashboard' });
  t.equal(r.body.reason, 'must_change_password', 'the printed password is the admin\'s one-time password');
  const page = await fetch(`${url}signin`);
  t.equal(page.status, 200, 'the printed address serves the sign-in page');
  t.match(await page.text(), /<h1>Sign in<\/h1>/);
  p.kill('SIGINT');
  await exited;
  await waitFor('the sockets removed', () => !existsSync(sock));
  t.pass('Ctrl-C stops both');
});
