// RetinaFace priors, decoding and NMS on literal inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRetinaFace, iou, nms, priorBoxes, softmaxLogit, toBgrMinusMean } from './retinaface-math.ts';

const SPEC = { steps: [8, 16, 32], minSizes: [[16, 32], [64, 128], [256, 512]], variances: [0.1, 0.2] as [number, number] };

test('priors: level, row, column, size order, centred in their cells, ceil of the map size', () => {
  const p = priorBoxes(20, 10, SPEC); // level 8: 2 rows x 3 cols x 2; level 16: 1 x 2 x 2; level 32: 1 x 1 x 2
  assert.equal(p.length / 4, 12 + 4 + 2);
  assert.deepEqual([...p.slice(0, 8)], [4, 4, 16, 16, 4, 4, 32, 32]); // cell (0,0), both sizes
  assert.deepEqual([...p.slice(8, 12)], [12, 4, 16, 16]); // next column
  assert.deepEqual([...p.slice(6 * 4, 6 * 4 + 4)], [4, 12, 16, 16]); // second row
  assert.deepEqual([...p.slice(12 * 4, 12 * 4 + 4)], [8, 8, 64, 64]); // first prior of level 16
  assert.deepEqual([...p.slice(17 * 4)], [16, 16, 512, 512]); // last prior
});

test('BGR packing subtracts the mean per channel, planar', () => {
  const img = { data: new Uint8Array([10, 20, 30, 40, 50, 60]), width: 2, height: 1 };
  const out = toBgrMinusMean([img], [1, 2, 3], 'BGR');
  assert.deepEqual([...out], [30 - 1, 60 - 1, 20 - 2, 50 - 2, 10 - 3, 40 - 3]);
  assert.deepEqual([...toBgrMinusMean([img], [0, 0, 0], 'RGB')], [10, 40, 20, 50, 30, 60]);
});

test('decoding: zero deltas give the prior; deltas move by variance x side; landmarks likewise', () => {
  const priors = new Float32Array([50, 40, 20, 20, 10, 10, 16, 16]);
  const boxes = new Float32Array([0, 0, 0, 0, 1, -1, Math.log(2) / 0.2, 0]);
  const scores = new Float32Array([0.1, 0.9, 0.2, 0.8]);
  const landmarks = new Float32Array(20);
  landmarks[10] = 1; landmarks[11] = 2; // first point of the second prior
  const faces = decodeRetinaFace({ boxes, scores, landmarks }, 0, priors, [0.1, 0.2], { minScore: 0.5, iouThreshold: 0.4, maxResults: 10 });
  assert.equal(faces.length, 2);
  assert.deepEqual(faces[0].box, { x: 40, y: 30, width: 20, height: 20 });
  assert.deepEqual(faces[0].points[0], { x: 50, y: 40 });
  const b = faces[1].box;
  assert.ok(Math.abs(b.width - 32) < 1e-4 && Math.abs(b.height - 16) < 1e-9);
  assert.ok(Math.abs(b.x - (10 + 1.6 - 16)) < 1e-4 && Math.abs(b.y - (10 - 1.6 - 8)) < 1e-4);
  assert.ok(Math.abs(faces[1].points[0].x - 11.6) < 1e-5 && Math.abs(faces[1].points[0].y - 13.2) < 1e-5);
  assert.ok(Math.abs(faces[0].logit - Math.log(9)) < 1e-6);
});

test('decoding reads image n of a batch and keeps scores strictly above minScore', () => {
  const priors = new Float32Array([8, 8, 16, 16]);
  const out = { boxes: new Float32Array(8), scores: new Float32Array([0.9, 0.1, 0.5, 0.5]), landmarks: new Float32Array(20) };
  const opts = { minScore: 0.5, iouThreshold: 0.4, maxResults: 10 };
  assert.equal(decodeRetinaFace(out, 0, priors, [0.1, 0.2], opts).length, 0);
  assert.equal(decodeRetinaFace(out, 1, priors, [0.1, 0.2], opts).length, 0); // 0.5 is not above 0.5
  assert.equal(decodeRetinaFace(out, 1, priors, [0.1, 0.2], { ...opts, minScore: 0.4 }).length, 1);
});

test('NMS keeps the best of overlapping boxes and respects maxResults', () => {
  const f = (score: number, x: number) => ({ score, box: { x, y: 0, width: 10, height: 10 } });
  const kept = nms([f(0.8, 0), f(0.9, 1), f(0.7, 50), f(0.95, 100)], 0.4);
  assert.deepEqual(kept.map((k) => k.score), [0.95, 0.9, 0.7]);
  assert.equal(nms([f(0.8, 0), f(0.9, 100)], 0.4, 1).length, 1);
  assert.equal(iou({ x: 0, y: 0, width: 10, height: 10 }, { x: 5, y: 0, width: 10, height: 10 }), 50 / 150);
  assert.equal(iou({ x: 0, y: 0, width: 0, height: 0 }, { x: 0, y: 0, width: 0, height: 0 }), 0);
});

test('the logit stays finite and ordered where the probability saturates', () => {
  assert.ok(Number.isFinite(softmaxLogit(0, 1)));
  assert.ok(softmaxLogit(1e-7, 1 - 1e-7) > softmaxLogit(1e-3, 1 - 1e-3));
  assert.equal(softmaxLogit(0.5, 0.5), 0);
});
