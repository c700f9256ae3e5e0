// Unit tests for the image pyramid on literal pixels and on a smooth synthetic image.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applySimilarity, invertSimilarity } from './geometry.ts';
import { halveImage, ImagePyramid, pyramidLevel, quarterTurn, viewFromLevel, viewsTensor, warpFromPyramid } from './pyramid.ts';
import { uprightView } from './orientation.ts';
import { toBgrMinusMean } from './retinaface-math.ts';
import { roundNonNegative, warpSimilarity, type RgbImage } from './warp.ts';

const grey = (w: number, h: number, f: (x: number, y: number) => number): RgbImage => {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.fill(f(x, y), (y * w + x) * 3, (y * w + x) * 3 + 3);
  return { data, width: w, height: h };
};

/** A seeded uniform [0, 1) generator (linear congruential), so the random tests are reproducible. */
const uniform = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
/** A w x h RGB image of uniform random bytes drawn from `rnd`. */
const noise = (rnd: () => number, w: number, h: number): RgbImage => ({ data: new Uint8Array(w * h * 3).map(() => Math.floor(rnd() * 256)), width: w, height: h });

test('halving averages 2x2 blocks (rounded) and repeats an odd last row and column', () => {
  // 3x3 values: rows [0 4 8], [2 6 10], [100 100 100].
  const img = grey(3, 3, (x, y) => (y === 2 ? 100 : 4 * x + 2 * y));
  const h = halveImage(img);
  assert.equal(h.width, 2); assert.equal(h.height, 2);
  const px = (x: number, y: number) => h.data[(y * 2 + x) * 3];
  assert.equal(px(0, 0), 3); // (0 + 4 + 2 + 6) / 4
  assert.equal(px(1, 0), 9); // (8 + 8 + 10 + 10) / 4
  assert.equal(px(0, 1), 100);
  assert.equal(px(1, 1), 100);
});

test('level choice: the coarsest level at which the view shrinks by at most 2x', () => {
  assert.equal(pyramidLevel(0.5), 0);
  assert.equal(pyramidLevel(2), 0);
  assert.equal(pyramidLevel(2.01), 1);
  assert.equal(pyramidLevel(4), 1);
  assert.equal(pyramidLevel(5.3), 2);
  assert.equal(pyramidLevel(17), 4);
});

test('a level pixel centre maps to the centre of the image pixels it covers', () => {
  const toView = { a: 0.3 * Math.cos(0.4), b: 0.3 * Math.sin(0.4), tx: 12, ty: -3 };
  for (const l of [0, 1, 2, 3]) {
    const m = 2 ** l;
    const composed = viewFromLevel(toView, l);
    // Level pixel (5, 7) covers image pixels 5m..5m+m-1 (x) and 7m..7m+m-1 (y).
    const viaLevel = applySimilarity(composed, { x: 5, y: 7 });
    const direct = applySimilarity(toView, { x: 5 * m + (m - 1) / 2, y: 7 * m + (m - 1) / 2 });
    assert.ok(Math.hypot(viaLevel.x - direct.x, viaLevel.y - direct.y) < 1e-9);
  }
});

test('the pyramid levels are made once and halve the size each time', () => {
  const p = new ImagePyramid(grey(640, 427, () => 7));
  const l2 = p.level(2);
  assert.deepEqual([l2.width, l2.height], [160, 107]);
  assert.equal(p.level(2), l2);
  assert.deepEqual([p.level(1).width, p.level(1).height], [320, 214]);
});

test('a view through the pyramid matches the supersampled warp of a smooth image, and the geometry is the same', () => {
  // A smooth pattern (period 40 px) seen 5x smaller and turned 30°: both warps anti-alias, so they agree closely.
  const img = grey(400, 300, (x, y) => Math.round(128 + 100 * Math.sin(x / 6.4) * Math.cos(y / 6.4)));
  const toView = { a: 0.2 * Math.cos(Math.PI / 6), b: 0.2 * Math.sin(Math.PI / 6), tx: 30, ty: -10 };
  const fill: [number, number, number] = [104, 117, 123];
  const a = warpFromPyramid(new ImagePyramid(img), toView, 96, 96, fill);
  const b = warpSimilarity(img, toView, 96, 96, fill);
  let inside = 0, sum = 0;
  const inv = invertSimilarity(toView);
  for (let v = 2; v < 94; v++) {
    for (let u = 2; u < 94; u++) {
      const s = applySimilarity(inv, { x: u, y: v });
      if (s.x < 8 || s.y < 8 || s.x > 392 || s.y > 292) continue; // away from the border and the fill
      inside++;
      sum += Math.abs(a.data[(v * 96 + u) * 3] - b.data[(v * 96 + u) * 3]);
    }
  }
  assert.ok(inside > 3000, `${inside} pixels compared`);
  assert.ok(sum / inside < 6, `mean |difference| ${sum / inside} grey levels`);
  // Outside the image both read as the fill.
  assert.deepEqual([...a.data.subarray(0, 3)], [...b.data.subarray(0, 3)]);
});

test('level 0 (a view that does not shrink by more than 2x) is exactly warpSimilarity', () => {
  const img = grey(50, 40, (x, y) => (x * 7 + y * 3) % 256);
  const toView = { a: 0.9, b: 0.2, tx: 3, ty: 1 };
  const fill: [number, number, number] = [1, 2, 3];
  assert.deepEqual(warpFromPyramid(new ImagePyramid(img), toView, 32, 32, fill).data, warpSimilarity(img, toView, 32, 32, fill).data);
});

