// Pure image warping: samples an aligned crop out of an RGB buffer through a similarity transform.
import { invertSimilarity, similarityScale, type Similarity } from './geometry.ts';

/** Interleaved 8-bit RGB pixels, row-major, no padding. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** Throws unless `image` holds width x height interleaved RGB bytes (what every detector needs). */
export function assertRgb(image: RgbImage): void {
  const { width, height } = image;
  if (!(width >= 1 && height >= 1) || image.data.length !== width * height * 3) {
    throw new Error(`detect() needs RGB pixels: got ${image.data.length} bytes for ${width}x${height} (expected ${width * height * 3})`);
  }
}

/**
 * Math.round for 0 <= r < 2^31 (sample values are), without Math.round's slow path: several times faster in the
 * warps' inner loops and equal for every such double, halves rounding up (tested against Math.round). The
 * comparison with n − 0.5 (exact) undoes the one case where r + 0.5 itself rounds up (r just below 0.5).
 */
export function roundNonNegative(r: number): number {
  const n = (r + 0.5) | 0;
  return r < n - 0.5 ? n - 1 : n;
}

/** Black: what outside the image reads as in aligned crops, like dlib's chips. */
const BLACK: readonly [number, number, number] = [0, 0, 0];

/**
 * Warps `src` into a width x height crop where `toCrop` maps source coordinates to crop coordinates.
 * When the crop shrinks the face by more than 2x, each output pixel averages a k x k grid of bilinear
 * samples (k up to 4) so that large photos do not alias. Outside the source reads as `fill` (RGB, black by default).
 */
export function warpSimilarity(src: RgbImage, toCrop: Similarity, width: number, height: number,
  fill: readonly [number, number, number] = BLACK): RgbImage {
  const inv = invertSimilarity(toCrop);
  const shrink = 1 / similarityScale(toCrop);
  const k = Math.max(1, Math.min(4, Math.ceil(shrink / 2)));
  const n = k * k;
  const out = new Uint8Array(width * height * 3);
  const { data, width: sw, height: sh } = src;
  const [f0, f1, f2] = fill;
  // Sub-sample offsets within an output pixel, (s + 0.5) / k - 0.5 for s < k.
  const offsets = Array.from({ length: k }, (_, s) => (s + 0.5) / k - 0.5);
  for (let v = 0; v < height; v++) {
    for (let u = 0; u < width; u++) {
      let r = 0, g = 0, b = 0;
      for (let sj = 0; sj < k; sj++) {
        const cv = v + offsets[sj];
        for (let si = 0; si < k; si++) {
          const cu = u + offsets[si];
          // Bilinear sample at (x, y); pixel centres sit at integer coordinates, outside reads as `fill`.
          const x = inv.a * cu - inv.b * cv + inv.tx;
          const y = inv.b * cu + inv.a * cv + inv.ty;
          const x0 = Math.floor(x), y0 = Math.floor(y);
          const fx = x - x0, fy = y - y0;
          const w00 = (1 - fy) * (1 - fx), w01 = (1 - fy) * fx, w10 = fy * (1 - fx), w11 = fy * fx;
          let pr = 0, pg = 0, pb = 0;
          if (x0 >= 0 && y0 >= 0 && x0 + 1 < sw && y0 + 1 < sh) {
            const o = (y0 * sw + x0) * 3, o2 = o + sw * 3;
            pr = w00 * data[o] + w01 * data[o + 3] + w10 * data[o2] + w11 * data[o2 + 3];
            pg = w00 * data[o + 1] + w01 * data[o + 4] + w10 * data[o2 + 1] + w11 * data[o2 + 4];
            pb = w00 * data[o + 2] + w01 * data[o + 5] + w10 * data[o2 + 2] + w11 * data[o2 + 5];
          }
          else if (x0 < -1 || y0 < -1 || x0 >= sw || y0 >= sh) { // all four neighbours outside: the fill
            pr = f0; pg = f1; pb = f2;
          }
          else {
            for (let q = 0; q < 4; q++) {
              const w = q === 0 ? w00 : q === 1 ? w01 : q === 2 ? w10 : w11;
              if (w === 0) continue;
              const xx = x0 + (q & 1), yy = y0 + (q >> 1);
              if (yy < 0 || yy >= sh || xx < 0 || xx >= sw) { pr += w * f0; pg += w * f1; pb += w * f2; continue; }
              const o = (yy * sw + xx) * 3;
              pr += w * data[o]; pg += w * data[o + 1]; pb += w * data[o + 2];
            }
          }
          r += pr; g += pg; b += pb;
        }
      }
      const o = (v * width + u) * 3;
      out[o] = roundNonNegative(r / n);
      out[o + 1] = roundNonNegative(g / n);
      out[o + 2] = roundNonNegative(b / n);
    }
  }
  return { data: out, width, height };
}
