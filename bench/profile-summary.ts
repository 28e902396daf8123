// Summarise a V8 CPU profile (from `bench/query.ts --cpu-prof DIR`): self time by
// function and by source file, inclusive time of the functions that matter, and who
// calls the costliest native functions (a syscall's cost shows up as the native
// function that made it: writeString is an fs.write, writev a socket write).
// Percentages are of the busy time: the profile also covers the daemon's idle waits
// (start, warm-up, the floor's turn), which say nothing about the request path.
//   npx ts-node --transpile-only bench/profile-summary.ts DIR/CPU.*.cpuprofile [--top 25]
import * as fs from 'node:fs';

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

export function summarise(file: string, top = 25): string {
  const p: Profile = JSON.parse(fs.readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  const all = [...self.values()].reduce((a, b) => a + b, 0);
  let idle = 0;
  for (const [id, t] of self) if (byId.get(id)!.callFrame.functionName === '(idle)') idle += t;
  const busy = Math.max(1, all - idle);
  const short = (u: string) => u.replace(/^.*\/(node_modules\/[^/]+|dist)\//, '$1/') || '(native)';
  const name = (n: Node) => `${n.callFrame.functionName || '(anonymous)'} ${short(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
  const fnSelf = new Map<string, number>();
  const fileSelf = new Map<string, number>();
  const incl = new Map<string, number>();
  const callers = new Map<string, Map<string, number>>();
  for (const [id, t] of self) {
    const n = byId.get(id)!;
    if (n.callFrame.functionName === '(idle)') continue;
    fnSelf.set(name(n), (fnSelf.get(name(n)) ?? 0) + t);
    fileSelf.set(short(n.callFrame.url), (fileSelf.get(short(n.callFrame.url)) ?? 0) + t);
    // inclusive: every distinct function on the stack gets the sample once
    const seen = new Set<string>();
    const stack: string[] = [];
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const k = byId.get(cur)!.callFrame.functionName || '(anonymous)';
      if (cur !== id && stack.length < 6) stack.push(k);
      if (!seen.has(k)) { seen.add(k); incl.set(k, (incl.get(k) ?? 0) + t); }
    }
    if (!n.callFrame.url) {
      const m = callers.get(name(n)) ?? new Map<string, number>();
      const key = stack.join(' < ');
      m.set(key, (m.get(key) ?? 0) + t);
      callers.set(name(n), m);
    }
  }
  const pct = (t: number) => `${((100 * t) / busy).toFixed(1).padStart(5)}%`;
  const out: string[] = [`profile ${file}: ${(all / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s busy (percentages below are of the busy time)`];
  out.push('', 'self time by function:');
  const topFns = [...fnSelf].sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [k, t] of topFns) out.push(`  ${pct(t)}  ${k}`);
  out.push('', 'self time by file:');
  for (const [k, t] of [...fileSelf].sort((a, b) => b[1] - a[1]).slice(0, 12)) out.push(`  ${pct(t)}  ${k}`);
  out.push('', 'inclusive time of selected functions:');
  for (const k of ['handle', 'readJson', 'authenticate', 'prove', 'check', 'mac', 'hmac', 'canonicalBytes', 'audit', 'LOG', 'asJson', 'send', 'sendDecision', 'profileOf', 'decisionBody', 'count', 'write', 'actualWrite', 'parserOnIncoming', 'parserOnHeadersComplete', 'writeHead', 'end', '(garbage collector)', '(program)']) {
    if (incl.has(k)) out.push(`  ${pct(incl.get(k)!)}  ${k}`);
  }
  out.push('', 'callers of the costliest native functions:');
  for (const [k] of topFns.filter(([f]) => / \(native\):0$/.test(f) && !/^\((garbage collector|program)\)/.test(f)).slice(0, 5)) {
    out.push(`  ${k}`);
    for (const [st, t] of [...(callers.get(k) ?? new Map())].sort((a, b) => b[1] - a[1]).slice(0, 3)) out.push(`    ${pct(t)}  < ${st}`);
  }
  return out.join('\n');
}

if (require.main === module) {
  const file = process.argv[2];
  if (!file) { process.stderr.write('usage: profile-summary.ts FILE.cpuprofile [--top N]\n'); process.exit(2); }
  const i = process.argv.indexOf('--top');
  process.stdout.write(summarise(file, i > 0 ? Number(process.argv[i + 1]) : 25) + '\n');
}
