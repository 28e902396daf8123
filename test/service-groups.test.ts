// The service groups nasauth renders (issue 12 point 3): their config is checked like
// every other key, NAS groups cannot take their names or gids, and the rendered members
// follow the policy: account changes and a reloaded config (roles) at once.
import t from 'tap';
import { tempDir } from './helpers/tmp';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DAEMON, addUser, cleanup, cli, ensureBuilt, startDaemon } from './helpers/daemon';
import { waitFor } from './helpers/wait';
import { parse, stringify } from 'yaml';

ensureBuilt();

t.test('a broken service_groups config stops the daemon with the file and the key', async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['unknown service', 'service_groups: { teleport: { name: tele, gid: 60600 } }', /nasauth\.yaml: service_groups\.teleport: expected a service listed under services/],
    ['two groups, one gid', 'service_groups: { smb: { name: a-smb, gid: 60600 }, timemachine: { name: a-tm, gid: 60600 } }', /service_groups\.timemachine\.gid: expected a gid no other service group has/],
    ['two groups, one name', 'service_groups: { smb: { name: shared, gid: 60600 }, timemachine: { name: shared, gid: 60601 } }', /service_groups\.timemachine\.name: expected a name no other service group has/],
    ['the accounts\' primary gid', 'service_groups: { smb: { name: a-smb, gid: 100 } }', /service_groups\.smb\.gid: expected a gid of its own/],
    ['a bad name', 'service_groups: { smb: { name: "Smb Users", gid: 60600 } }', /service_groups\.smb\.name: expected a group name/],
    ['a missing gid', 'service_groups: { smb: { name: a-smb } }', /service_groups\.smb\.gid: expected a value/],
  ];
  for (const [name, yaml, re] of cases) {
    const dir = tempDir('nasauth-cfg-');
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const f = join(dir, 'nasauth.yaml');
    writeFileSync(f, `version: 1\n${yaml}\n`);
    const r = spawnSync(process.execPath, [DAEMON, '--config', f, '--check-config'], { encoding: 'utf8', timeout: 10000 });
    t.equal(r.status, 2, `${name}: exit 2`);
    t.match(r.stderr, re, name);
    t.equal(r.stderr.trim().split('\n').length, 1, `${name}: one message`);
  }
});

t.test('NAS groups never take a service group\'s name or gid', async (t) => {
  const d = await startDaemon();
  t.teardown(async () => { await d.stop(); cleanup(d); });
  let r = await cli(d, ['group', 'add', 'nasauth-smb']);
  t.equal(r.code, 1, 'the name is refused');
  t.match(r.stderr, /is the group nasauth renders for the smb service/);
  r = await cli(d, ['group', 'add', 'family', '--gid', '60531']);
  t.equal(r.code, 1, 'the gid is refused');
  t.match(r.stderr, /gid 60531 belongs to the timemachine service group/);
  r = await cli(d, ['--json', 'group', 'add', 'family']);
  t.equal(r.code, 0, r.stderr);
  t.notOk([60530, 60531].includes(JSON.parse(r.stdout).group.gid), 'an automatic gid is never a service group\'s');
});

