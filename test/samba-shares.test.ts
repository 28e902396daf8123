// Issue 12 point 3: the smb / timemachine split holds over real SMB. smbd never asks
// nasauth about shares; it reads groups. nasauth renders one group per share-bearing
// service (NSS extrausers + the LDAP view) from the same policy as every login, and the
// shipped smb.conf admits [TimeMachine] only to the timemachine group and [Public] (and
// each home folder) only to the smb group. Real smbd, real smbclient, both shares, both
// kinds of account, reading and writing; changes apply at once, without restarting smbd.
import t, { type Test } from 'tap';
import { chmodSync, chownSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { addUser, cleanup, cli, readStore, startDaemon, type Daemon } from './helpers/daemon';
import { fileCanRun } from './helpers/env';
import { tempDir } from './helpers/tmp';
import ldap from 'ldapjs';
import { sambaMissing, smbclient, startSamba, type Samba } from './helpers/samba';

/** The posixGroup entries smbd reads from the LDAP view (bound as smbd is): name → memberUid. */
function ldapGroups(d: Daemon): Promise<Record<string, string[]>> {
  const secret = readFileSync(join(d.stateDir, 'ldap-bind.secret'), 'utf8').trim();
  return new Promise((resolve, reject) => {
    const client = ldap.createClient({ socketPath: d.ldap } as unknown as ldap.ClientOptions);
    const out: Record<string, string[]> = {};
    const done = (e: Error | null) => { client.unbind(() => client.destroy()); if (e) reject(e); else resolve(out); };
    client.on('error', done);
    client.bind('cn=samba,dc=nas,dc=local', secret, (e: Error | null) => {
      if (e) return done(e);
      client.search('ou=groups,dc=nas,dc=local', { scope: 'one', filter: '(objectClass=posixGroup)', attributes: ['cn', 'memberUid'] }, (err, res) => {
        if (err) return done(err);
        res.on('searchEntry', (entry) => {
          const get = (a: string) => entry.attributes.find((x) => x.type.toLowerCase() === a.toLowerCase())?.values ?? [];
          out[String(get('cn')[0])] = [...get('memberUid')].map(String).sort();
        });
        res.on('error', done);
        res.on('end', () => done(null));
      });
    });
  });
}

const USERS: Record<string, string> = { tina: 'timemachine', sam: 'smb', bea: 'smb,timemachine', nora: 'afp,dashboard' };
const PW = 'Share-pass-1';
/** smbd's answer to an account the share's valid users leave out: refused at tree connect */
const DENIED = /tree connect failed: NT_STATUS_ACCESS_DENIED/;

if (fileCanRun(sambaMissing())) {
  let d: Daemon;
  let s: Samba;
  let homes: string;
  let local: string;
  t.before(async () => {
    homes = tempDir('nasauth-homes-');
    d = await startDaemon({ config: { sockets: { ldap: { enabled: true } }, accounts: { home_base: homes } } });
    for (const [u, svc] of Object.entries(USERS)) {
      await addUser(d, u, PW, ['--services', svc]);
      const a = readStore(d).accounts[u];
      mkdirSync(join(homes, u), { mode: 0o700 });
      chownSync(join(homes, u), a.uid, a.gid);
    }
    const secret = readFileSync(join(d.stateDir, 'ldap-bind.secret'), 'utf8').trim();
    s = await startSamba({ ldapi: d.ldap, bindSecret: secret, nssDir: join(d.dir, 'nss') });
    local = join(d.dir, 'probe.txt');
    writeFileSync(local, 'bytes\n');
  });
  t.teardown(async () => { await s?.stop(); await d?.stop(); if (d) cleanup(d); if (homes) rmSync(homes, { recursive: true, force: true }); });

  /** Write a file to the share and read the listing back; returns smbclient's exit and output. */
  const use = (share: string, user: string) => smbclient(s, share, user, PW, `put ${local} ${user}-probe.txt; ls ${user}-probe.txt`);
  const admitted = async (t: Test, share: string, user: string, why: string) => {
    const r = await use(share, user);
    t.equal(r.code, 0, `${user} uses ${share}: ${why}\n${r.out}`);
    t.match(r.out, new RegExp(`${user}-probe\\.txt`), `${user} wrote and listed a file on ${share}`);
  };
  const refused = async (t: Test, share: string, user: string, status: RegExp, why: string) => {
    const r = await use(share, user);
    t.not(r.code, 0, `${user} cannot use ${share}: ${why}`);
    t.match(r.out, status, `${user} on ${share}: ${r.out.trim().split('\n').pop()}`);
  };

  t.test('the groups smbd reads are rendered from the services', async (t) => {
    const group = readFileSync(join(d.dir, 'nss', 'group'), 'utf8');
    t.match(group, /^nasauth-smb:x:\d+:(.*)$/m, 'the smb group is in the extrausers group file');
    const members = (g: string) => (new RegExp(`^${g}:x:\\d+:(.*)$`, 'm').exec(group)?.[1] ?? '').split(',').filter(Boolean).sort();
    t.same(members('nasauth-smb'), ['bea', 'sam'], 'smb: the accounts that may use smb');
    t.same(members('nasauth-timemachine'), ['bea', 'tina'], 'timemachine: the accounts that may use timemachine');
    const view = await ldapGroups(d);
    t.same(view['nasauth-smb'], ['bea', 'sam'], 'the LDAP view serves the same smb group to smbd');
    t.same(view['nasauth-timemachine'], ['bea', 'tina'], 'and the same timemachine group');
    const conf = readFileSync(join(__dirname, '..', 'sysroot', 'etc', 'samba', 'smb.conf'), 'utf8');
    const share = (name: string) => new RegExp(`\\[${name}\\][^[]*valid users = @nasauth-${name === 'TimeMachine' ? 'timemachine' : 'smb'}\\b`).test(conf);
    t.ok(share('TimeMachine') && share('Public') && share('homes'), 'the shipped smb.conf admits each share through its group');
  });

  t.test('Time Machine: only accounts with timemachine', async (t) => {
    await admitted(t, 'TimeMachine', 'tina', 'timemachine only');
    await admitted(t, 'TimeMachine', 'bea', 'smb and timemachine');
    await refused(t, 'TimeMachine', 'sam', DENIED, 'smb only');
    await refused(t, 'TimeMachine', 'nora', /NT_STATUS_ACCOUNT_DISABLED/, 'neither smb nor timemachine: refused at login');
    t.notOk(existsSync(join(s.tmDir, 'sam-probe.txt')), 'nothing of sam\'s on the Time Machine share');
  });

  t.test('Public: only accounts with smb', async (t) => {
    await admitted(t, 'Public', 'sam', 'smb only');
    await admitted(t, 'Public', 'bea', 'smb and timemachine');
    await refused(t, 'Public', 'tina', DENIED, 'timemachine only');
    await refused(t, 'Public', 'nora', /NT_STATUS_ACCOUNT_DISABLED/, 'neither');
    t.notOk(existsSync(join(s.publicDir, 'tina-probe.txt')), 'nothing of tina\'s on Public');
  });

  t.test('home folders: only accounts with smb, each in its own', async (t) => {
    await admitted(t, 'sam', 'sam', 'smb only, own home');
    await refused(t, 'tina', 'tina', DENIED, 'timemachine only has no file shares');
    t.ok(existsSync(join(homes, 'sam', 'sam-probe.txt')), 'sam\'s file is in his home folder');
    await admitted(t, 'bea', 'bea', 'bea, smb and timemachine');
    const other = await smbclient(s, 'bea', 'sam', PW, 'ls');
    t.equal(other.code, 0, other.out);
    t.match(other.out, /sam-probe\.txt/, '\\\\NAS\\bea opened by sam is sam\'s own folder');
    t.notMatch(other.out, /bea-probe\.txt/, 'never bea\'s');
  });

  t.test('a service change reaches smbd at once, both ways', async (t) => {
    let r = await cli(d, ['service', 'deny', 'bea', 'timemachine']);
    t.equal(r.code, 0, r.stderr);
    await refused(t, 'TimeMachine', 'bea', DENIED, 'timemachine denied just now');
    await admitted(t, 'Public', 'bea', 'still smb');
    r = await cli(d, ['service', 'allow', 'tina', 'smb']);
    t.equal(r.code, 0, r.stderr);
    await admitted(t, 'Public', 'tina', 'smb allowed just now');
    r = await cli(d, ['user', 'set', 'tina', '--disable']);
    t.equal(r.code, 0, r.stderr);
    await refused(t, 'TimeMachine', 'tina', /NT_STATUS_ACCOUNT_DISABLED/, 'disabled: refused at login');
    t.notMatch(readFileSync(join(d.dir, 'nss', 'group'), 'utf8'), /^nasauth-\w+:x:\d+:.*\btina\b/m, 'a disabled account is in no service group');
  });
}
