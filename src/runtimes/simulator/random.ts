/** Seeded randomness for the simulator: the same seed and inputs give the same lengths, jitter and text. */

/** A 53-bit hash of a string (cyrb53), used to derive seeds from prompts and embedding inputs. */
export function hashString(text: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** sfc32: small, fast, and good enough for simulated lengths and jitter. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(...seeds: number[]) {
    const h = hashString(seeds.join(':'));
    this.a = h >>> 0;
    this.b = Math.floor(h / 4294967296) >>> 0;
    this.c = 0x9e3779b9 ^ (seeds.length * 0x85ebca6b);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.next();
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.a >>>= 0;
    this.b >>>= 0;
    this.c >>>= 0;
    this.d >>>= 0;
    let t = (this.a + this.b) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.d = (this.d + 1) | 0;
    t = (t + this.d) | 0;
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /** Integer in [min, max], both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

/** How many tokens a response has when the request does not fix it. */
export type LengthDistribution =
  | { kind: 'fixed'; value: number }
  | { kind: 'uniform'; min: number; max: number }
  | { kind: 'normal'; mean: number; std: number };

/**
 * Parses `fixed:N` (or just `N`), `uniform:MIN-MAX` and `normal:MEAN,STD`. Returns an error message
 * instead of a distribution when the text is not one of those.
 */
export function parseLengthDistribution(text: string): LengthDistribution | string {
  const t = text.trim();
  let m = /^(?:fixed:)?(\d+)$/.exec(t);
  if (m) return Number(m[1]) >= 1 ? { kind: 'fixed', value: Number(m[1]) } : 'a fixed length must be at least 1';
  m = /^uniform:(\d+)\s*[-,]\s*(\d+)$/.exec(t);
  if (m) {
    const min = Number(m[1]);
    const max = Number(m[2]);
    return min >= 1 && max >= min ? { kind: 'uniform', min, max } : 'uniform needs 1 <= MIN <= MAX';
  }
  m = /^normal:(\d+(?:\.\d+)?)\s*,\s*(\d+(?:\.\d+)?)$/.exec(t);
  if (m) {
    const mean = Number(m[1]);
    return mean >= 1 ? { kind: 'normal', mean, std: Number(m[2]) } : 'normal needs MEAN >= 1';
  }
  return `"${text}" is not a length distribution; use fixed:N, uniform:MIN-MAX or normal:MEAN,STD`;
}

export function formatLengthDistribution(d: LengthDistribution): string {
  switch (d.kind) {
    case 'fixed':
      return `fixed:${d.value}`;
    case 'uniform':
      return `uniform:${d.min}-${d.max}`;
    case 'normal':
      return `normal:${d.mean},${d.std}`;
  }
}

/** A length drawn from the distribution, at least 1 and at most `cap`. */
export function sampleLength(d: LengthDistribution, rng: Rng, cap = Infinity): number {
  let n: number;
  switch (d.kind) {
    case 'fixed':
      n = d.value;
      break;
    case 'uniform':
      n = rng.int(d.min, d.max);
      break;
    case 'normal':
      n = Math.round(d.mean + d.std * rng.normal());
      break;
  }
  return Math.max(1, Math.min(cap, n));
}
