// The shipped [TimeMachine] share (issue 12 point 3) against Samba's own client suites
// for Apple shares: smbtorture vfs.fruit_timemachine and vfs.fruit (Debian's
// samba-testsuite), run by a timemachine-only account through nasauth's LDAP view, on
// the share exactly as sysroot/etc/samba/smb.conf defines it. docs/samba.md gives the
// reason for each option and for each case that does not pass.
//
// Two runs, one real smbd each:
//   1. as shipped. The one global choice the suites disagree with is fruit:nfs_aces = no
//      (kept for the Public share's masks): the suites' enable_aapl() precondition insists
//      on the NFS-ACE capability, so every case that starts with it stops there, before it
//      tests anything. Every other case must pass, and every failure must be that one.
//   2. as shipped plus fruit:nfs_aces = yes, nothing else: then every case passes but the
//      two that describe Samba's own test shares rather than a Time Machine share, and
//      one that needs a second share without fruit. Before this branch (create mask 0600,
//      no fruit:copyfile) eleven more cases failed in this run.
import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { addUser, cleanup, startDaemon, type Daemon } from './helpers/daemon';
import { fileCanRun, firstMissing, need } from './helpers/env';
import { sambaMissing, startSamba, type Samba } from './helpers/samba';

const PW = 'Torture-pass-1';
/** Cases that need no AAPL negotiation: they must pass on the share as shipped. */
const PASS_AS_SHIPPED = [
  'copyfile', 'read metadata', 'write metadata', 'resource fork IO', 'stream names', 'File without AFP_AfpInfo',
  'create delete-on-close AFP_AfpInfo', 'setinfo delete-on-close AFP_AfpInfo', 'setinfo eof AFP_AfpInfo',
  'delete AFP_AfpInfo by writing all 0', 'create delete-on-close AFP_AfpResource', 'setinfo delete-on-close AFP_AfpResource',
  'null afpinfo', 'delete', 'creating rsrc with read-only access', 'copy-chunk streams', 'OS X AppleDouble file conversion',
  'writing_afpinfo', 'delete_trigger_convert_sharing_violation',
];
/** What the suites hold against any Time Machine share, and why (docs/samba.md). */
const NOT_FOR_A_TM_SHARE: Record<string, RegExp> = {
  // the case expects a share without Time Machine: vol_caps 0, where a TM share sets FULLSYNC (4)
  'SMB2/CREATE context AAPL': /unexpected vol_caps: 4\b/,
  // the case expects Samba's test share's "fruit:time machine max size = 32K"; ours is 1T
  'Timemachine-volsize': /Bad total_alloc_units/,
};
const NEEDS_SECOND_SHARE = 'invalid AFP_AfpInfo';

interface Result { kind: string; detail: string }

/** Run one suite against [TimeMachine]; results per case from smbtorture's subunit-style lines. */
function torture(s: Samba, suite: string): Promise<{ results: Map<string, Result>; out: string }> {
  return new Promise((resolve) => {
    const p = spawn('smbtorture', [`//127.0.0.1/TimeMachine`, '-p', String(s.port), '-U', 'tm', `--option=torture:localdir=${s.tmDir}`, suite], {
      stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PASSWD: PW, LC_ALL: 'C.UTF-8' },
    });
    let out = '';
    p.stdout.on('data', (c) => { out += c; });
    p.stderr.on('data', (c) => { out += c; });
    const timer = setTimeout(() => p.kill('SIGKILL'), 300_000);
    p.on('close', () => {
      clearTimeout(timer);
      const results = new Map<string, Result>();
      const lines = out.split('\n');
      for (let i = 0; i < lines.length; i++) {
        const m = /^(success|failure|skip|error|xfail|uxsuccess): (.*?)( \[)?$/.exec(lines[i]);
        if (!m) continue;
        let detail = '';
        if (m[3]) { while (++i < lines.length && lines[i] !== ']') detail += `${lines[i]}\n`; }
        results.set(m[2], { kind: m[1], detail });
      }
      resolve({ results, out });
    });
  });
}

