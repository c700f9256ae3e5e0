// Synthetic face-embedding-like vectors for the gallery benchmark: seeded random numbers, mixing, exact search.

export const DIM = 128;

/** Deterministic uniform [0, 1) (mulberry32) and standard normal (Box-Muller) numbers. */
export function rng(seed: number): { uniform: () => number; normal: () => number } {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return { uniform, normal };
}

/** Fills out[o..o+DIM) with weights·vectors + noise·N(0, 1/DIM) and L2-normalises it. */
export function mix(out: Float32Array, o: number, parts: [number, Float32Array, number][], noise: number, normal: () => number): void {
  let n2 = 0;
  for (let d = 0; d < DIM; d++) {
    let v = noise * normal() / Math.sqrt(DIM);
    for (const [w, vec, at] of parts) v += w * vec[at + d];
    out[o + d] = v;
    n2 += v * v;
  }
  const inv = 1 / Math.sqrt(n2);
  for (let d = 0; d < DIM; d++) out[o + d] *= inv;
}

/** Exact top-k by dot product over all rows: the linear scan of face-api/Human demos. Labels, best first. */
export function bruteForce(data: Float32Array, n: number, q: Float32Array, k: number): { labels: number[]; scores: number[] } {
  const best = new Float64Array(k).fill(-Infinity);
  const idx = new Int32Array(k).fill(-1);
  for (let i = 0, o = 0; i < n; i++, o += DIM) {
    let s = 0;
    for (let d = 0; d < DIM; d++) s += data[o + d] * q[d];
    if (s <= best[k - 1]) continue;
    let j = k - 1;
    while (j > 0 && best[j - 1] < s) { best[j] = best[j - 1]; idx[j] = idx[j - 1]; j--; }
    best[j] = s; idx[j] = i;
  }
  return { labels: Array.from(idx), scores: Array.from(best) };
}

export function dot(a: Float32Array, ao: number, b: Float32Array, bo: number): number {
  let s = 0;
  for (let d = 0; d < DIM; d++) s += a[ao + d] * b[bo + d];
  return s;
}
