// Unit tests for the pure similarity-transform math on literal points.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applySimilarity, fitSimilarity, invertSimilarity, similarityRotationDeg, similarityScale } from './geometry.ts';
import { fivePointsFrom68 } from './landmarks.ts';

const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) < eps, `${a} != ${b}`);

test('fit recovers a known rotation, scale and translation exactly', () => {
  const truth = { a: 2 * Math.cos(0.3), b: 2 * Math.sin(0.3), tx: 5, ty: -7 };
  const src = [{ x: 0, y: 0 }, { x: 10, y: 0 }, { x: 3, y: 8 }, { x: -4, y: 2 }, { x: 6, y: 6 }];
  const dst = src.map((p) => applySimilarity(truth, p));
  const fit = fitSimilarity(src, dst);
  close(fit.a, truth.a); close(fit.b, truth.b); close(fit.tx, truth.tx); close(fit.ty, truth.ty);
  close(similarityScale(fit), 2);
  close(similarityRotationDeg(fit), (0.3 * 180) / Math.PI);
});

test('two points: pure translation and scale by hand', () => {
  // (0,0)->(1,1) and (1,0)->(3,1): scale 2, no rotation, translation (1,1).
  const fit = fitSimilarity([{ x: 0, y: 0 }, { x: 1, y: 0 }], [{ x: 1, y: 1 }, { x: 3, y: 1 }]);
  close(fit.a, 2); close(fit.b, 0); close(fit.tx, 1); close(fit.ty, 1);
});

test('a mirrored target is not fitted by a reflection', () => {
  const src = [{ x: -1, y: 0 }, { x: 1, y: 0 }, { x: 0, y: 1 }];
  const dst = [{ x: 1, y: 0 }, { x: -1, y: 0 }, { x: 0, y: 1 }]; // x mirrored
  const fit = fitSimilarity(src, dst);
  // A reflection would map exactly; a similarity cannot, so residuals must remain.
  const res = src.map((p, i) => { const q = applySimilarity(fit, p); return Math.hypot(q.x - dst[i].x, q.y - dst[i].y); });
  assert.ok(res.reduce((s, r) => s + r, 0) > 0.5, 'mirror must not be reproduced');
});

test('invert undoes apply', () => {
  const t = { a: 0.7, b: -0.4, tx: 12, ty: 3 };
  const p = { x: 4.5, y: -2 };
  const q = applySimilarity(invertSimilarity(t), applySimilarity(t, p));
  close(q.x, p.x); close(q.y, p.y);
});

test('degenerate inputs are rejected with a message', () => {
  assert.throws(() => fitSimilarity([{ x: 1, y: 1 }, { x: 1, y: 1 }], [{ x: 0, y: 0 }, { x: 1, y: 0 }]), /identical/);
  assert.throws(() => fitSimilarity([{ x: 1, y: 1 }], [{ x: 0, y: 0 }]), /length/);
});

test('68 landmarks reduce to eye centres, nose tip and mouth corners', () => {
  const pts = Array.from({ length: 68 }, (_, i) => ({ x: i, y: 2 * i }));
  const five = fivePointsFrom68(pts);
  assert.deepEqual(five, [
    { x: 38.5, y: 77 }, { x: 44.5, y: 89 }, { x: 30, y: 60 }, { x: 48, y: 96 }, { x: 54, y: 108 },
  ]);
  assert.throws(() => fivePointsFrom68(pts.slice(0, 5)), /68/);
});
