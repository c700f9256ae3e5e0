// Pure vector math (no I/O), the one home of it in the project: dot, norm, normalisation, cosine, and the class centers built on them.
//
// A center is normalise(sum of L2-normalised face embeddings). Normalising each face first gives every photo
// the same weight whatever its embedding norm, and normalising the sum makes an identity with 1 photo and one
// with 500 comparable on equal terms (the IR-Softmax class center carried into retrieval).
// Arithmetic runs in float64 and is stored as float32, so repeated additions do not lose precision early.

/** The persisted state of one identity's center. `center` is always unit length. */
export interface CenterState {
  sum: Float32Array; // (dim,) sum of the normalised face embeddings
  count: number; // number of faces in the sum
  center: Float32Array; // (dim,) normalise(sum)
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`dot: lengths differ (${a.length} vs ${b.length})`);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export function l2Norm(v: ArrayLike<number>): number {
  return Math.sqrt(dot(v, v));
}

/** True when the vector can be normalised: every entry finite and the norm not (numerically) zero. */
export function isNormalisable(v: ArrayLike<number>): boolean {
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i])) return false;
  const n = l2Norm(v);
  return Number.isFinite(n) && n > 1e-12;
}

export function l2Normalize(v: ArrayLike<number>): Float32Array {
  if (!isNormalisable(v)) throw new RangeError('cannot L2-normalise a zero or non-finite vector');
  const n = l2Norm(v);
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i] / n;
  return out;
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return dot(a, b) / (l2Norm(a) * l2Norm(b));
}

/** Adds one face to a center (or starts one): sum += normalise(e), count += 1, center = normalise(sum). */
export function addToCenter(prev: CenterState | null, embedding: ArrayLike<number>): CenterState {
  const e = l2Normalize(embedding);
  if (prev && prev.sum.length !== e.length) {
    throw new RangeError(`addToCenter: center has dim ${prev.sum.length}, embedding has ${e.length}`);
  }
  const sum = new Float64Array(e.length);
  for (let i = 0; i < e.length; i++) sum[i] = (prev ? prev.sum[i] : 0) + e[i];
  return finish(sum, (prev ? prev.count : 0) + 1);
}

/**
 * Exact center from scratch. Used after a face is deleted: recomputing from the remaining faces instead of
 * subtracting keeps float error from accumulating over many add/delete cycles. Returns null for no faces.
 */
export function centerFromEmbeddings(embeddings: readonly ArrayLike<number>[]): CenterState | null {
  if (embeddings.length === 0) return null;
  const dim = embeddings[0].length;
  const sum = new Float64Array(dim);
  for (const emb of embeddings) {
    if (emb.length !== dim) throw new RangeError(`centerFromEmbeddings: mixed dims ${dim} and ${emb.length}`);
    const e = l2Normalize(emb);
    for (let i = 0; i < dim; i++) sum[i] += e[i];
  }
  return finish(sum, embeddings.length);
}

function finish(sum: Float64Array, count: number): CenterState {
  // Faces pointing in exactly opposite directions can cancel; the center is then undefined, and keeping
  // the previous direction would silently lie, so fail loudly instead.
  if (!isNormalisable(sum)) throw new RangeError('center is undefined: the normalised embeddings sum to zero');
  return { sum: Float32Array.from(sum), count, center: l2Normalize(sum) };
}
