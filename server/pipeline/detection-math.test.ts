// Checks the detector's pure pre/post-processing on tiny hand-computed inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  greedyNms, iouYxyx, landmarkWindow, landmarksToImage, letterbox, resizeToNchw, toPixelBox,
} from './detection-math.ts';
import type { RgbImage } from './warp.ts';

const IDENTITY = { mean: [0, 0, 0], std: [1, 1, 1] } as const;

/** An RGB image from per-channel rows: R as given, G = R + 1, B = 2R (so the planes are told apart). */
function image(rows: number[][]): RgbImage {
  const height = rows.length, width = rows[0].length;
  const data = new Uint8Array(width * height * 3);
  rows.flat().forEach((v, i) => data.set([v, v + 1, 2 * v], 3 * i));
  return { data, width, height };
}

/** Plane c of an NCHW buffer as rows. */
function plane(out: Float32Array, size: number, c: number): number[][] {
  return Array.from({ length: size }, (_, y) => Array.from(out.subarray(c * size * size + y * size, c * size * size + (y + 1) * size)));
}

test('2x2 upscaled to 4x4: TF legacy picks floor(d/2) and the clamped next pixel, half-way weights', () => {
  const out = new Float32Array(3 * 16);
  resizeToNchw(image([[0, 100], [120, 40]]), letterbox(2, 2), 4, IDENTITY, out);
  // Per axis: d = 0, 1, 2, 3 -> src 0, 0.5, 1, 1.5 -> p0, (p0 + p1) / 2, p1, p1 (the last clamped).
  const r = plane(out, 4, 0);
  assert.deepEqual(r, [[0, 50, 100, 100], [60, 65, 70, 70], [120, 80, 40, 40], [120, 80, 40, 40]]);
  assert.deepEqual(plane(out, 4, 1)[0], [1, 51, 101, 101]);
  assert.deepEqual(plane(out, 4, 2)[2], [240, 160, 80, 80]);
});

test('3x2 (landscape) is padded at the bottom, then downscaled to 2x2 with normalisation', () => {
  const out = new Float32Array(3 * 4);
  resizeToNchw(image([[10, 20, 30], [40, 50, 60]]), letterbox(3, 2), 2, { mean: [10, 0, 0], std: [2, 1, 1] }, out);
  // side 3, src = d * 1.5: d = 1 -> between 1 and 2 at 0.5; row 2 is padding (0).
  // raw R: [[10, 25], [0.5 * 40, 0.5 * 55]] = [[10, 25], [20, 27.5]]
  assert.deepEqual(plane(out, 2, 0), [[0, 7.5], [5, 8.75]]);
  assert.deepEqual(plane(out, 2, 1), [[11, 26], [20.5, 28]]);
});

test('2x3 (portrait) is padded on the right; padding normalises to -mean/std', () => {
  const out = new Float32Array(3 * 9);
  resizeToNchw(image([[1, 2], [3, 4], [5, 6]]), letterbox(2, 3), 3, { mean: [1, 1, 1], std: [0.5, 1, 1] }, out);
  assert.deepEqual(plane(out, 3, 0), [[0, 2, -2], [4, 6, -2], [8, 10, -2]]);
});

test('a window of a larger image with left padding, written at an offset (batch slot 1)', () => {
  const img = image([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16]]);
  const out = new Float32Array(2 * 3 * 16).fill(-99);
  // Columns 2..2 (width 1), rows 0..3 (height 4): d = 3 -> 1 before, 2 after.
  const win = landmarkWindow({ x: 2, y: 0, width: 1, height: 4 }, 4, 4)!;
  assert.deepEqual(win, { x0: 2, y0: 0, width: 1, height: 4, padLeft: 1, padTop: 0, side: 4 });
  resizeToNchw(img, win, 4, IDENTITY, out, 3 * 16);
  assert.equal(out[0], -99, 'slot 0 untouched');
  assert.deepEqual(plane(out.subarray(48), 4, 0), [[0, 3, 0, 0], [0, 7, 0, 0], [0, 11, 0, 0], [0, 15, 0, 0]]);
});

test('IoU sorts corners first and is 0 for empty boxes', () => {
  const boxes = [0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0.5, 0, 0, 0, 1];
  assert.equal(iouYxyx(boxes, 0, 1), 1);
  assert.equal(iouYxyx(boxes, 0, 2), 0.5);
  assert.equal(iouYxyx(boxes, 0, 3), 0);
});

