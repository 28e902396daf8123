// The README's promises: its two commands are the ones CI runs, and the plain start
// (ts-node from the sources, embedded default config, state under ./.nasauth) works.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, http } from './helpers/daemon';

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```sh\n([^`]*)```/g)].map((m) => m[1].trim());

t.test('the README starts with the two commands, and CI runs the second', async (t) => {
  t.equal(blocks[0], 'npm ci && npm start');
  t.equal(blocks[1], 'npm ci && npm test');
  const ci = readFileSync(join(ROOT, '.ci', 'run'), 'utf8');
  t.match(ci, /npm ci[^\n]*&& npm test/);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  t.match(pkg.scripts.start, /ts-node .*daemon\/main\.ts/);
  t.match(pkg.devDependencies.typescript, /^\^?5\./, 'typescript pinned to 5.x');
});

t.test('npm start: the daemon from the sources on the embedded default, no config, no root paths', async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'nasauth-start-'));
  // tap instruments child processes through NODE_OPTIONS; run the start command as a user would, without it
  const p = spawn('env', ['-u', 'NODE_OPTIONS', join(ROOT, 'node_modules', '.bin', 'ts-node'), '--transpile-only', join(ROOT, 'daemon', 'main.ts')], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NASAUTH_CONFIG: '' } });
  let out = '';
  let err = '';
  p.stdout.on('data', (c) => { out += c; });
  p.stderr.on('data', (c) => { err += c; });
  t.teardown(() => { p.kill('SIGTERM'); });
  await new Promise<void>((res, rej) => {
    const iv = setInterval(() => { if (out.includes('"event":"ready"')) { clearInterval(iv); res(); } }, 20);
    p.on('exit', (c) => { clearInterval(iv); rej(new Error(`exited ${c}: ${err}`)); });
  });
  const sock = join(cwd, '.nasauth', 'run', 'query.sock');
  t.ok(existsSync(sock), 'sockets under ./.nasauth/run');
  t.equal(statSync(join(cwd, '.nasauth', 'state', 'store.json')).mode & 0o777, 0o600, 'store under ./.nasauth/state');
  const pwFile = join(cwd, '.nasauth', 'state', 'initial-admin-password');
  const pw = existsSync(pwFile) ? readFileSync(pwFile, 'utf8').split('\n')[0] : undefined;
  t.ok(pw, 'the admin one-time password is in .nasauth/state/initial-admin-password');
  const r = await http(sock, 'POST', '/v1/authenticate', { user: 'admin', password: pw, service: 'dashboard' });
  t.equal(r.body.reason, 'must_change_password', 'a newcomer can try a login at once');
});
