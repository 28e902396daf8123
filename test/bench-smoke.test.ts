// The benchmark harness must not rot: run every figure with tiny N (--quick) into a
// temporary folder, check that the table and the report come out, that every figure has
// numbers or a stated reason, and that the correctness checks are in force (timing a
// wrong password counts errors and fails the figure). No timing thresholds here.
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt, ROOT } from './helpers/daemon';

function bench(script: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^_?TAP/.test(k)) env[k] = v;
  return new Promise((res) => {
    // through env -u: tap's process-info wrapper puts its ESM loader into NODE_OPTIONS of
    // every child, and that loader refuses the harness's .ts entry point
    const p = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, '-r', 'ts-node/register/transpile-only', join(ROOT, 'bench', script), ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c) => { stdout += c; });
    p.stderr.on('data', (c) => { stderr += c; });
    p.on('close', (code) => res({ code, stdout, stderr }));
  });
}

interface Fig { id: string; status: string; reason?: string; errors: number; rows: Array<{ what: string; median: string; errors: number }> }

t.test('every figure, quick mode: table, report, numbers or a reason', async (t) => {
  ensureBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'nasauth-bench-smoke-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const doc = join(dir, 'benchmarks.md');
  const results = join(dir, 'results.json');
  const r = await bench('run.ts', ['--quick', '--doc', doc, '--results', results]);
  t.equal(r.code, 0, r.code === 0 ? "bench/run.ts --quick exits 0" : `bench/run.ts --quick exits 0\n${r.stderr.slice(-3000)}`);
  t.match(r.stdout, /fig\s+what\s+median\s+p99/, 'the table is printed');
  t.ok(existsSync(doc) && existsSync(results), 'report and results written');
  const md = readFileSync(doc, 'utf8');
  t.match(md, /GENERATED FILE/, 'the report says it is generated');
  t.match(md, /never edited by hand/i);
  t.match(md, /\| CPU \| .+ \|/, 'machine: CPU');
  t.match(md, /\| RAM \| .+ GB \|/, 'machine: RAM');
  t.match(md, /\| Node \| v\d+/, 'Node version');
  t.match(md, /\| date \| \d{4}-\d\d-\d\dT/, 'date');
  const figs = JSON.parse(readFileSync(results, 'utf8')).figures as Record<string, Fig>;
  for (const id of ['1', '2', '3', '4', '5', '6', '7', '8']) {
    const f = figs[id];
    t.ok(f, `figure ${id} is in the results`);
    if (!f) continue;
    t.match(md, new RegExp(`## Figure ${id}\\. `), `figure ${id} has a section`);
    t.not(f.status, 'fail', `figure ${id} timed no wrong answer: ${JSON.stringify(f.rows.filter((x) => x.errors))}`);
    if (f.status === 'not measured') {
      t.ok(f.reason && f.reason.length > 5, `figure ${id} says why it was not measured: ${f.reason}`);
      t.comment(`figure ${id} not measured here: ${f.reason}`);
    } else {
      t.ok(f.rows.length >= 2, `figure ${id} has rows`);
      t.ok(f.rows.some((x) => /\d/.test(x.median)), `figure ${id} has numbers`);
      t.ok(f.rows.some((x) => (x as { peer?: boolean }).peer), `figure ${id} has its peer`);
    }
  }
});

t.test('the correctness checks are in force: a wrong password is counted and fails the figure', async (t) => {
  ensureBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'nasauth-bench-neg-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const results = join(dir, 'results.json');
  // refusals answer after the daemon's failure delay (500 ms): measure long enough to see some
  const r = await bench('query.ts', ['--quick', '--wrong-password', '--duration', '2', '--conns', '1,8', '--doc', join(dir, 'b.md'), '--results', results]);
  t.equal(r.code, 1, 'the run exits 1');
  const f = (JSON.parse(readFileSync(results, 'utf8')).figures as Record<string, Fig>)['1'];
  t.equal(f.status, 'fail', 'figure 1 is failed');
  t.ok(f.errors > 0, `errors counted: ${f.errors}`);
  const daemonRows = f.rows.filter((x) => x.what.startsWith('nasauthd'));
  t.ok(daemonRows.length && daemonRows.every((x) => x.errors > 0), 'every daemon row counted wrong answers');
  t.ok(f.rows.filter((x) => x.what.startsWith('floor')).every((x) => x.errors === 0), 'the floor (which checks no password) counted none');
  t.match(readFileSync(join(dir, 'b.md'), 'utf8'), /FAILED/, 'the report says FAILED');
});
