// Pure image math: an image pyramid (successive 2x2 box-filtered halvings) and warps through it, for the many
// small detector views the orientation rule looks at. One bilinear sample per output pixel at the level where
// the view shrinks by at most 2x costs a fraction of supersampling the full-resolution image.
import type { Similarity } from './geometry.ts';
import { invertSimilarity, similarityScale } from './geometry.ts';
import { roundNonNegative, warpSimilarity, type RgbImage } from './warp.ts';

/**
 * The image at half the resolution: each pixel is the mean of a 2x2 block (rounded); an odd last row or
 * column averages with itself. Output ceil(width/2) x ceil(height/2) RGB.
 */
export function halveImage(src: RgbImage): RgbImage {
  const { data, width: w, height: h } = src;
  const W = Math.ceil(w / 2), H = Math.ceil(h / 2);
  const out = new Uint8Array(W * H * 3);
  const pairs = w >> 1; // output columns made of two source columns
  const rowBytes = w * 3;
  let o = 0;
  for (let j = 0; j < H; j++) {
    let p = 2 * j * rowBytes;
    let q = Math.min(2 * j + 1, h - 1) * rowBytes;
    for (let i = 0; i < pairs; i++, p += 6, q += 6, o += 3) {
      out[o] = (data[p] + data[p + 3] + data[q] + data[q + 3] + 2) >> 2;
      out[o + 1] = (data[p + 1] + data[p + 4] + data[q + 1] + data[q + 4] + 2) >> 2;
      out[o + 2] = (data[p + 2] + data[p + 5] + data[q + 2] + data[q + 5] + 2) >> 2;
    }
    if (W > pairs) { // an odd last column averages with itself
      out[o] = (2 * data[p] + 2 * data[q] + 2) >> 2;
      out[o + 1] = (2 * data[p + 1] + 2 * data[q + 1] + 2) >> 2;
      out[o + 2] = (2 * data[p + 2] + 2 * data[q + 2] + 2) >> 2;
      o += 3;
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
 *
 * A view that is an earlier one turned by a quarter, half or three-quarter turn about the canvas centre (see
 * quarterTurn; the orientation rule's views of one face differ by such turns) is not sampled again: such a turn
 * maps the pixel grid onto itself shifted by one pixel, so the earlier view is sampled once on a grid one pixel
 * wider and taller and each turned view reads its pixels from there in turned order.
 */
export function viewsTensor(pyramid: ImagePyramid, views: readonly Similarity[], width: number, height: number,
  fill: readonly [number, number, number], mean: readonly [number, number, number], order: readonly [number, number, number]): Float32Array {
  const plane = width * height;
  const out = new Float32Array(views.length * 3 * plane);
  // Each view's source: itself (k = 0) or an earlier view that it turns by k quarter turns.
  const from = views.map((v, n) => {
    for (let m = 0; m < n; m++) {
      const k = quarterTurn(views[m], v, width, height);
      if (k !== 0) return { m, k };
    }
    return { m: n, k: 0 };
  });
  const W = width + 1, H = height + 1;
  views.forEach((toView, n) => {
    if (from[n].m !== n) return; // filled from its source below
    const l = pyramidLevel(1 / similarityScale(toView));
    const level = pyramid.level(l), composed = viewFromLevel(toView, l);
    const turned = from.some((f, j) => f.m === n && j !== n);
    // pyramidLevel leaves at most a 2x shrink, where warpSimilarity takes one sample per pixel: warpPlanar's case.
    if (!turned) return warpPlanar(level, composed, width, height, fill, mean, order, out, n * 3 * plane);
    const grid = new Float32Array(3 * W * H);
    warpPlanar(level, composed, W, H, fill, mean, order, grid, 0);
    from.forEach((f, j) => { if (f.m === n) copyTurned(grid, out, j * 3 * plane, width, height, f.k); });
  });
  return out;
}

/**
 * k in 1..3 when `view` is `earlier` followed by a turn of k·90° (clockwise on screen) about the canvas centre
 * (width/2, height/2); 0 when it is not (quarter and three-quarter turns only on square canvases). Coefficients
 * are compared to 1e-9 of the scale, offsets to 1e-6 px.
 */
export function quarterTurn(earlier: Similarity, view: Similarity, width: number, height: number): number {
  const cx = width / 2, cy = height / 2;
  const scale = Math.hypot(earlier.a, earlier.b);
  for (const [k, cos, sin] of [[1, 0, 1], [2, -1, 0], [3, 0, -1]] as const) {
    if (k !== 2 && width !== height) continue;
    const a = cos * earlier.a - sin * earlier.b, b = sin * earlier.a + cos * earlier.b;
    const tx = cx + cos * (earlier.tx - cx) - sin * (earlier.ty - cy);
    const ty = cy + sin * (earlier.tx - cx) + cos * (earlier.ty - cy);
    if (Math.abs(a - view.a) + Math.abs(b - view.b) <= 1e-9 * scale && Math.abs(tx - view.tx) + Math.abs(ty - view.ty) <= 1e-6) return k;
  }
  return 0;
}

/**
 * Writes a width x height planar view into `out` at `to`, read from `grid` ((width + 1) x (height + 1), planar):
 * the view that `grid` samples, turned by k·90° (clockwise) about the canvas centre. Pixel (u, v) of the turned
 * view is the grid's pixel (u, v) turned back: k = 0 (u, v), 1 (v, width − u), 2 (width − u, height − v),
 * 3 (height − v, u).
 */
function copyTurned(grid: Float32Array, out: Float32Array, to: number, width: number, height: number, k: number): void {
  const W = width + 1, gridPlane = W * (height + 1), plane = width * height;
  // The grid index of pixel (u, v) is start + u·du + v·dv.
  const [start, du, dv] = k === 0 ? [0, 1, W] : k === 1 ? [width * W, -W, 1] : k === 2 ? [height * W + width, -1, -W] : [height, W, -1];
  for (let c = 0; c < 3; c++) {
    let i = to + c * plane;
    for (let v = 0; v < height; v++) {
      let s = c * gridPlane + start + v * dv;
      for (let u = 0; u < width; u++, i++, s += du) out[i] = grid[s];
    }
  }
}

/** One view, one bilinear sample per pixel (warpSimilarity's k = 1 case, same arithmetic), written planar. */
function warpPlanar(src: RgbImage, toView: Similarity, width: number, height: number, fill: readonly [number, number, number],
  mean: readonly [number, number, number], order: readonly [number, number, number], out: Float32Array, base: number): void {
  const { a, b, tx, ty } = invertSimilarity(toView);
  const { data, width: sw, height: sh } = src;
  const row = sw * 3;
  const f0 = fill[0], f1 = fill[1], f2 = fill[2];
  // Output plane of each RGB channel and the mean subtracted there.
  const plane = width * height;
  const at = [0, 0, 0], m = [0, 0, 0];
  for (let c = 0; c < 3; c++) { at[order[c]] = base + c * plane; m[order[c]] = mean[c]; }
  const [pr, pg, pb] = at, [mr, mg, mb] = m;
  let i = 0;
  for (let v = 0; v < height; v++) {
    const bv = b * v, av = a * v; // the same products warpSimilarity forms per pixel, once per row
    for (let u = 0; u < width; u++, i++) {
      const x = a * u - bv + tx;
      const y = b * u + av + ty;
      const x0 = Math.floor(x), y0 = Math.floor(y);
      let r: number, g: number, bl: number;
      if (x0 < -1 || y0 < -1 || x0 >= sw || y0 >= sh) {
        r = f0; g = f1; bl = f2;
      }
      else {
        const fx = x - x0, fy = y - y0;
        const w00 = (1 - fy) * (1 - fx), w01 = (1 - fy) * fx, w10 = fy * (1 - fx), w11 = fy * fx;
        if (x0 >= 0 && y0 >= 0 && x0 + 1 < sw && y0 + 1 < sh) {
          const o = y0 * row + x0 * 3, q = o + row;
          r = w00 * data[o] + w01 * data[o + 3] + w10 * data[q] + w11 * data[q + 3];
          g = w00 * data[o + 1] + w01 * data[o + 4] + w10 * data[q + 1] + w11 * data[q + 4];
          bl = w00 * data[o + 2] + w01 * data[o + 5] + w10 * data[q + 2] + w11 * data[q + 5];
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
      }
      out[pr + i] = roundNonNegative(r) - mr;
      out[pg + i] = roundNonNegative(g) - mg;
      out[pb + i] = roundNonNegative(bl) - mb;
    }
  }
}
