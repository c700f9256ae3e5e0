// ReplicaSync's logic against a scripted change feed (the PostgreSQL feed itself is tested in pg-replicas.test.ts):
// entries applied in order with the last center per label, a model switch stops following, a gap means pruned
// entries and leads to a rebuild.

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { HnswIndex } from './hnsw-index.ts';
import { ReplicaSync } from './replica-sync.ts';
import { tempDir, vec } from './test-helpers.ts';
import type { CenterChange, ChangeFeed, LogSnapshot } from './types.ts';

/** A feed over a fixed log; `floor` drops entries below it as pruning would. */
function feed(log: CenterChange[], opts: { modelId?: string; floor?: number } = {}): ChangeFeed {
  const kept = () => log.filter((c) => c.seq >= (opts.floor ?? 1));
  return {
    async snapshot(afterSeq: number): Promise<LogSnapshot> {
      const head = log.length === 0 ? 0 : log[log.length - 1].seq;
      return { head, floor: opts.floor ?? 1, modelId: opts.modelId ?? 'm', centerLabels: [], changedLabels: kept().filter((c) => c.seq > afterSeq).map((c) => c.label) };
    },
    async changesSince(afterSeq: number, limit: number) {
      return { modelId: opts.modelId ?? 'm', changes: kept().filter((c) => c.seq > afterSeq).slice(0, limit) };
    },
    async listen() {
      return async () => {};
    },
  };
}

function sync(f: ChangeFeed, index: HnswIndex, rebuilds: number[], warnings: string[]): ReplicaSync {
  return new ReplicaSync(f, index, 'm', { info() {}, warn: (m) => warnings.push(m) }, {
    exclusive: (fn) => fn(),
    applied: async () => {},
    rebuildLocked: async () => { rebuilds.push(1); },
  });
}

test('entries are applied in order; the last center of a label wins; a null center removes it', async () => {
  const index = new HnswIndex({ dim: 3, file: path.join(tempDir(), 'i.hnsw') });
  const s = sync(feed([
    { seq: 1, label: 1, center: vec(1, 0, 0) }, { seq: 2, label: 2, center: vec(0, 1, 0) },
    { seq: 3, label: 1, center: vec(0, 0, 1) }, { seq: 4, label: 2, center: null },
  ]), index, [], []);
  assert.equal(await s.catchUp(), 2);
  assert.equal(s.appliedSeq, 4);
  assert.deepEqual(index.search(vec(0, 0, 1), 5).map((h) => h.label), [1]);
  assert.equal(await s.catchUp(), 0, 'nothing new');
});

test('a gap in the sequence (pruned entries) rebuilds from the head; another model stops following', async () => {
  const index = new HnswIndex({ dim: 3, file: path.join(tempDir(), 'i.hnsw') });
  const log = [1, 2, 3, 4, 5].map((seq) => ({ seq, label: seq, center: vec(1, seq, 0) }));
  const rebuilds: number[] = [];
  const warnings: string[] = [];
  const s = sync(feed(log, { floor: 4 }), index, rebuilds, warnings);
  s.startAt(1); // applied 1; 2 and 3 were pruned
  await s.catchUp();
  assert.equal(rebuilds.length, 1);
  assert.equal(s.appliedSeq, 5);
  assert.match(warnings[0], /pruned/);

  const other = sync(feed(log, { modelId: 'other' }), index, [], warnings);
  assert.equal(await other.catchUp(), 0);
  assert.equal(other.appliedSeq, 0, 'nothing applied from a gallery of another model');
  assert.match(warnings[1], /another model/);
});
