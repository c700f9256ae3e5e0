// Pure image math: an image pyramid (successive 2x2 box-filtered halvings) and warps through it, for the many
// small detector views the orientation rule looks at. One bilinear sample per output pixel at the level where
// the view shrinks by at most 2x costs a fraction of supersampling the full-resolution image.
import type { Similarity } from './geometry.ts';
import { similarityScale } from './geometry.ts';
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