test('the views tensor is exactly the 8-bit views minus the mean, planar, in the asked channel order', () => {
  const rnd = uniform(7);
  const img = noise(rnd, 300, 200);
  const p = new ImagePyramid(img);
  const fill: [number, number, number] = [123, 117, 104];
  const mean: [number, number, number] = [104, 117, 123];
  // Views of every kind the detector cuts: shrinking 1x-6x, turned, reaching past every border.
  const views = Array.from({ length: 12 }, (_, i) => {
    const s = 1 / (1 + 5 * rnd()), r = rnd() * 2 * Math.PI;
    return { a: s * Math.cos(r), b: s * Math.sin(r), tx: (rnd() - 0.5) * 150, ty: (rnd() - 0.5) * 150 + i };
  });
  const tensor = viewsTensor(p, views, 64, 48, fill, mean, [2, 1, 0]);
  const reference = toBgrMinusMean(views.map((v) => warpFromPyramid(p, v, 64, 48, fill)), mean, 'BGR');
  assert.equal(tensor.length, reference.length);
  let differing = 0;
  for (let i = 0; i < tensor.length; i++) if (tensor[i] !== reference[i]) differing++;
  assert.equal(differing, 0);
});

test('views a quarter, half and three-quarter turn apart are recognised, and only those', () => {
  const v = uprightView({ x: 140, y: 90 }, 60, 17, 96, 0.5);
  assert.equal(quarterTurn(v, uprightView({ x: 140, y: 90 }, 60, 17 + 180, 96, 0.5), 96, 96), 2);
  assert.equal(quarterTurn(v, uprightView({ x: 140, y: 90 }, 60, 17 + 90, 96, 0.5), 96, 96), 3);
  assert.equal(quarterTurn(v, uprightView({ x: 140, y: 90 }, 60, 17 - 90, 96, 0.5), 96, 96), 1);
  assert.equal(quarterTurn(v, uprightView({ x: 140, y: 90 }, 60, 17 + 1, 96, 0.5), 96, 96), 0); // another roll
  assert.equal(quarterTurn(v, uprightView({ x: 141, y: 90 }, 60, 17 + 180, 96, 0.5), 96, 96), 0); // another centre
  assert.equal(quarterTurn(v, uprightView({ x: 140, y: 90 }, 61, 17 + 180, 96, 0.5), 96, 96), 0); // another scale
  assert.equal(quarterTurn(v, v, 96, 96), 0); // the same view is not a turn
});

test('turned views of one face, copied in turned order, equal their own warps value for value', () => {
  const img = noise(uniform(11), 320, 240);
  const p = new ImagePyramid(img);
  const fill: [number, number, number] = [123, 117, 104];
  const mean: [number, number, number] = [104, 117, 123];
  // The orientation rule's views: two faces (one near the border), each at its roll, the opposite and the quadrants.
  const views = [[{ x: 150, y: 110 }, 70, 23], [{ x: 20, y: 200 }, 150, -61]].flatMap(([c, size, roll]) =>
    [0, 180, 90, -90, 7].map((d) => uprightView(c as { x: number; y: number }, size as number, (roll as number) + d, 96, 0.5)));
  const same = (list: typeof views, w: number, h: number) => {
    const tensor = viewsTensor(p, list, w, h, fill, mean, [2, 1, 0]);
    const reference = toBgrMinusMean(list.map((v) => warpFromPyramid(p, v, w, h, fill)), mean, 'BGR');
    let differing = 0;
    for (let i = 0; i < tensor.length; i++) if (tensor[i] !== reference[i]) differing++;
    return differing;
  };
  assert.equal(same(views, 96, 96), 0);
  // On a 64 x 48 canvas only the half turn maps the grid onto itself.
  const v = { a: 0.4, b: 0.3, tx: -20, ty: 15 };
  assert.equal(quarterTurn(v, { a: -0.4, b: -0.3, tx: 64 + 20, ty: 48 - 15 }, 64, 48), 2);
  assert.equal(same([v, { a: -0.4, b: -0.3, tx: 64 + 20, ty: 48 - 15 }, { a: 0.3, b: -0.4, tx: 5, ty: 5 }], 64, 48), 0);
});

test('roundNonNegative equals Math.round on every double near each half-integer of the 8-bit range, and on random values', () => {
  const f = new Float64Array(1), bits = new BigInt64Array(f.buffer);
  let compared = 0;
  for (let k = 0; k < 256; k++) {
    f[0] = k + 0.5;
    const base = bits[0];
    for (let d = -40n; d <= 40n; d++) { // the 40 doubles either side of k + 0.5, where r + 0.5 may round
      bits[0] = base + d;
      if (f[0] < 0) continue;
      assert.equal(roundNonNegative(f[0]), Math.round(f[0]), `r = ${f[0]}`);
      compared++;
    }
  }
  assert.equal(roundNonNegative(0.49999999999999994), 0); // r + 0.5 rounds up to 1 here
  const rnd = uniform(5);
  for (let i = 0; i < 100_000; i++) {
    const r = rnd() * 256;
    assert.equal(roundNonNegative(r), Math.round(r));
  }
  assert.ok(compared > 20_000);
});
