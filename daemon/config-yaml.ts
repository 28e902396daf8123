// The config files' own YAML, read without the general parser.
//
// nasauth's configuration files (the embedded default, sysroot's nasauth.yaml, what
// `yaml.stringify` writes for the tests and the benchmark) use a small part of YAML:
// block mappings, one-line flow mappings and sequences, quoted and plain scalars,
// comments. Running the `yaml` library over them was the largest single step of a
// start (about 20 ms of a 150 ms start on x86, mostly the library's code running cold,
// more on the device) and of the code it pulls into memory. This reader takes exactly
// that part and answers `undefined` ("not mine") for anything else: block sequences,
// anchors, tags, multi-line scalars, numbers other than decimal integers, a duplicate
// key, odd indentation, tabs. The caller then runs the full `yaml` parser, which also
// words every error (with line and column): this reader never reports one.
//
// What it accepts it reads as `yaml` (YAML 1.2, core schema) does; test/config-yaml.test.ts
// checks that on every config in the repository and on generated and mutated documents.

const KEY = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const INT = /^[-+]?[0-9]+$/;
/** plain scalars the core schema may read as something other than a string or a decimal integer */
const SPECIAL = /^(?:[-+]?(?:\.[0-9]|[0-9])|[-+]?\.(?:inf|Inf|INF)$|\.(?:nan|NaN|NAN)$)/;

type Value = null | boolean | number | string | Value[] | { [k: string]: Value };

class Decline extends Error {}
const no = (): never => { throw new Decline(); };

/** The document as `yaml`'s toJS() gives it, or undefined when it is beyond this reader. */
export function readPlainYaml(text: string): unknown {
  try {
    return readDoc(text);
  } catch (e) {
    if (e instanceof Decline) return undefined;
    throw e;
  }
}

type Level =
  | { kind: 'map'; indent: number; map: Record<string, Value>; pendingKey: string | null }
  | { kind: 'seq'; indent: number; list: Value[] };

function readDoc(text: string): Value {
  if (/[\t\r\uFEFF]/.test(text) || /[^\x20-\x7e\n\u00a0-\ud7ff\ue000-\ufffd]/.test(text)) no();
  const root: Record<string, Value> = {};
  const stack: Level[] = [];
  for (const line of text.split('\n')) {
    const content = line.trimStart();
    if (content === '' || content.startsWith('#')) continue;
    const indent = line.length - content.length;
    if (/^(?:---|\.\.\.|%)/.test(content)) no();
    const item = /^-(?: |$)/.test(content);
    while (stack.length && indent < stack[stack.length - 1].indent) close(stack);
    if (!stack.length) {
      if (indent !== 0) no();
      stack.push({ kind: 'map', indent: 0, map: root, pendingKey: null });
    }
    const top = stack[stack.length - 1];
    const s = new Scanner(content);
    if (top.kind === 'seq') {
      // the next entry of a block sequence of scalars (or one-line flow collections)
      if (indent !== top.indent || !item) no();
      top.list.push(entry(s));
      continue;
    }
    let level = top;
    if (indent > top.indent) {
      // the first line of the block under the last key: a mapping or a sequence
      const parentKey = top.pendingKey ?? no();
      top.pendingKey = null;
      if (item) {
        const list: Value[] = [];
        top.map[parentKey] = list;
        stack.push({ kind: 'seq', indent, list });
        list.push(entry(s));
        continue;
      }
      const child: Record<string, Value> = {};
      top.map[parentKey] = child;
      level = { kind: 'map', indent, map: child, pendingKey: null };
      stack.push(level);
    } else if (top.pendingKey !== null) {
      top.map[top.pendingKey] = null;
      top.pendingKey = null;
    }
    if (item) no();
    const key = s.plainKey();
    checkKey(key, level.map);
    s.expect(':');
    if (s.atEndOrComment()) { level.map[key] = null; level.pendingKey = key; continue; }
    if (s.peek() !== ' ') no();
    s.skipSpaces();
    level.map[key] = s.value(false);
    if (!s.atEndOrComment()) no();
  }
  while (stack.length) close(stack);
  // every line that is not blank or a comment put a key into root, or was declined
  return Object.keys(root).length ? root : null;
}

/** "- value" of a block sequence: a scalar or a one-line flow collection, nothing nested below it. */
function entry(s: Scanner): Value {
  s.expect('-');
  if (s.atEndOrComment()) no(); // an empty entry
  s.skipSpaces();
  const c = s.peek();
  if (c === '-' || c === '?') no(); // a nested sequence or a complex key
  const v = s.value(false);
  if (!s.atEndOrComment()) no();
  return v;
}

/**
 * A key this reader takes: a plain name that the core schema reads as a string, said once.
 * "__proto__" is declined (an ordinary object would take it as its prototype); yaml refuses
 * implicit keys over 1024 characters.
 */
function checkKey(key: string, map: Record<string, Value>) {
  if (key.length > 128 || !KEY.test(key) || Object.hasOwn(map, key) || key === '__proto__' || typeof resolvePlain(key) !== 'string') no();
}

function close(stack: Level[]) {
  const l = stack.pop()!;
  if (l.kind === 'map' && l.pendingKey !== null) { l.map[l.pendingKey] = null; l.pendingKey = null; }
}

class Scanner {
  private i = 0;
  constructor(private readonly s: string) {}

