// Test-only AFP client over DSI/TCP: server info, DHX2 login, logout, FPGetSrvrParms,
// DHX2 FPChangePassword. Node built-ins only. Passwords are Buffers, sent byte for byte.
import { DsiConnection, DsiOptions, DsiReply } from './dsi';
import { Dhx2Client } from './dhx2';
import { AFP_RESULT, afpResultName } from './errors';

export const FP = {
  GetSrvrInfo: 15,
  GetSrvrParms: 16,
  Login: 18,
  LoginCont: 19,
  Logout: 20,
  ChangePassword: 36,
  GetUserInfo: 37,
  LoginExt: 63,
} as const;

export const SRVR_FLAGS = {
  SupportsCopyFile: 0x0001,
  SupportsChgPwd: 0x0002,
  DontAllowSavePwd: 0x0004,
  SupportsSrvrMsg: 0x0008,
  SrvrSig: 0x0010,
  SupportsTCP: 0x0020,
  SupportsSrvrNotify: 0x0040,
  SupportsReconnect: 0x0080,
  SupportsDirServices: 0x0100,
  SupportsUTF8SrvrName: 0x0200,
  SupportsUUIDs: 0x0400,
  SupportsExtSleep: 0x0800,
  SupportsSuperClient: 0x8000,
} as const;

export interface AfpResult {
  code: number;
  name: string;
  ok: boolean;
  /** which AFP call gave this result, e.g. "FPLoginCont(2)" */
  step: string;
}

function result(code: number, step: string): AfpResult {
  return { code, name: afpResultName(code), ok: code === AFP_RESULT.kFPNoErr, step };
}

export interface ServerInfo {
  machineType: string;
  afpVersions: string[];
  uams: string[];
  flags: number;
  serverName: string;
  signature?: Buffer;
  utf8ServerName?: string;
  /** names of the SRVR_FLAGS bits that are set */
  flagNames: string[];
}

function pstr(b: Buffer, off: number): { s: string; next: number } {
  if (off >= b.length) throw new Error(`FPGetSrvrInfo: string offset ${off} beyond reply (${b.length})`);
  const len = b[off];
  if (off + 1 + len > b.length) throw new Error(`FPGetSrvrInfo: string at ${off} overruns reply`);
  return { s: b.subarray(off + 1, off + 1 + len).toString('latin1'), next: off + 1 + len };
}

function pstrList(b: Buffer, off: number): string[] {
  const n = b[off];
  const out: string[] = [];
  let p = off + 1;
  for (let i = 0; i < n; i++) {
    const r = pstr(b, p);
    out.push(r.s);
    p = r.next;
  }
  return out;
}

/** Parses an FPGetSrvrInfo (DSIGetStatus) reply block. */
export function parseServerInfo(b: Buffer): ServerInfo {
  if (b.length < 12) throw new Error(`FPGetSrvrInfo: reply too short (${b.length})`);
  const machOff = b.readUInt16BE(0);
  const versOff = b.readUInt16BE(2);
  const uamsOff = b.readUInt16BE(4);
  const flags = b.readUInt16BE(8);
  const name = pstr(b, 10);
  const info: ServerInfo = {
    machineType: pstr(b, machOff).s,
    afpVersions: pstrList(b, versOff),
    uams: uamsOff ? pstrList(b, uamsOff) : [],
    flags,
    serverName: name.s,
    flagNames: Object.entries(SRVR_FLAGS).filter(([, v]) => (flags & v) !== 0).map(([k]) => k),
  };
  let p = name.next;
  if (p & 1) p++; // pad to even
  if (p + 2 <= b.length && flags & SRVR_FLAGS.SrvrSig) {
    const sigOff = b.readUInt16BE(p);
    if (sigOff && sigOff + 16 <= b.length) info.signature = Buffer.from(b.subarray(sigOff, sigOff + 16));
  }
  // after the signature offset: network addresses, directory names, UTF-8 server name offsets
  if (p + 8 <= b.length && flags & SRVR_FLAGS.SupportsUTF8SrvrName) {
    const u8Off = b.readUInt16BE(p + 6);
    if (u8Off && u8Off + 2 <= b.length) {
      const l = b.readUInt16BE(u8Off);
      if (u8Off + 2 + l <= b.length) info.utf8ServerName = b.subarray(u8Off + 2, u8Off + 2 + l).toString('utf8');
    }
  }
  return info;
}

