// Pure pre/post-processing of RetinaFace (single-stage detector with 5 landmarks): input packing, priors,
// box and landmark decoding, score logits and NMS. No I/O; the adapter runs the network.
import type { Box } from './types.ts';
import type { Point } from './geometry.ts';
import type { RgbImage } from './warp.ts';

/** The prior (anchor) layout a RetinaFace card declares. */
export interface PriorSpec {
  /** Feature-map strides in input pixels, one per pyramid level, e.g. [8, 16, 32]. */
  steps: readonly number[];
  /** Square prior sides in input pixels per level, e.g. [[16, 32], [64, 128], [256, 512]]. */
  minSizes: readonly (readonly number[])[];
  /** Decoding variances [centre, size], e.g. [0.1, 0.2]. */
  variances: readonly [number, number];
}

/**
 * Priors for an input of width x height, as (P, 4) rows of [cx, cy, side, side] in input pixels, in the
 * network's output order: level, then row, then column, then size. A level has ceil(H/step) x ceil(W/step)
 * cells; a prior is centred in its cell ((j + 0.5) * step). Source: RetinaFace (Deng et al., CVPR 2020) as
 * trained by the MobileNet-0.25 release; the layout is stated in the detector card.
 */
export function priorBoxes(width: number, height: number, spec: PriorSpec): Float32Array {
  let count = 0;
  spec.steps.forEach((step, l) => { count += Math.ceil(height / step) * Math.ceil(width / step) * spec.minSizes[l].length; });
  const out = new Float32Array(count * 4);
  let o = 0;
  spec.steps.forEach((step, l) => {
    const rows = Math.ceil(height / step), cols = Math.ceil(width / step);
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) {
        for (const side of spec.minSizes[l]) {
          out[o++] = (j + 0.5) * step;
          out[o++] = (i + 0.5) * step;
          out[o++] = side;
          out[o++] = side;
        }
      }
    }
  });
  return out;
}

/**
 * Packs RGB images of one size into a (N, 3, H, W) float32 batch in the channel order the card names,
 * with value = pixel (0..255) - mean[c] (RetinaFace subtracts a mean and does not scale).
 */
export function toBgrMinusMean(images: readonly RgbImage[], mean: readonly [number, number, number], color: 'BGR' | 'RGB'): Float32Array {
  const { width, height } = images[0];
  const plane = width * height;
  const out = new Float32Array(images.length * 3 * plane);
  const [s0, s1, s2] = color === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  const [m0, m1, m2] = mean;
  for (let n = 0; n < images.length; n++) {
    const img = images[n];
    if (img.width !== width || img.height !== height) throw new Error(`batch images must all be ${width}x${height}, got ${img.width}x${img.height}`);
    const d = img.data, b0 = n * 3 * plane, b1 = b0 + plane, b2 = b1 + plane;
    for (let i = 0, j = 0; i < plane; i++, j += 3) {
      out[b0 + i] = d[j + s0] - m0;
      out[b1 + i] = d[j + s1] - m1;
      out[b2 + i] = d[j + s2] - m2;
    }
  }
  return out;
}

/** One decoded detection in input pixels. `logit` = log(p_face / p_background), unsaturated where p ≈ 1. */
export interface RawFace {
  score: number;
  logit: number;
  box: Box;
  /** The 5 landmarks in the network's output order. */
  points: Point[];
}

export interface DecodeOptions {
  minScore: number;
  iouThreshold: number;
  maxResults: number;
}

/** log(p1 / p0) of a 2-way softmax, kept finite where float32 rounds one side to 0. */
export function softmaxLogit(p0: number, p1: number): number {
  const tiny = 1e-30;
  return Math.log(Math.max(p1, tiny)) - Math.log(Math.max(p0, tiny));
}

/**
 * Decodes image n of a batch: boxes (N, P, 4) as (dx, dy, dw, dh), scores (N, P, 2) softmax, landmarks
 * (N, P, 10) as (dx0, dy0, ..., dx4, dy4), against priors from priorBoxes(). SSD-style decoding:
 * centre = prior.c + d * v0 * prior.side, side = prior.side * exp(d * v1); landmark = prior.c + d * v0 * side.
 * Keeps scores strictly above minScore, then greedy NMS (highest score first, IoU > iouThreshold removed).
 */
export function decodeRetinaFace(
  out: { boxes: Float32Array; scores: Float32Array; landmarks: Float32Array }, n: number, priors: Float32Array,
  variances: readonly [number, number], opts: DecodeOptions,
): RawFace[] {
  const count = priors.length / 4;
  const [v0, v1] = variances;
  const cand: RawFace[] = [];
  for (let p = 0; p < count; p++) {
    const q = n * count + p;
    const s = out.scores[2 * q + 1];
    if (!(s > opts.minScore)) continue;
    const pcx = priors[4 * p], pcy = priors[4 * p + 1], pw = priors[4 * p + 2], ph = priors[4 * p + 3];
    const b = 4 * q;
    const cx = pcx + out.boxes[b] * v0 * pw, cy = pcy + out.boxes[b + 1] * v0 * ph;
    const w = pw * Math.exp(out.boxes[b + 2] * v1), h = ph * Math.exp(out.boxes[b + 3] * v1);
    const points: Point[] = [];
    for (let k = 0; k < 5; k++) {
      const l = 10 * q + 2 * k;
      points.push({ x: pcx + out.landmarks[l] * v0 * pw, y: pcy + out.landmarks[l + 1] * v0 * ph });
    }
    cand.push({ score: s, logit: softmaxLogit(out.scores[2 * q], s), box: { x: cx - w / 2, y: cy - h / 2, width: w, height: h }, points });
  }
  return nms(cand, opts.iouThreshold, opts.maxResults);
}

/** Intersection over union of two boxes (0 when either is empty). */
export function iou(a: Box, b: Box): number {
  const ix = Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));
  const inter = ix * iy;
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}

/** Greedy NMS: by descending score (ties keep input order), dropping a box whose IoU with a kept one exceeds `threshold`. */
export function nms<T extends { score: number; box: Box }>(faces: readonly T[], threshold: number, maxResults = Infinity): T[] {
  const order = faces.map((f, i) => ({ f, i })).sort((p, q) => q.f.score - p.f.score || p.i - q.i);
  const kept: T[] = [];
  for (const { f } of order) {
    if (kept.length >= maxResults) break;
    if (kept.every((k) => iou(k.box, f.box) <= threshold)) kept.push(f);
  }
  return kept;
}
