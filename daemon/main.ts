// nasauthd: the credential authority. One process: load and check the config, open the
// store, start the sockets, answer. Exit codes: 0 clean stop, 2 bad config, 3 bad store,
// 4 cannot start a socket, 5 another nasauthd runs on the same state folder.
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { Authority } from './authority';
import { AdminSocket } from './admin-socket';
import { loadConfig, type Config } from './config';
import { deliverOneTimePassword, oneTimePasswordPath, retireOneTimePassword } from './first-start';
import { AlreadyRunning, lockStateDir, type InstanceLock } from './instance-lock';
import { logFileOf, makeLogger } from './log';
import { NssFiles } from './nss';
import { PamSocket } from './pam-socket';
import { raiseLoopPriority } from './loop-priority';
import { collectStartupGarbage } from './startup-gc';
import { QuerySocket } from './query-socket';
import { Store } from './store';
import { VERSION } from './version';
import type { Upstream } from './upstream/upstream';

interface Surface { close(): Promise<void> }

// The LDAP view and its doctor hook bring ldapjs (a third of the bundle's code and the
// objects its modules build when loaded): loaded only when sockets.ldap.enabled, so a
// daemon without Samba never holds them (docs/performance.md).
const ldapView = () => require('./ldap-view') as typeof import('./ldap-view');
const ldapDoctor = () => require('./ldap-doctor') as typeof import('./ldap-doctor');
// The same for the directory follower and its LDAP client (ldapts): only with upstream.enabled.
const upstreamMod = () => require('./upstream/upstream') as typeof import('./upstream/upstream');
const upstreamDoctor = () => require('./upstream/doctor') as typeof import('./upstream/doctor');

const USAGE = `usage: nasauthd [--config FILE] [--check-config] [--version]
  --config FILE    YAML configuration (default: $NASAUTH_CONFIG, else the embedded default
                   with state under ./.nasauth)
  --check-config   validate the configuration and exit (0 valid, 2 invalid)
`;

function die(code: number, msg: string): never {
  process.stderr.write(`nasauthd: ${msg}\n`);
  process.exit(code);
}

