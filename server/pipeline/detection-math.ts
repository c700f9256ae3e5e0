// Pure pre/post-processing of the SSD face detector and 68-point landmark net, as face-api does it.
import type { Box } from './types.ts';
import type { Point } from './geometry.ts';
import type { RgbImage } from './warp.ts';
import type { Normalization } from './preprocess.ts';

/**
 * A rectangle of the image placed in a zero-filled square of side `side` at (padLeft, padTop): the
 * detector's letterbox (whole image, top-left) and the landmark crop (centred on the short axis).
 */
export interface SquareWindow {
  x0: number;
  y0: number;
  width: number;
  height: number;
  padLeft: number;
  padTop: number;
  side: number;
}

/** The detector's letterbox: zeros appended bottom or right to a square of side max(W, H). */
export function letterbox(width: number, height: number): SquareWindow {
  return { x0: 0, y0: 0, width, height, padLeft: 0, padTop: 0, side: Math.max(width, height) };
}

/**
 * One axis of TF's legacy bilinear resize (align_corners=false, half_pixel_centers=false), as source
 * offsets (index * stride, or -1 where the square is padding) and weights of the second neighbour.
 * Float32 arithmetic, as tfjs does, so the neighbour choice matches it at exact integer positions.
 */
function legacyAxis(out: number, side: number, start: number, pad: number, len: number, stride: number) {
  const i0 = new Int32Array(out), i1 = new Int32Array(out), f = new Float32Array(out);
  const ratio = Math.fround(side / out);
  const at = (u: number) => (u >= pad && u < pad + len ? (start + u - pad) * stride : -1);
  for (let d = 0; d < out; d++) {
    const src = Math.fround(d * ratio);
    const lo = Math.floor(src);
    i0[d] = at(lo);
    i1[d] = at(Math.min(lo + 1, side - 1));
    f[d] = src - lo;
  }
  return { i0, i1, f };
}

/**
 * Resizes `win` of `image` (as its zero-padded square) to size x size with TF's legacy bilinear and
 * writes (v - mean) / std as planar RGB into out[offset .. offset + 3*size*size).
 */
export function resizeToNchw(
  image: RgbImage, win: SquareWindow, size: number, norm: Normalization, out: Float32Array, offset = 0,
): void {
  const { data } = image;
  const xs = legacyAxis(size, win.side, win.x0, win.padLeft, win.width, 3);
  const ys = legacyAxis(size, win.side, win.y0, win.padTop, win.height, image.width * 3);
  const plane = size * size;
  const [m0, m1, m2] = norm.mean;
  const [s0, s1, s2] = norm.std;
  for (let oy = 0; oy < size; oy++) {
    const ra = ys.i0[oy], rb = ys.i1[oy], fy = ys.f[oy];
    let o = offset + oy * size;
    for (let ox = 0; ox < size; ox++, o++) {
      const ca = xs.i0[ox], cb = xs.i1[ox], fx = xs.f[ox];
      // Each corner reads 0 when its row or column lies in the padding.
      const a = ra >= 0 && ca >= 0 ? ra + ca : -1, b = ra >= 0 && cb >= 0 ? ra + cb : -1;
      const c = rb >= 0 && ca >= 0 ? rb + ca : -1, d = rb >= 0 && cb >= 0 ? rb + cb : -1;
      for (let ch = 0; ch < 3; ch++) {
        const pa = a >= 0 ? data[a + ch] : 0, pb = b >= 0 ? data[b + ch] : 0;
        const pc = c >= 0 ? data[c + ch] : 0, pd = d >= 0 ? data[d + ch] : 0;
        const top = pa + (pb - pa) * fx;
        const v = top + (pc + (pd - pc) * fx - top) * fy;
        if (ch === 0) out[o] = (v - m0) / s0;
        else if (ch === 1) out[o + plane] = (v - m1) / s1;
        else out[o + 2 * plane] = (v - m2) / s2;
      }
    }
  }
}

