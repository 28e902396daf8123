// The armhf runtime under qemu-user (Cortex-A9): the bundled Node 20 starts from its own
// loader and libraries only, crypto works, the real daemon bundle serves its sockets to
// the host, and the ARM pamtester + ARM pam_nasauth.so authenticate against it.
// Builds what it needs with cross/runtime.sh (cached under .cache/armhf).
import t from 'tap';
import { canRun, fileCanRun, needRoot } from './helpers/env';
import { tempDir } from './helpers/tmp';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..');
const CACHE = join(ROOT, '.cache', 'armhf');
const STAGE = join(CACHE, 'stage'); // the device's / for the runtime: STAGE/opt/nasauth
const SYSROOT = join(CACHE, 'sysroot');
const RT = join(STAGE, 'opt', 'nasauth');
const NODE = join(RT, 'bin', 'node');
const QENV = { ...process.env, QEMU_CPU: 'cortex-a9' };

function sh(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input, env: opts.env ?? QENV, maxBuffer: 64 << 20 });
  return { status: r.status, out: r.stdout ?? '', err: r.stderr ?? '', all: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}
/** armhf node under qemu-user with ONLY the staged runtime as its root (-L STAGE). */
const armNode = (args: string[], input?: string) => sh('qemu-arm', ['-L', STAGE, NODE, ...args], { input });
const readelf = (args: string[]) => sh('arm-linux-gnueabihf-readelf', args, { env: process.env }).out;

