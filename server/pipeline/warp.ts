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

/** Black: what outside the image reads as in aligned crops, like dlib's chips. */
const BLACK: readonly [number, number, number] = [0, 0, 0];

function sampleBilinear(img: RgbImage, x: number, y: number, out: Float64Array, fill: readonly [number, number, number]): void {
  // Pixel centres sit at integer coordinates; outside the image reads as `fill`.
  const x0 = Math.floor(x), y0 = Math.floor(y);
  const fx = x - x0, fy = y - y0;
  out[0] = 0; out[1] = 0; out[2] = 0;
  for (let j = 0; j < 2; j++) {
    const yy = y0 + j;
    const wy = j === 0 ? 1 - fy : fy;
    for (let i = 0; i < 2; i++) {
      const xx = x0 + i;
      const w = wy * (i === 0 ? 1 - fx : fx);
      if (w === 0) continue;
      if (yy < 0 || yy >= img.height || xx < 0 || xx >= img.width) {
        out[0] += w * fill[0]; out[1] += w * fill[1]; out[2] += w * fill[2];
        continue;
      }
      const o = (yy * img.width + xx) * 3;
      out[0] += w * img.data[o];
      out[1] += w * img.data[o + 1];
      out[2] += w * img.data[o + 2];
    }
  }
}

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
  const out = new Uint8Array(width * height * 3);
  const px = new Float64Array(3);
  const acc = new Float64Array(3);
  for (let v = 0; v < height; v++) {
    for (let u = 0; u < width; u++) {
      acc[0] = 0; acc[1] = 0; acc[2] = 0;
      for (let sj = 0; sj < k; sj++) {
        const cv = v + (sj + 0.5) / k - 0.5;
        for (let si = 0; si < k; si++) {
          const cu = u + (si + 0.5) / k - 0.5;
          const x = inv.a * cu - inv.b * cv + inv.tx;
          const y = inv.b * cu + inv.a * cv + inv.ty;
          sampleBilinear(src, x, y, px, fill);
          acc[0] += px[0]; acc[1] += px[1]; acc[2] += px[2];
        }
      }
      const o = (v * width + u) * 3;
      const n = k * k;
      out[o] = Math.round(acc[0] / n);
      out[o + 1] = Math.round(acc[1] / n);
      out[o + 2] = Math.round(acc[2] / n);
    }
  }
  return { data: out, width, height };
}
