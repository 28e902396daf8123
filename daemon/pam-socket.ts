// The PAM sockets: pam_nasauth.so's binary frames (pam/nasauth_proto.h) over a Unix
// socket. Two instances: the ordinary one (mode 0666) and the privileged one (0600,
// root), which alone accepts CHPW_ROOT: Node cannot read the peer's credentials, so
// the file mode is the proof that the caller is root.
//
// Per connection: requests are answered one at a time, in order; a frame left
// incomplete for READ_TIMEOUT_MS or a connection idle for IDLE_TIMEOUT_MS is closed;
// a framing error is answered bad_request and the connection closed. Passwords are
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

export class PamSocket {
  private server: Server;
  private conns = new Set<Socket>();
  private readonly readTimeoutMs: number;
  private readonly idleTimeoutMs: number;
  readonly name: string;

  constructor(private auth: Authority, private opts: PamSocketOptions) {
    this.readTimeoutMs = opts.readTimeoutMs ?? READ_TIMEOUT_MS;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
    this.name = opts.privileged ? 'pam-priv' : 'pam';
    this.server = createServer({ allowHalfOpen: true }, (s) => this.connection(s));
    // Over the limit, Node closes the new connection at once: the module sees a
    // transport failure (PAM_AUTHINFO_UNAVAIL), the daemon's memory stays bounded.
    this.server.maxConnections = opts.maxConnections ?? MAX_CONNECTIONS;
  }

  private connection(sock: Socket) {
    this.conns.add(sock);
    const parser = new FrameParser();
    const queue: PamRequest[] = [];
    let busy = false;
    let closing = false; // after a framing error: answer, then close
    let peerEnded = false; // the client shut its side: answer what it sent, then close
    let readTimer: NodeJS.Timeout | null = null;

    const clearRead = () => { if (readTimer) { clearTimeout(readTimer); readTimer = null; } };
    const drop = () => {
      clearRead();
      parser.reset();
      for (const r of queue.splice(0)) wipe(r);
    };
    const fatal = (message: string) => {
      if (closing) return;
      closing = true;
      for (const r of queue.splice(0)) wipe(r);
      clearRead();
      this.auth.log.warn({ socket: this.name, err: message }, 'PAM socket: malformed request; closing the connection');
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
          out = await this.dispatch(req);
        } catch (e) {
          this.auth.log.error({ socket: this.name, req: describe(req), err: (e as Error).message }, 'PAM socket: internal error');
          out = reply('internal_error', 'internal error; see the daemon log');
        } finally {
          wipe(req);
        }
        if (!sock.destroyed && !closing) sock.write(out);
      }
      busy = false;
      if (peerEnded && !closing && !sock.destroyed) sock.end();
    };

    sock.setTimeout(this.idleTimeoutMs, () => {
      if (busy) return; // a slow hash in progress is not idleness
      sock.destroy();
    });
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
          readTimer = setTimeout(() => {
            readTimer = null;
            fatal(`incomplete request for ${this.readTimeoutMs} ms`);
          }, this.readTimeoutMs);
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

  private async dispatch(req: PamRequest): Promise<Buffer> {
    const source = (r: { rhost: string; service: string }) => r.rhost || `pam:${r.service}`;
    if (req.op !== 'PING' && canonicalService(this.auth.config, req.service) === 'afp') {
      // afpd passes change passwords raw (MacRoman from a Mac): see daemon/macroman.ts
      if ('password' in req) req.password = afpPasswordBytes(req.password);
      if ('newPassword' in req) req.newPassword = afpPasswordBytes(req.newPassword);
    }
    switch (req.op) {
      case 'PING':
        return reply('ok', `nasauthd ${VERSION}`);
      case 'AUTH':
        return replyOf(await this.auth.authenticate({ channel: 'pam', service: req.service, user: req.user, password: req.password, source: source(req) }));
      case 'ACCT':
        return replyOf(this.auth.authorize({ channel: 'pam', service: req.service, user: req.user, source: source(req) }));
      case 'CHPW':
        return replyOf(await this.auth.changePassword({ channel: 'pam', service: req.service, user: req.user, password: req.password, newPassword: req.newPassword, source: source(req) }));
      case 'CHPW_ROOT': {
        if (!this.opts.privileged) return reply('bad_request', 'CHPW_ROOT is accepted only on the privileged PAM socket');
        // Root may set a password without the old one; the authority says for which accounts.
        return replyOf(await this.auth.rootSetPassword({ channel: 'pam', service: req.service, user: req.user, newPassword: req.newPassword, source: source(req) }));
      }
    }
  }

  listen(s: SocketConfig) { return listenUnix(this.server, s); }

  close(): Promise<void> {
    return new Promise((r) => {
      this.server.close(() => r());
      for (const c of this.conns) c.destroy();
    });
  }
}
