// init.d/nasauth-web on the build host, with the host's node and the real bundles:
// start (making the self-signed certificate when there is none), HTTPS answered as the
// unprivileged user, status, stop, LSB codes; through Debian's start-stop-daemon,
// busybox's, and neither. Settings come from a private defaults file
// (NASAUTH_WEB_DEFAULTS); nothing under /etc or /run is touched.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { cleanup, ROOT, startDaemon, type Daemon } from './helpers/daemon';
import { canRun, fileCanRun, needRoot, untapped } from './helpers/env';
import { tempDir } from './helpers/tmp';
import { pidGone, waitFor } from './helpers/wait';
import { runnableWeb, WEB_CERT } from './helpers/web';

const INIT = join(ROOT, 'init.d', 'nasauth-web');
const which = (c: string) => { const r = spawnSync('sh', ['-c', `command -v ${c}`], { encoding: 'utf8' }); return r.status === 0 ? r.stdout.trim() : null; };
const busybox = which('busybox');

function get(url: string): Promise<{ status: number; hsts: string }> {
  return new Promise((res, rej) => {
    const r = request(url, { rejectUnauthorized: false, agent: false }, (x) => { x.resume(); x.on('end', () => res({ status: x.statusCode ?? 0, hsts: String(x.headers['strict-transport-security'] ?? '') })); });
    r.on('error', rej);
    r.end();
  });
}

if (fileCanRun(needRoot())) {
  let d: Daemon;
  t.before(async () => { d = await startDaemon({ config: { sockets: { query: { group: 'nogroup' } } } }); });
  t.teardown(async () => { await d?.stop(); if (d) cleanup(d); });

  const variants = [
    { name: "Debian's start-stop-daemon", defaults: ['USE_SSD=yes', `SSD=${which('start-stop-daemon') ?? '/sbin/start-stop-daemon'}`], missing: which('start-stop-daemon') ? null : 'start-stop-daemon is not installed' },
    { name: 'busybox start-stop-daemon, busybox sh', defaults: ['USE_SSD=yes'], shell: busybox, missing: busybox ? null : 'busybox is not installed' },
    { name: 'plain shell', defaults: ['USE_SSD=no'], missing: null },
  ];
  for (const v of variants) {
    t.test(v.name, async (t) => {
      if (!canRun(t, v.missing)) return;
      const dir = tempDir('nasauth-webinit-');
      t.teardown(() => rmSync(dir, { recursive: true, force: true }));
      const extra = [...v.defaults];
      if (v.shell) {
        mkdirSync(join(dir, 'bb'));
        symlinkSync(v.shell, join(dir, 'bb', 'start-stop-daemon'));
        extra.push(`SSD=${join(dir, 'bb', 'start-stop-daemon')}`);
      }
      const defaults = join(dir, 'defaults');
      const pidfile = join(dir, 'web.pid');
      const log = join(dir, 'web.log');
      writeFileSync(defaults, [
        `NODE=${process.execPath}`, `WEB=${runnableWeb()}`, `WEB_CERT_TOOL=${WEB_CERT}`, 'LISTEN=127.0.0.1:0', `CERT=${dir}/web.crt`, `KEY=${dir}/web.key`,
        'WEB_USER=nobody', `QUERY_SOCKET=${d.query}`, `PIDFILE=${pidfile}`, `LOGFILE=${log}`, 'READY_TIMEOUT=60', ...extra, '',
      ].join('\n'));
      const init = (action: string) => {
        const r = spawnSync(...untapped(v.shell ?? 'sh', v.shell ? ['sh', INIT, action] : [INIT, action]), { encoding: 'utf8', env: { ...process.env, NASAUTH_WEB_DEFAULTS: defaults }, timeout: 120_000 });
        return { rc: r.status, out: `${r.stdout}${r.stderr}` };
      };
      t.teardown(() => { init('stop'); });
      let r = init('status');
      t.equal(r.rc, 3, 'status before start: 3 (not running)');
      r = init('start');
      t.equal(r.rc, 0, r.out);
      t.match(r.out, /no certificate .* making a self-signed one/);
      t.match(r.out, /started \(pid \d+ as nobody, https:\/\/127\.0\.0\.1:\d+\//);
      t.equal(statSync(`${dir}/web.key`).mode & 0o777, 0o600, 'the key: root only (read before the drop)');
      const url = /(https:\/\/127\.0\.0\.1:\d+\/)/.exec(r.out)![1];
      const pid = Number(readFileSync(pidfile, 'utf8').trim());
      t.equal(/^Uid:\s+\d+\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1], '65534', 'serving as nobody');
      const launcher = Number(/"event":"spawned","launcher":(\d+),"pid":(\d+)/.exec(readFileSync(log, 'utf8'))?.[1]);
      t.ok(launcher > 0 && launcher !== pid, 'a launcher started it');
      await waitFor('the root launcher gone', () => pidGone(launcher));
      t.pass('nothing of nasauth-web stays root');
      const page = await get(`${url}signin`);
      t.equal(page.status, 200, 'the sign-in page over HTTPS');
      t.match(page.hsts, /max-age/);
      t.equal(statSync(log).mode & 0o007, 0, 'the log is not world-readable (0640 at most)');
      r = init('start');
      t.equal(r.rc, 0);
      t.match(r.out, /already running/);
      t.equal(init('status').rc, 0);
      r = init('stop');
      t.equal(r.rc, 0, r.out);
      await waitFor('nasauth-web gone', () => pidGone(pid));
      t.notOk(existsSync(pidfile), 'pidfile removed');
      t.equal(init('status').rc, 3);
      t.notOk(readFileSync(log, 'utf8').includes('PRIVATE KEY'));
    });
  }

  t.test('usage, missing runtime, and a nasauth-web that cannot start', async (t) => {
    const dir = tempDir('nasauth-webinit-');
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const defaults = join(dir, 'defaults');
    const run = (action: string, lines: string[]) => {
      writeFileSync(defaults, [`PIDFILE=${dir}/p`, `LOGFILE=${dir}/l`, 'USE_SSD=no', ...lines, ''].join('\n'));
      const r = spawnSync(...untapped('sh', [INIT, action]), { encoding: 'utf8', env: { ...process.env, NASAUTH_WEB_DEFAULTS: defaults } });
      return { rc: r.status, out: `${r.stdout}${r.stderr}` };
    };
    t.equal(run('bogus', []).rc, 2);
    t.equal(run('start', [`NODE=${dir}/none`]).rc, 5, 'no runtime: 5');
    const r = run('start', [`NODE=${process.execPath}`, `WEB=${runnableWeb()}`, `WEB_CERT_TOOL=${WEB_CERT}`, `CERT=${dir}/c`, `KEY=${dir}/k`, 'LISTEN=127.0.0.1:0', 'WEB_USER=no-such-user-x']);
    t.equal(r.rc, 1, 'a bad user: start fails');
    t.match(r.out, /exited during start[\s\S]*no such user/);
    t.equal(spawnSync('sh', ['-n', INIT]).status, 0, 'sh -n');
    if (busybox) t.equal(spawnSync(busybox, ['sh', '-n', INIT]).status, 0, 'busybox sh -n');
  });
}