test('NMS: strict threshold, suppression > 0.5 only, descending order, stable ties, maxResults', () => {
  const boxes = [
    0, 0, 1, 1, //      0: 0.9
    0, 0, 1, 0.9, //    1: 0.8, IoU 0.9 with 0 -> dropped
    0, 2, 1, 3, //      2: 0.95, first
    0.1, 0.1, 0.6, 0.6, // 3: 0.7, IoU 0.25 with 0 -> kept
    1, 1, 0, 0, //      4: 0.6, box 0 with swapped corners -> dropped
    0, 5, 1, 6, //      5: 0.5, not above minScore 0.5
    0, 0, 1, 0.5, //    6: 0.65, IoU exactly 0.5 with 0 -> kept
    0, 7, 1, 8, //      7: 0.65, tie with 6 -> after it
  ];
  const scores = [0.9, 0.8, 0.95, 0.7, 0.6, 0.5, 0.65, 0.65];
  const opts = { minScore: 0.5, maxResults: 100, iouThreshold: 0.5 };
  assert.deepEqual(greedyNms(boxes, scores, opts), [2, 0, 3, 6, 7]);
  assert.deepEqual(greedyNms(boxes, scores, { ...opts, maxResults: 2 }), [2, 0]);
  assert.deepEqual(greedyNms(boxes, scores, { ...opts, minScore: 0.95 }), []);
  assert.deepEqual(greedyNms(boxes, scores, { ...opts, minScore: 0.49 }), [2, 0, 3, 6, 7, 5]);
});

test('relative box to pixels on a 640x427 image: clamped to [0, 1], rescaled by 512/round(427*0.8)', () => {
  const boxes = [0.1, -0.05, 0.7, 0.5, 0.2, 0.2, 1.3, 0.4];
  const padY = 512 / 342; // round(427 * 512 / 640) = round(341.6)
  const a = toPixelBox(boxes, 0, 640, 427, 512);
  assert.equal(a.x, 0);
  assert.equal(a.width, 320);
  assert.ok(Math.abs(a.y - 0.1 * padY * 427) < 1e-9, String(a.y));
  assert.ok(Math.abs(a.height - 0.6 * padY * 427) < 1e-9, String(a.height));
  // ymax > 1 is clamped to the square's edge, which lies below the image (face-api does the same).
  const b = toPixelBox(boxes, 1, 640, 427, 512);
  assert.ok(Math.abs(b.y + b.height - padY * 427) < 1e-9);
  assert.ok(b.y + b.height > 427);
});

test('landmark window: clip, floor, even and odd padding on either axis, nothing inside -> null', () => {
  // Even difference (30 - 20 = 10): 5 before, 5 after.
  assert.deepEqual(landmarkWindow({ x: 10.7, y: 5.2, width: 20.9, height: 30.5 }, 100, 100),
    { x0: 10, y0: 5, width: 20, height: 30, padLeft: 5, padTop: 0, side: 30 });
  // Odd difference (40 - 31 = 9): Math.round(4.5) = 5 after, 4 before, on the vertical axis.
  assert.deepEqual(landmarkWindow({ x: 1, y: 2, width: 40.2, height: 31.9 }, 100, 100),
    { x0: 1, y0: 2, width: 40, height: 31, padLeft: 0, padTop: 4, side: 40 });
  // Clipped left and bottom: width 20 - 3.5 = 16.5 -> 16, height min(15, 40 - 30) = 10.
  assert.deepEqual(landmarkWindow({ x: -3.5, y: 30, width: 20, height: 15 }, 50, 40),
    { x0: 0, y0: 30, width: 16, height: 10, padLeft: 0, padTop: 3, side: 16 });
  assert.equal(landmarkWindow({ x: 60, y: 0, width: 10, height: 10 }, 50, 40), null);
  assert.equal(landmarkWindow({ x: 5, y: 5, width: 0.5, height: 10 }, 50, 40), null);
});

test('landmarks map back by side, minus the symmetric padding, plus the unclipped box corner', () => {
  const box = { x: 10.7, y: 5.2, width: 20.9, height: 30.5 };
  const win = landmarkWindow(box, 100, 100)!;
  const pts = landmarksToImage([9, 9, 0.5, 0.5, 0, 0, 1, 1], 2, 3, box, win);
  const expected = [{ x: 20.7, y: 20.2 }, { x: 5.7, y: 5.2 }, { x: 35.7, y: 35.2 }];
  pts.forEach((p, i) => {
    assert.ok(Math.abs(p.x - expected[i].x) < 1e-9 && Math.abs(p.y - expected[i].y) < 1e-9, JSON.stringify(p));
  });
});
