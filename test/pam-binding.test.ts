// In-process PAM from Node (node-linux-pam: pam_authenticate + pam_acct_mgmt in one
// handle, fields not truncated), against pam_nasauth.so and the real daemon. Also
// prints the cost of a whole PAM transaction on a cache hit (a figure, not a check).
// The binding is an optional dependency (npm ci must work without PAM headers); the test
// command builds it once they are installed. Found in node_modules, or at
// $NASAUTH_NODE_LINUX_PAM (a package folder).
import t from 'tap';
import { fileCanRun, firstMissing, need, needRoot } from './helpers/env';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, addUser, cleanup, startDaemon } from './helpers/daemon';
import { buildModule, daemonPamDir, rmrf, serviceFile } from './helpers/pam';

function findBinding(): string | null {
  try { return require.resolve('node-linux-pam', { paths: [ROOT] }); } catch { /* not installed */ }
  const env = process.env.NASAUTH_NODE_LINUX_PAM;
  return env && existsSync(env) ? env : null;
}
const binding = findBinding();

// Runs in a child inside the private namespace: answers one JSON line per case.
const CHILD = `
const { pamAuthenticatePromise } = require(process.env.BINDING);
const cases = JSON.parse(process.env.CASES);
(async () => {
  const out = [];
  for (const c of cases) {
    const n = c.repeat || 1;
    const t0 = process.hrtime.bigint();
    let code = 0;
    for (let i = 0; i < n; i++) {
      try { await pamAuthenticatePromise({ username: c.user, password: c.password, serviceName: c.service, remoteHost: '192.0.2.5' }); code = 0; }
      catch (e) { code = e.code ?? -1; }
    }
    out.push({ code, us: Number(process.hrtime.bigint() - t0) / 1000 / n });
  }
  process.stdout.write(JSON.stringify(out));
})();
`;

function runCases(pamd: string, cases: unknown[]): Promise<Array<{ code: number; us: number }>> {
  return new Promise((resolve, reject) => {
    const p = spawn('unshare', ['-m', 'sh', '-c', 'mount --bind "$1" /etc/pam.d && shift && exec "$@"', 'sh', pamd, 'env', '-u', 'NODE_OPTIONS', process.execPath, '-e', CHILD],
      { env: { ...process.env, BINDING: binding!, CASES: JSON.stringify(cases) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (c) => { out += c; });
    p.stderr.on('data', (c) => { err += c; });
    p.on('close', (code) => { try { resolve(JSON.parse(out)); } catch { reject(new Error(`child exited ${code}: ${err}${out}`)); } });
  });
}

if (fileCanRun(firstMissing(needRoot(), need(!!binding, 'node-linux-pam is not built (the test command builds it once libpam0g-dev is installed; or set NASAUTH_NODE_LINUX_PAM)')))) {
  t.test('node-linux-pam through pam_nasauth.so', async (t) => {
    buildModule();
    const d = await startDaemon();
    const pamd = daemonPamDir(d, [], { sshd: serviceFile({ socket: d.pam, priv: d.pamPriv }) });
    t.teardown(async () => { await d.stop(); cleanup(d); rmrf(pamd); });
    await addUser(d, 'bea', 'Golden-Sun1');
    await addUser(d, 'mia', 'Mint-Leaf-11', ['--must-change']);
    const long = `Z9-${'q'.repeat(200)}`; // far past authenticate-pam's 127-byte truncation
    await addUser(d, 'zoe', long);
    const PAM = { SUCCESS: 0, PERM_DENIED: 6, AUTH_ERR: 7, NEW_AUTHTOK_REQD: 12 };
    const r = await runCases(pamd, [
      { user: 'bea', password: 'Golden-Sun1', service: 'netatalk' },
      { user: 'bea', password: 'Golden-Sun2', service: 'netatalk' },
      { user: 'bea', password: 'Golden-Sun1', service: 'sshd' },
      { user: 'mia', password: 'Mint-Leaf-11', service: 'netatalk' },
      { user: 'zoe', password: long, service: 'netatalk' },
      { user: 'zoe', password: long.slice(0, 127), service: 'netatalk' },
      { user: 'bea', password: 'Golden-Sun1', service: 'netatalk', repeat: 300 },
    ]);
    t.equal(r[0].code, PAM.SUCCESS, 'good password');
    t.equal(r[1].code, PAM.AUTH_ERR, 'wrong password');
    t.equal(r[2].code, PAM.PERM_DENIED, 'a user may not ssh');
    t.equal(r[3].code, PAM.NEW_AUTHTOK_REQD, 'acct_mgmt in the same handle: must change');
    t.equal(r[4].code, PAM.SUCCESS, '203-byte password, whole');
    t.equal(r[5].code, PAM.AUTH_ERR, 'its first 127 bytes are not enough');
    t.equal(r[6].code, PAM.SUCCESS);
    t.comment(`whole PAM transaction (pam_start, authenticate, acct_mgmt, pam_end) on a cache hit: ${r[6].us.toFixed(0)} µs mean over 300`);
  });
}
