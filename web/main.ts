// nasauth-web: the account portal's process. It speaks HTTPS to browsers on the LAN
// (plain HTTP only on loopback) and the query socket to nasauthd, and nothing else.
// Started as root (to read the TLS key and bind port 443) it drops to --user at once.
// Exit codes: 0 clean stop, 2 usage or bad option, 4 cannot listen or drop privileges.
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { buildApp } from './app';

declare const __NASAUTH_VERSION__: string;
const VERSION = typeof __NASAUTH_VERSION__ === 'string' ? __NASAUTH_VERSION__ : '0.0.0-dev';

const USAGE = `usage: nasauth-web [--listen ADDR:PORT] [--query-socket PATH] [--cert FILE --key FILE] [--user NAME] [--site NAME]
  --listen ADDR:PORT  where browsers connect (default 127.0.0.1:8080). Any address but
                      loopback needs --cert and --key: HTTPS on the LAN, plain HTTP never.
  --query-socket P    nasauthd's query socket (default $NASAUTH_QUERY_SOCKET, else
                      /run/nasauth/query.sock)
  --cert F --key F    PEM certificate and key: serve HTTPS
  --user NAME         when started as root: after reading the key and listening, run as
                      NAME with its groups (the query socket's group); the device's is nasauth-web
  --site NAME         the NAS's name in the page title (default: the host name)
A self-signed certificate: nasauth-web-cert (dist/nasauth-web-cert.js), run by install.sh.
`;

function die(code: number, msg: string): never {
  process.stderr.write(`nasauth-web: ${msg}\n`);
  process.exit(code);
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

function parseListen(v: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:]+)):(\d{1,5})$/.exec(v);
  const host = m?.[1] ?? m?.[2];
  const port = m ? Number(m[3]) : NaN;
  if (!host || !(port >= 0 && port <= 65535) || (host !== 'localhost' && !isIP(host))) die(2, `--listen ${v}: expected ADDR:PORT with an IP address, like 0.0.0.0:443 or 127.0.0.1:8080`);
  return { host, port };
}

/** uid and primary gid of a user: /etc/passwd first (busybox has no getent), then NSS. */
function lookupUser(name: string): { uid: number; gid: number } {
  const parse = (line: string | undefined) => {
    const f = line?.split(':');
    return f && f[0] === name && /^\d+$/.test(f[2] ?? '') && /^\d+$/.test(f[3] ?? '') ? { uid: Number(f[2]), gid: Number(f[3]) } : null;
  };
  try {
    const hit = readFileSync('/etc/passwd', 'utf8').split('\n').map(parse).find(Boolean);
    if (hit) return hit;
  } catch { /* no /etc/passwd */ }
  try {
    const hit = parse(execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim());
    if (hit) return hit;
  } catch { /* not found */ }
  return die(2, `--user ${name}: no such user`);
}

export async function main(argv = process.argv.slice(2)) {
  let a;
  try {
    a = parseArgs({
      args: argv, strict: true, options: {
        listen: { type: 'string' }, 'query-socket': { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' }, user: { type: 'string' },
        site: { type: 'string' },
        version: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (e) { die(2, `${(e as Error).message}\n${USAGE}`); }
  if (a.help) { process.stdout.write(USAGE); return; }
  if (a.version) { process.stdout.write(`nasauth-web ${VERSION}\n`); return; }
  const { host, port } = parseListen(a.listen ?? '127.0.0.1:8080');
  if ((a.cert === undefined) !== (a.key === undefined)) die(2, '--cert and --key go together');
  const secure = a.cert !== undefined;
  if (!secure && !isLoopback(host)) die(2, `--listen ${a.listen}: plain HTTP is for loopback only (127.0.0.1, ::1); on the LAN give --cert and --key`);
  const asRoot = process.getuid?.() === 0;
  if (asRoot && !a.user && !isLoopback(host)) die(2, 'refusing to serve the LAN as root: give --user (the device uses nasauth-web)');
  const target = a.user ? lookupUser(a.user) : null;
  if (a.user && !asRoot) die(2, `--user ${a.user}: only root can change to another user`);
  let tls: { key: Buffer; cert: Buffer } | undefined;
  if (secure) {
    try { tls = { key: readFileSync(a.key!), cert: readFileSync(a.cert!) }; } catch (e) { die(2, `cannot read the certificate or key: ${(e as Error).message}`); }
  }
  const log = pino({ base: { svc: 'nasauth-web' }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (l) => ({ level: l }) } });
  const querySocket = a['query-socket'] ?? (process.env.NASAUTH_QUERY_SOCKET || '/run/nasauth/query.sock');
  const { app } = await buildApp({ querySocket, secure, tls, site: a.site ?? hostname(), version: VERSION, log });
  try {
    await app.listen({ host, port });
  } catch (e) { die(4, `cannot listen on ${host}:${port}: ${(e as Error).message}`); }
  tls?.key.fill(0);
  if (target) {
    try {
      (process as unknown as { initgroups(u: string, g: number): void }).initgroups(a.user!, target.gid);
      process.setgid!(target.gid);
      process.setuid!(target.uid);
    } catch (e) { die(4, `cannot run as ${a.user}: ${(e as Error).message}`); }
    if (process.getuid!() === 0 || process.geteuid!() === 0) die(4, 'still root after dropping privileges; stopping');
  } else if (asRoot) {
    log.warn('running as root on loopback (development); on a NAS give --user nasauth-web');
  }
  const addr = app.server.address();
  const actual = typeof addr === 'object' && addr ? addr.port : port;
  const url = `${secure ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${actual}/`;
  log.info({ event: 'ready', version: VERSION, pid: process.pid, url, uid: process.getuid?.(), query_socket: querySocket }, 'ready');

  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ event: 'stopping', signal: sig }, 'stopping');
    setTimeout(() => process.exit(1), 5000).unref();
    app.close().then(() => { log.info({ event: 'stopped' }, 'stopped'); log.flush?.(); process.exit(0); }, () => process.exit(1));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => log.info('SIGHUP: nothing to reload (restart to read a new certificate)'));
}

if (require.main === module) {
  main().catch((e) => die(1, (e as Error).stack ?? String(e)));
}
