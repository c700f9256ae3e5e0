// Tests of the verification metrics on tiny hand-checked score lists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bestThreshold, kFoldAccuracy, tarAtFar, type Scored } from './verification.ts';
import { parsePairs } from './protocol.ts';

const mk = (fold: number, same: boolean, score: number): Scored => ({ fold, same, score });

test('best threshold separates perfectly separable scores', () => {
  const t = bestThreshold([mk(0, false, 0.1), mk(0, false, 0.3), mk(0, true, 0.6), mk(0, true, 0.9)]);
  assert.ok(t > 0.3 && t < 0.6, `threshold ${t}`);
});

test('k-fold uses thresholds from the other folds', () => {
  // Fold 1 alone would prefer a threshold near 0.5; folds 0 and 2 push it to about 0.75.
  const items = [
    mk(0, false, 0.7), mk(0, true, 0.8), mk(2, false, 0.7), mk(2, true, 0.8),
    mk(1, false, 0.4), mk(1, true, 0.6),
  ];
  const r = kFoldAccuracy(items);
  assert.equal(r.accuracies.length, 3);
  assert.deepEqual(r.accuracies, [1, 0.5, 1]); // fold 1 judged at ~0.75 rejects its positive at 0.6
  assert.ok(Math.abs(r.mean - 2.5 / 3) < 1e-12);
});

test('TAR at FAR counts at most the allowed false accepts', () => {
  const items: Scored[] = [];
  for (let i = 0; i < 1000; i++) items.push(mk(0, false, i / 1000)); // negatives 0.000 .. 0.999
  for (let i = 0; i < 10; i++) items.push(mk(0, true, 0.9991 + i / 100000)); // above all but the top negative
  items.push(mk(0, true, 0.5));
  const r = tarAtFar(items, 1e-3)!;
  assert.equal(r.falseAccepts, 1);
  assert.equal(r.tar, 10 / 11);
  assert.equal(tarAtFar(items, 1e-4), null); // 1,000 negatives cannot measure 1e-4
});

test("failed pairs (the API's view: no face in an image) are wrong at any threshold and never move it", () => {
  const items = [mk(0, false, 0.1), mk(0, true, 0.9), mk(1, false, 0.2), mk(1, true, 0.8)];
  const withFailures = [...items, { ...mk(1, true, 0.99), failed: true }, { ...mk(0, false, 0.99), failed: true }];
  assert.equal(bestThreshold(withFailures), bestThreshold(items));
  const r = kFoldAccuracy(withFailures);
  assert.deepEqual(r.accuracies, [2 / 3, 2 / 3]);
  const neg = Array.from({ length: 1000 }, (_, i) => mk(0, false, i / 1000));
  const far = tarAtFar([...neg, mk(0, true, 0.9995), { ...mk(0, true, 0.9999), failed: true }], 1e-3)!;
  assert.equal(far.tar, 0.5); // the failed positive is not accepted, though its stale score would be
});

test('pairs.txt parsing: header, same and different lines, folds', () => {
  const pairs = parsePairs('2 1\nA 1 2\nB 3 C 12\nD 1 4\nE 2 F 1\n');
  assert.equal(pairs.length, 4);
  assert.deepEqual(pairs[0], { fold: 0, same: true, a: 'A/A_0001.jpg', b: 'A/A_0002.jpg' });
  assert.deepEqual(pairs[1], { fold: 0, same: false, a: 'B/B_0003.jpg', b: 'C/C_0012.jpg' });
  assert.equal(pairs[3].fold, 1);
  assert.throws(() => parsePairs('1 2\nA 1 2\n'), /expected 4 pairs/);
});