export interface VolumeEntry {
  flags: number;
  name: string;
}

export interface SrvrParms extends AfpResult {
  /** server clock (AFP time: seconds since 2000-01-01 UTC) */
  serverTime?: Date;
  volumes: VolumeEntry[];
}

const AFP_EPOCH_MS = Date.UTC(2000, 0, 1);

function pascal(s: Buffer): Buffer {
  if (s.length > 255) throw new RangeError('pascal string longer than 255 bytes');
  return Buffer.concat([Buffer.from([s.length]), s]);
}

function toBuf(s: string | Buffer, enc: BufferEncoding): Buffer {
  return typeof s === 'string' ? Buffer.from(s, enc) : s;
}

export interface LoginOptions {
  /** AFP version string sent in FPLogin; default "AFP3.4" */
  afpVersion?: string;
  /** use FPLoginExt (UTF-8 user name, what Mac OS X clients send) instead of FPLogin; default false */
  ext?: boolean;
  /** UAM name; only "DHX2" is implemented */
  uam?: 'DHX2';
}

export interface AfpConnectOptions extends DsiOptions {}

export class AfpClient {
  readonly dsi: DsiConnection;
  afpVersion = 'AFP3.4';
  loggedIn = false;
  user: string | undefined;

  private constructor(dsi: DsiConnection) {
    this.dsi = dsi;
  }

  /** Opens a TCP connection and a DSI session. */
  static async connect(opts: AfpConnectOptions): Promise<AfpClient> {
    const dsi = await DsiConnection.connect(opts);
    const r = await dsi.openSession();
    if (r.code !== 0) {
      await dsi.destroy();
      throw new Error(`DSIOpenSession failed: ${afpResultName(r.code)} (${r.code})`);
    }
    return new AfpClient(dsi);
  }

  /** FPGetSrvrInfo via DSIGetStatus on its own short-lived connection. */
  static async getServerInfo(opts: AfpConnectOptions): Promise<ServerInfo> {
    const dsi = await DsiConnection.connect(opts);
    try {
      const r = await dsi.getStatus();
      return parseServerInfo(r.payload);
    } finally {
      await dsi.destroy();
    }
  }

  /** Sends one raw AFP request (first byte = command) and returns the DSI reply. */
  command(afp: Buffer): Promise<DsiReply> {
    return this.dsi.command(afp);
  }

  private async loginStart(user: string | Buffer, o: LoginOptions): Promise<DsiReply> {
    const version = o.afpVersion ?? 'AFP3.4';
    this.afpVersion = version;
    const uam = Buffer.from(o.uam ?? 'DHX2', 'latin1');
    if (o.ext) {
      // FPLoginExt: cmd pad flags(2) AFPVersion UAM UserName(type 3, len16, UTF-8) PathName(type 3, len16=0) [pad]
      const u = toBuf(user, 'utf8');
      const hdr = Buffer.from([FP.LoginExt, 0, 0, 0]);
      const uname = Buffer.alloc(3);
      uname[0] = 3;
      uname.writeUInt16BE(u.length, 1);
      const path = Buffer.from([3, 0, 0]);
      let msg = Buffer.concat([hdr, pascal(Buffer.from(version, 'latin1')), pascal(uam), uname, u, path]);
      if (msg.length & 1) msg = Buffer.concat([msg, Buffer.alloc(1)]);
      return this.command(msg);
    }
    // FPLogin: cmd AFPVersion UAM UserName(pascal, Mac charset) [pad to even]
    let msg = Buffer.concat([Buffer.from([FP.Login]), pascal(Buffer.from(version, 'latin1')), pascal(uam), pascal(toBuf(user, 'latin1'))]);
    if (msg.length & 1) msg = Buffer.concat([msg, Buffer.alloc(1)]);
    return this.command(msg);
  }

