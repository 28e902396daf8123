// nasauth: the admin CLI. It talks to the daemon's root-only admin socket.
// Exit codes: 0 done; 1 refused by the daemon (not found, exists, policy…);
// 2 usage error; 3 the daemon cannot be reached.
import { request } from 'node:http';
import { parseArgs } from 'node:util';
import { userInfo } from 'node:os';
import { loadConfig } from './config';
import { ImportSourceError, readSources } from './import-parse';
import type { ImportReport } from './import';
import { renderAll, renderDiagnosis, type Diagnosis } from './doctor-render';

export const EXIT = { ok: 0, refused: 1, usage: 2, unreachable: 3 } as const;

const HELP = `nasauth: manage the NAS's accounts (talks to nasauthd's admin socket)

usage: nasauth [--config FILE | --socket PATH] [--json] COMMAND ...

  user list
  user show NAME
  user add NAME [--role admin|user] [--email ADDR] [--full-name TEXT] [--uid N] [--gid N]
                [--services a,b] [--groups a,b] [--disabled] [--must-change] [--no-password]
  user set NAME [--email ADDR | --no-email] [--full-name TEXT] [--role R] [--enable | --disable]
                [--must-change | --no-must-change] [--uid N] [--gid N] [--services a,b] [--groups a,b]
  user passwd NAME [--must-change]
  user del NAME
  group list | group show NAME | group add NAME [--gid N] | group del NAME
  group adduser GROUP USER | group deluser GROUP USER
  service allow USER SERVICE | service deny USER SERVICE
  unlock USER
  status
  import --from DIR [--dry-run] [--overwrite] [--owner NAME] [--rename OLD=NEW]... [--uid NAME=N]...
                [--rename-group OLD=NEW]...   accounts from an old system (docs/import.md)
  doctor USER [SERVICE] [--verbose]   why USER cannot log in (to SERVICE), in plain words, each
                           with its fix; --verbose adds the technical detail; exit 0 when nothing
                           is broken (an account switched off on purpose is not broken)
  doctor --all [SERVICE]   one line per account; exit 0 when every account is as the admin intended
  directory                the directory this NAS follows: reachable?, last refresh, name clashes
  directory refresh        read every directory user and group now (docs/directory.md)

Passwords are read from the terminal (asked twice) or, when stdin is not a terminal,
from the first line of stdin. They are never taken from the command line.
The admin socket is found from --socket, else the config (--config, $NASAUTH_CONFIG,
else the embedded default).
Exit codes: 0 done, 1 refused by the daemon, 2 usage error, 3 daemon not reachable.
`;

class UsageError extends Error {}

interface Reply { status: number; body: Record<string, unknown> }

/** an import verifies each shadow hash once against the empty password: minutes on an old ARM box with many yescrypt hashes */
const IMPORT_TIMEOUT_MS = 15 * 60_000;

function call(socketPath: string, method: string, path: string, body?: unknown, timeoutMs = 30_000): Promise<Reply> {
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request({
      socketPath, method, path,
      headers: { 'content-type': 'application/json', 'x-nasauth-actor': actor(), ...(data ? { 'content-length': data.length } : {}) },
      timeout: timeoutMs,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        data?.fill(0); // the request carried a password: wipe our copy once it is sent
        try { resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }); }
        catch { reject(new Error('the daemon sent a reply that is not JSON')); }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`the daemon did not answer within ${timeoutMs / 1000} s`)));
    req.on('error', reject);
    req.end(data);
  });
}

function actor(): string {
  let u = 'unknown';
  try { u = userInfo().username; } catch { /* no passwd entry */ }
  return process.env.SUDO_USER ? `${process.env.SUDO_USER} (sudo ${u})` : u;
}

async function readSecretFromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of process.stdin) {
    chunks.push(c as Buffer);
    size += (c as Buffer).length;
    if (size > 8192) throw new UsageError('stdin: the password line is longer than 8 KiB');
    if ((c as Buffer).includes(0x0a)) break;
  }
  const all = Buffer.concat(chunks);
  const nl = all.indexOf(0x0a);
  const line = (nl >= 0 ? all.subarray(0, nl) : all).toString('utf8').replace(/\r$/, '');
  all.fill(0);
  return line;
}

