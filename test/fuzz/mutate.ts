// A small coverage-free mutation fuzzer (no native addon: jazzer.js needs libFuzzer's
// addon; fast-check generates values but does not mutate a corpus). Seeded, so every
// failure names the seed and iteration that reproduce it.
//
// An input is a corpus entry after 1-4 mutations: bit flips, interesting bytes and
// lengths (0, 0x7f, 0x80, 0xff, 0xffff...), inserted random or repeated bytes, deleted
// or duplicated ranges, a splice with another corpus entry, and oversize repetition.
// Incremental decoders then get the input cut at random points (chunks()).

export type Rng = () => number;

export function prng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0x81, 0xfe, 0xff, 0x20, 0x0a, 0x0d, 0x3a, 0x22, 0x5c, 0x25, 0x30];
const INTERESTING16 = [0x0000, 0x0001, 0x00ff, 0x0100, 0x7fff, 0x8000, 0xfffe, 0xffff, 0x0800, 0x07fc];

export function mutate(seedInput: Buffer, corpus: Buffer[], rng: Rng, maxLen = 64 * 1024): Buffer {
  const int = (n: number) => Math.floor(rng() * n);
  let b = Buffer.from(seedInput);
  const rounds = 1 + int(4);
  for (let r = 0; r < rounds; r++) {
    const at = b.length ? int(b.length) : 0;
    switch (int(11)) {
      case 0: if (b.length) b[at] ^= 1 << int(8); break; // bit flip
      case 1: if (b.length) b[at] = INTERESTING[int(INTERESTING.length)]; break;
      case 2: if (b.length > 1) b.writeUInt16BE(INTERESTING16[int(INTERESTING16.length)], Math.min(at, b.length - 2)); break;
      case 3: { // random bytes inserted
        const ins = Buffer.from(Array.from({ length: 1 + int(16) }, () => int(256)));
        b = Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
        break;
      }
      case 4: { // delete a range
        const n = 1 + int(Math.max(1, Math.min(64, b.length - at)));
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + n)]);
        break;
      }
      case 5: { // duplicate a range
        const n = 1 + int(Math.max(1, Math.min(256, b.length - at)));
        b = Buffer.concat([b.subarray(0, at + n), b.subarray(at, at + n), b.subarray(at + n)]);
        break;
      }
      case 6: { // splice with another entry
        const o = corpus[int(corpus.length)];
        const from = o.length ? int(o.length) : 0;
        b = Buffer.concat([b.subarray(0, at), o.subarray(from)]);
        break;
      }
      case 7: { // oversize: repeat a byte or a range many times
        const n = 256 + int(rng() < 0.2 ? maxLen : 4096);
        const fill = rng() < 0.5 ? Buffer.alloc(n, b.length ? b[at] : 0x41) : Buffer.concat(Array.from({ length: Math.ceil(n / Math.max(1, Math.min(16, b.length))) }, () => b.subarray(at, at + 16)));
        b = Buffer.concat([b.subarray(0, at), fill, b.subarray(at)]);
        break;
      }
      case 8: b = b.subarray(0, at); break; // truncate
      case 9: { // a random ASCII digit run (lengths, ids, numbers in text formats)
        const digits = Buffer.from(String(Math.floor(rng() * 10 ** (1 + int(12)))));
        b = Buffer.concat([b.subarray(0, at), digits, b.subarray(at)]);
        break;
      }
      default: if (b.length) b[at] = int(256);
    }
    if (b.length > maxLen) b = b.subarray(0, maxLen);
  }
  return b;
}

/** Cut `b` at random points (some single bytes, some large pieces). */
export function chunks(b: Buffer, rng: Rng): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < b.length) {
    const n = 1 + Math.floor(rng() * (rng() < 0.3 ? 4 : 900));
    out.push(Buffer.from(b.subarray(at, at + n)));
    at += n;
  }
  return out;
}
