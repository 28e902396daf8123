// The words of `nasauth doctor`: the shape of a finding and how the CLI prints it. Kept
// apart from doctor.ts so that the CLI bundle does not pull in the daemon's surfaces.

/** ok: fine; info: as the admin intended (may still keep the person out); warn: may bite; fail: broken, needs the fix */
export type Level = 'ok' | 'info' | 'warn' | 'fail';
export interface Check {
  id: string; // stable machine-readable code
  level: Level;
  text: string; // what the person sees, and why, in plain words
  fix?: string; // the one command or web page action that fixes it
  detail?: string; // technical detail (--verbose, --json)
  blocks?: boolean; // this keeps the person out (with info: on purpose)
  scope?: 'system'; // about the box, not the account: doctor --all says it once
}
export interface Diagnosis { user: string; service: string | null; ok: boolean; intended: boolean; checks: Check[] }

const SERVICE_WORDS: Record<string, string> = {
  smb: 'file sharing (SMB)', timemachine: 'Time Machine backups', afp: 'Mac file sharing (AFP)', dashboard: 'the NAS web page',
  ssh: 'the command line (ssh)', ftp: 'FTP', webdav: 'WebDAV',
};
export const serviceWords = (s: string) => SERVICE_WORDS[s] ?? `the service "${s}"`;

/** The words of a whole diagnosis, for the CLI. */
export function renderDiagnosis(dg: Diagnosis, verbose: boolean): string {
  const out: string[] = [];
  const tag = { ok: ' ok ', info: 'info', warn: 'warn', fail: 'FAIL' } as const;
  for (const c of dg.checks) {
    if (c.level === 'ok' && !verbose) continue;
    out.push(`${tag[c.level]}  ${c.text}`);
    if (c.fix && c.level !== 'ok') out.push(`      ${c.level === 'info' ? 'to change it' : 'fix'}: ${c.fix}`);
    if (verbose && c.detail) out.push(`      detail: ${c.detail}`);
  }
  const to = dg.service ? ` to ${serviceWords(dg.service)}` : '';
  const fails = dg.checks.filter((c) => c.level === 'fail').length;
  if (fails) out.push(`${dg.user} cannot log in${to}: ${fails === 1 ? 'the problem above needs' : `the ${fails} problems above need`} fixing`);
  else if (dg.intended) out.push(`${dg.user} cannot log in${to}, as the admin intended (see above); nothing is broken`);
  else out.push(`${dg.user} can log in${to}, as far as nasauth can tell`);
  return out.join('\n') + '\n';
}

/**
 * `doctor --all`: one line per account with what is wrong with that account, then what is
 * wrong with the box itself (the same for every account), once.
 */
export function renderAll(all: Diagnosis[]): string {
  const out: string[] = [];
  const box = new Map<string, { c: Check; n: number }>();
  for (const dg of all) {
    const mine = dg.checks.filter((c) => c.scope !== 'system');
    for (const c of dg.checks) {
      if (c.scope !== 'system' || (c.level !== 'fail' && c.level !== 'warn')) continue;
      const k = `${c.id}|${c.level}`;
      const e = box.get(k);
      if (e) e.n += 1; else box.set(k, { c, n: 1 });
    }
    out.push(renderSummaryLine({ ...dg, checks: mine }));
  }
  for (const { c, n } of box.values()) out.push(`${c.level === 'fail' ? 'FAIL' : 'warn'} for ${n === all.length ? 'every account' : `${n} accounts`}: ${c.text}${c.fix ? ` → ${c.fix}` : ''}`);
  const bad = all.filter((x) => !x.ok).length;
  out.push(bad ? `${bad} of ${all.length} accounts need fixing (nasauth doctor NAME says how)` : `all ${all.length} accounts are as the admin intended`);
  return out.join('\n') + '\n';
}

/** One line per account for `doctor --all`. */
export function renderSummaryLine(dg: Diagnosis): string {
  const fails = dg.checks.filter((c) => c.level === 'fail');
  const name = dg.user.padEnd(20);
  if (fails.length) return `${name} FAIL: ${fails.map((c) => `${c.text}${c.fix ? ` → ${c.fix}` : ''}`).join('; ')}`;
  const why = dg.checks.filter((c) => c.level === 'info' && c.blocks);
  if (why.length) return `${name} as intended: ${why.map((c) => c.text).join('; ')}`;
  const warns = dg.checks.filter((c) => c.level === 'warn');
  return `${name} ok${warns.length ? ` (note: ${warns.map((c) => c.text).join('; ')})` : ''}`;
}