function promptHidden(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    stdin.setRawMode(true);
    stdin.resume();
    let buf = '';
    const onData = (d: Buffer) => {
      for (const ch of d.toString('utf8')) {
        if (ch === '\r' || ch === '\n') { done(); resolve(buf); return; }
        if (ch === '\u0003') { done(); reject(new UsageError('cancelled')); return; }
        if (ch === '\u007f' || ch === '\b') buf = [...buf].slice(0, -1).join('');
        else buf += ch;
      }
    };
    const done = () => { stdin.off('data', onData); stdin.setRawMode(false); stdin.pause(); process.stderr.write('\n'); };
    stdin.on('data', onData);
  });
}

async function readPassword(): Promise<string> {
  if (!process.stdin.isTTY) return readSecretFromStdin();
  const a = await promptHidden('New password: ');
  const b = await promptHidden('Repeat it: ');
  if (a !== b) throw new UsageError('the two passwords differ; nothing was changed');
  return a;
}

const list = (s: string | undefined) => (s === undefined ? undefined : s.split(',').map((x) => x.trim()).filter(Boolean));
const num = (s: string | undefined, what: string) => {
  if (s === undefined) return undefined;
  if (!/^\d+$/.test(s)) throw new UsageError(`${what} must be a number`);
  return Number(s);
};

