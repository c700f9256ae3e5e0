// Face-choice policies on literal boxes: prominence (score tier, then size), nearest the centre.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { largestFirst, nearestCentre, prominentFirst } from './select.ts';

const face = (id: string, score: number, side: number, x = 0) => ({ id, score, box: { x, y: 0, width: side, height: side } });

test('a large low-score box never comes before a confident face, however small', () => {
  const spurious = face('clothing', 0.55, 300);
  const clear = face('face', 0.99, 40);
  assert.deepEqual(prominentFirst([spurious, clear], 0.9).map((f) => f.id), ['face', 'clothing']);
  assert.deepEqual(largestFirst([spurious, clear]).map((f) => f.id), ['clothing', 'face']); // what size alone would do
});

test('among confident faces, and among unconfident ones, size decides; ties keep detection order', () => {
  const faces = [face('a', 0.95, 50), face('b', 0.6, 80), face('c', 0.99, 120), face('d', 0.7, 80), face('e', 0.97, 50)];
  assert.deepEqual(prominentFirst(faces, 0.9).map((f) => f.id), ['c', 'a', 'e', 'b', 'd']);
  assert.deepEqual(prominentFirst(faces, 0.5).map((f) => f.id), ['c', 'b', 'd', 'a', 'e']);
});

test('nearest the centre', () => {
  assert.equal(nearestCentre([face('l', 1, 10, 0), face('m', 1, 10, 45)], 100, 10)?.id, 'm');
  assert.equal(nearestCentre([], 100, 100), undefined);
});
