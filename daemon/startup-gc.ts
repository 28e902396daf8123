// One full garbage collection right after the start. Loading the store leaves its file
// (a Buffer), its text and the NSS files' text behind (about 1 KB per account, 12 MB at
// 10k accounts), and V8 keeps them resident until its heap grows enough to collect on
// its own, which an idle daemon may never do. Node exposes a collection only behind
// --expose-gc; the flag is set at run time and the collector taken from a fresh
// context (the daemon's own global gets no gc function). Best effort: if either step is
// refused, nothing happens. docs/performance.md has the figures.
import type * as V8 from 'node:v8';
import type * as Vm from 'node:vm';

export function collectStartupGarbage(): boolean {
  try {
    // loaded here, after the ready line: node:v8 alone is about 1 ms of the start
    const { setFlagsFromString } = require('node:v8') as typeof V8;
    const { runInNewContext } = require('node:vm') as typeof Vm;
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    if (typeof gc !== 'function') return false;
    (gc as () => void)(); // a full collection (Node 20's V8 ignores gc()'s options object)
    return true;
  } catch {
    return false;
  }
}