function printUser(u: Record<string, unknown>) {
  const rows: Array<[string, unknown]> = [
    ['name', u.name], ['full name', u.full_name || '-'], ['e-mail', u.email ?? '-'], ['role', u.role],
    ['enabled', u.enabled ? 'yes' : 'no'], ['services', (u.services as string[]).join(', ') || '-'],
    ['groups', (u.groups as string[]).join(', ') || '-'], ['uid / gid', `${u.uid} / ${u.gid}`],
    ['verifier', u.verifier], ['NT hash (SMB)', u.nt_hash ? 'present' : 'missing: SMB will fail until the password is set again'],
    ['password changed', u.password_changed_at ?? 'never'], ['must change password', u.must_change_password ? 'yes' : 'no'],
    ['locked until', u.locked_until ?? '-'],
    ['source', u.source === 'directory' ? `directory: ${(u.directory as { dn?: string } | undefined)?.dn ?? '?'}` : 'local (this NAS)'],
  ];
  const dir = u.directory as { seen_at: string; verified_at: string | null; nt_from: string | null; removed_at: string | null } | undefined;
  if (dir) {
    rows.push(['directory confirmed', dir.seen_at], ['password checked', dir.verified_at ?? 'not yet on this NAS'],
      ['NT hash from', dir.nt_from === 'directory' ? 'the directory (sambaNTPassword)' : dir.nt_from === 'login' ? 'a plaintext sign-in on this NAS' : 'nowhere yet'],
      ...(dir.removed_at ? [['removed', `the directory dropped it at ${dir.removed_at}`] as [string, unknown]] : []));
  }
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(21)}${String(v)}\n`);
}

export async function run(argv: string[]): Promise<number> {
  const { values: g, positionals } = parseArgs({
    args: argv, allowPositionals: true, strict: true,
    options: {
      config: { type: 'string' }, socket: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      role: { type: 'string' }, email: { type: 'string' }, 'no-email': { type: 'boolean' }, 'full-name': { type: 'string' },
      uid: { type: 'string', multiple: true }, gid: { type: 'string' },
      rename: { type: 'string', multiple: true }, 'rename-group': { type: 'string', multiple: true }, owner: { type: 'string' },
      verbose: { type: 'boolean', short: 'v' }, services: { type: 'string' }, groups: { type: 'string' },
      disabled: { type: 'boolean' }, enable: { type: 'boolean' }, disable: { type: 'boolean' },
      from: { type: 'string' }, all: { type: 'boolean' }, 'dry-run': { type: 'boolean' }, overwrite: { type: 'boolean' },
      'must-change': { type: 'boolean' }, 'no-must-change': { type: 'boolean' }, 'no-password': { type: 'boolean' },
    },
  });
  if (g.help || positionals.length === 0) { process.stdout.write(HELP); return positionals.length === 0 && !g.help ? EXIT.usage : EXIT.ok; }
  const socket = g.socket ?? loadConfig(g.config ?? (process.env.NASAUTH_CONFIG || null)).sockets.admin.path;
  const [cmd, sub, a1, a2] = positionals;
  const need = (v: string | undefined, what: string) => { if (!v) throw new UsageError(`missing ${what}`); return v; };
  const enc = encodeURIComponent;
  let r: Reply;
  let show: 'user' | 'users' | 'group' | 'groups' | 'status' | 'import' | 'doctor' | 'directory' | 'refresh' | 'done' = 'done';
  const key = `${cmd} ${sub ?? ''}`.trim();
  switch (['unlock', 'status', 'import', 'doctor'].includes(cmd) ? cmd : key) {
    case 'directory':
      r = await call(socket, 'GET', '/v1/admin/upstream');
      show = 'directory';
      break;
    case 'directory refresh':
      r = await call(socket, 'POST', '/v1/admin/upstream/refresh');
      show = 'refresh';
      break;
    case 'doctor': {
      const svc = g.all ? sub : a1;
      const qs = svc ? `?service=${enc(svc)}` : '';
      if (g.all) r = await call(socket, 'GET', `/v1/admin/doctor${qs}`);
      else r = await call(socket, 'GET', `/v1/admin/doctor/${enc(need(sub, 'USER'))}${qs}`);
      show = 'doctor';
      break;
    }
    case 'import': {
      if (!g.from) throw new UsageError('import needs --from DIR (a copy of the old system\'s root or config folder)');
      let sources;
      try { sources = readSources(g.from); } catch (e) {
        if (e instanceof ImportSourceError) { process.stderr.write(`nasauth: import: ${e.message}; nothing was imported\n`); return EXIT.refused; }
        throw e;
      }
      const pairs = (opt: string, vals: string[] | undefined, num: boolean) => {
        if (!vals) return undefined;
        const o: Record<string, string | number> = {};
        for (const v of vals) {
          const i = v.indexOf('=');
          if (i <= 0 || i === v.length - 1) throw new UsageError(`--${opt} ${v}: expected OLD=${num ? 'N' : 'NEW'}`);
          o[v.slice(0, i)] = num ? num_(v.slice(i + 1), `--${opt} ${v}`) : v.slice(i + 1);
        }
        return o;
      };
      const num_ = (s: string, what: string) => num(s, what) as number;
      r = await call(socket, 'POST', '/v1/admin/import', {
        sources, dry_run: !!g['dry-run'], overwrite: !!g.overwrite, ...(g.owner ? { owner: g.owner } : {}),
        rename: pairs('rename', g.rename, false), uid: pairs('uid', g.uid, true), rename_group: pairs('rename-group', g['rename-group'], false),
      }, IMPORT_TIMEOUT_MS);
      show = 'import';
      break;
    }
    case 'user list': r = await call(socket, 'GET', '/v1/admin/users'); show = 'users'; break;
    case 'user show': r = await call(socket, 'GET', `/v1/admin/users/${enc(need(a1, 'NAME'))}`); show = 'user'; break;
    case 'user add': {
      const name = need(a1, 'NAME');
      const body: Record<string, unknown> = { name };
      if (g.role) body.role = g.role;
      if (g.email !== undefined) body.email = g.email;
      if (g['full-name'] !== undefined) body.full_name = g['full-name'];
      if (g.uid) body.uid = num(g.uid.at(-1), '--uid');
      if (g.gid) body.gid = num(g.gid, '--gid');
      if (g.services !== undefined) body.services = list(g.services);
      if (g.groups !== undefined) body.groups = list(g.groups);
      if (g.disabled) body.enabled = false;
      if (g['must-change']) body.must_change_password = true;
      if (!g['no-password']) body.password = await readPassword();
      r = await call(socket, 'POST', '/v1/admin/users', body);
      show = 'user';
      break;
    }
    case 'user set': {
      const body: Record<string, unknown> = {};
      if (g.email !== undefined) body.email = g.email;
      if (g['no-email']) body.email = null;
      if (g['full-name'] !== undefined) body.full_name = g['full-name'];
      if (g.role) body.role = g.role;
      if (g.enable) body.enabled = true;
      if (g.disable) body.enabled = false;
      if (g['must-change']) body.must_change_password = true;
      if (g['no-must-change']) body.must_change_password = false;
      if (g.uid) body.uid = num(g.uid.at(-1), '--uid');
      if (g.gid) body.gid = num(g.gid, '--gid');
      if (g.services !== undefined) body.services = list(g.services);
      if (g.groups !== undefined) body.groups = list(g.groups);
      if (Object.keys(body).length === 0) throw new UsageError('nothing to set (see nasauth --help)');
      r = await call(socket, 'PATCH', `/v1/admin/users/${enc(need(a1, 'NAME'))}`, body);
      show = 'user';
      break;
    }
    case 'user passwd': {
      const name = need(a1, 'NAME');
      r = await call(socket, 'POST', `/v1/admin/users/${enc(name)}/password`, { password: await readPassword(), must_change_password: !!g['must-change'] });
      show = 'user';
      break;
    }
    case 'user del': r = await call(socket, 'DELETE', `/v1/admin/users/${enc(need(a1, 'NAME'))}`); break;
    case 'group list': r = await call(socket, 'GET', '/v1/admin/groups'); show = 'groups'; break;
    case 'group show': r = await call(socket, 'GET', `/v1/admin/groups/${enc(need(a1, 'NAME'))}`); show = 'group'; break;
    case 'group add': r = await call(socket, 'POST', '/v1/admin/groups', { name: need(a1, 'NAME'), ...(g.gid ? { gid: num(g.gid, '--gid') } : {}) }); show = 'group'; break;
    case 'group del': r = await call(socket, 'DELETE', `/v1/admin/groups/${enc(need(a1, 'NAME'))}`); break;
    case 'group adduser':
    case 'group deluser':
      r = await call(socket, 'POST', `/v1/admin/groups/${enc(need(a1, 'GROUP'))}/members`, { user: need(a2, 'USER'), add: sub === 'adduser' });
      show = 'group';
      break;
    case 'service allow':
    case 'service deny':
      r = await call(socket, 'POST', `/v1/admin/users/${enc(need(a1, 'USER'))}/services`, { service: need(a2, 'SERVICE'), allow: sub === 'allow' });
      show = 'user';
      break;
    case 'unlock': r = await call(socket, 'POST', `/v1/admin/users/${enc(need(sub, 'USER'))}/unlock`); show = 'user'; break;
    case 'status': r = await call(socket, 'GET', '/v1/admin/status'); show = 'status'; break;
    default: throw new UsageError(`unknown command "${positionals.join(' ')}" (see nasauth --help)`);
  }
  if (r.status >= 400) {
    const e = (r.body.error ?? {}) as { message?: string; code?: string };
    if (g.json) process.stdout.write(JSON.stringify(r.body) + '\n');
    process.stderr.write(`nasauth: ${e.message ?? `the daemon refused (HTTP ${r.status})`}\n`);
    return EXIT.refused;
  }
  const doctorOk = show !== 'doctor' || (r.body.diagnosis ? (r.body.diagnosis as Diagnosis).ok : (r.body.diagnoses as Diagnosis[]).every((x) => x.ok));
  if (g.json) { process.stdout.write(JSON.stringify(r.body) + '\n'); return doctorOk ? EXIT.ok : EXIT.refused; }
  const b = r.body;
  switch (show) {
    case 'user': printUser(b.user as Record<string, unknown>); break;
    case 'users':
      for (const u of b.users as Array<Record<string, unknown>>) {
        process.stdout.write(`${String(u.name).padEnd(20)} ${String(u.uid).padEnd(6)} ${String(u.role).padEnd(6)} ${u.enabled ? 'enabled ' : 'disabled'} ${u.source === 'directory' ? 'directory' : 'local    '} ${String(u.email ?? '-').padEnd(28)} ${(u.services as string[]).join(',')}\n`);
      }
      break;
    case 'group': { const x = b.group as Record<string, unknown>; process.stdout.write(`${x.name}:${x.gid}:${(x.members as string[]).join(',')}\n`); break; }
    case 'groups': for (const x of b.groups as Array<Record<string, unknown>>) process.stdout.write(`${x.name}:${x.gid}:${(x.members as string[]).join(',')}\n`); break;
    case 'status': printStatus(b); break;
    case 'directory': printDirectory(b.upstream as Record<string, any>); break; // eslint-disable-line @typescript-eslint/no-explicit-any
    case 'refresh': {
      const x = b.report as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
      process.stdout.write(x.ok
        ? `refreshed in ${x.ms} ms: ${x.users} users, ${x.groups} groups; ${x.created} new, ${x.updated} changed, ${x.removed} removed${x.removals_held ? `; ${x.removals_held} removals held back (see the daemon log)` : ''}\n`
        : `the refresh failed: ${x.error}\n`);
      for (const k of x.skipped ?? []) process.stdout.write(`skipped   ${k.dn}: ${k.why}\n`);
      for (const c of x.clashes ?? []) process.stdout.write(`clash     ${c.name}: ${c.why}\n`);
      return x.ok ? EXIT.ok : EXIT.refused;
    }
    case 'import': printImport(b.report as ImportReport, !!g['dry-run']); break;
    case 'doctor':
      if (b.diagnosis) process.stdout.write(renderDiagnosis(b.diagnosis as Diagnosis, !!g.verbose));
      else process.stdout.write(renderAll(b.diagnoses as Diagnosis[]));
      return doctorOk ? EXIT.ok : EXIT.refused;
    default: process.stdout.write('done\n');
  }
  return EXIT.ok;
}

function printImport(r: ImportReport, dry: boolean) {
  process.stdout.write(`${dry ? 'dry run: nothing was changed\n' : ''}sources: ${Object.entries(r.sources).map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
  if (r.owner) process.stdout.write(r.owner.name ? `old owner: ${r.owner.name} (${r.owner.why})${r.owner.carried_onto ? `, carried over onto the first-start admin "${r.owner.carried_onto}"` : ''}\n` : `old owner: none recognised (${r.owner.why})\n`);
  for (const a of r.accounts) {
    const bits = [a.as ? `as ${a.as}` : undefined, a.uid !== undefined ? `uid ${a.uid}` : undefined, a.verifier, a.nt_hash === undefined ? undefined : a.nt_hash ? 'NT hash' : 'no NT hash', a.email ? `e-mail ${a.email}` : undefined].filter(Boolean);
    process.stdout.write(`${a.outcome.padEnd(9)} ${a.name.padEnd(20)} ${bits.join(', ')}\n`);
    for (const n of a.notes) process.stdout.write(`          - ${n}\n`);
  }
  for (const g of r.groups) process.stdout.write(`${g.outcome.padEnd(9)} group ${g.name}${g.as ? ` as ${g.as}` : ''}${g.gid !== undefined ? ` (gid ${g.gid})` : ''}${g.notes.length ? `: ${g.notes.join('; ')}` : ''}\n`);
  const s = r.summary;
  process.stdout.write(`${dry ? 'would ' : ''}create ${s.create}, update ${s.update}, unchanged ${s.unchanged}, skipped ${s.skip}\n`);
  const lost = r.emails_not_carried ?? [];
  if (lost.length) {
    process.stdout.write(`e-mails NOT carried over (${lost.length}):\n`);
    for (const l of lost) process.stdout.write(`          - ${l.name}: ${l.email} (${l.why})\n`);
  } else process.stdout.write('every e-mail of the old system is carried over\n');
}

