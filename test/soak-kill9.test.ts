// kill -9 soak: hundreds of random kills (before, during and after start-up) while admin
// changes and logins run concurrently, for about a minute (NASAUTH_SOAK_SECONDS). After
// every restart the store must load, and every change the daemon acknowledged must be
// there: added accounts exist, deleted ones are gone, a password set is the one that
// works (or a later one whose answer was lost with the kill). Two lanes run side by side
// on their own state folders. Seeded: NASAUTH_SOAK_SEED reproduces the kill times.
import t from 'tap';
import { tempDir } from './helpers/tmp';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { DAEMON, ensureBuilt, http, testConfig } from './helpers/daemon';
import { encodeRequest } from '../daemon/pam-frame';
import { pamExchange } from './helpers/pamwire';
import { rmrf } from './helpers/pam';
import { prng } from './fuzz/mutate';
import { pidGone, waitFor } from './helpers/wait';

const SECONDS = Number(process.env.NASAUTH_SOAK_SECONDS ?? 55);
const SEED = Number(process.env.NASAUTH_SOAK_SEED ?? Date.now() % 1_000_000);

interface Lane {
  id: number; dir: string; config: string; admin: string; query: string; pam: string;
  n: number; kills: number; starts: number; checks: number; acked: number;
  added: Set<string>; // acknowledged adds
  deleting: Set<string>; // deletes sent (acknowledged or not)
  deleted: Set<string>; // acknowledged deletes
  // keeper's password: the acknowledged one with the highest account version (the store
  // serialises changes; the version says which came last), and those sent but unanswered
  pwAcked: { pw: string; version: number };
  pwPending: Set<string>;
  problems: string[];
}

function lane(id: number): Lane {
  const dir = tempDir(`nasauth-soak${id}-`);
  chmodSync(dir, 0o755);
  const config = join(dir, 'nasauth.yaml');
  writeFileSync(config, stringify(testConfig(dir, { nss: { enabled: true, dir: join(dir, 'nss') }, rate_limit: { backoff_after: 1000, lockout_after: 10000, source_failures: 1000000 } })));
  const run = join(dir, 'run');
  return {
    id, dir, config, admin: join(run, 'admin.sock'), query: join(run, 'query.sock'), pam: join(run, 'pam.sock'),
    n: 0, kills: 0, starts: 0, checks: 0, acked: 0, added: new Set(), deleting: new Set(), deleted: new Set(), pwAcked: { pw: 'Soak-secret-0', version: 0 }, pwPending: new Set(), problems: [],
  };
}

function start(l: Lane): { proc: ChildProcess; ready: Promise<boolean>; exited: Promise<{ code: number | null; signal: string | null }>; err: () => string } {
  const proc = spawn(process.execPath, [DAEMON, '--config', l.config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (c) => { out += c; });
  proc.stderr!.on('data', (c) => { err += c; });
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) => proc.on('exit', (code, signal) => r({ code, signal })));
  const ready = new Promise<boolean>((resolve) => {
    const iv = setInterval(() => { if (out.includes('"event":"ready"')) { clearInterval(iv); resolve(true); } }, 5);
    proc.on('exit', () => { clearInterval(iv); resolve(false); });
  });
  l.starts++;
  return { proc, ready, exited, err: () => err };
}

/** Compare the store (through the admin socket) with what was acknowledged. */
async function verify(l: Lane) {
  l.checks++;
  const r = await http(l.admin, 'GET', '/v1/admin/users');
  const present = new Set((r.body.users as Array<{ name: string }>).map((u) => u.name));
  for (const a of l.added) if (!present.has(a) && !l.deleting.has(a)) l.problems.push(`lane ${l.id}: acknowledged add of ${a} lost`);
  for (const x of l.deleted) if (present.has(x)) l.problems.push(`lane ${l.id}: acknowledged delete of ${x} lost`);
  const keeper = (r.body.users as Array<{ name: string; version: number }>).find((u) => u.name === 'keeper');
  if (!keeper || keeper.version < l.pwAcked.version) l.problems.push(`lane ${l.id}: keeper is at version ${keeper?.version}, below the acknowledged ${l.pwAcked.version}`);
  let works: string | null = null;
  for (const pw of [l.pwAcked.pw, ...l.pwPending]) {
    const a = await http(l.query, 'POST', '/v1/authenticate', { user: 'keeper', password: pw, service: 'smb', source: `soak-${l.id}` });
    if (a.body.reason === 'ok') { works = pw; break; }
  }
  if (!works) l.problems.push(`lane ${l.id}: no password of keeper works (acknowledged last: ${l.pwAcked.pw}, unanswered: ${[...l.pwPending].join(', ') || 'none'})`);
  else { l.pwAcked = { pw: works, version: keeper?.version ?? 0 }; l.pwPending.clear(); } // the state now
  for (const x of [...l.deleting]) if (!present.has(x)) { l.added.delete(x); l.deleting.delete(x); l.deleted.delete(x); }
  for (const a of present) if (/^k\dx\d+$/.test(a) && !l.deleting.has(a)) l.added.add(a); // an unanswered add that landed
}

