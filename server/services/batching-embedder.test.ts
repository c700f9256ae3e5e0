// Logic tests of micro-batching with a recording embedder (the batching, not the model, is under test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchingEmbedder } from './batching-embedder.ts';
import type { Embedder } from '../pipeline/types.ts';
import type { RgbImage } from '../pipeline/warp.ts';

/** Embeds a crop as [its first pixel value]; records every batch size; each run takes `ms`. */
function recorder(ms: number, fail = false) {
  const batches: number[] = [];
  const inner: Embedder = {
    modelId: 'rec', dim: 1, device: 'cpu',
    async embed(crops) {
      batches.push(crops.length);
      await new Promise((r) => setTimeout(r, ms));
      if (fail) throw new Error('boom');
      return crops.map((c) => Float32Array.of(c.data[0]));
    },
    async close() {},
  };
  return { inner, batches };
}

const crop = (v: number): RgbImage => ({ data: Uint8Array.of(v, 0, 0), width: 1, height: 1 });

test('concurrent requests share runs and each gets its own results in order', async () => {
  const { inner, batches } = recorder(20);
  const b = new BatchingEmbedder(inner, { maxBatch: 8, maxWaitMs: 5 });
  const reqs = [[1, 2], [3], [4, 5, 6], [7]].map((vs) => b.embed(vs.map(crop)));
  const out = await Promise.all(reqs);
  assert.deepEqual(out.map((r) => r.map((e) => e[0])), [[1, 2], [3], [4, 5, 6], [7]]);
  assert.deepEqual(batches, [7]); // all four arrived within the wait: one run
});

test('batches never exceed maxBatch, except a single oversized request', async () => {
  const { inner, batches } = recorder(10);
  const b = new BatchingEmbedder(inner, { maxBatch: 4, maxWaitMs: 50 });
  const sizes = [3, 3, 2, 6, 1];
  let v = 0;
  const out = await Promise.all(sizes.map((n) => b.embed(Array.from({ length: n }, () => crop(v++)))));
  assert.deepEqual(out.map((r) => r.length), sizes);
  assert.deepEqual(out.flat().map((e) => e[0]), Array.from({ length: 15 }, (_, i) => i));
  assert.ok(batches.every((n) => n <= 4 || n === 6), `batches ${batches}`);
  assert.equal(batches.reduce((s, n) => s + n, 0), 15);
});

test('requests arriving during a run are batched into the next run', async () => {
  const { inner, batches } = recorder(30);
  const b = new BatchingEmbedder(inner, { maxBatch: 16, maxWaitMs: 0 });
  const first = b.embed([crop(1)]); // runs at once (maxWaitMs 0)
  await new Promise((r) => setTimeout(r, 5));
  const later = [b.embed([crop(2)]), b.embed([crop(3)]), b.embed([crop(4)])];
  await Promise.all([first, ...later]);
  assert.deepEqual(batches, [1, 3]);
});

test('a failing run rejects exactly the requests in it', async () => {
  const { inner } = recorder(5, true);
  const b = new BatchingEmbedder(inner, { maxBatch: 4, maxWaitMs: 1 });
  const results = await Promise.allSettled([b.embed([crop(1)]), b.embed([crop(2)])]);
  assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
  assert.deepEqual(await b.embed([]), []);
});