function printStatus(s: Record<string, any>) { // eslint-disable-line @typescript-eslint/no-explicit-any
  const v = s.verifiers;
  process.stdout.write(`nasauthd ${s.version}\n`);
  process.stdout.write(`store        ${s.store.file} (generation ${s.store.generation})\n`);
  process.stdout.write(`accounts     ${s.store.accounts}, groups ${s.store.groups}\n`);
  process.stdout.write(`verifiers    ${v.modern} modern, ${v.legacy} legacy (upgraded at the next login), ${v.nt_only} NT-hash only, ${v.none} without any password\n`);
  if (v.without_nt_hash.length) {
    process.stdout.write(`no NT hash   ${v.without_nt_hash.join(', ')}: SMB will fail until this user logs in once elsewhere or the admin resets the password\n`);
  }
  if (s.locked.length) process.stdout.write(`locked       ${s.locked.map((l: { name: string; until: string }) => `${l.name} until ${l.until}`).join(', ')} (nasauth unlock USER)\n`);
  if (s.disabled.length) process.stdout.write(`disabled     ${s.disabled.join(', ')}\n`);
  if (s.must_change_password.length) process.stdout.write(`must change  ${s.must_change_password.join(', ')}\n`);
  if (s.initial_admin_password_file) process.stdout.write(`first start  the one-time admin password is in ${s.initial_admin_password_file} (root only); it goes once the password is changed\n`);
  process.stdout.write(`cache        ${s.cache.entries} entries, ${s.cache.hits} hits, ${s.cache.misses} misses\n`);
  process.stdout.write(`memory       ${(s.memory.rss_bytes / 1048576).toFixed(1)} MiB resident\n`);
  if (s.upstream) {
    const u = s.upstream;
    process.stdout.write(`directory    ${u.state === 'offline' ? `OFFLINE since ${u.since}: ${u.error?.message}` : u.state === 'online' ? `online (${u.url})` : 'not asked yet'}; ${u.accounts} accounts, refreshed ${u.refreshed_at ?? 'never'}\n`);
    if (u.clashes.length) process.stdout.write(`name clash   ${u.clashes.map((c: { name: string }) => c.name).join(', ')} (nasauth directory)\n`);
  }
}

