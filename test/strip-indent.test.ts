// scripts/strip-indent.mjs: indentation out of a bundle's lines, never out of a
// literal; the build refuses a result that is not the same program (scripts/build.mjs).
import t from 'tap';
import { transformSync } from 'esbuild';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const load = () => import(join(__dirname, '..', 'scripts', 'strip-indent.mjs')) as Promise<{ stripIndent: (s: string) => string }>;
const same = (a: string, b: string) => transformSync(a, { minify: true, loader: 'js' }).code === transformSync(b, { minify: true, loader: 'js' }).code;

t.test('literals keep their indentation; code loses it; every line stays where it was', async (t) => {
  const { stripIndent } = await load();
  const cases: Array<[string, string]> = [
    ['a template literal', 'function f() {\n    return `line one\n    indented two\n  ${x ? `inner\n      deep` : { a: 1 }.a}\n    after`;\n}\n'],
    ['a regular expression with a backtick and a quote', 'function g(s) {\n  return /[`"\']\\/x/g.test(s) ? 1 : s / 2 / 3;\n}\nconst k = `\n   kept`;\n'],
    ['a string continued over lines', 'const s = "one\\\n    two";\n  const u = \'a\\\n   b\';\n'],
    ['braces in a substitution', 'const o = `${ { a: { b: `x\n   y` } }.a.b }\n   z`;\n    if (o) { o; }\n'],
    ['comments', '/* a\n   comment */\n   // line\n   const q = 1 / 2; const r = q\n     / 3;\n'],
    ['division after a call and a member', '  x = f(a) / 2 / g[1] / h.i;\n  y = `\n  t`;\n'],
    ['regex after return and typeof', 'function h(v) {\n  if (typeof v === "string") return /a\\/b`/.test(v);\n  return `\n  q`;\n}\n'],
  ];
  for (const [what, src] of cases) {
    const out = stripIndent(src);
    t.ok(same(src, out), `${what}: the same program`);
    t.equal(out.split('\n').length, src.split('\n').length, `${what}: the same lines`);
  }
  t.equal(stripIndent(cases[0][1]), 'function f() {\nreturn `line one\n    indented two\n  ${x ? `inner\n      deep` : { a: 1 }.a}\n    after`;\n}\n', 'exactly: the code lines start at column 0, the template as written');
  t.equal(stripIndent(cases[1][1]), 'function g(s) {\nreturn /[`"\']\\/x/g.test(s) ? 1 : s / 2 / 3;\n}\nconst k = `\n   kept`;\n', 'exactly: a backtick inside a regular expression opens no template');
  t.equal(stripIndent(cases[4][1]), '/* a\n   comment */\n// line\nconst q = 1 / 2; const r = q\n/ 3;\n', 'exactly: a comment as written, a division across lines');
});

t.test('the shipped bundle is stripped', async (t) => {
  const { stripIndent } = await load();
  const f = join(__dirname, '..', 'dist', 'nasauthd.js');
  let text: string;
  try { text = readFileSync(f, 'utf8'); } catch { t.fail(`no ${f}: npm run build`); return; }
  // the bundle is already stripped: stripping again changes nothing
  t.equal(stripIndent(text), text, 'idempotent on the shipped bundle');
  t.notMatch(text.slice(0, 200_000), /\n {2,}(?:var|const|let|function|return|if) /, 'no indented statements in the shipped bundle');
});
