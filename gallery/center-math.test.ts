// Unit tests of the center math on tiny literal vectors with hand-computed results.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addToCenter, centerFromEmbeddings, cosine, dot, isNormalisable, l2Norm, l2Normalize } from './center-math.ts';
import { randomUnit, rng, vec } from './test-helpers.ts';

function near(actual: ArrayLike<number>, expected: number[], eps = 1e-6): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= eps, `index ${i}: ${actual[i]} vs ${expected[i]}`);
  }
}

test('dot, norm, normalise and cosine on literals', () => {
  assert.equal(dot([1, 2, 3], [4, 5, 6]), 32);
  assert.equal(l2Norm([3, 4]), 5);
  near(l2Normalize([3, 4]), [0.6, 0.8]);
  near(l2Normalize([0, 0, 2]), [0, 0, 1]);
  assert.equal(cosine([1, 0], [0, 1]), 0);
  assert.ok(Math.abs(cosine([1, 1], [2, 2]) - 1) < 1e-12);
  assert.ok(Math.abs(cosine([1, 0], [1, 1]) - Math.SQRT1_2) < 1e-12);
});

test('zero and non-finite vectors cannot be normalised', () => {
  assert.equal(isNormalisable([0, 0]), false);
  assert.equal(isNormalisable([1, Number.NaN]), false);
  assert.equal(isNormalisable([1, Number.POSITIVE_INFINITY]), false);
  assert.throws(() => l2Normalize([0, 0]), RangeError);
  assert.throws(() => dot([1], [1, 2]), RangeError);
});

test('incremental center: sum of normalised faces, count, normalised sum', () => {
  const c1 = addToCenter(null, vec(3, 4)); // normalised (0.6, 0.8)
  near(c1.sum, [0.6, 0.8]);
  assert.equal(c1.count, 1);
  near(c1.center, [0.6, 0.8]);
  const c2 = addToCenter(c1, vec(0, 2)); // + (0, 1): sum (0.6, 1.8), |sum| = sqrt(3.6)
  near(c2.sum, [0.6, 1.8]);
  assert.equal(c2.count, 2);
  near(c2.center, [0.6 / Math.sqrt(3.6), 1.8 / Math.sqrt(3.6)]); // (0.316228, 0.948683)
  assert.throws(() => addToCenter(c2, vec(1, 0, 0)), RangeError);
});

test('a face with a large norm weighs the same as one with a small norm', () => {
  const c = centerFromEmbeddings([vec(10, 0, 0), vec(0, 0.1, 0)])!;
  near(c.center, [Math.SQRT1_2, Math.SQRT1_2, 0]);
  near(c.sum, [1, 1, 0]);
});

test('exact recomputation matches incremental adds and handles the empty list', () => {
  const faces = [vec(1, 2, 2), vec(2, 1, 2), vec(0, 3, 4)]; // normalised: (1,2,2)/3, (2,1,2)/3, (0,.6,.8)
  let inc = null;
  for (const f of faces) inc = addToCenter(inc, f);
  const exact = centerFromEmbeddings(faces)!;
  const sum = [1 / 3 + 2 / 3, 2 / 3 + 1 / 3 + 0.6, 2 / 3 + 2 / 3 + 0.8]; // (1, 1.6, 2.1333)
  const n = Math.hypot(...sum);
  near(exact.sum, sum);
  near(exact.center, sum.map((s) => s / n));
  near(inc!.center, Array.from(exact.center));
  assert.equal(exact.count, 3);
  assert.equal(centerFromEmbeddings([]), null);
});

test('opposite faces that cancel out are refused rather than given an arbitrary center', () => {
  assert.throws(() => centerFromEmbeddings([vec(1, 0), vec(-2, 0)]), /undefined/);
});

test('1 photo and 500 photos both give one unit-length center', () => {
  const rand = rng(7);
  const one = centerFromEmbeddings([randomUnit(64, rand).map((x) => x * 3)])!;
  let many = null;
  for (let i = 0; i < 500; i++) many = addToCenter(many, randomUnit(64, rand).map((x) => x * (1 + i % 5)));
  assert.ok(Math.abs(l2Norm(one.center) - 1) < 1e-6);
  assert.ok(Math.abs(l2Norm(many!.center) - 1) < 1e-6);
  assert.equal(many!.count, 500);
});
