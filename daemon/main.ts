// nasauthd: the credential authority. One process: load and check the config, open the
// store, start the sockets, answer. Exit codes: 0 clean stop, 2 bad config, 3 bad store,
// 4 cannot start a socket, 5 another nasauthd runs on the same state folder.
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Authority } from './authority';
import { AdminSocket } from './admin-socket';
import { ldapDoctorHook } from './ldap-doctor';
import { loadConfig, type Config } from './config';
import { deliverOneTimePassword, oneTimePasswordPath, retireOneTimePassword } from './first-start';
import { AlreadyRunning, lockStateDir, type InstanceLock } from './instance-lock';
import { startLdapView } from './ldap-view';
import { logFileOf, makeLogger } from './log';
import { writeNss } from './nss';
import { PamSocket } from './pam-socket';
import { QuerySocket } from './query-socket';
import { Store } from './store';
import { VERSION } from './version';

interface Surface { close(): Promise<void> }

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
  const renderNss = () => {
    if (!auth.config.nss.enabled) return;
    try { writeNss(auth.config.nss.dir, store.snapshot, auth.config.accounts.home_base, auth.config.accounts.shell); }
    catch (e) { log.error({ err: (e as Error).message }, 'could not render the NSS files'); }
  };
  store.onChange = renderNss;
  renderNss();

  if (store.accounts().length === 0 && cfg.first_start.create_admin && (created || !store.account('admin'))) {
    const pw = await auth.createFirstAdmin();
    // To a root-only file (and a terminal, if stderr is one), never to the log. It must be changed at first use.
    deliverOneTimePassword(cfg.state_dir, pw, store.accounts()[0], log);
  }
  // the one-time password file goes once that password is changed, by any path
  const retireOtp = () => {
    const why = retireOneTimePassword(auth.config.state_dir, store);
    if (why) log.info({ event: 'initial_admin_password_removed', why }, `removed ${oneTimePasswordPath(auth.config.state_dir)}: ${why}`);
  };
  retireOtp();
  const prevOnChange = store.onChange;
  store.onChange = (d) => { prevOnChange(d); retireOtp(); };
  const otpStatus = () => {
    const f = oneTimePasswordPath(auth.config.state_dir);
    return { initial_admin_password_file: existsSync(f) ? f : null };
  };

  const admin = new AdminSocket(auth, VERSION, otpStatus);
  if (cfg.sockets.ldap.enabled) admin.doctorHooks.push(ldapDoctorHook(() => auth.config));
  const query = new QuerySocket(auth, VERSION);
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
    if (cfg.sockets.ldap.enabled) surfaces.push(await startLdapView(auth, log));
  } catch (e) {
    log.fatal({ err: (e as Error).message }, 'cannot start a socket');
    await Promise.all(surfaces.map((s) => s.close()));
    lock.release();
    die(4, `cannot start a socket: ${(e as Error).message}`);
  }

  const socketPaths = [cfg.sockets.admin.path, cfg.sockets.query.path, cfg.sockets.pam.path, cfg.sockets.pam_priv.path, ...(cfg.sockets.ldap.enabled ? [cfg.sockets.ldap.path] : [])];
  log.info({ event: 'ready', version: VERSION, pid: process.pid, accounts: store.accounts().length, sockets: socketPaths }, 'ready');
  log.flush(); // the init script waits for this line; do not leave it in the buffer

  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ event: 'stopping', signal: sig }, 'draining');
    const force = setTimeout(() => { log.warn('drain timed out; exiting'); finish(1); }, 5000);
    force.unref();
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
      auth.reload(next);
      log.level = next.log.level;
      auth.auditLog.level = next.log.level;
      log.info({ event: 'reloaded', restart_needed_for: moved.length ? moved.map((k) => `sockets.${k}.path`) : undefined }, 'configuration reloaded');
    } catch (e) {
      log.error({ event: 'reload_refused', err: (e as Error).message }, 'new configuration refused; the running one is kept');
    }
  });
}

if (require.main === module) {
  main().catch((e) => die(1, (e as Error).stack ?? String(e)));
}
