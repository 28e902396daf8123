// Summarise a V8 CPU profile (from `bench/query.ts --cpu-prof DIR`): self time by
// function and by source file, and inclusive time of the functions that matter.
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
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const short = (u: string) => u.replace(/^.*\/(node_modules\/[^/]+|dist)\//, '$1/').replace(/^node:/, 'node:') || '(native)';
  const name = (n: Node) => `${n.callFrame.functionName || '(anonymous)'} ${short(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
  const fnSelf = new Map<string, number>();
  const fileSelf = new Map<string, number>();
  const incl = new Map<string, number>();
  for (const [id, t] of self) {
    const n = byId.get(id)!;
    fnSelf.set(name(n), (fnSelf.get(name(n)) ?? 0) + t);
    fileSelf.set(short(n.callFrame.url), (fileSelf.get(short(n.callFrame.url)) ?? 0) + t);
    // inclusive: every distinct function on the stack gets the sample once
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const k = byId.get(cur)!.callFrame.functionName || '(anonymous)';
      if (!seen.has(k)) { seen.add(k); incl.set(k, (incl.get(k) ?? 0) + t); }
    }
  }
  const pct = (t: number) => `${((100 * t) / total).toFixed(1).padStart(5)}%`;
  const out: string[] = [`profile ${file}: ${(total / 1e6).toFixed(2)} s sampled`];
  out.push('', 'self time by function:');
  for (const [k, t] of [...fnSelf].sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(`  ${pct(t)}  ${k}`);
  out.push('', 'self time by file:');
  for (const [k, t] of [...fileSelf].sort((a, b) => b[1] - a[1]).slice(0, 12)) out.push(`  ${pct(t)}  ${k}`);
  out.push('', 'inclusive time of selected functions:');
  for (const k of ['audit', 'authenticate', 'prove', 'check', 'mac', 'hmac', 'canonicalBytes', 'readJson', 'send', 'sendDecision', 'profileOf', 'count', 'write', 'asJson', 'redact', 'parserOnIncoming', 'writeHead', 'end', '(garbage collector)', '(idle)', '(program)']) {
    if (incl.has(k)) out.push(`  ${pct(incl.get(k)!)}  ${k}`);
  }
  return out.join('\n');
}

if (require.main === module) {
  const file = process.argv[2];
  if (!file) { process.stderr.write('usage: profile-summary.ts FILE.cpuprofile [--top N]\n'); process.exit(2); }
  const i = process.argv.indexOf('--top');
  process.stdout.write(summarise(file, i > 0 ? Number(process.argv[i + 1]) : 25) + '\n');
}
