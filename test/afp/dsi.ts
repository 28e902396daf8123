// DSI (Data Stream Interface) over TCP: the transport under AFP 3.x. Test-only, Node built-ins only.
//
// Header (16 bytes, big-endian): flags(1: 0 request, 1 reply) command(1) requestID(2)
// errorCode-or-writeOffset(4, signed) totalDataLength(4) reserved(4).
import * as net from 'node:net';

export const DSI = {
  CloseSession: 1,
  Command: 2,
  GetStatus: 3,
  OpenSession: 4,
  Tickle: 5,
  Write: 6,
  Attention: 8,
} as const;

export const DSI_OPT = { ServerRequestQuantum: 0, AttentionQuantum: 1, ReplayCacheSize: 2 } as const;

export const DSI_HEADER_LEN = 16;

export interface DsiFrame {
  flags: number;
  command: number;
  requestId: number;
  /** error code (replies, signed) or data offset (requests) */
  code: number;
  payload: Buffer;
}

export function encodeDsi(f: { flags: number; command: number; requestId: number; code?: number; payload?: Buffer }): Buffer {
  const payload = f.payload ?? Buffer.alloc(0);
  const h = Buffer.alloc(DSI_HEADER_LEN);
  h.writeUInt8(f.flags, 0);
  h.writeUInt8(f.command, 1);
  h.writeUInt16BE(f.requestId & 0xffff, 2);
  h.writeInt32BE(f.code ?? 0, 4);
  h.writeUInt32BE(payload.length, 8);
  return Buffer.concat([h, payload]);
}

/** Splits a byte stream arriving in arbitrary chunks into DSI frames. */
export class DsiFrameParser {
  private buf: Buffer = Buffer.alloc(0);
  /** Refuses frames larger than this (a broken peer must not make us buffer without end). */
  constructor(private readonly maxFrame = 16 * 1024 * 1024) {}

  push(chunk: Buffer): DsiFrame[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: DsiFrame[] = [];
    while (this.buf.length >= DSI_HEADER_LEN) {
      const len = this.buf.readUInt32BE(8);
      if (len > this.maxFrame) throw new Error(`DSI frame of ${len} bytes exceeds limit ${this.maxFrame}`);
      if (this.buf.length < DSI_HEADER_LEN + len) break;
      out.push({
        flags: this.buf.readUInt8(0),
        command: this.buf.readUInt8(1),
        requestId: this.buf.readUInt16BE(2),
        code: this.buf.readInt32BE(4),
        payload: Buffer.from(this.buf.subarray(DSI_HEADER_LEN, DSI_HEADER_LEN + len)),
      });
      this.buf = this.buf.subarray(DSI_HEADER_LEN + len);
    }
    return out;
  }

  get buffered(): number {
    return this.buf.length;
  }
}

export interface DsiReply {
  code: number;
  payload: Buffer;
}

export interface DsiOptions {
  host?: string;
  port: number;
  /** per-request timeout in ms (a hung server fails the test instead of hanging it); default 30 s */
  timeoutMs?: number;
}

interface Pending {
  command: number;
  resolve: (r: DsiReply) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** One TCP connection speaking DSI. Requests are matched to replies by request id. */
export class DsiConnection {
  private readonly sock: net.Socket;
  private readonly parser = new DsiFrameParser();
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private closedErr: Error | null = null;
  private readonly timeoutMs: number;
  /** Server-initiated requests seen (tickles, attentions, close session), for tests to inspect. */
  readonly serverRequests: DsiFrame[] = [];
  /** Set once the server sent DSICloseSession or the socket closed. */
  closed = false;
  /** Server request quantum from DSIOpenSession, if any. */
  serverQuantum: number | undefined;

  private constructor(sock: net.Socket, timeoutMs: number) {
    this.sock = sock;
    this.timeoutMs = timeoutMs;
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('error', (e) => this.fail(e));
    sock.on('close', () => this.fail(new Error('DSI connection closed')));
  }

