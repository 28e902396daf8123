// Repeated refusals of one kind collapse into one line per interval, so a flood of
// wrong passwords (~50/s per source with the refusal delay) cannot fill the disk:
//
//   first refusal for (op, reason, user, source)  -> its audit line, as always
//   the same again within collapse_seconds        -> counted, not written
//   when the interval ends                        -> {"audit":"repeated","count":417,...}
//     "417 more bad_credentials for alice from 192.0.2.9 in the last 60 s"
//
// Nothing is lost from the record: every decision is still counted (the metrics, and
// `count` in the summary line). Only refusals collapse; an accepted login is always its
// own line. The table of keys is bounded: past MAX_KEYS (256) keys in an interval,
// refusals of new keys are counted per reason and summarised together ("... for 3112
// other names or sources"), so a spray of names writes at most about MAX_KEYS lines
// per interval.
import { writeAudit, type Logger } from './log';

export const MAX_KEYS = 256;
/** Distinct keys counted in an overflow summary (beyond: "more than N"). */
const MAX_DISTINCT = 1024;

/** Reasons whose repeats collapse: refusals, and requests nobody could act on. */
export const COLLAPSING = new Set(['bad_credentials', 'rate_limited', 'locked_out', 'busy', 'unknown_user', 'account_disabled', 'service_denied', 'must_change_password', 'bad_request', 'unavailable']);

export interface AuditLine {
  audit: string; user: string; service: string; source: string; channel: string; reason: string; cached: boolean;
  /** what was wrong (malformed requests): on the full line only, not part of the key */
  detail?: string;
}

interface Entry { first: number; count: number; line: AuditLine }

export class AuditCollapser {
  private keys = new Map<string, Entry>();
  private overflow = new Map<string, { first: number; count: number; keys: Set<string> | null; distinct: number }>();
  private timer: NodeJS.Timeout | null = null;
  /** full lines decided this turn of the event loop, written right after it (see write) */
  private due: AuditLine[] = [];
  /** decision lines written and held back since start (for tests and status) */
  readonly stats = { written: 0, collapsed: 0, summaries: 0 };

  constructor(private log: Logger, private intervalMs: number, private now: () => number = Date.now) {}

  setInterval(seconds: number) { this.intervalMs = seconds * 1000; if (this.intervalMs === 0) this.flush(); }

  /** Write the audit line, or count it as a repeat. */
  record(line: AuditLine) {
    if (this.intervalMs <= 0 || !COLLAPSING.has(line.reason)) { this.write(line); return; }
    const key = `${line.audit}\0${line.reason}\0${line.user}\0${line.source}\0${line.service}\0${line.channel}`;
    const e = this.keys.get(key);
    const t = this.now();
    if (e) { e.count++; this.stats.collapsed++; return; }
    if (this.keys.size >= MAX_KEYS) {
      // too many distinct keys: count by reason only (a spray of names or sources)
      const o = this.overflow.get(line.reason) ?? { first: t, count: 0, keys: new Set<string>(), distinct: 0 };
      o.count++;
      if (o.keys && !o.keys.has(key)) { o.keys.add(key); o.distinct++; if (o.keys.size > MAX_DISTINCT) o.keys = null; }
      this.overflow.set(line.reason, o);
      this.stats.collapsed++;
      this.arm();
      return;
    }
    this.keys.set(key, { first: t, count: 0, line });
    this.write(line);
    this.arm();
  }

  /** Summarise what is due (or everything, with `all`). */
  flush(all = true) {
    this.writeDue(); // a summary comes after the line it summarises
    const t = this.now();
    for (const [k, e] of this.keys) {
      if (!all && t - e.first < this.intervalMs) continue;
      this.keys.delete(k);
      if (e.count > 0) this.summary(e.line, e.count, t - e.first);
    }
    for (const [reason, o] of this.overflow) {
      if (!all && t - o.first < this.intervalMs) continue;
      this.overflow.delete(reason);
      const secs = Math.max(1, Math.round((t - o.first) / 1000));
      const others = o.keys ? `${o.distinct} other name${o.distinct === 1 ? '' : 's'} or sources` : `more than ${MAX_DISTINCT} other names or sources`;
      this.stats.summaries++;
      this.log.info({ audit: 'repeated', reason, count: o.count, distinct: o.keys ? o.distinct : undefined, seconds: secs },
        `${o.count} more ${reason} for ${others} in the last ${secs} s`);
    }
    if (this.keys.size === 0 && this.overflow.size === 0 && this.timer) { clearInterval(this.timer); this.timer = null; }
  }

  private summary(l: AuditLine, count: number, ms: number) {
    const secs = Math.max(1, Math.round(ms / 1000));
    this.stats.summaries++;
    this.log.info({ audit: 'repeated', op: l.audit, user: l.user, service: l.service, source: l.source, channel: l.channel, reason: l.reason, count, seconds: secs },
      l.user ? `${count} more ${l.reason} for ${l.user} from ${l.source} in the last ${secs} s` : `${count} more ${l.audit} (${l.reason}) on ${l.source} in the last ${secs} s`);
  }

  /**
   * A decision's line is decided now (counted, collapsed or not) and written at the end
   * of this turn of the event loop (setImmediate: after the answers of this turn have
   * been handed to their sockets), so building it is not on the answer's path. The line
   * and its order are the same; lines are batched before the disk anyway (log-batch.ts).
   * flush() and the daemon's stop write what is due first.
   */
  private write(line: AuditLine) {
    this.stats.written++;
    if (this.due.push(line) === 1) setImmediate(this.writeDue);
  }

  /** Write the lines decided so far (also on stop, before the last line). */
  readonly writeDue = () => {
    if (this.due.length === 0) return;
    const lines = this.due;
    this.due = [];
    // the common line (no detail) is built directly: it is on every cache hit's path (log.ts)
    for (const line of lines) {
      if (line.detail === undefined) writeAudit(this.log, line);
      else this.log.info(line);
    }
  };

  private arm() {
    if (this.timer) return;
    // checked a few times per interval: a summary comes at most a quarter interval late
    this.timer = setInterval(() => this.flush(false), Math.max(250, Math.floor(this.intervalMs / 4)));
    this.timer.unref();
  }
}