async function runSuites(t: Test, d: Daemon, global: Record<string, string>) {
  const secret = readFileSync(join(d.stateDir, 'ldap-bind.secret'), 'utf8').trim();
  const s = await startSamba({ ldapi: d.ldap, bindSecret: secret, nssDir: join(d.dir, 'nss'), global });
  t.teardown(() => s.stop());
  const all = new Map<string, Result>();
  const outs: Record<string, string> = {};
  for (const suite of ['vfs.fruit_timemachine', 'vfs.fruit']) {
    const r = await torture(s, suite);
    outs[suite] = r.out;
    t.ok(r.results.size > 0, `${suite} ran (${r.results.size} cases)`) || t.comment(r.out.slice(-2000));
    for (const [k, v] of r.results) all.set(k, v);
  }
  const line = (k: string, v: Result) => `${v.kind}: ${k}${v.detail ? ` (${v.detail.trim().split('\n')[0]})` : ''}`;
  t.comment([...all].map(([k, v]) => line(k, v)).join('\n'));
  return { all, line, outs };
}

const missing = firstMissing(sambaMissing(), need(spawnSync('sh', ['-c', 'command -v smbtorture']).status === 0, 'smbtorture is not installed (Debian package samba-testsuite)'));
if (fileCanRun(missing)) {
  let d: Daemon;
  t.before(async () => {
    d = await startDaemon({ config: { sockets: { ldap: { enabled: true } } } });
    await addUser(d, 'tm', PW, ['--services', 'timemachine']);
  });
  t.teardown(async () => { await d?.stop(); if (d) cleanup(d); });

  t.test('as shipped: every case passes that does not need the NFS-ACE capability', async (t) => {
    const { all, line } = await runSuites(t, d, {});
    for (const name of PASS_AS_SHIPPED) t.equal(all.get(name)?.kind, 'success', `${name}: ${all.get(name) ? line(name, all.get(name)!) : 'did not run'}`);
    const failed = [...all].filter(([, v]) => v.kind === 'failure' || v.kind === 'error');
    t.ok(failed.length > 0, 'some cases stop at the AAPL precondition (fruit:nfs_aces = no)');
    for (const [name, v] of failed) {
      t.match(v.detail, /enable_aapl failed|unexpected server_caps: 7\b/, `${name} stops only at the AAPL capability check: ${line(name, v)}`);
    }
    // server_caps 7 = UNIX_BASED | READ_DIR_ATTR | OSX_COPYFILE: copyfile offered, NFS ACEs withheld
    t.match(all.get('SMB2/CREATE context AAPL')?.detail ?? '', /unexpected server_caps: 7\b/, 'the server offers copyfile and withholds NFS ACEs, as configured');
  });

  t.test('plus the NFS-ACE capability alone: everything passes that a Time Machine share can pass', async (t) => {
    const { all, line, outs } = await runSuites(t, d, { 'fruit:nfs_aces': 'yes' });
    t.ok(all.size >= 33, `all cases ran (${all.size})`);
    for (const [name, v] of all) {
      if (name in NOT_FOR_A_TM_SHARE) t.match(v.detail, NOT_FOR_A_TM_SHARE[name], `${name}: fails only for a Time Machine share's reason: ${line(name, v)}`);
      else if (name === NEEDS_SECOND_SHARE) t.equal(v.kind, 'skip', `${name}: needs a second share without fruit`);
      else t.equal(v.kind, 'success', line(name, v));
    }
    // Timemachine-volsize reports what the Mac sees: the share's 1T limit, in 1 KiB units,
    // minus the two 8 KiB bands the case wrote
    const units = /total_alloc_units: (\d+)\s+avail_alloc_units: (\d+)/.exec(outs['vfs.fruit_timemachine']);
    t.ok(units, 'Timemachine-volsize reported the volume size');
    t.equal(Number(units?.[1]), 2 ** 30, 'the volume a Mac sees is the share\'s 1T (fruit:time machine max size)');
    t.equal(Number(units?.[1]) - Number(units?.[2]), 16, 'less what its bands hold');
  });
}
