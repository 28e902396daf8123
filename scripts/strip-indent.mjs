// Leading indentation out of a bundle's lines, and nothing else: every line stays where
// it was, so a stack trace's line numbers (and every name in it) are those of the
// unstripped bundle. V8 keeps a script's whole source text in memory for lazy
// compilation; esbuild's two-space indentation is a fifth of the daemon's bundle
// (docs/performance.md). Text inside template literals, strings and comments is never
// touched; scripts/build.mjs checks that the stripped bundle minifies to exactly the
// same program as the original, so a mistake here fails the build instead of changing
// a string.

const KEYWORDS_BEFORE_EXPR = new Set(['return', 'typeof', 'instanceof', 'in', 'of', 'new', 'delete', 'void', 'throw', 'case', 'do', 'else', 'yield', 'await']);

/** `src` with the whitespace at the start of each line removed, outside literals and comments. */
export function stripIndent(src) {
  const out = [];
  let i = 0;
  let last = 0; // start of the text not yet copied
  const n = src.length;
  const braces = []; // for each open template substitution: the depth of { inside it
  let prev = ''; // the last significant token, to tell a regex from a division
  const isIdent = (c) => /[A-Za-z0-9_$]/.test(c);
  const skipString = (q) => { i++; while (i < n && src[i] !== q) { if (src[i] === '\\') i++; i++; } i++; };
  // from just after ` or }: to the end of the template part (` or ${)
  const skipTemplate = () => {
    while (i < n) {
      const c = src[i];
      if (c === '\\') { i += 2; continue; }
      if (c === '`') { i++; return; }
      if (c === '$' && src[i + 1] === '{') { i += 2; braces.push(0); return; }
      i++;
    }
  };
  const skipRegex = () => {
    i++;
    let cls = false;
    while (i < n) {
      const c = src[i];
      if (c === '\\') { i += 2; continue; }
      if (c === '\n') throw new Error(`strip-indent: a regular expression runs into a new line at ${i}`);
      if (cls) { if (c === ']') cls = false; } else if (c === '[') cls = true; else if (c === '/') { i++; break; }
      i++;
    }
    while (i < n && isIdent(src[i])) i++; // flags
  };
  while (i < n) {
    const c = src[i];
    if (c === '\n') {
      i++;
      let j = i;
      while (j < n && (src[j] === ' ' || src[j] === '\t')) j++;
      if (j > i) { out.push(src.slice(last, i)); last = j; }
      i = j;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') { i++; continue; }
    if (c === '/' && src[i + 1] === '/') { while (i < n && src[i] !== '\n') i++; continue; }
    if (c === '/' && src[i + 1] === '*') { const e = src.indexOf('*/', i + 2); i = e < 0 ? n : e + 2; continue; }
    if (c === '"' || c === "'") { skipString(c); prev = 'str'; continue; }
    if (c === '`') { i++; skipTemplate(); prev = 'str'; continue; }
    if (c === '{') { if (braces.length) braces[braces.length - 1]++; i++; prev = '{'; continue; }
    if (c === '}') {
      if (braces.length && braces[braces.length - 1] === 0) { braces.pop(); i++; skipTemplate(); prev = 'str'; continue; }
      if (braces.length) braces[braces.length - 1]--;
      i++; prev = '}'; continue;
    }
    if (c === '/') {
      const regexHere = prev === '' || (!/^[A-Za-z0-9_$]/.test(prev) && prev !== ')' && prev !== ']' && prev !== '}' && prev !== 'str') || KEYWORDS_BEFORE_EXPR.has(prev);
      if (regexHere) { skipRegex(); prev = 'str'; continue; }
      i++; prev = '/'; continue;
    }
    if (isIdent(c)) { const s = i; while (i < n && isIdent(src[i])) i++; prev = src.slice(s, i); continue; }
    i++; prev = c;
  }
  out.push(src.slice(last));
  return out.join('');
}
