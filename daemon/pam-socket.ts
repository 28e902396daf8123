// The PAM sockets: pam_nasauth.so's binary frames (pam/nasauth_proto.h) over a Unix
// socket. Two instances: the ordinary one (mode 0666) and the privileged one (0600,
// root), which alone accepts CHPW_ROOT and ACCT: Node cannot read the peer's
// credentials, so the file mode is the proof that the caller is root. pam_nasauth.so
// running as root (every login service) uses the privileged one for everything, so a
// local user flooding the 0666 socket cannot keep anybody from logging in.
//
// Per connection: requests are answered one at a time, in order; a frame left
// incomplete for READ_TIMEOUT_MS, or a connection with nothing in progress for
// IDLE_TIMEOUT_MS since it connected or since its last answer to anything but a PING,
// is closed; a framing error is answered bad_request and the connection closed. At
// MAX_CONNECTIONS the connection idle longest makes room for a new one. Passwords are
// Buffers, wiped when the request is done.
import { afpPasswordBytes } from './macroman';
import { canonicalService } from './config';
import { createServer, type Server, type Socket } from 'node:net';
import type { Authority, Decision } from './authority';
import type { SocketConfig } from './config';
import { listenUnix } from './http-util';
import { FrameParser, IDLE_TIMEOUT_MS, MAX_CONNECTIONS, MAX_PIPELINE, READ_TIMEOUT_MS, describe, encodeReply, wipe, type PamRequest } from './pam-frame';
import { REASONS, type Reason } from './reasons';
import { VERSION } from './version';

export interface PamSocketOptions {
  privileged: boolean;
  readTimeoutMs?: number;
  idleTimeoutMs?: number;
  maxConnections?: number;
}

function reply(reason: Reason, message?: string, retryAfter = 0): Buffer {
  return encodeReply(REASONS[reason].code, retryAfter, message ?? REASONS[reason].message);
}
function replyOf(d: Decision): Buffer {
  return reply(d.reason, d.message, d.retry_after ?? 0);
}

interface ConnState {
  /** a request is queued or being answered: not idle, not evictable */
  busy(): boolean;
  /** when it connected, or got its last answer to anything but a PING */
  lastWork(): number;
}

export class PamSocket {
  private server: Server;
  private conns = new Map<Socket, ConnState>();
  private readonly readTimeoutMs: number;
  private readonly idleTimeoutMs: number;
  private readonly maxConnections: number;
  private full = { evicted: 0, refused: 0, since: 0 };
  readonly name: string;

  constructor(private auth: Authority, private opts: PamSocketOptions) {
    this.readTimeoutMs = opts.readTimeoutMs ?? READ_TIMEOUT_MS;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
    this.maxConnections = opts.maxConnections ?? MAX_CONNECTIONS;
    this.name = opts.privileged ? 'pam-priv' : 'pam';
    // The cap is applied in connection(), not by server.maxConnections: Node would drop
    // the new connection, and a client holding idle ones would lock everybody out.
    this.server = createServer({ allowHalfOpen: true }, (s) => this.connection(s));
  }

  /** At the cap: close the connection idle longest, or refuse the new one (memory stays bounded). */
  private makeRoom(): boolean {
    if (this.conns.size < this.maxConnections) return true;
    let victim: Socket | null = null;
    let oldest = Infinity;
    for (const [s, st] of this.conns) {
      if (!st.busy() && st.lastWork() < oldest) { oldest = st.lastWork(); victim = s; }
    }
    if (victim) { this.noteFull('evicted'); victim.destroy(); this.conns.delete(victim); return true; }
    this.noteFull('refused');
    return false;
  }

  /** One warning a minute while the socket is full, with counts (a flood must not flood the log). */
  private noteFull(what: 'evicted' | 'refused') {
    this.full[what]++;
    const now = Date.now();
    if (now - this.full.since < 60_000) return;
    this.auth.log.warn({ socket: this.name, connections: this.conns.size, evicted_idle: this.full.evicted, refused: this.full.refused },
      `PAM socket full (${this.maxConnections} connections): idle connections closed to make room, or new ones refused`);
    this.full = { evicted: 0, refused: 0, since: now };
  }

