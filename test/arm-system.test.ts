// The whole device path on an emulated ARM board: cross/boot-test.sh boots Debian's armmp
// kernel in qemu-system-arm (virt, Cortex-A15, 1 GB) with an initramfs that unpacks the
// real package, installs it with its install.sh, starts the daemon through
// /etc/init.d/nasauthd (busybox start-stop-daemon), adds a user with the CLI, logs in
// through the ARM pamtester + pam_nasauth.so, changes the password (as the user and as
// root), restarts (plain-shell path) keeping the state, stops and uninstalls. The guest
// prints one line "NASAUTH-SMOKE: PASS|FAIL ..." on the serial console; qemu's exit code
// means nothing. Timings in the log are reported, never asserted.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..');
const LOG = join(ROOT, '.cache', 'armhf', 'boot', 'serial.log');

if (process.getuid?.() !== 0) {
  t.plan(0, 'needs root: the cross scripts install host tools with apt-get');
} else {
  // cold cache: ~100 MB of Debian packages; warm: a few minutes of emulation
  t.setTimeout(45 * 60_000);

  t.test('qemu-system-arm boot: install, start, CLI, PAM, restart, stop', async (t) => {
    const b = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, encoding: 'utf8' });
    t.equal(b.status, 0, `npm run build: ${b.stderr}`);

    let out = '';
    const code = await new Promise<number | null>((res) => {
      const p = spawn('bash', [join(ROOT, 'cross', 'boot-test.sh')], {
        cwd: ROOT,
        env: {
          ...process.env,
          NASAUTH_SKIP_BUILD: '1',
          // the emulator's glibc is new; test/arm-user.test.ts asserts the GLIBC_2.4 rule
          NASAUTH_PAM_GLIBC_CHECK: 'warn',
          NASAUTH_BOOT_LIMIT: '1500', // hang guard only
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (out += d));
      p.on('exit', (c) => res(c));
    });
    t.ok(existsSync(LOG), 'serial log written');
    const serial = existsSync(LOG) ? readFileSync(LOG, 'utf8') : '';
    const result = serial.split('\n').filter((l) => l.startsWith('NASAUTH-SMOKE: ')).pop() ?? '(no result line)';
    if (/^NASAUTH-SMOKE: PASS\b/.test(result)) t.pass(`guest result: ${result}`);
    else t.fail(`guest result: ${result}\n--- tail of the boot test output:\n${out.slice(-4000)}`);
    t.equal(code, 0, 'boot-test.sh exit status');

    const steps = new Set([...serial.matchAll(/^NASAUTH-STEP: (\S+)/gm)].map((m) => m[1]));
    const skipped = [...serial.matchAll(/^NASAUTH-SKIP: (\S+)/gm)].map((m) => m[1]);
    const want = ['unpack', 'install', 'install-again', 'node-version', 'child-process', 'crypto', 'start', 'status',
      'oom-score', 'health', 'reload', 'restart-plain-shell', 'stop', 'uninstall'];
    if (!skipped.includes('users')) want.push('user-add', 'query-auth', 'state-kept');
    if (!skipped.includes('pam')) want.push('pam-auth', 'pam-chauthtok-user', 'pam-chauthtok-root');
    t.same(want.filter((s) => !steps.has(s)), [], 'every smoke step ran');
    if (skipped.length) t.comment(`skipped in the guest: ${skipped.join(', ')}`);

    const metrics = Object.fromEntries([...serial.matchAll(/^NASAUTH-METRIC: (\w+)=(\S+)/gm)].map((m) => [m[1], m[2]]));
    t.match(metrics.node ?? '', /^v20\./, 'node version reported');
    for (const k of ['start_to_ready_ms', 'daemon_ready_ms', 'rss_ready_kb', 'rss_end_kb']) t.match(metrics[k] ?? '', /^\d+$/, `${k} reported`);
    t.comment(`guest figures (emulated Cortex-A15 under TCG; not the device's speed): ${JSON.stringify(metrics)}`);
  });
}