/** face-api's IoU of boxes i and j in a flat [ymin, xmin, ymax, xmax] array: corners sorted, empty boxes 0. */
export function iouYxyx(boxes: ArrayLike<number>, i: number, j: number): number {
  const a = 4 * i, b = 4 * j;
  const ay0 = Math.min(boxes[a], boxes[a + 2]), ay1 = Math.max(boxes[a], boxes[a + 2]);
  const ax0 = Math.min(boxes[a + 1], boxes[a + 3]), ax1 = Math.max(boxes[a + 1], boxes[a + 3]);
  const by0 = Math.min(boxes[b], boxes[b + 2]), by1 = Math.max(boxes[b], boxes[b + 2]);
  const bx0 = Math.min(boxes[b + 1], boxes[b + 3]), bx1 = Math.max(boxes[b + 1], boxes[b + 3]);
  const areaA = (ay1 - ay0) * (ax1 - ax0), areaB = (by1 - by0) * (bx1 - bx0);
  if (areaA <= 0 || areaB <= 0) return 0;
  const inter = Math.max(Math.min(ay1, by1) - Math.max(ay0, by0), 0) * Math.max(Math.min(ax1, bx1) - Math.max(ax0, bx0), 0);
  return inter / (areaA + areaB - inter);
}

export interface NmsOptions {
  minScore: number;
  maxResults: number;
  iouThreshold: number;
}

/**
 * face-api's greedy NMS: scores strictly above minScore, by descending score (ties keep anchor order),
 * a candidate dropped when its IoU with any kept box exceeds the threshold. Returns indices, kept order.
 */
export function greedyNms(boxes: ArrayLike<number>, scores: ArrayLike<number>, opts: NmsOptions): number[] {
  const candidates: number[] = [];
  for (let i = 0; i < scores.length; i++) if (scores[i] > opts.minScore) candidates.push(i);
  candidates.sort((p, q) => scores[q] - scores[p]); // Array.prototype.sort is stable
  const limit = Math.min(opts.maxResults, scores.length);
  const kept: number[] = [];
  for (const i of candidates) {
    if (kept.length >= limit) break;
    if (kept.every((j) => iouYxyx(boxes, i, j) <= opts.iouThreshold)) kept.push(i);
  }
  return kept;
}

/**
 * Box i of the net's [ymin, xmin, ymax, xmax] (relative to the letterboxed input) in image pixels:
 * clamped to [0, 1], then rescaled by inputSize / round(side * inputSize / max(W, H)) as face-api does.
 */
export function toPixelBox(boxes: ArrayLike<number>, i: number, width: number, height: number, inputSize: number): Box {
  const s = inputSize / Math.max(width, height);
  const padX = inputSize / Math.round(width * s), padY = inputSize / Math.round(height * s);
  const top = Math.max(0, boxes[4 * i]) * padY, bottom = Math.min(1, boxes[4 * i + 2]) * padY;
  const left = Math.max(0, boxes[4 * i + 1]) * padX, right = Math.min(1, boxes[4 * i + 3]) * padX;
  // Relative first, then times the image size: face-api's Box.rescale, kept for bit-level parity.
  return { x: left * width, y: top * height, width: (right - left) * width, height: (bottom - top) * height };
}

/**
 * The landmark net's input window for a detection box: the box clipped to the image and floored
 * (face-api's clipAtImageBorders), padded to a square on the short axis, the odd pixel after.
 * Null when nothing of the box lies inside the image.
 */
export function landmarkWindow(box: Box, width: number, height: number): SquareWindow | null {
  const cx = Math.max(box.x, 0), cy = Math.max(box.y, 0);
  const cw = Math.floor(Math.min(box.x + box.width - cx, width - cx));
  const ch = Math.floor(Math.min(box.y + box.height - cy, height - cy));
  if (!(cw > 0 && ch > 0)) return null;
  const diff = Math.abs(cw - ch);
  const before = diff - Math.round(diff / 2);
  return {
    x0: Math.floor(cx), y0: Math.floor(cy), width: cw, height: ch,
    padLeft: cw < ch ? before : 0, padTop: ch < cw ? before : 0, side: Math.max(cw, ch),
  };
}

/**
 * Landmarks out[offset ..] (x0, y0, x1, ... relative to the square) in image pixels. Like face-api it
 * assumes symmetric padding (half a pixel off when odd) and shifts by the unclipped box corner.
 */
export function landmarksToImage(out: ArrayLike<number>, offset: number, count: number, box: Box, win: SquareWindow): Point[] {
  const s = win.side;
  const dx = box.x - (s - win.width) / 2, dy = box.y - (s - win.height) / 2;
  const points: Point[] = new Array(count);
  for (let k = 0; k < count; k++) {
    points[k] = { x: out[offset + 2 * k] * s + dx, y: out[offset + 2 * k + 1] * s + dy };
  }
  return points;
}
