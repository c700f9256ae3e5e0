// Pure image math: an image pyramid (successive 2x2 box-filtered halvings) and warps through it, for the many
// small detector views the orientation rule looks at. One bilinear sample per output pixel at the level where
// the view shrinks by at most 2x costs a fraction of supersampling the full-resolution image.
import type { Similarity } from './geometry.ts';
import { invertSimilarity, similarityScale } from './geometry.ts';
import { warpSimilarity, type RgbImage } from './warp.ts';

/**
 * The image at half the resolution: each pixel is the mean of a 2x2 block (rounded); an odd last row or
 * column averages with itself. Output ceil(width/2) x ceil(height/2) RGB.
 */
export function halveImage(src: RgbImage): RgbImage {
  const { data, width: w, height: h } = src;
  const W = Math.ceil(w / 2), H = Math.ceil(h / 2);
  const out = new Uint8Array(W * H * 3);
  for (let j = 0; j < H; j++) {
    const r0 = 2 * j * w * 3, r1 = Math.min(2 * j + 1, h - 1) * w * 3;
    for (let i = 0; i < W; i++) {
      const c0 = 2 * i * 3, c1 = Math.min(2 * i + 1, w - 1) * 3;
      const o = (j * W + i) * 3;
      for (let c = 0; c < 3; c++) {
        out[o + c] = (data[r0 + c0 + c] + data[r0 + c1 + c] + data[r1 + c0 + c] + data[r1 + c1 + c] + 2) >> 2;
      }
    }
  }
  return { data: out, width: W, height: H };
}

/** An image and its halvings, each made once on first use; level l is 2^l times smaller than level 0. */
export class ImagePyramid {
  private readonly levels: RgbImage[];

  constructor(base: RgbImage) {
    this.levels = [base];
  }

  get base(): RgbImage {
    return this.levels[0];
  }

  level(l: number): RgbImage {
    while (this.levels.length <= l) this.levels.push(halveImage(this.levels[this.levels.length - 1]));
    return this.levels[l];
  }
}

/**
 * The pyramid level for a view that shrinks the image by `shrink` (image pixels per view pixel): the coarsest
 * level at which the remaining shrink is at most 2, so one bilinear sample per view pixel does not alias.
 */
export function pyramidLevel(shrink: number): number {
  return shrink <= 2 ? 0 : Math.ceil(Math.log2(shrink / 2));
}

/**
 * Level-l pixel coordinates → image coordinates: level pixel i covers image pixels 2^l·i … 2^l·i + 2^l − 1,
 * whose centre is 2^l·i + (2^l − 1)/2 (pixel centres at integers). Composed with `toView`, gives the similarity
 * from level coordinates to the view.
 */
export function viewFromLevel(toView: Similarity, l: number): Similarity {
  const m = 2 ** l, c = (m - 1) / 2;
  const { a, b, tx, ty } = toView;
  return { a: a * m, b: b * m, tx: a * c - b * c + tx, ty: b * c + a * c + ty };
}

/**
 * Warps the image into a width x height view (`toView`: image → view pixels) like warpSimilarity, but samples
 * the pyramid level at which the view shrinks by at most 2x (so each view pixel is one bilinear sample of a
 * box-filtered level instead of up to 16 samples of the full image). Outside the image reads as `fill`.
 */
export function warpFromPyramid(pyramid: ImagePyramid, toView: Similarity, width: number, height: number,
  fill: readonly [number, number, number]): RgbImage {
  const l = pyramidLevel(1 / similarityScale(toView));
  return warpSimilarity(pyramid.level(l), viewFromLevel(toView, l), width, height, fill);
}

/**
 * The network input for a batch of views, straight from the pyramid: N x 3 x height x width floats (planar,
 * channels in `order` of RGB indices, e.g. [2, 1, 0] for BGR) of each view pixel minus `mean` (per output
 * channel). Each value equals what warpFromPyramid's 8-bit pixel minus the mean gives, without the 8-bit image
 * in between. Outside the image reads as `fill` (RGB).
 */
export function viewsTensor(pyramid: ImagePyramid, views: readonly Similarity[], width: number, height: number,
  fill: readonly [number, number, number], mean: readonly [number, number, number], order: readonly [number, number, number]): Float32Array {
  const plane = width * height;
  const out = new Float32Array(views.length * 3 * plane);
  views.forEach((toView, n) => {
    const l = pyramidLevel(1 / similarityScale(toView));
    const composed = viewFromLevel(toView, l);
    const base = n * 3 * plane;
    // pyramidLevel leaves at most a 2x shrink, where warpSimilarity takes one sample per pixel: warpPlanar's case.
    warpPlanar(pyramid.level(l), composed, width, height, fill, mean, order, out, base);
  });
  return out;
}

/** One view, one bilinear sample per pixel (warpSimilarity's k = 1 case, same arithmetic), written planar. */
function warpPlanar(src: RgbImage, toView: Similarity, width: number, height: number, fill: readonly [number, number, number],
  mean: readonly [number, number, number], order: readonly [number, number, number], out: Float32Array, base: number): void {
  const { a, b, tx, ty } = invertSimilarity(toView);
  const { data, width: sw, height: sh } = src;
  const row = sw * 3;
  const [f0, f1, f2] = fill;
  // Output plane of each RGB channel and the mean subtracted there.
  const plane = width * height;
  const at = [0, 0, 0], m = [0, 0, 0];
  for (let c = 0; c < 3; c++) { at[order[c]] = base + c * plane; m[order[c]] = mean[c]; }
  const [pr, pg, pb] = at, [mr, mg, mb] = m;
  for (let v = 0; v < height; v++) {
    for (let u = 0; u < width; u++) {
      const x = a * u - b * v + tx;
      const y = b * u + a * v + ty;
      const x0 = Math.floor(x), y0 = Math.floor(y);
      const fx = x - x0, fy = y - y0;
      const w00 = (1 - fy) * (1 - fx), w01 = (1 - fy) * fx, w10 = fy * (1 - fx), w11 = fy * fx;
      let r: number, g: number, bl: number;
      if (x0 >= 0 && y0 >= 0 && x0 + 1 < sw && y0 + 1 < sh) {
        const o = y0 * row + x0 * 3, q = o + row;
        r = w00 * data[o] + w01 * data[o + 3] + w10 * data[q] + w11 * data[q + 3];
        g = w00 * data[o + 1] + w01 * data[o + 4] + w10 * data[q + 1] + w11 * data[q + 4];
        bl = w00 * data[o + 2] + w01 * data[o + 5] + w10 * data[q + 2] + w11 * data[q + 5];
      }
      else if (x0 < -1 || y0 < -1 || x0 >= sw || y0 >= sh) {
        r = f0; g = f1; bl = f2;
      }
      else {
        r = 0; g = 0; bl = 0;
        for (let c = 0; c < 4; c++) {
          const w = c === 0 ? w00 : c === 1 ? w01 : c === 2 ? w10 : w11;
          if (w === 0) continue;
          const xx = x0 + (c & 1), yy = y0 + (c >> 1);
          if (yy < 0 || yy >= sh || xx < 0 || xx >= sw) { r += w * f0; g += w * f1; bl += w * f2; continue; }
          const o = yy * row + xx * 3;
          r += w * data[o]; g += w * data[o + 1]; bl += w * data[o + 2];
        }
      }
      const i = v * width + u;
      out[pr + i] = Math.round(r) - mr;
      out[pg + i] = Math.round(g) - mg;
      out[pb + i] = Math.round(bl) - mb;
    }
  }
}