function printDirectory(u: Record<string, any>) { // eslint-disable-line @typescript-eslint/no-explicit-any
  process.stdout.write(`state        ${u.state}${u.state === 'offline' ? ` since ${u.since}` : ''}${u.url ? ` (${u.url})` : ''}\n`);
  if (u.error) process.stdout.write(`problem      ${u.error.message}\n`);
  process.stdout.write(`accounts     ${u.accounts} from the directory\n`);
  process.stdout.write(`refreshed    ${u.refreshed_at ?? 'never'}; next ${u.next_refresh ?? '-'}\n`);
  const r = u.last_refresh;
  if (r) process.stdout.write(`last refresh ${r.ok ? `${r.users} users, ${r.groups} groups in ${r.ms} ms` : `failed: ${r.error}`}\n`);
  process.stdout.write(`offline      logins answered from the offline copies for ${u.offline_lifetime_seconds} s after the directory last confirmed an account\n`);
  for (const c of u.clashes) process.stdout.write(`clash        ${c.name}: ${c.why}\n`);
}

export async function cliMain(argv = process.argv.slice(2)): Promise<number> {
  try {
    return await run(argv);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (e instanceof UsageError || err.code?.startsWith('ERR_PARSE_ARGS')) { process.stderr.write(`nasauth: ${err.message}\n`); return EXIT.usage; }
    if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'EACCES') {
      process.stderr.write(`nasauth: cannot reach nasauthd's admin socket (${err.code}): is the daemon running, and are you root?\n`);
      return EXIT.unreachable;
    }
    if ((e as { code?: string }).code === 'NASAUTH_CONFIG') { process.stderr.write(`nasauth: ${err.message}\n`); return EXIT.usage; }
    process.stderr.write(`nasauth: ${err.message}\n`);
    return EXIT.unreachable;
  }
}

if (require.main === module) {
  // `nasauth user list | head` closes our stdout early: that is not an error
  process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0); throw e; });
  cliMain().then((code) => { process.exitCode = code; });
}