  /**
   * DHX2 login. Resolves with the result of the last step the server answered; never throws
   * for an AFP error code (it throws for protocol violations and lost connections).
   * user: string (latin1 for FPLogin, UTF-8 for FPLoginExt) or raw bytes.
   */
  async login(user: string | Buffer, password: Buffer, o: LoginOptions = {}): Promise<AfpResult> {
    const step1 = o.ext ? 'FPLoginExt' : 'FPLogin';
    const r1 = await this.loginStart(user, o);
    if (r1.code !== AFP_RESULT.kFPAuthContinue) return result(r1.code, step1);
    const dhx = new Dhx2Client(r1.payload);
    const r2 = await this.command(Buffer.concat([Buffer.from([FP.LoginCont, 0]), dhx.step2()]));
    if (r2.code !== AFP_RESULT.kFPAuthContinue) return result(r2.code, 'FPLoginCont(1)');
    dhx.acceptStep2Reply(r2.payload);
    const r3 = await this.command(Buffer.concat([Buffer.from([FP.LoginCont, 0]), dhx.loginStep3(password)]));
    const res = result(r3.code, 'FPLoginCont(2)');
    if (res.ok) {
      this.loggedIn = true;
      this.user = typeof user === 'string' ? user : user.toString('utf8');
    }
    return res;
  }

  async logout(): Promise<AfpResult> {
    const r = await this.command(Buffer.from([FP.Logout, 0]));
    if (r.code === 0) this.loggedIn = false;
    return result(r.code, 'FPLogout');
  }

  async getSrvrParms(): Promise<SrvrParms> {
    const r = await this.command(Buffer.from([FP.GetSrvrParms, 0]));
    const base = result(r.code, 'FPGetSrvrParms');
    if (!base.ok) return { ...base, volumes: [] };
    const b = r.payload;
    if (b.length < 5) throw new Error(`FPGetSrvrParms: reply too short (${b.length})`);
    const serverTime = new Date(AFP_EPOCH_MS + b.readInt32BE(0) * 1000);
    const n = b[4];
    const volumes: VolumeEntry[] = [];
    let p = 5;
    for (let i = 0; i < n; i++) {
      if (p + 2 > b.length) throw new Error('FPGetSrvrParms: volume list truncated');
      const flags = b[p];
      const len = b[p + 1];
      volumes.push({ flags, name: b.subarray(p + 2, p + 2 + len).toString('utf8') });
      p += 2 + len;
    }
    return { ...base, serverTime, volumes };
  }

  private changePasswordHeader(user?: string | Buffer): Buffer {
    // cmd pad UAM(pascal) [pad so that UAM string + length byte is even] then
    // AFP >= 3.0: an empty user name as two zero bytes; AFP 2.x: user name (pascal) [pad]
    const uam = pascal(Buffer.from('DHX2', 'latin1'));
    const parts = [Buffer.from([FP.ChangePassword, 0]), uam];
    if (uam.length & 1) parts.push(Buffer.alloc(1));
    const major = /^AFP(3|X03)/.test(this.afpVersion);
    if (major) {
      parts.push(Buffer.alloc(2));
    } else {
      const u = pascal(toBuf(user ?? this.user ?? '', 'latin1'));
      parts.push(u);
      if (u.length & 1) parts.push(Buffer.alloc(1));
    }
    return Buffer.concat(parts);
  }

  /**
   * FPChangePassword with the DHX2 UAM (three FPChangePassword calls). Needs a logged-in session
   * (netatalk only dispatches it after login) and "set password = yes" in afp.conf.
   */
  async changePassword(oldPassword: Buffer, newPassword: Buffer, user?: string | Buffer): Promise<AfpResult> {
    const hdr = this.changePasswordHeader(user);
    const r1 = await this.command(hdr);
    if (r1.code !== AFP_RESULT.kFPAuthContinue) return result(r1.code, 'FPChangePassword(1)');
    const dhx = new Dhx2Client(r1.payload);
    const r2 = await this.command(Buffer.concat([hdr, dhx.step2()]));
    if (r2.code !== AFP_RESULT.kFPAuthContinue) return result(r2.code, 'FPChangePassword(2)');
    dhx.acceptStep2Reply(r2.payload);
    const r3 = await this.command(Buffer.concat([hdr, dhx.changePasswordStep3(oldPassword, newPassword)]));
    return result(r3.code, 'FPChangePassword(3)');
  }

  /** DSICloseSession and close the socket. */
  async close(): Promise<void> {
    await this.dsi.closeSession();
  }
}

/** Connect, log in, and close again: one complete login as a Mac would do it, for tests and timing. */
export async function tryLogin(port: number, user: string | Buffer, password: Buffer, o: LoginOptions & { host?: string } = {}): Promise<AfpResult> {
  const c = await AfpClient.connect({ port, host: o.host });
  try {
    const r = await c.login(user, password, o);
    if (r.ok) await c.logout();
    return r;
  } finally {
    await c.close();
  }
}