  static connect(opts: DsiOptions): Promise<DsiConnection> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host: opts.host ?? '127.0.0.1', port: opts.port });
      sock.setNoDelay(true);
      const onErr = (e: Error): void => reject(e);
      sock.once('error', onErr);
      sock.once('connect', () => {
        sock.off('error', onErr);
        resolve(new DsiConnection(sock, opts.timeoutMs ?? 30_000));
      });
    });
  }

  private onData(chunk: Buffer): void {
    let frames: DsiFrame[];
    try {
      frames = this.parser.push(chunk);
    } catch (e) {
      this.fail(e as Error);
      this.sock.destroy();
      return;
    }
    for (const f of frames) {
      if (f.flags === 1) {
        const p = this.pending.get(f.requestId);
        if (!p) continue; // late reply after a timeout: ignore
        this.pending.delete(f.requestId);
        clearTimeout(p.timer);
        if (p.command !== f.command) {
          p.reject(new Error(`DSI reply for request ${f.requestId} has command ${f.command}, expected ${p.command}`));
        } else {
          p.resolve({ code: f.code, payload: f.payload });
        }
      } else {
        this.serverRequests.push(f);
        if (f.command === DSI.Tickle) {
          // answer the server's keep-alive with one of our own
          this.write({ flags: 0, command: DSI.Tickle, requestId: this.allocId() });
        } else if (f.command === DSI.CloseSession) {
          this.closed = true;
          this.sock.end();
        }
      }
    }
  }

  private fail(e: Error): void {
    this.closed = true;
    if (!this.closedErr) this.closedErr = e;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new Error(`${this.closedErr.message} (while waiting for DSI request ${id}, command ${p.command})`));
    }
    this.pending.clear();
  }

  private allocId(): number {
    const id = this.nextId;
    this.nextId = (this.nextId + 1) & 0xffff;
    return id;
  }

  private write(f: { flags: number; command: number; requestId: number; code?: number; payload?: Buffer }): void {
    if (!this.sock.destroyed) this.sock.write(encodeDsi(f));
  }

  /** Sends a DSI request and resolves with the reply's error code and payload. */
  request(command: number, payload: Buffer = Buffer.alloc(0), code = 0): Promise<DsiReply> {
    if (this.closedErr) return Promise.reject(new Error(`DSI connection is closed: ${this.closedErr.message}`));
    const id = this.allocId();
    return new Promise<DsiReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`DSI request ${id} (command ${command}) got no reply within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, { command, resolve, reject, timer });
      this.write({ flags: 0, command, requestId: id, code, payload });
    });
  }

  /** DSIOpenSession with an Attention Quantum option; records the server's request quantum. */
  async openSession(attentionQuantum = 1024): Promise<DsiReply> {
    const opt = Buffer.alloc(6);
    opt.writeUInt8(DSI_OPT.AttentionQuantum, 0);
    opt.writeUInt8(4, 1);
    opt.writeUInt32BE(attentionQuantum, 2);
    const r = await this.request(DSI.OpenSession, opt);
    for (let i = 0; i + 2 <= r.payload.length; ) {
      const type = r.payload[i];
      const len = r.payload[i + 1];
      if (type === DSI_OPT.ServerRequestQuantum && len === 4 && i + 6 <= r.payload.length) this.serverQuantum = r.payload.readUInt32BE(i + 2);
      i += 2 + len;
    }
    return r;
  }

  /** DSICommand carrying one AFP request. */
  command(afp: Buffer): Promise<DsiReply> {
    return this.request(DSI.Command, afp);
  }

  /** DSIGetStatus (FPGetSrvrInfo); the server closes the connection afterwards. */
  getStatus(): Promise<DsiReply> {
    return this.request(DSI.GetStatus, Buffer.from([15, 0]));
  }

  /** DSICloseSession (no reply expected), then closes the socket. */
  async closeSession(): Promise<void> {
    if (!this.closed && !this.sock.destroyed) {
      this.write({ flags: 0, command: DSI.CloseSession, requestId: this.allocId() });
    }
    await this.destroy();
  }

  /** Closes the socket and waits for it to be gone. */
  destroy(): Promise<void> {
    return new Promise((resolve) => {
      if (this.sock.destroyed) return resolve();
      this.sock.once('close', () => resolve());
      this.sock.end();
      setTimeout(() => this.sock.destroy(), 2000).unref();
    });
  }
}
