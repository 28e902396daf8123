// Imported first by nasauthd-start.js (daemon/start.ts), before any other module.
//
// The init script gives node heap limits on its command line (NODE_OPTS:
// --max-semi-space-size, --max-old-space-size). V8 reads them once, when it sets up the
// heap, and keeps what it configured. But any flag that differs from its default also
// changes V8's flag hash, and Node's own modules (http, net, child_process, crypto...) are
// compiled from a code cache made with the default flags: with a different hash, V8
// refuses that cache and every built-in module the daemon loads is compiled from source.
// Measured on x86, Node 20: require('child_process') 2.2 ms with default flags, 7.9 ms
// with either heap flag; http 0.8 → 2.8 ms; crypto 1.4 → 3.6 ms.
//
// So the heap flags are set back to their defaults here, after V8 has configured the heap
// from them: the limits stay (checked by test/start-flags.test.ts: the heap size limit and
// the young generation's size under allocation are those of the command line) and the
// built-in modules loaded afterwards use Node's cache again. Only these flags, only when
// they were given: they are read when the heap is set up and never again. And only in a
// Node that has such a cache: Debian's armhf node is built without one
// (process.config node_use_node_code_cache false), where loading node:v8 for this would
// only cost time (60 ms under qemu-arm).
import type * as V8 from 'node:v8';

/** V8 flags read only when the heap is set up (default 0: V8 computes the size). */
export const HEAP_SETUP_FLAGS = ['max-semi-space-size', 'min-semi-space-size', 'max-old-space-size', 'initial-old-space-size', 'max-heap-size', 'initial-heap-size'];

/** Whether this node compiles its own modules from a code cache (false: nothing to gain here). */
export function hasBuiltinCodeCache(): boolean {
  return (process.config.variables as unknown as Record<string, unknown>).node_use_node_code_cache !== false;
}

export function resetHeapSetupFlags(argv: readonly string[] = process.execArgv): string[] {
  // --name=value or --name value, with - or _ (V8 takes both)
  const given = new Set(argv.filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')[0].replace(/_/g, '-')));
  const reset = HEAP_SETUP_FLAGS.filter((f) => given.has(f));
  if (reset.length) {
    const { setFlagsFromString } = require('node:v8') as typeof V8;
    for (const f of reset) setFlagsFromString(`--${f}=0`);
  }
  return reset;
}

if (hasBuiltinCodeCache()) resetHeapSetupFlags();