  peek(): string { return this.s[this.i] ?? ''; }
  skipSpaces() { while (this.s[this.i] === ' ') this.i++; }
  expect(c: string) { if (this.s[this.i] !== c) no(); this.i++; }
  /** the rest is nothing, or a comment (after at least one space, or at the start) */
  atEndOrComment(): boolean {
    const rest = this.s.slice(this.i);
    if (rest.trim() === '') return true;
    return /^\s+#/.test(rest);
  }

  plainKey(): string {
    const m = /^[A-Za-z0-9_.-]+/.exec(this.s.slice(this.i));
    if (!m) no();
    this.i += m![0].length;
    return m![0];
  }

  value(flow: boolean): Value {
    const c = this.peek();
    if (c === '{') return this.flowMap();
    if (c === '[') return this.flowSeq();
    if (c === '"') return this.doubleQuoted();
    if (c === "'") return this.singleQuoted();
    return this.plainScalar(flow);
  }

  private flowMap(): Value {
    this.i++;
    const out: Record<string, Value> = {};
    this.skipSpaces();
    if (this.peek() === '}') { this.i++; return out; }
    for (;;) {
      const key = this.plainKey();
      checkKey(key, out);
      this.expect(':');
      if (this.peek() !== ' ') no();
      this.skipSpaces();
      out[key] = this.value(true);
      if (this.closed('}')) return out;
    }
  }

  /**
   * After an item of a flow collection: true at its closing bracket, past a comma
   * otherwise (a trailing comma or anything else is left to the full parser).
   */
  private closed(close: '}' | ']'): boolean {
    this.skipSpaces();
    const c = this.peek();
    this.i++;
    if (c === close) return true;
    if (c !== ',') no();
    this.skipSpaces();
    if (this.peek() === close) no();
    return false;
  }

  private flowSeq(): Value {
    this.i++;
    const out: Value[] = [];
    this.skipSpaces();
    if (this.peek() === ']') { this.i++; return out; }
    for (;;) {
      const c0 = this.peek();
      if (c0 === '{' || c0 === '[') no(); // nested collections in a sequence: not in our files
      out.push(this.value(true));
      if (this.closed(']')) return out;
    }
  }

  private doubleQuoted(): string {
    this.i++;
    let out = '';
    for (;;) {
      const c = this.s[this.i++];
      if (c === undefined) no();
      if (c === '"') return out;
      if (c !== '\\') { out += c; continue; }
      const e = this.s[this.i++];
      switch (e) {
        case '\\': out += '\\'; break;
        case '"': out += '"'; break;
        case '/': out += '/'; break;
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case '0': out += '\0'; break;
        case 'u': {
          const h = this.s.slice(this.i, this.i + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(h)) no();
          const code = parseInt(h, 16);
          if (code >= 0xd800 && code <= 0xdfff) no();
          out += String.fromCharCode(code);
          this.i += 4;
          break;
        }
        default: no();
      }
    }
  }

  private singleQuoted(): string {
    this.i++;
    let out = '';
    for (;;) {
      const c = this.s[this.i++];
      if (c === undefined) no();
      if (c !== "'") { out += c; continue; }
      if (this.s[this.i] === "'") { out += "'"; this.i++; continue; }
      return out;
    }
  }

  private plainScalar(flow: boolean): Value {
    const start = this.i;
    const c = this.peek();
    // indicators that begin something else in YAML
    if (c === '' || '[]{},#&*!|>\'"%@`?:-'.includes(c)) {
      // "-" and "?" and ":" may begin a plain scalar when not followed by a space; keep it simple
      if (!((c === '-' || c === '?' || c === ':') && /^[-?:][^\s,[\]{}]/.test(this.s.slice(this.i)))) no();
    }
    for (;;) {
      const ch = this.s[this.i];
      if (ch === undefined) break;
      if (flow && ',[]{}'.includes(ch)) break;
      if (ch === ':' && (this.s[this.i + 1] === undefined || this.s[this.i + 1] === ' ' || (flow && ',[]{}'.includes(this.s[this.i + 1])))) no();
      if (ch === ' ' && this.s[this.i + 1] === '#') break;
      if (ch === ' ' && (this.s[this.i + 1] === undefined || this.s[this.i + 1] === ' ')) {
        // only spaces before the end, a comment, or (in flow) a separator may follow
        let j = this.i;
        while (this.s[j] === ' ') j++;
        const after = this.s[j];
        if (after === undefined || after === '#' || (flow && ',]}'.includes(after))) break;
      }
      this.i++;
    }
    const text = this.s.slice(start, this.i).trimEnd();
    this.i = start + text.length;
    if (text === '') no();
    return resolvePlain(text);
  }
}

/** YAML 1.2 core schema, for what this reader keeps: null, booleans, decimal integers, strings. */
function resolvePlain(t: string): Value {
  if (t === '~' || t === 'null' || t === 'Null' || t === 'NULL') return null;
  if (t === 'true' || t === 'True' || t === 'TRUE') return true;
  if (t === 'false' || t === 'False' || t === 'FALSE') return false;
  if (INT.test(t)) {
    const n = parseInt(t, 10);
    if (!Number.isSafeInteger(n)) no();
    return n;
  }
  if (SPECIAL.test(t)) no(); // floats, octal, hex, .inf, .nan, timestamps: the full parser
  return t;
}
