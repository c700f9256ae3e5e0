// Logic of the health check: latest self-test at once, failures, staleness, joined refreshes (fake embedder and clock).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HealthCheck } from './health.ts';
import type { FacePipeline } from './face-pipeline.ts';
import type { Embedder } from '../pipeline/types.ts';
import type { RgbImage } from '../pipeline/warp.ts';

const crop: RgbImage = { data: new Uint8Array(3), width: 1, height: 1 };
const reference = new Float32Array([0.6, 0.8]);

/** An embedder whose next answer the test decides: a vector, an error, or a promise it resolves later. */
class FakeEmbedder implements Embedder {
  readonly modelId = 'fake';
  readonly dim = 2;
  readonly device = 'cpu';
  calls = 0;
  next: () => Promise<Float32Array[]> = async () => [reference];
  embed(): Promise<Float32Array[]> {
    this.calls++;
    return this.next();
  }
  async close(): Promise<void> {}
}

const pipeline = {
  modelId: 'fake',
  analyze: async () => ({ decoded: { image: crop }, faces: [{}] }),
  embed: async () => [{ crop, embedding: reference }],
} as unknown as FacePipeline;

async function make(embedder: FakeEmbedder, clock: { t: number }): Promise<HealthCheck> {
  return HealthCheck.create(pipeline, embedder, Buffer.alloc(0), 'fake photo', { intervalMs: 1000, staleMs: 5000, now: () => clock.t });
}

test('create runs a first self-test; report() answers from it without running inference', async () => {
  const e = new FakeEmbedder();
  const clock = { t: 1_000_000 };
  const h = await make(e, clock);
  assert.equal(e.calls, 1);
  clock.t += 1234;
  const r = h.report();
  assert.equal(e.calls, 1, 'report() ran no inference');
  assert.deepEqual({ ok: r.ok, age: r.age_ms, sim: r.self_similarity, problem: r.problem }, { ok: true, age: 1234, sim: 1, problem: undefined });
  assert.equal(r.checked_at, new Date(1_000_000).toISOString());
});

test('a self-test that fails or drifts from the reference turns the check failing, with the reason', async () => {
  const e = new FakeEmbedder();
  const clock = { t: 0 };
  const h = await make(e, clock);
  e.next = async () => { throw new Error('inference worker stopped: exit code 1\n    at somewhere (file.ts:1:1)'); };
  const failed = await h.refresh();
  assert.equal(failed.ok, false);
  assert.equal(failed.problem, 'self-test failed: inference worker stopped: exit code 1');
  e.next = async () => [new Float32Array([0.8, 0.6])];
  const drifted = await h.refresh();
  assert.equal(drifted.ok, false);
  assert.match(drifted.problem!, /differs from the reference \(similarity 0\.96/);
  e.next = async () => [reference];
  assert.equal((await h.refresh()).ok, true, 'recovers once a self-test passes again');
});

test('with no self-test completed for staleMs the check fails as stuck; concurrent refreshes share one run', async () => {
  const e = new FakeEmbedder();
  const clock = { t: 0 };
  const h = await make(e, clock);
  let release!: (v: Float32Array[]) => void;
  e.next = () => new Promise((r) => { release = r; });
  const a = h.refresh();
  const b = h.refresh();
  assert.equal(e.calls, 2, 'the second refresh joined the first');
  clock.t += 4000;
  assert.equal(h.report().ok, true, 'still within staleMs');
  clock.t += 2000;
  const stuck = h.report();
  assert.equal(stuck.ok, false);
  assert.match(stuck.problem!, /no self-test has completed for 6 s/);
  release([reference]);
  const [ra, rb] = await Promise.all([a, b]);
  assert.equal(ra.ok && rb.ok, true);
  assert.equal(ra.age_ms, 0);
});

test('start() runs self-tests in the background and stop() ends them', async () => {
  const e = new FakeEmbedder();
  const h = await HealthCheck.create(pipeline, e, Buffer.alloc(0), 'fake photo', { intervalMs: 100 });
  h.start();
  for (let waited = 0; e.calls < 4 && waited < 10_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
  h.stop();
  const calls = e.calls;
  assert.ok(calls >= 4, `${calls} self-tests (1 at create, then the timer's)`);
  await new Promise((r) => setTimeout(r, 250));
  assert.equal(e.calls, calls, 'no self-test after stop()');
});
