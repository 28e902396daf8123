// nasauth-web: the account portal's process. It speaks HTTPS to browsers on the LAN
// (plain HTTP only on loopback) and the query socket to nasauthd, and nothing else.
// Started as root with --user (to read the TLS key and bind port 443), it hands both to
// a new process running as that user and exits (see launch()).
// Exit codes: 0 clean stop, 2 usage or bad option, 4 cannot listen or drop privileges.
import '../daemon/start-flags'; // first: Node's own code cache despite NODE_OPTS (see there)
import { readFileSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
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
  --user NAME         when started as root: read the key, bind the port, then serve as
                      NAME (its primary group: the query socket's group) in a new process,
                      and exit; nothing stays root. The device's user is nasauth-web
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

/** Read a bounded amount of stdin (the launcher's hand-over of the TLS material). */
function readStdin(limit = 64 * 1024): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    process.stdin.on('data', (c: Buffer) => { n += c.length; if (n > limit) reject(new Error('too much on stdin')); else chunks.push(c); });
    process.stdin.on('end', () => resolve(Buffer.concat(chunks)));
    process.stdin.on('error', reject);
  });
}

/**
 * As root with --user: bind the port and read the key, then start the server as that
 * user (child_process with uid/gid: the kernel's fork, setgid, setuid, exec; Debian's
 * node refuses process.setuid() while io_uring may be in use, CVE-2024-22017), hand it
 * the listening socket as fd 3 and the certificate and key on its stdin, and exit:
 * nothing stays root. The first line says which process serves.
 */
async function launch(a: Record<string, string | boolean | undefined>, host: string, port: number, target: { uid: number; gid: number }, tls?: { key: Buffer; cert: Buffer }) {
  const srv = createServer();
  try {
    await new Promise<void>((res, rej) => { srv.once('error', rej); srv.listen({ host, port, exclusive: true }, () => res()); });
  } catch (e) { die(4, `cannot listen on ${host}:${port}: ${(e as Error).message}`); }
  const fd = (srv as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) die(4, 'cannot hand the listening socket over (no file descriptor)');
  const actual = (srv.address() as { port: number }).port;
  const args = [...process.execArgv, resolve(process.argv[1]), '--listen-fd', '3', '--listen', `${host.includes(':') ? `[${host}]` : host}:${actual}`,
    ...(a['query-socket'] ? ['--query-socket', resolve(String(a['query-socket']))] : []), '--site', String(a.site ?? hostname()), ...(tls ? ['--tls-stdin'] : [])];
  const child = spawn(process.execPath, args, { uid: target.uid, gid: target.gid, stdio: ['pipe', 'inherit', 'inherit', fd], cwd: '/' });
  srv.close(); // the server holds its own copy now
  process.stdout.write(`${JSON.stringify({ level: 'info', time: new Date().toISOString(), svc: 'nasauth-web', event: 'spawned', launcher: process.pid, pid: child.pid, user: a.user })}\n`);
  const hand = tls ? JSON.stringify({ key: tls.key.toString('base64'), cert: tls.cert.toString('base64') }) : '';
  tls?.key.fill(0);
  child.stdin!.end(hand);
  child.unref();
  await new Promise<void>((res) => child.stdin!.once('finish', () => res()));
  process.exit(0);
}

export async function main(argv = process.argv.slice(2)) {
  let a;
  try {
    a = parseArgs({
      args: argv, strict: true, options: {
        listen: { type: 'string' }, 'query-socket': { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' }, user: { type: 'string' },
        site: { type: 'string' }, version: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
        // internal: the server started by the launcher (see launch())
        'listen-fd': { type: 'string' }, 'tls-stdin': { type: 'boolean' },
      },
    }).values;
  } catch (e) { die(2, `${(e as Error).message}\n${USAGE}`); }
  if (a.help) { process.stdout.write(USAGE); return; }
  if (a.version) { process.stdout.write(`nasauth-web ${VERSION}\n`); return; }
  const { host, port } = parseListen(a.listen ?? '127.0.0.1:8080');
  const asRoot = process.getuid?.() === 0;
  const child = a['listen-fd'] !== undefined;
  if (child && (asRoot || a['listen-fd'] !== '3')) die(2, '--listen-fd is internal (the launcher uses it) and never runs as root');
  if ((a.cert === undefined) !== (a.key === undefined)) die(2, '--cert and --key go together');
  const secure = a.cert !== undefined || !!a['tls-stdin'];
  if (!secure && !isLoopback(host)) die(2, `--listen ${a.listen}: plain HTTP is for loopback only (127.0.0.1, ::1); on the LAN give --cert and --key`);
  if (asRoot && !a.user && !isLoopback(host)) die(2, 'refusing to serve the LAN as root: give --user (the device uses nasauth-web)');
  if (a.user && !asRoot) die(2, `--user ${a.user}: only root can change to another user`);
  const target = a.user ? lookupUser(a.user) : null;
  if (target && target.uid === 0) die(2, `--user ${a.user}: that is root`);
  let tls: { key: Buffer; cert: Buffer } | undefined;
  if (a['tls-stdin']) {
    try {
      const j = JSON.parse((await readStdin()).toString('utf8'));
      tls = { key: Buffer.from(j.key, 'base64'), cert: Buffer.from(j.cert, 'base64') };
    } catch (e) { die(2, `no certificate from the launcher: ${(e as Error).message}`); }
  } else if (secure) {
    try { tls = { key: readFileSync(a.key!), cert: readFileSync(a.cert!) }; } catch (e) { die(2, `cannot read the certificate or key: ${(e as Error).message}`); }
  }
  if (target) return launch(a, host, port, target, tls);

  const log = pino({ base: { svc: 'nasauth-web' }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (l) => ({ level: l }) } });
  const querySocket = a['query-socket'] || (process.env.NASAUTH_QUERY_SOCKET || '/run/nasauth/query.sock');
  const { app } = await buildApp({ querySocket, secure, tls, site: a.site ?? hostname(), version: VERSION, log });
  try {
    if (child) {
      await app.ready();
      await new Promise<void>((res, rej) => { app.server.once('error', rej); app.server.listen({ fd: 3 }, () => res()); });
    } else {
      await app.listen({ host, port });
    }
  } catch (e) { die(4, `cannot listen on ${host}:${port}: ${(e as Error).message}`); }
  tls?.key.fill(0);
  if (asRoot) log.warn('running as root on loopback (development); on a NAS give --user nasauth-web');
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
