// A small TCP proxy between nasauthd and slapd, to make the directory slow on demand.
// 'pass' forwards both ways; 'hold' accepts connections and keeps what the client sends
// without forwarding it (a directory that never answers); pass() again forwards what was
// held. held() is the number of open client connections with bytes the proxy is still
// holding: a reply that arrives while held() > 0 was given without the directory.
import * as net from 'node:net';
import { PORT_MAX, PORT_MIN } from './slapd';

interface Conn { client: net.Socket; server: net.Socket | null; buf: Buffer[]; closed: boolean }

export interface Proxy {
  port: number; url: string;
  hold(): void;
  pass(): void;
  /** connections accepted so far */
  accepted(): number;
  /** open client connections whose bytes are held back */
  held(): number;
  /** client connections (open or closed) that sent bytes the proxy never forwarded */
  stuck(): number;
  close(): Promise<void>;
}

export async function startProxy(target: { host?: string; port: number }, scheme = 'ldap'): Promise<Proxy> {
  let mode: 'pass' | 'hold' = 'pass';
  let accepted = 0;
  let stuckClosed = 0;
  const conns = new Set<Conn>();
  const connectServer = (c: Conn) => {
    const s = net.connect(target.port, target.host ?? '127.0.0.1');
    c.server = s;
    s.on('data', (d) => { if (!c.closed) c.client.write(d); });
    s.on('error', () => { c.client.destroy(); });
    s.on('close', () => { c.client.destroy(); });
    s.on('connect', () => { for (const b of c.buf.splice(0)) s.write(b); });
  };
  const server = net.createServer((client) => {
    accepted++;
    const c: Conn = { client, server: null, buf: [], closed: false };
    conns.add(c);
    client.on('data', (d) => {
      if (mode === 'pass' && c.server && !c.server.connecting) c.server.write(d);
      else c.buf.push(d);
    });
    client.on('error', () => undefined);
    client.on('close', () => { c.closed = true; if (c.buf.length) stuckClosed++; conns.delete(c); c.server?.destroy(); });
    if (mode === 'pass') connectServer(c);
  });
  let port = 0;
  for (let tries = 0; ; tries++) {
    const p = PORT_MIN + Math.floor(Math.random() * (PORT_MAX - PORT_MIN + 1));
    const ok = await new Promise<boolean>((res) => {
      server.once('error', () => res(false));
      server.listen(p, '127.0.0.1', () => res(true));
    });
    if (ok) { port = p; break; }
    if (tries > 50) throw new Error(`no free port in ${PORT_MIN}-${PORT_MAX} for the proxy`);
  }
  return {
    port,
    url: `${scheme}://127.0.0.1:${port}`,
    hold: () => { mode = 'hold'; },
    pass: () => {
      mode = 'pass';
      for (const c of conns) {
        if (!c.server) connectServer(c);
        else if (!c.server.connecting) for (const b of c.buf.splice(0)) c.server.write(b);
      }
    },
    accepted: () => accepted,
    held: () => [...conns].filter((c) => !c.closed && c.buf.length > 0).length,
    stuck: () => stuckClosed + [...conns].filter((c) => !c.closed && c.buf.length > 0).length,
    close: () => new Promise((r) => { for (const c of conns) { c.client.destroy(); c.server?.destroy(); } server.close(() => r()); }),
  };
}