export async function main(argv = process.argv.slice(2)) {
  let args;
  try {
    args = parseArgs({ args: argv, options: { config: { type: 'string' }, 'check-config': { type: 'boolean' }, version: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } }).values;
  } catch (e) { die(2, `${(e as Error).message}\n${USAGE}`); }
  if (args.help) { process.stdout.write(USAGE); return; }
  if (args.version) { process.stdout.write(`nasauthd ${VERSION}\n`); return; }
  const file = args.config ?? (process.env.NASAUTH_CONFIG || null);
  let cfg: Config;
  try { cfg = loadConfig(file); } catch (e) { die(2, (e as Error).message); }
  if (args['check-config']) { process.stdout.write(`${file ?? '(embedded default)'}: ok\n`); return; }

  // before anything uses the thread pool (the log file is opened on it): see loop-priority.ts
  const priorities = await raiseLoopPriority().catch(() => null);
  const log = makeLogger(cfg.log.level, cfg.log.file, undefined, cfg.log);
  let store: Store;
  let created: boolean;
  try {
    mkdirSync(cfg.state_dir, { recursive: true, mode: 0o700 });
    // the init script runs the daemon under umask 077: a run folder it makes gets its mode
    // explicitly, or no unprivileged PAM caller could reach the 0666 socket in it
    if (mkdirSync(cfg.run_dir, { recursive: true, mode: 0o755 })) chmodSync(cfg.run_dir, 0o755);
  } catch (e) {
    die(3, (e as Error).message);
  }
  // one daemon per state folder, taken before the store is read or anything is written
  let lock: InstanceLock;
  try { lock = await lockStateDir(cfg.state_dir); } catch (e) {
    die(e instanceof AlreadyRunning ? 5 : 3, (e as Error).message);
  }
  try {
    ({ store, created } = Store.open(cfg.state_dir));
  } catch (e) {
    lock.release();
    die(3, (e as Error).message);
  }
  const auth = new Authority(cfg, store, log);
  if (priorities) auth.floodPriority = priorities.floodPool;
  try { await auth.removeEmptyPasswords(); } catch (e) { log.error({ err: (e as Error).message }, 'could not remove empty passwords from the store'); }
  // rendered at a change, and at a start unless the files hold this store already (daemon/nss.ts)
  const nssFiles = new NssFiles(join(cfg.state_dir, 'nss.stamp'));
  const renderNss = () => {
    const c = auth.config;
    if (!c.nss.enabled) return;
    try {
      const rendered = nssFiles.update(c.nss.dir, auth.nssInputs(), () => auth.nssView(), c.accounts.home_base, c.accounts.shell,
        (f, err) => log.error({ file: f, err: err.message }, 'could not flush an NSS file to disk (it is in place; the next start writes it again)'));
      if (!rendered) auth.clashingGroups(); // logged as when they are rendered
    }
    catch (e) { log.error({ err: (e as Error).message }, 'could not render the NSS files'); }
  };
  auth.onChange(renderNss);
  renderNss();

  const adminName = cfg.first_start.admin_name;
  if (store.accountCount === 0 && cfg.first_start.create_admin && (created || !store.account(adminName))) {
    let pw: string | null = null;
    try { pw = await auth.createFirstAdmin(); } catch (e) {
      // a firmware that already has a system user of that name: start without it, and say how to fix it
      log.error({ event: 'first_admin_refused', user: adminName, err: (e as Error).message }, 'first start: no admin created');
      process.stderr.write(`nasauthd: ${(e as Error).message}\n`);
    }
    // To a root-only file (and a terminal, if stderr is one), never to the log. It must be changed at first use.
    const first = store.account(adminName);
    if (pw && first) deliverOneTimePassword(cfg.state_dir, pw, first, log);
  }
  // the one-time password file goes once that password is changed, by any path
  const retireOtp = () => {
    const why = retireOneTimePassword(auth.config.state_dir, (rid) => auth.passwordSetAt(rid));
    if (why) log.info({ event: 'initial_admin_password_removed', why }, `removed ${oneTimePasswordPath(auth.config.state_dir)}: ${why}`);
  };
  retireOtp();
  auth.onChange(retireOtp);
  const otpStatus = () => {
    const f = oneTimePasswordPath(auth.config.state_dir);
    return { initial_admin_password_file: existsSync(f) ? f : null };
  };

  // following a directory (docs/directory.md); restart to turn it on or off
  let upstream: Upstream | null = null;
  if (cfg.upstream.enabled) {
    try { upstream = new (upstreamMod().Upstream)(auth, store, log); } catch (e) { die(2, `upstream: ${(e as Error).message}`); }
    auth.upstream = upstream;
  }
  const admin = new AdminSocket(auth, VERSION, () => ({ ...otpStatus(), ...(upstream ? { upstream: upstream.status() } : {}) }));
  admin.upstream = upstream;
  if (upstream) admin.doctorHooks.push(upstreamDoctor().upstreamDoctorHook(upstream, () => auth.config.upstream.offline.lifetime_seconds, () => auth.now()));
  if (cfg.sockets.ldap.enabled) admin.doctorHooks.push(ldapDoctor().ldapDoctorHook(() => auth.config));
  const query = new QuerySocket(auth, VERSION);
  query.portal.doctorHooks = admin.doctorHooks;
  const sweep = setInterval(() => auth.sessions.sweep(), 60_000);
  sweep.unref();
  const surfaces: Surface[] = [];
  try {
    await admin.listen(cfg.sockets.admin);
    surfaces.push(admin);
    await query.listen(cfg.sockets.query);
    surfaces.push(query);
    const pam = new PamSocket(auth, { privileged: false });
    await pam.listen(cfg.sockets.pam);
    surfaces.push(pam);
    const pamPriv = new PamSocket(auth, { privileged: true });
    await pamPriv.listen(cfg.sockets.pam_priv);
    surfaces.push(pamPriv);
    if (cfg.sockets.ldap.enabled) surfaces.push(await ldapView().startLdapView(auth, log));
  } catch (e) {
    log.fatal({ err: (e as Error).message }, 'cannot start a socket');
    await Promise.all(surfaces.map((s) => s.close()));
    lock.release();
    die(4, `cannot start a socket: ${(e as Error).message}`);
  }

  const socketPaths = [cfg.sockets.admin.path, cfg.sockets.query.path, cfg.sockets.pam.path, cfg.sockets.pam_priv.path, ...(cfg.sockets.ldap.enabled ? [cfg.sockets.ldap.path] : [])];
  upstream?.start();

  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ event: 'stopping', signal: sig }, 'draining');
    const force = setTimeout(() => { log.warn('drain timed out; exiting'); finish(1); }, 5000);
    force.unref();
    upstream?.stop();
    await Promise.all(surfaces.map((s) => s.close().catch(() => undefined)));
    finish(0);
  };
  const finish = (code: number) => {
    for (const p of socketPaths) { try { unlinkSync(p); } catch { /* gone */ } }
    lock.release();
    auth.collapser.flush(); // the counts of collapsed refusals, before the last line
    log.info({ event: 'stopped' }, 'stopped');
    log.flush(() => process.exit(code));
    setTimeout(() => process.exit(code), 500).unref();
  };
  // SIGUSR1: reopen log.file (after logrotate or the firmware moved it away)
  process.on('SIGUSR1', () => {
    const f = logFileOf(log);
    if (!f) { log.info('SIGUSR1: logging to stdout; nothing to reopen'); return; }
    f.reopen();
    log.info({ event: 'log_reopened', file: f.path }, 'log file reopened');
  });
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGHUP', () => {
    if (file === null) { log.info('SIGHUP: running on the embedded default config; nothing to reload'); return; }
    try {
      const next = loadConfig(file);
      const moved = ['admin', 'query', 'pam', 'pam_priv', 'ldap'].filter((k) => (next.sockets as never)[k]['path'] !== (cfg.sockets as never)[k]['path']);
      if (next.upstream.enabled !== cfg.upstream.enabled) moved.push('upstream.enabled');
      auth.reload(next);
      if (upstream && next.upstream.enabled) upstream.reload(next);
      log.level = next.log.level;
      auth.auditLog.level = next.log.level;
      log.info({ event: 'reloaded', restart_needed_for: moved.length ? moved.map((k) => `sockets.${k}.path`) : undefined }, 'configuration reloaded');
    } catch (e) {
      log.error({ event: 'reload_refused', err: (e as Error).message }, 'new configuration refused; the running one is kept');
    }
  });

  // ready only once the signal handlers are in place: a SIGUSR1 (logrotate) or SIGTERM
  // sent as soon as the ready line is on disk must find them (Node's own SIGUSR1 would
  // start the inspector instead; a test caught the window on a loaded machine)
  // started through nasauthd-start.js (daemon/start.ts): whether a V8 code cache was used
  const codeCache = (globalThis as Record<symbol, unknown>)[Symbol.for('nasauth.codeCache')] as string | undefined;
  log.info({ event: 'ready', version: VERSION, pid: process.pid, accounts: store.accountCount, sockets: socketPaths, loop_nice: priorities?.loop ?? 0, pool_threads: priorities?.pool.length ?? 0, ...(codeCache ? { code_cache: codeCache } : {}) }, 'ready');
  log.flush(); // the init script waits for this line; do not leave it in the buffer
  (process as NodeJS.EventEmitter).emit('nasauth:ready'); // nasauthd-start.js writes the code cache now
  // shed what loading left behind, a moment after the ready line: a client that connects
  // as soon as the sockets are there (the init script's check, smbd started next) is
  // answered first instead of waiting for the collection (5-20 ms, more on the device)
  setTimeout(collectStartupGarbage, 200).unref();
}

if (require.main === module) {
  main().catch((e) => die(1, (e as Error).stack ?? String(e)));
}