/** Admin changes and logins until `stop()`; every answer 2xx is an acknowledgement. */
function load(l: Lane, rnd: () => number) {
  let stopped = false;
  const admin = async () => {
    while (!stopped) {
      const pick = rnd();
      try {
        if (pick < 0.55 || l.added.size < 3) {
          const name = `k${l.id}x${l.n++}`;
          const r = await http(l.admin, 'POST', '/v1/admin/users', { name, password: `Soak-pass-${l.n}-z`, email: `${name}@example.com` });
          if (r.status === 201) { l.added.add(name); l.acked++; } else if (r.status !== 409) l.problems.push(`lane ${l.id}: add ${name}: HTTP ${r.status} ${r.text.slice(0, 100)}`);
        } else if (pick < 0.8) {
          const candidates = [...l.added].filter((x) => !l.deleting.has(x));
          const name = candidates[Math.floor(rnd() * candidates.length)];
          if (!name) continue;
          l.deleting.add(name);
          const r = await http(l.admin, 'DELETE', `/v1/admin/users/${name}`);
          if (r.status === 200) { l.deleted.add(name); l.acked++; }
        } else {
          const pw = `Soak-secret-${l.n++}`;
          l.pwPending.add(pw);
          const r = await http(l.admin, 'POST', '/v1/admin/users/keeper/password', { password: pw });
          if (r.status === 200) {
            l.pwPending.delete(pw);
            l.acked++;
            if (r.body.user.version > l.pwAcked.version) l.pwAcked = { pw, version: r.body.user.version };
          }
        }
      } catch { return; } // the daemon is gone
    }
  };
  const logins = async () => {
    while (!stopped) {
      try {
        await http(l.query, 'POST', '/v1/authenticate', { user: 'keeper', password: l.pwAcked.pw, service: 'smb', source: `soak-${l.id}` });
        await pamExchange(l.pam, encodeRequest('AUTH', ['samba', 'keeper', l.pwAcked.pw, `soak-${l.id}`, '']), 1, 2000);
      } catch { return; }
    }
  };
  const all = Promise.all([admin(), admin(), admin(), logins()]);
  return { stop: async () => { stopped = true; await all; } };
}

t.test(`kill -9 soak: ${SECONDS} s, seed ${SEED}`, async (t) => {
  ensureBuilt();
  const lanes = [lane(1), lane(2)];
  t.teardown(() => { for (const l of lanes) rmrf(l.dir); });
  const until = Date.now() + SECONDS * 1000;
  await Promise.all(lanes.map(async (l) => {
    const rnd = prng(SEED + l.id);
    // the first start: make the account whose password the lane changes
    let d = start(l);
    t.ok(await d.ready, `lane ${l.id}: first start`);
    const k = await http(l.admin, 'POST', '/v1/admin/users', { name: 'keeper', password: l.pwAcked.pw });
    t.equal(k.status, 201, 'keeper added');
    d.proc.kill('SIGKILL');
    await d.exited;
    while (Date.now() < until && l.problems.length === 0) {
      d = start(l);
      if (rnd() < 0.3) {
        // kill at a random moment of the start-up (store load, NSS files, sockets)
        await new Promise((r) => setTimeout(r, rnd() * 300));
      } else {
        const up = await d.ready;
        if (!up) {
          const e = await d.exited;
          l.problems.push(`lane ${l.id}: the daemon exited by itself during start-up (${e.code ?? e.signal}): ${d.err().slice(0, 500)}`);
          break;
        }
        await verify(l);
        const w = load(l, rnd);
        await new Promise((r) => setTimeout(r, 10 + rnd() * 250));
        d.proc.kill('SIGKILL');
        await w.stop();
      }
      d.proc.kill('SIGKILL');
      const e = await d.exited;
      if (e.signal === 'SIGKILL') l.kills++;
      else if (e.code !== null && e.code !== 0) { l.problems.push(`lane ${l.id}: exited ${e.code}: ${d.err().slice(0, 500)}`); break; }
    }
    // the last start, clean: the store loads and holds every acknowledged change
    d = start(l);
    t.ok(await d.ready, `lane ${l.id}: the store loads after ${l.kills} kills`);
    await verify(l);
    d.proc.kill('SIGTERM');
    await d.exited;
    await waitFor('the daemon to be gone', () => pidGone(d.proc.pid!));
  }));
  const kills = lanes.reduce((a, l) => a + l.kills, 0);
  const acked = lanes.reduce((a, l) => a + l.acked, 0);
  const checks = lanes.reduce((a, l) => a + l.checks, 0);
  t.comment(`${kills} kills, ${lanes.reduce((a, l) => a + l.starts, 0)} starts, ${acked} acknowledged changes, ${checks} verifications`);
  t.same(lanes.flatMap((l) => l.problems), [], 'no acknowledged change lost, the store loaded every time');
  t.ok(kills >= 50, `kills happened (${kills})`);
  t.ok(acked >= 20 && checks >= 20, `changes were acknowledged (${acked}) and checked (${checks}) between kills`);
});