  private connection(sock: Socket) {
    if (!this.makeRoom()) { sock.destroy(); return; }
    const parser = new FrameParser();
    const queue: PamRequest[] = [];
    let busy = false;
    let closing = false; // after a framing error: answer, then close
    let peerEnded = false; // the client shut its side: answer what it sent, then close
    let readTimer: NodeJS.Timeout | null = null;
    let idleTimer: NodeJS.Timeout | null = null;
    let lastWork = Date.now();
    this.conns.set(sock, { busy: () => busy || queue.length > 0, lastWork: () => lastWork });

    const clearRead = () => { if (readTimer) { clearTimeout(readTimer); readTimer = null; } };
    // idle: nothing in progress since it connected or since its last answer (PINGs aside)
    const armIdle = () => {
      if (idleTimer || sock.destroyed) return;
      // setImmediate: after the poll phase, so a request that arrived while the event loop
      // was busy is read first (a stalled daemon must not close a prompt client)
      const timer: NodeJS.Timeout = setTimeout(() => setImmediate(() => {
        if (idleTimer !== timer) return;
        idleTimer = null;
        if (busy || queue.length > 0 || sock.destroyed) return; // re-armed when the work is answered
        const left = lastWork + this.idleTimeoutMs - Date.now();
        if (left > 0) armIdle();
        else sock.destroy();
      }), Math.max(0, lastWork + this.idleTimeoutMs - Date.now()));
      idleTimer = timer;
      idleTimer.unref();
    };
    const drop = () => {
      clearRead();
      if (idleTimer) { clearTimeout(idleTimer); idleTimer = null; }
      parser.reset();
      for (const r of queue.splice(0)) wipe(r);
    };
    const fatal = (message: string) => {
      if (closing) return;
      closing = true;
      for (const r of queue.splice(0)) wipe(r);
      clearRead();
      // one line, then a summary per log.collapse_seconds: garbage on the 0666 socket must not flood the log
      this.auth.collapser.record({ audit: 'pam_malformed', user: '', service: '', source: this.name, channel: 'pam', reason: 'bad_request', cached: false, detail: message.slice(0, 200) });
      if (!sock.destroyed) sock.end(reply('bad_request', message));
      setTimeout(() => sock.destroy(), 1000).unref(); // a peer that never reads
    };

    const pump = async () => {
      if (busy) return;
      busy = true;
      while (queue.length && !sock.destroyed) {
        const req = queue.shift()!;
        let out: Buffer;
        try {
          // a cache hit is answered without waiting: written in the turn that read it
          const r = this.dispatch(req);
          out = r instanceof Promise ? await r : r;
        } catch (e) {
          this.auth.log.error({ socket: this.name, req: describe(req), err: (e as Error).message }, 'PAM socket: internal error');
          out = reply('internal_error', 'internal error; see the daemon log');
        } finally {
          wipe(req);
        }
        if (req.op !== 'PING') lastWork = Date.now();
        if (!sock.destroyed && !closing) sock.write(out);
      }
      busy = false;
      armIdle();
      if (peerEnded && !closing && !sock.destroyed) sock.end();
    };

    armIdle();
    sock.on('data', (chunk: Buffer) => {
      if (closing) { chunk.fill(0); return; }
      const events = parser.push(chunk);
      chunk.fill(0); // it may have held a password; the parser copied what it needs
      for (const ev of events) {
        if (ev.kind === 'error') { fatal(ev.message); return; }
        if (queue.length >= MAX_PIPELINE) { wipe(ev.request); fatal(`more than ${MAX_PIPELINE} requests sent ahead of their answers`); return; }
        queue.push(ev.request);
      }
      if (parser.pending > 0) {
        if (!readTimer) {
          const timer: NodeJS.Timeout = setTimeout(() => setImmediate(() => {
            if (readTimer !== timer) return; // cleared (the frame completed) meanwhile
            readTimer = null;
            if (parser.pending > 0 && !sock.destroyed) fatal(`incomplete request for ${this.readTimeoutMs} ms`);
          }), this.readTimeoutMs);
          readTimer = timer;
          readTimer.unref();
        }
      } else clearRead();
      void pump();
    });
    sock.on('end', () => {
      peerEnded = true;
      clearRead(); // an incomplete frame can no longer complete
      if (!busy && !closing) sock.end();
    });
    sock.on('error', () => { /* peer went away; 'close' cleans up */ });
    sock.on('close', () => { drop(); this.conns.delete(sock); });
  }

  private dispatch(req: PamRequest): Buffer | Promise<Buffer> {
    const source = (r: { rhost: string; service: string }) => r.rhost || `pam:${r.service}`;
    if (req.op !== 'PING' && canonicalService(this.auth.config, req.service) === 'afp') {
      // afpd passes change passwords raw (MacRoman from a Mac): see daemon/macroman.ts
      if ('password' in req) req.password = afpPasswordBytes(req.password);
      if ('newPassword' in req) req.newPassword = afpPasswordBytes(req.newPassword);
    }
    switch (req.op) {
      case 'PING':
        return reply('ok', `nasauthd ${VERSION}`);
      case 'AUTH': {
        const d = this.auth.authenticateNow({ channel: 'pam', service: req.service, user: req.user, password: req.password, source: source(req) });
        return d instanceof Promise ? d.then(replyOf) : replyOf(d);
      }
      case 'ACCT':
        // The account state (exists, disabled, locked, must change) is told to root only:
        // on the 0666 socket any local user could ask about any name. pam_nasauth.so
        // running as root uses the privileged socket for every phase.
        if (!this.opts.privileged) return reply('bad_request', 'ACCT is answered only on the privileged PAM socket (account state is not told to every local user)');
        return replyOf(this.auth.authorize({ channel: 'pam', service: req.service, user: req.user, source: source(req) }));
      case 'CHPW':
        return this.auth.changePassword({ channel: 'pam', service: req.service, user: req.user, password: req.password, newPassword: req.newPassword, source: source(req) }).then(replyOf);
      case 'CHPW_ROOT': {
        if (!this.opts.privileged) return reply('bad_request', 'CHPW_ROOT is accepted only on the privileged PAM socket');
        // Root may set a password without the old one; the authority says for which accounts.
        return this.auth.rootSetPassword({ channel: 'pam', service: req.service, user: req.user, newPassword: req.newPassword, source: source(req) }).then(replyOf);
      }
    }
  }

  listen(s: SocketConfig) { return listenUnix(this.server, s); }

  close(): Promise<void> {
    return new Promise((r) => {
      this.server.close(() => r());
      for (const c of this.conns.keys()) c.destroy();
    });
  }
}