if (fileCanRun(needRoot())) {
  t.before(() => {
    const r = sh('bash', [join(ROOT, 'cross', 'runtime.sh')], { env: process.env });
    if (r.status !== 0) throw new Error(`cross/runtime.sh failed:\n${r.all.slice(-4000)}`);
  });

  t.test('node binary: ELF interpreter and RPATH point into /opt/nasauth', async (t) => {
    const h = readelf(['-h', NODE]);
    t.match(h, /Machine:\s+ARM/, 'ARM');
    t.match(h, /hard-float ABI/, 'hard-float');
    t.match(readelf(['-lW', NODE]), /Requesting program interpreter: \/opt\/nasauth\/lib\/ld-linux-armhf\.so\.3\]/, 'interpreter');
    t.match(readelf(['-d', NODE]), /\(RPATH\)\s+Library rpath: \[\/opt\/nasauth\/lib\]/, 'DT_RPATH (applies to the whole tree)');
  });

  t.test('every ELF of the runtime maps on a 64K-page kernel', async (t) => {
    // Some NAS firmwares run 64 KiB-page kernels: each LOAD segment must be 64K-aligned,
    // with offset and address congruent modulo 64K (patchelf's added segment included).
    const files = [NODE, ...readdirSync(join(RT, 'lib')).filter((f) => /\.so/.test(f)).map((f) => join(RT, 'lib', f))];
    const bad: string[] = [];
    let loads = 0;
    for (const f of files) {
      for (const m of readelf(['-lW', f]).matchAll(/^\s+LOAD\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+\S+\s+\S+\s+\S+\s+.*\s(0x[0-9a-f]+)$/gm)) {
        loads++;
        const [off, va, align] = [Number(m[1]), Number(m[2]), Number(m[3])];
        if (align < 0x10000 || (off % 0x10000) !== (va % 0x10000)) bad.push(`${f}: LOAD off ${m[1]} vaddr ${m[2]} align ${m[3]}`);
      }
    }
    t.ok(loads >= 2 * files.length, `${loads} LOAD segments in ${files.length} files`);
    t.same(bad, [], 'all 64K-aligned and congruent');
  });

  t.test('every NEEDED library of the runtime is inside lib/', async (t) => {
    const libs = readdirSync(join(RT, 'lib')).filter((f) => /\.so/.test(f));
    const have = new Set(libs);
    const missing: string[] = [];
    for (const f of [join(RT, 'bin', 'node'), ...libs.map((l) => join(RT, 'lib', l))]) {
      for (const m of readelf(['-d', f]).matchAll(/\(NEEDED\).*\[(.+)\]/g)) if (!have.has(m[1])) missing.push(`${m[1]} (by ${f})`);
    }
    t.same(missing, [], 'closure complete');
    t.ok(have.has('ld-linux-armhf.so.3') && have.has('libc.so.6') && have.has('libnode.so.115'), 'loader, libc, libnode');
  });

  t.test('externalised builtins are read from /opt/nasauth/njs, not /usr/share/nodejs', async (t) => {
    const lib = readFileSync(join(RT, 'lib', 'libnode.so.115'));
    // (process.config's JSON still mentions the build-time paths; only C strings are used)
    t.equal(lib.indexOf('\0/usr/share/nodejs/'), -1, 'no /usr/share/nodejs builtin path left');
    for (const f of ['cjs-module-lexer/lexer.js', 'cjs-module-lexer/dist/lexer.js', 'undici/undici-fetch.js', 'acorn/dist/acorn.js', 'acorn-walk/dist/walk.js', 'minimatch/dist/cjs/index.bundle.js']) {
      t.ok(lib.indexOf(`/opt/nasauth/njs/${f}\0`) >= 0, `libnode names /opt/nasauth/njs/${f}`);
      t.ok(existsSync(join(RT, 'njs', f)), `njs/${f} shipped`);
    }
  });

  t.test('runs as arm, Node 20, from the staged runtime alone', async (t) => {
    const r = armNode(['-e', 'console.log(process.arch, process.version, process.config.variables.arm_float_abi)']);
    t.equal(r.status, 0, r.all);
    t.match(r.out, /^arm v20\.\d+\.\d+ hard\n$/, 'arch arm, v20, hard-float');
    // undici (fetch) is one of the externalised builtins: fetch from a local server
    const f = armNode(['-e', `
      const s = require('http').createServer((q, r) => r.end('pong')).listen(0, '127.0.0.1', async () => {
        const r = await fetch('http://127.0.0.1:' + s.address().port + '/');
        console.log(r.status, await r.text()); s.close();
      });`]);
    t.equal(f.status, 0, f.all);
    t.equal(f.out, '200 pong\n', 'fetch (undici) works');
  });

  t.test('crypto: sha256, scrypt (RFC 7914 vector), random', async (t) => {
    const r = armNode(['-e', `
      const c = require('crypto');
      console.log(c.createHash('sha256').update('abc').digest('hex'));
      console.log(c.scryptSync('pleaseletmein', 'SodiumChloride', 64, { N: 16384, r: 8, p: 1 }).toString('hex'));
      console.log(c.randomBytes(16).length, c.getHashes().includes('md4'));
    `]);
    t.equal(r.status, 0, r.all);
    const [sha, scr, rnd] = r.out.trim().split('\n');
    t.equal(sha, 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', 'sha256("abc")');
    t.equal(scr, '7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887', 'scrypt N=16384 r=8 p=1');
    t.match(rnd, /^16 (true|false)$/, 'randomBytes');
  });

  t.test('pam_nasauth.so for armhf: EABI5 hard-float, 64K pages, only GLIBC_2.4 symbol versions', async (t) => {
    if (!existsSync(join(ROOT, 'pam', 'Makefile'))) { t.fail('pam/Makefile is missing'); return; }
    // the same lock as cross/package.sh: both may build it at once
    const m = sh('flock', [join(CACHE, '.pam.lock'), 'make', '-s', '-C', join(ROOT, 'pam'), 'CROSS=arm-linux-gnueabihf-', `SYSROOT=${SYSROOT}`], { env: process.env });
    t.equal(m.status, 0, m.all);
    const so = join(ROOT, 'pam', 'build', 'arm-linux-gnueabihf', 'pam_nasauth.so');
    t.match(readelf(['-h', so]), /Version5 EABI, hard-float ABI/);
    const loads = [...readelf(['-lW', so]).matchAll(/^\s+LOAD\s.*\s(0x[0-9a-f]+)$/gm)].map((x) => x[1]);
    t.ok(loads.length > 0 && loads.every((a) => a === '0x10000'), `LOAD alignment ${loads.join(',')}`);
    // The module is loaded into the DEVICE's processes, whose glibc is old: symbols newer
    // than the armhf baseline (GLIBC_2.4) would make dlopen fail there.
    const newer = [...sh('arm-linux-gnueabihf-objdump', ['-T', so], { env: process.env }).out.matchAll(/\((GLIBC_[0-9.]+)\)\s+(\S+)/g)]
      .filter((x) => x[1] !== 'GLIBC_2.4').map((x) => `${x[2]}@${x[1]}`);
    t.same(newer, [], 'no glibc symbol newer than GLIBC_2.4');
  });

  t.test('the real daemon bundle on ARM, driven from the host over its sockets', async (t) => {
    const djs = join(ROOT, 'dist', 'nasauthd.js');
    const cjs = join(ROOT, 'dist', 'nasauth.js');
    if (!existsSync(djs)) { t.fail('dist/nasauthd.js is not built (npm run build)'); return; }
    const dir = tempDir('nasauth-armu-');
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const cfg = join(dir, 'nasauth.yaml');
    writeFileSync(cfg, [
      'version: 1', `state_dir: ${dir}/state`, `run_dir: ${dir}/run`,
      'log: { level: info, file: null }',
      'scrypt: { log_n: 12, r: 8, p: 1, max_in_flight: 2, max_queued: 16 }',
      `nss: { enabled: false, dir: ${dir}/nss }`, 'first_start: { create_admin: false }', '',
    ].join('\n'));

    let out = '';
    const d: ChildProcess = spawn('qemu-arm', ['-L', STAGE, NODE, djs, '--config', cfg], { env: QENV, stdio: ['ignore', 'pipe', 'pipe'] });
    d.stdout!.on('data', (b) => (out += b));
    d.stderr!.on('data', (b) => (out += b));
    const exited = new Promise<number | null>((r) => d.on('exit', (c) => r(c)));
    t.teardown(() => { if (d.exitCode === null) d.kill('SIGKILL'); });
    // wait for the ready line (or the exit); tap's file timeout is the hang guard
    const ready = await new Promise<boolean>((res) => {
      const iv = setInterval(() => { if (/"event":"ready"/.test(out)) { clearInterval(iv); res(true); } }, 50);
      d.on('exit', () => { clearInterval(iv); res(false); });
    });
    t.ok(ready, `daemon ready\n${out.slice(-2000)}`);
    if (!ready) return;
    const sockets = JSON.parse(/"sockets":(\[[^\]]*\])/.exec(out)![1]) as string[];
    const query = sockets.find((s) => s.endsWith('query.sock'))!;
    const admin = sockets.find((s) => s.endsWith('admin.sock'))!;
    const pam = sockets.find((s) => s.endsWith('/pam.sock'));
    const pamPriv = sockets.find((s) => s.endsWith('/pam-priv.sock')); // the module as root uses this one

    // the ARM CLI bundle, password on stdin
    const add = armNode([cjs, '--socket', admin, 'user', 'add', 'alice'], 'Arm-Passw0rd-1\n');
    t.equal(add.status, 0, `nasauth user add (ARM CLI): ${add.all}`);

    const post = (path: string, body: unknown) => new Promise<{ status: number; body: Record<string, unknown> }>((res, rej) => {
      const data = Buffer.from(JSON.stringify(body));
      const rq = request({ socketPath: query, method: 'POST', path, headers: { 'content-type': 'application/json', 'content-length': data.length } }, (rs) => {
        let b = ''; rs.on('data', (c) => (b += c)); rs.on('end', () => res({ status: rs.statusCode ?? 0, body: JSON.parse(b) }));
      });
      rq.on('error', rej); rq.end(data);
    });
    const good = await post('/v1/authenticate', { user: 'alice', password: 'Arm-Passw0rd-1', service: 'smb' });
    t.equal(good.body.decision, 'allow', `right password: ${JSON.stringify(good.body)}`);
    const bad = await post('/v1/authenticate', { user: 'alice', password: 'Arm-Passw0rd-2', service: 'smb' });
    t.equal(bad.body.decision, 'deny', 'wrong password');
    t.equal(bad.body.reason, 'bad_credentials');

    // ARM pamtester + ARM pam_nasauth.so (through trixie's armhf libpam) against the daemon
    const so = join(ROOT, 'pam', 'build', 'arm-linux-gnueabihf', 'pam_nasauth.so');
    if (canRun(t, !pam ? 'the daemon did not report its PAM socket' : !existsSync(so) && `${so} was not built (make -C pam armhf)`)) {
      // a private root for qemu -L: the sysroot (hard links) + our pam.d service
      const proot = join(dir, 'root');
      const cp = sh('cp', ['-al', SYSROOT, proot], { env: process.env });
      t.equal(cp.status, 0, cp.all);
      mkdirSync(join(proot, 'etc', 'pam.d'), { recursive: true });
      writeFileSync(join(proot, 'etc', 'pam.d', 'nasauth-arm'),
        `auth required ${so} socket=${pam} priv_socket=${pamPriv} service=smb\naccount required ${so} socket=${pam} priv_socket=${pamPriv} service=smb\n`);
      const pt = (pw: string) => sh('qemu-arm', ['-L', proot, join(proot, 'usr', 'bin', 'pamtester'), 'nasauth-arm', 'alice', 'authenticate'], { input: `${pw}\n` });
      const ok = pt('Arm-Passw0rd-1');
      t.equal(ok.status, 0, `ARM pamtester, right password: ${ok.all}`);
      t.match(ok.all, /successfully authenticated/);
      const no = pt('Arm-Passw0rd-x');
      t.not(no.status, 0, 'ARM pamtester, wrong password refused');
    }

    d.kill('SIGTERM');
    t.equal(await exited, 0, 'clean exit on SIGTERM');
    t.notOk(existsSync(query), 'query socket removed');
  });
}
