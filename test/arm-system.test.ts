// The whole device path on an emulated ARM board: cross/boot-test.sh boots Debian's armmp
// kernel in qemu-system-arm (virt, Cortex-A15, 1 GB) with an initramfs that unpacks the
// real package, installs it with its install.sh, starts the daemon through
// /etc/init.d/nasauthd (busybox start-stop-daemon), adds a user with the CLI, logs in
// through the ARM pamtester + pam_nasauth.so, changes the password (as the user and as
// root), serves SMB: the image's armhf smbd (trixie Samba, the guest's glibc) with the
// package's smb.conf uses the ARM nasauthd's LDAP view as its passdb, and this host logs
// in with smbclient through qemu's user-mode network (hostfwd on 127.0.0.1:14480-14489):
// right password, wrong password, a user disabled with the ARM CLI (boot-test.sh does the
// host side and hands its results to the guest, which checks them), then restarts
// (plain-shell path) keeping the state, stops and uninstalls. The web page: install.sh
// adds the user nasauth-web and makes a self-signed certificate, /etc/init.d/nasauth-web
// starts it (dropping to nasauth-web), and alice signs in over HTTPS with a scripted
// client (cross/guest/web.js) in the guest, pinned to the installed certificate, and from
// this host through the hostfwd (127.0.0.1:14490-14499 -> guest 443). The guest
// prints one line "NASAUTH-SMOKE: PASS|FAIL ..." on the serial console; qemu's exit code
// means nothing. Timings in the log are reported, never asserted.
import t from 'tap';
import { canRun, fileCanRun, needRoot } from './helpers/env';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..');
const LOG = join(ROOT, '.cache', 'armhf', 'boot', 'serial.log');

if (fileCanRun(needRoot())) {
  // cold cache: ~100 MB of Debian packages; warm: a few minutes of emulation
  t.setTimeout(45 * 60_000);

  t.test('qemu-system-arm boot: install, start, CLI, PAM, SMB and the web page from the host, restart, stop', async (t) => {
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
    // SMB is skipped only with the placeholder daemon (or NASAUTH_SMB=0, which this test never sets)
    if (!skipped.includes('users')) {
      t.notOk(skipped.includes('smb'), 'the SMB steps ran');
      // smb-alice-right: the host's smbclient lists //127.0.0.1/Public (a file the guest wrote);
      // smb-alice-wrong: NT_STATUS_LOGON_FAILURE; smb-bob-disabled: `nasauth user set bob
      // --disable` in the guest, then NT_STATUS_ACCOUNT_DISABLED for the right password
      want.push('smb-net', 'smb-config', 'smb-start', 'smb-host-1', 'smb-alice-right', 'smb-alice-wrong', 'smb-bob-right',
        'smb-disable', 'smb-host-2', 'smb-bob-disabled', 'smb-alice-again', 'smb-stop');
      // the web page: installed, started as nasauth-web, HTTPS sign-in in the guest and from the host
      t.notOk(skipped.includes('web'), 'the web steps ran');
      want.push('web-install', 'web-start', 'web-signin-guest', 'web-host', 'smb-web-signin');
    }
    t.same(want.filter((s) => !steps.has(s)), [], 'every smoke step ran');
    // the guest skips a part only when something is missing from the image: under CI=true a failure
    for (const s of skipped) canRun(t, `the guest skipped its "${s}" steps (see ${LOG})`);

    const metrics = Object.fromEntries([...serial.matchAll(/^NASAUTH-METRIC: (\w+)=(\S+)/gm)].map((m) => [m[1], m[2]]));
    t.match(metrics.node ?? '', /^v20\./, 'node version reported');
    for (const k of ['start_to_ready_ms', 'daemon_ready_ms', 'rss_ready_kb', 'rss_end_kb']) t.match(metrics[k] ?? '', /^\d+$/, `${k} reported`);
    if (steps.has('smb-stop')) {
      for (const k of ['host_smb_login_first_ms', 'host_smb_login_ms', 'host_smb_wrong_ms', 'smbd_listen_ms', 'rss_smbd_kb']) t.match(metrics[k] ?? '', /^\d+$/, `${k} reported`);
      t.comment(`SMB login from the host (smbclient -c ls through qemu's hostfwd; ARM smbd -> ARM nasauthd LDAP view): first ${metrics.host_smb_login_first_ms} ms, then ${metrics.host_smb_login_ms} ms; wrong password refused in ${metrics.host_smb_wrong_ms} ms; guest RSS smbd (all processes) ${metrics.rss_smbd_kb} kB, nasauthd ${metrics.rss_nasauthd_with_smb_kb} kB`);
    }
    if (steps.has('web-host')) {
      for (const k of ['web_start_to_ready_ms', 'rss_web_ready_kb', 'rss_web_after_kb', 'guest_web_signin_ms', 'host_web_signin_ms', 'host_web_account_ms']) t.match(metrics[k] ?? '', /^\d+$/, `${k} reported`);
      t.comment(`web page on the emulated board: ready ${metrics.web_start_to_ready_ms} ms after init start; RSS ${metrics.rss_web_ready_kb} kB at ready, ${metrics.rss_web_after_kb} kB after a sign-in; sign-in round trip in the guest ${metrics.guest_web_signin_ms} ms, from the host over HTTPS ${metrics.host_web_signin_ms} ms (account page ${metrics.host_web_account_ms} ms)`);
    }
    t.comment(`guest figures (emulated Cortex-A15 under TCG; not the device's speed): ${JSON.stringify(metrics)}`);
  });
}
