// Raw PAM-socket frames for tests that speak the wire protocol themselves (no libpam):
// one connection, the given bytes, the replies decoded. Polls with a deadline.
import { connect, type Socket } from 'node:net';
import { decodeReply } from '../../daemon/pam-frame';
import { REASONS, REASON_NAMES } from '../../daemon/reasons';

export type Reply = ReturnType<typeof decodeReply>;

/** Send `data` (one buffer, or several written one event-loop turn apart) and collect up to `want` replies. */
export function pamExchange(path: string, data: Buffer | Buffer[], want = 1, deadlineMs = 8000): Promise<{ replies: Reply[]; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const s: Socket = connect(path);
    let buf = Buffer.alloc(0);
    const replies: Reply[] = [];
    let done = false;
    const finish = (closed: boolean) => { if (!done) { done = true; s.destroy(); resolve({ replies, closed }); } };
    s.on('connect', async () => {
      for (const d of Array.isArray(data) ? data : [data]) {
        s.write(d);
        if (Array.isArray(data)) await new Promise((r) => setImmediate(r));
      }
    });
    s.on('data', (c) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const n = 4 + buf.readUInt32BE(0);
        replies.push(decodeReply(buf.subarray(0, n)));
        buf = buf.subarray(n);
      }
      if (replies.length >= want) finish(false);
    });
    s.on('end', () => finish(true));
    s.on('close', () => finish(true));
    s.on('error', (e) => (done ? undefined : reject(e)));
    setTimeout(() => finish(false), deadlineMs).unref();
  });
}

/** The reason name of a decoded reply (or a description of what was wrong with it). */
export const reasonOf = (r: Reply | undefined) => (r && typeof r !== 'string' ? REASON_NAMES.find((n) => REASONS[n].code === r.code) : `bad reply: ${r}`);