t.test('members follow the policy: account changes and a reloaded config', async (t) => {
  const d = await startDaemon();
  t.teardown(async () => { await d.stop(); cleanup(d); });
  const members = (g: string) => (new RegExp(`^${g}:x:\\d+:(.*)$`, 'm').exec(readFileSync(join(d.dir, 'nss', 'group'), 'utf8'))?.[1] ?? null);
  await addUser(d, 'ann', 'Secret-pass1', ['--services', 'smb,timemachine']);
  await addUser(d, 'ben', 'Secret-pass1', ['--services', 'timemachine', '--role', 'admin']);
  t.equal(members('nasauth-smb'), 'ann');
  t.equal(members('nasauth-timemachine'), 'ann,ben');
  await cli(d, ['service', 'deny', 'ann', 'timemachine']);
  t.equal(members('nasauth-timemachine'), 'ben', 'a denied service leaves its group at once');
  // the config now keeps Time Machine for admins: ann (a user) may no longer use it even if listed
  await cli(d, ['service', 'allow', 'ann', 'timemachine']);
  t.equal(members('nasauth-timemachine'), 'ann,ben');
  const cfg = readFileSync(d.config, 'utf8');
  writeFileSync(d.config, `${cfg}services:\n  smb: { roles: [admin, user] }\n  timemachine: { roles: [admin] }\n  afp: { roles: [admin, user] }\n  dashboard: { roles: [admin, user] }\n  ssh: { roles: [admin] }\n  ftp: { roles: [admin, user] }\n  webdav: { roles: [admin, user] }\n`);
  d.proc.kill('SIGHUP');
  await waitFor('the group file re-rendered after the reload', () => members('nasauth-timemachine') === 'ben');
  t.pass('a reload that changes who may use a service re-renders its group');
});

t.test('a start writes the NSS files again when the disk lost their last write', async (t) => {
  // daemon/nss.ts renames a new file into place and fsyncs it afterwards: a crash in
  // between can leave an empty file; the next start must put the whole file back
  // before it is ready, as it does for one that differs from the store
  const d = await startDaemon();
  t.teardown(() => cleanup(d));
  await addUser(d, 'nina', 'Correct-horse-9');
  const passwd = join(d.dir, 'nss', 'passwd');
  const group = join(d.dir, 'nss', 'group');
  const want = { passwd: readFileSync(passwd, 'utf8'), group: readFileSync(group, 'utf8') };
  t.match(want.passwd, /^nina:x:\d+:/m);
  await d.stop();
  writeFileSync(passwd, '');
  writeFileSync(group, want.group.slice(0, 10));
  const again = await startDaemon({ dir: d.dir });
  t.teardown(() => again.stop());
  t.equal(readFileSync(passwd, 'utf8'), want.passwd, 'passwd whole again at ready');
  t.equal(readFileSync(group, 'utf8'), want.group, 'group whole again at ready');
});

t.test('a restart renders the NSS files again when the store or the config changed while it was stopped', async (t) => {
  // daemon/nss.ts skips the render at a start when a stamp says the files hold what this
  // store and config render: a store restored from store.json.prev (what its corruption
  // message tells an admin to do) or an edited config must still reach the files
  const d = await startDaemon();
  t.teardown(() => cleanup(d));
  const passwd = join(d.dir, 'nss', 'passwd');
  await addUser(d, 'olga', 'Correct-horse-9');
  await addUser(d, 'pete', 'Correct-horse-9');
  t.match(readFileSync(passwd, 'utf8'), /^pete:x:/m);
  await d.stop();
  const state = join(d.dir, 'state');
  t.ok(readFileSync(join(state, 'nss.stamp'), 'utf8').length > 0, 'the stamp is there after a run');
  writeFileSync(join(state, 'store.json'), readFileSync(join(state, 'store.json.prev'))); // before pete
  let again = await startDaemon({ dir: d.dir });
  t.match(readFileSync(passwd, 'utf8'), /^olga:x:/m);
  t.notMatch(readFileSync(passwd, 'utf8'), /^pete:/m, 'the restored store, rendered at ready');
  await again.stop();
  const cfg = parse(readFileSync(d.config, 'utf8')) as { accounts?: Record<string, unknown> };
  writeFileSync(d.config, stringify({ ...cfg, accounts: { ...cfg.accounts, home_base: '/srv/homes' } }));
  again = await startDaemon({ dir: d.dir });
  t.teardown(() => again.stop());
  t.match(readFileSync(passwd, 'utf8'), /^olga:x:\d+:\d+:[^:]*:\/srv\/homes\/olga:/m, 'the new home base, rendered at ready');
});
