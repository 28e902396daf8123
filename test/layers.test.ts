// HACKING.md: "A surface parses, bounds and validates its input, calls the authority, and
// renders the decision. It never reads the store's verifiers or decides policy itself."
// Issue 12 point 3 was that rule broken (the LDAP view read accounts straight from the
// store and decided smbd's flags). This test makes the slip structural: with the
// TypeScript checker over daemon/, every file outside the logic layer
//   - imports from the store module only types (and writeDurable, a file helper),
//   - never holds a value of the store's types (Store, StoreData, Verifiers): no
//     `auth.store`, no `auth['store']`, no account's `.verifiers`, however reached,
//   - never changes the store (`.mutate(`).
// New files are surfaces until they are added to LOGIC on purpose.
import t from 'tap';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

const ROOT = join(__dirname, '..');
const DAEMON = join(ROOT, 'daemon');
/** The logic layer: may open, read and change the store. */
const LOGIC = new Set(['authority.ts', 'store.ts', 'main.ts', 'import.ts', 'verifier.ts', 'cache.ts',
  // the directory follower is logic the authority asks (HACKING.md), not a surface
  'upstream/upstream.ts', 'upstream/mapping.ts', 'upstream/doctor.ts']);
/** Values a surface may import from the store module. */
const ALLOWED_VALUES = new Set(['writeDurable']);
/** Types whose values only the logic layer may hold. */
const FORBIDDEN_TYPES = new Set(['Store', 'StoreData', 'Verifiers']);

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? files(p) : e.endsWith('.ts') ? [p] : [];
  });
}

interface Finding { file: string; line: number; what: string }

let cached: ts.Program | null = null;
function check(sourceFiles: string[], logic: (file: string) => boolean): Finding[] {
  cached ??= ts.createProgram(sourceFiles, { strict: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, esModuleInterop: true, skipLibCheck: true, noEmit: true, types: ['node'] });
  const program = cached;
  const checker = program.getTypeChecker();
  const storeFile = join(DAEMON, 'store.ts');
  const out: Finding[] = [];
  for (const sf of program.getSourceFiles()) {
    const file = sf.fileName;
    if (!file.startsWith(DAEMON) || logic(file)) continue;
    const at = (n: ts.Node, what: string) => out.push({ file: relative(ROOT, file), line: sf.getLineAndCharacterOfPosition(n.getStart()).line + 1, what });
    const fromStore = (spec: ts.Expression) => {
      if (!ts.isStringLiteral(spec)) return false;
      const r = ts.resolveModuleName(spec.text, file, program.getCompilerOptions(), ts.sys).resolvedModule;
      return r?.resolvedFileName === storeFile;
    };
    const visit = (n: ts.Node): void => {
      if (ts.isImportDeclaration(n) && fromStore(n.moduleSpecifier)) {
        const c = n.importClause;
        if (c && !c.isTypeOnly) {
          if (c.name) at(n, `imports the store module's default export`);
          const b = c.namedBindings;
          if (b && ts.isNamespaceImport(b)) at(n, 'imports the whole store module');
          if (b && ts.isNamedImports(b)) {
            for (const el of b.elements) {
              const name = (el.propertyName ?? el.name).text;
              if (!el.isTypeOnly && !ALLOWED_VALUES.has(name)) at(el, `imports ${name} from the store (only types may come from there)`);
            }
          }
        }
      }
      if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] && fromStore(n.arguments[0])) {
        at(n, 'imports the store module at run time');
      }
      if (ts.isCallExpression(n) && n.arguments[0] && ts.isIdentifier(n.expression) && n.expression.text === 'require' && fromStore(n.arguments[0])) {
        at(n, 'requires the store module');
      }
      const memberName = ts.isIdentifier(n) && ts.isPropertyAccessExpression(n.parent) && n.parent.name === n;
      if (ts.isPropertyAccessExpression(n) || ts.isElementAccessExpression(n) || (ts.isIdentifier(n) && !memberName)) {
        // the type of the value the expression evaluates to (not a type annotation)
        if (!ts.isTypeNode(n.parent) && !ts.isImportSpecifier(n.parent) && !ts.isTypeReferenceNode(n.parent)) {
          let type: ts.Type | undefined;
          try { type = checker.getTypeAtLocation(n); } catch { type = undefined; }
          const parts = type?.isUnion() ? type.types : type ? [type] : [];
          for (const p of parts) {
            const sym = p.getSymbol() ?? p.aliasSymbol;
            const decl = sym?.declarations?.[0];
            if (sym && FORBIDDEN_TYPES.has(sym.getName()) && decl && decl.getSourceFile().fileName === storeFile) {
              at(n, `holds a ${sym.getName()} (${n.getText(sf).slice(0, 60)}): read through the authority instead`);
              break;
            }
          }
        }
      }
      if (ts.isCallExpression(n) && ts.isPropertyAccessExpression(n.expression) && n.expression.name.text === 'mutate') at(n, 'changes the store (.mutate)');
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  // one finding per line and reason is enough
  return out.filter((f, i) => out.findIndex((g) => g.file === f.file && g.line === f.line) === i);
}

const all = files(DAEMON);

t.test('no surface touches the store', async (t) => {
  const findings = check(all, (f) => LOGIC.has(relative(DAEMON, f)));
  t.same(findings, [], findings.map((f) => `${f.file}:${f.line}: ${f.what}`).join('\n') || 'every surface reads through the authority');
  t.ok(all.some((f) => f.endsWith('ldap-view.ts')) && all.some((f) => f.endsWith('admin-socket.ts')), 'the surfaces were checked');
});

t.test('the check finds the slips it is there for', async (t) => {
  // the same checker over the logic layer, as if it were a surface, must find the store in use
  const findings = check(all, (f) => !['authority.ts', 'main.ts'].includes(relative(DAEMON, f)));
  const text = findings.map((f) => `${f.file}:${f.line}: ${f.what}`).join('\n');
  t.match(text, /daemon\/authority\.ts:\d+: holds a Store/, 'a value of the Store type');
  t.match(text, /daemon\/authority\.ts:\d+: holds a Verifiers/, 'an account\'s verifiers');
  t.match(text, /daemon\/authority\.ts:\d+: changes the store/, 'a store change');
  t.match(text, /daemon\/main\.ts:\d+: imports Store from the store/, 'a value import from the store');
});
