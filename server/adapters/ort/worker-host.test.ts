// Sessions in a worker thread: same outputs as in this thread, the event loop keeps turning, errors and crashes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../config.ts';
import { loadModel } from '../../model/card.ts';
import { loadDetectorModels } from '../../model/detector-card.ts';
import { demoPhoto, SHIPPED_MODEL } from '../../test-support.ts';
import { OnnxDetector } from '../onnx-detector.ts';
import { SharpDecoder } from '../sharp-decoder.ts';
import { RemoteOnnxDetector } from './remote-detector.ts';
import { inlineHost, type TensorMap, type TensorSession } from './session.ts';
import { WorkerSessionHost } from './worker-host.ts';

const model = loadModel(SHIPPED_MODEL);
const { input, output } = model.card;
const host = new WorkerSessionHost('test');
let remote: TensorSession;
let inline: TensorSession;

/** A batch of deterministic pseudo-random crops, already in the model's NCHW layout. */
function batch(n: number, seed = 7): TensorMap {
  const data = new Float32Array(n * 3 * input.height * input.width);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = (s >>> 8) / 2 ** 24 - 0.5;
  }
  return { [input.name]: { data, dims: [n, 3, input.height, input.width] } };
}

before(async () => {
  remote = await host.open(model.onnxPath, { device: 'cpu', threads: 1 });
  inline = await inlineHost.open(model.onnxPath, { device: 'cpu', threads: 1 });
});

after(async () => {
  await remote.release();
  await inline.release();
  await host.close();
});

test('a worker session describes the graph and computes what an in-thread session computes', async () => {
  assert.deepEqual(remote.inputs, inline.inputs);
  assert.deepEqual(remote.outputNames, inline.outputNames);
  assert.equal(remote.device, 'cpu');
  const [a, b] = [await remote.run(batch(3)), await inline.run(batch(3))];
  assert.deepEqual(a[output.name].dims, [3, output.dim]);
  assert.deepEqual(Array.from(a[output.name].data), Array.from(b[output.name].data));
});

test('the caller\'s event loop keeps turning while the worker runs a large batch', async () => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  const t0 = performance.now();
  await remote.run(batch(16));
  const ms = performance.now() - t0;
  clearInterval(timer);
  // In this thread the same run would block the loop for its whole duration: zero ticks.
  assert.ok(ticks >= Math.min(10, ms / 20), `only ${ticks} timer ticks during a ${ms.toFixed(0)} ms run`);
});

test('a feed that does not fit the graph fails with onnxruntime\'s reason, and the worker keeps serving', async () => {
  await assert.rejects(remote.run({ [input.name]: { data: new Float32Array(30), dims: [1, 3, 2, 5] } }), /dimension|Got invalid|shape|size/i);
  await assert.rejects(remote.run({ nope: { data: new Float32Array(1), dims: [1] } }), /nope|input/i);
  const again = await remote.run(batch(1));
  assert.equal(again[output.name].data.length, output.dim);
});

test('views into a larger buffer are copied, not detached; whole buffers are handed over', async () => {
  const big = new Float32Array(2 * 3 * input.height * input.width);
  const view = big.subarray(0, big.length / 2);
  await remote.run({ [input.name]: { data: view, dims: [1, 3, input.height, input.width] } });
  assert.equal(big.length, 2 * 3 * input.height * input.width, 'the caller keeps its buffer');
});

test('a dead worker fails the calls in flight, then the next call starts a new one with the sessions reopened', async () => {
  const starts = host.starts;
  const inFlight = remote.run(batch(8));
  await host.stopWorker();
  await assert.rejects(inFlight, /test worker stopped/);
  const after = await remote.run(batch(2));
  const expected = await inline.run(batch(2));
  assert.deepEqual(Array.from(after[output.name].data), Array.from(expected[output.name].data));
  assert.equal(host.starts, starts + 1);
});

test('a closed host refuses calls with a clear message', async () => {
  const h = new WorkerSessionHost('closing');
  const s = await h.open(model.onnxPath, { device: 'cpu', threads: 1 });
  await h.close();
  await assert.rejects(s.run(batch(1)), /closing worker is closed/);
});

test('the ONNX detector run whole in a worker finds exactly what it finds in this thread, and leaves the caller\'s pixels alone', async () => {
  const models = loadDetectorModels(join(PROJECT_ROOT, 'models'));
  const h = new WorkerSessionHost('detector', 10);
  const remoteDet = await RemoteOnnxDetector.create(h, models, { device: 'cpu', threads: 1 });
  const local = await OnnxDetector.create(models, { device: 'cpu', threads: 1 });
  try {
    const decoder = new SharpDecoder({ maxImageBytes: 64 * 1024 * 1024, maxPixels: 100_000_000 });
    const { image } = await decoder.downscale((await decoder.decode(readFileSync(demoPhoto(1)))).image, 640);
    const before = Buffer.from(image.data).toString('base64');
    const [theirs, ours] = await Promise.all([remoteDet.detect(image, { minScore: 0.3 }), local.detect(image, { minScore: 0.3 })]);
    assert.ok(ours.length >= 1);
    assert.deepEqual(theirs, ours);
    assert.equal(remoteDet.version, local.version);
    assert.equal(Buffer.from(image.data).toString('base64'), before, 'the caller\'s image is intact');
    await assert.rejects(remoteDet.detect({ data: new Uint8Array(5), width: 2, height: 2 }, { minScore: 0.3 }), /detect\(\) needs RGB pixels/);
    assert.equal(remoteDet.queued, 0);
  } finally {
    await remoteDet.close();
    await local.close();
    await h.close();
  }
});
