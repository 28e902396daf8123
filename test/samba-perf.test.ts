// What smbd asks the LDAP view per SMB login, and how long a login takes through the
// view compared with the same smbd on its own tdbsam. Numbers for the benchmark, printed
// as comments; nothing here asserts a time.
import t from 'tap';
import { fileCanRun } from './helpers/env';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from './helpers/wait';
import { addUser, cleanup, startDaemon } from './helpers/daemon';
import { freePort, sambaMissing, smbclient, startSamba, type Samba } from './helpers/samba';

const missing = sambaMissing();
const RUNS = 15;
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

async function timeLogins(s: Samba, user: string, pw: string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = process.hrtime.bigint();
    const r = await smbclient(s, 'Public', user, pw);
    if (r.code !== 0) throw new Error(`login failed: ${r.out}`);
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return out;
}

if (fileCanRun(missing)) {
  t.test('LDAP traffic per login, and ldapsam→nasauth vs tdbsam', async (t) => {
    const d = await startDaemon({ config: { log: { level: 'debug', file: null }, sockets: { ldap: { enabled: true } } } });
    t.teardown(async () => { await d.stop(); cleanup(d); });
    await addUser(d, 'alice', 'Secret-pass1', ['--services', 'smb']);
    const secret = readFileSync(join(d.stateDir, 'ldap-bind.secret'), 'utf8').trim();
    const ldapSmb = await startSamba({ ldapi: d.ldap, bindSecret: secret, nssDir: join(d.dir, 'nss') });
    t.teardown(() => ldapSmb.stop());

    // one login, counted: every SMB connection is a fresh smbd child with its own LDAP connection
    await smbclient(ldapSmb, 'Public', 'alice', 'Secret-pass1'); // warm-up (smbd's first child also loads the domain)
    const mark = d.logs().length;
    const r = await smbclient(ldapSmb, 'Public', 'alice', 'Secret-pass1');
    t.equal(r.code, 0, r.out);
    // the daemon writes its debug lines after it answers: wait for this login's searches
    await waitFor('the login\'s LDAP searches in the log', () => d.logs().slice(mark).includes('"ldap":"search"'));
    const lines = d.logs().slice(mark).split('\n').filter((l) => l.includes('"ldap":'));
    const ops: Record<string, number> = {};
    for (const l of lines) { const k = JSON.parse(l).ldap as string; ops[k] = (ops[k] ?? 0) + 1; }
    t.ok((ops.search ?? 0) > 0, 'smbd searched the view');
    t.comment(`LDAP per smbclient login (ldapsam → nasauth): ${JSON.stringify(ops)}`);
    t.comment(`filters: ${[...new Set(lines.map((l) => JSON.parse(l).filter).filter(Boolean))].join(' ')}`);
    t.equal(ops.modify ?? 0, 0, 'a normal login writes nothing');

    const viaLdap = await timeLogins(ldapSmb, 'alice', 'Secret-pass1');

    const tdb = await startSamba({ backend: 'tdbsam', nssDir: join(d.dir, 'nss'), port: await freePort() });
    t.teardown(() => tdb.stop());
    const add = tdb.inNs(['smbpasswd', '-c', tdb.conf, '-a', '-s', 'alice'], 'Secret-pass1\nSecret-pass1\n');
    t.equal(add.status, 0, `tdbsam user added: ${add.stderr}`);
    const viaTdb = await timeLogins(tdb, 'alice', 'Secret-pass1');

    t.comment(`median smbclient -c ls over ${RUNS} runs: ldapsam→nasauth ${median(viaLdap).toFixed(1)} ms, tdbsam ${median(viaTdb).toFixed(1)} ms`);
    t.comment(`ldapsam runs (ms): ${viaLdap.map((x) => x.toFixed(0)).join(' ')}`);
    t.comment(`tdbsam runs (ms): ${viaTdb.map((x) => x.toFixed(0)).join(' ')}`);
  });
}
