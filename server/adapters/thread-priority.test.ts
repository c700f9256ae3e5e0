// Inference threads run below the event loop's priority: the worker thread and the onnxruntime threads it starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { loadModel } from '../model/card.ts';
import { SHIPPED_MODEL } from '../test-support.ts';
import { WorkerSessionHost } from './ort/worker-host.ts';
import { INFERENCE_NICE, lowerThreadPriority } from './thread-priority.ts';

/** Nice value of every thread of this process, from /proc (Linux). */
function threadNices(): number[] {
  return readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]); // field 19: nice
  });
}

test('an inference worker and the onnxruntime threads it starts run at nice + INFERENCE_NICE; the main thread does not', async () => {
  assert.equal(process.platform, 'linux', 'this check reads /proc');
  const base = getPriority();
  assert.equal(lowerThreadPriority(0), false, 'an increment of 0 changes nothing');
  const want = Math.min(19, base + INFERENCE_NICE);
  const before = threadNices().filter((n) => n === want).length;
  const host = new WorkerSessionHost('nice-test', INFERENCE_NICE);
  try {
    await host.open(loadModel(SHIPPED_MODEL).onnxPath, { device: 'cpu', threads: 2 });
    const lowered = threadNices().filter((n) => n === want).length - before;
    // The worker thread itself plus at least one onnxruntime intra-op thread.
    assert.ok(lowered >= 2, `${lowered} threads at nice ${want}: ${threadNices().join(',')}`);
    assert.equal(getPriority(), base, 'the calling thread keeps its priority');
  } finally {
    await host.close();
  }
});
