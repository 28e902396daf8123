// The web process's only way into nasauthd: HTTP+JSON over the query socket
// (docs/protocol.md). A small keep-alive pool: a handful of connections is plenty for a
// family NAS and leaves the daemon's connection bound to everybody else.
import { Agent, request } from 'node:http';

export const QUERY_MAX_SOCKETS = 8;
/** A local daemon answers at once; a slow hash may queue behind others for a few seconds. */
export const QUERY_TIMEOUT_MS = 15_000;
const MAX_REPLY = 8 * 1024 * 1024; // the users table: about 600 bytes per account, 10k accounts fit

export interface QueryReply { status: number; body: any } // eslint-disable-line @typescript-eslint/no-explicit-any

export class QueryUnavailable extends Error {}

export class QueryClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: QUERY_MAX_SOCKETS, maxFreeSockets: 2, timeout: QUERY_TIMEOUT_MS });
  constructor(readonly socketPath: string) {}

  call(method: string, path: string, opts: { body?: unknown; token?: string; source?: string } = {}): Promise<QueryReply> {
    const data = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const headers: Record<string, string> = {};
    if (data) { headers['content-type'] = 'application/json'; headers['content-length'] = String(data.length); }
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.source) headers['x-nasauth-source'] = opts.source.slice(0, 128);
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socketPath, method, path, headers, agent: this.agent, timeout: QUERY_TIMEOUT_MS }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_REPLY) { req.destroy(new QueryUnavailable('the reply of nasauthd is too large')); return; }
          chunks.push(c);
        });
        res.on('end', () => {
          const buf = Buffer.concat(chunks);
          try { resolve({ status: res.statusCode ?? 0, body: JSON.parse(buf.toString('utf8')) }); }
          catch { reject(new QueryUnavailable(`nasauthd answered ${res.statusCode} without JSON`)); }
          finally { buf.fill(0); }
        });
        res.on('error', (e) => reject(new QueryUnavailable(e.message)));
      });
      req.on('timeout', () => req.destroy(new QueryUnavailable('nasauthd did not answer in time')));
      req.on('error', (e) => reject(e instanceof QueryUnavailable ? e : new QueryUnavailable(`cannot reach nasauthd at ${this.socketPath}: ${(e as NodeJS.ErrnoException).code ?? e.message}`)));
      req.end(data);
    });
  }

  close() { this.agent.destroy(); }
}
