// pam_nasauth.so under valgrind, inside real pamtester runs: no memory errors, no
// definite leaks, and no descriptor left open by the module (its socket is closed on
// every path). No suppressions are needed with this libpam and glibc; if one ever is,
// add it here with a comment naming the libpam/libc internal it hides.
import t from 'tap';
import { fileCanRun, firstMissing, need, needRoot } from './helpers/env';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { addUser, cleanup, startDaemon } from './helpers/daemon';
import { buildModule, daemonPamDir, makePamDir, outcome, pamtester, rmrf, serviceFile } from './helpers/pam';

const VG = ['--leak-check=full', '--errors-for-leak-kinds=definite', '--error-exitcode=99', '--track-fds=yes', '--child-silent-after-fork=yes'];

if (fileCanRun(firstMissing(needRoot(), need(spawnSync('valgrind', ['--version']).status === 0, 'valgrind is not installed')))) {
  buildModule();

  /** Descriptors open at exit that pamtester did not inherit. */
  function leakedFds(out: string): string[] {
    const blocks = out.split(/==\d+== Open /).slice(1);
    return blocks.filter((b) => !b.includes('<inherited from parent>')).map((b) => b.split('\n')[0]);
  }

  t.test('valgrind: good, bad, daemon down, password changes', async (t) => {
    const d = await startDaemon();
    const pamd = daemonPamDir(d);
    const down = makePamDir({ netatalk: serviceFile({ socket: join(d.dir, 'absent.sock'), priv: join(d.dir, 'absent-priv.sock'), args: ['timeout=1'] }) });
    t.teardown(async () => { await d.stop(); cleanup(d); rmrf(pamd); rmrf(down); });
    await addUser(d, 'vera', 'Velvet-Rope1');
    await addUser(d, 'walt', 'Walnut-Tree1');

    const scenarios: Array<{ name: string; pamd: string; user: string; ops: string[]; input: string[]; uid?: number; want: string }> = [
      { name: 'good password', pamd, user: 'vera', ops: ['authenticate', 'acct_mgmt', 'setcred'], input: ['Velvet-Rope1'], want: 'ok' },
      { name: 'bad password', pamd, user: 'vera', ops: ['authenticate'], input: ['Velvet-Rope2'], want: 'AUTH_ERR' },
      { name: 'unknown user', pamd, user: 'nobody-here', ops: ['acct_mgmt'], input: [], want: 'USER_UNKNOWN' },
      { name: 'daemon down', pamd: down, user: 'vera', ops: ['authenticate'], input: ['Velvet-Rope1'], want: 'AUTHINFO_UNAVAIL' },
      { name: 'daemon down, chauthtok', pamd: down, user: 'vera', ops: ['chauthtok'], input: ['a', 'b', 'b'], want: 'AUTHINFO_UNAVAIL' },
      { name: 'chauthtok as a user', pamd, user: 'vera', ops: ['chauthtok'], input: ['Velvet-Rope1', 'Velvet-Rope3', 'Velvet-Rope3'], uid: 65534, want: 'ok' },
      { name: 'chauthtok, policy refused', pamd, user: 'vera', ops: ['chauthtok'], input: ['Velvet-Rope3', 'tiny', 'tiny'], uid: 65534, want: 'AUTHTOK_ERR' },
      { name: 'chauthtok as root', pamd, user: 'walt', ops: ['chauthtok'], input: ['Walnut-Tree2', 'Walnut-Tree2'], want: 'ok' },
      { name: 'Netatalk flow (kept password, pam_set_data cleanup)', pamd, user: 'walt', ops: ['authenticate', 'chauthtok'], input: ['Walnut-Tree2', 'Walnut-Tree3', 'Walnut-Tree3'], want: 'ok' },
      { name: 'kept password without setcred or chauthtok (wiped at pam_end)', pamd, user: 'walt', ops: ['authenticate'], input: ['Walnut-Tree3'], want: 'ok' },
    ];
    for (const s of scenarios) {
      const r = await pamtester({ pamd: s.pamd, service: 'netatalk', user: s.user, ops: s.ops, input: s.input, uid: s.uid, valgrind: VG });
      t.equal(outcome(r), s.want, `${s.name}: ${s.want}`);
      t.not(r.code, 99, `${s.name}: valgrind found no errors`);
      t.match(r.out, /ERROR SUMMARY: 0 errors from 0 contexts/, `${s.name}: 0 errors`);
      t.notMatch(r.out, /definitely lost: [1-9]/, `${s.name}: no definite leaks`);
      t.same(leakedFds(r.out), [], `${s.name}: no descriptor left open`);
      t.notMatch(r.out, /Open AF_UNIX socket/, `${s.name}: the module closed its socket`);
    }
  });
}
