// HnswIndex on its own: upsert/remove/search semantics, capacity growth, and save/load against its marker.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { autoEfSearch, HnswIndex } from './hnsw-index.ts';
import { markerPathFor, readMarker, sha256File } from './index-marker.ts';
import { randomUnit, rng, tempDir, vec } from './test-helpers.ts';

test('upsert, search and remove on literal 3-d vectors', () => {
  const idx = new HnswIndex({ dim: 3, file: path.join(tempDir(), 'i.hnsw') });
  idx.upsert(1, vec(1, 0, 0));
  idx.upsert(2, vec(0, 2, 0)); // not unit: the cosine space normalises
  idx.upsert(3, vec(0, 0, 1));
  assert.equal(idx.size, 3);
  const hits = idx.search(vec(1, 1, 0), 3);
  assert.deepEqual(hits.slice(0, 2).map((h) => h.label).sort(), [1, 2]);
  assert.ok(Math.abs(hits[0].similarity - Math.SQRT1_2) < 1e-6);
  assert.ok(Math.abs(hits[2].similarity) < 1e-6);
  assert.equal(idx.search(vec(0, 0, 1), 10).length, 3, 'k above size is clamped');

  assert.equal(idx.remove(3), true);
  assert.equal(idx.remove(3), false, 'removing twice is a no-op');
  assert.equal(idx.size, 2);
  assert.ok(idx.search(vec(0, 0, 1), 10).every((h) => h.label !== 3), 'removed label never returned');

  idx.upsert(1, vec(0, 0, 1)); // moving an existing label
  assert.equal(idx.search(vec(0, 0, 1), 1)[0].label, 1);
  idx.upsert(3, vec(0, 0, 1)); // a removed label can come back
  assert.equal(idx.size, 3);
  assert.throws(() => idx.search(vec(1, 0), 1), /dim/);
  idx.clear(0);
  assert.deepEqual(idx.search(vec(1, 0, 0), 5), []);
});

test('capacity grows past the initial capacity and survives save + load', () => {
  const dir = tempDir();
  const rand = rng(11);
  const idx = new HnswIndex({ dim: 24, file: path.join(dir, 'i.hnsw'), initialCapacity: 16 });
  const vs = Array.from({ length: 100 }, () => randomUnit(24, rand));
  vs.forEach((v, i) => idx.upsert(i + 1, v));
  assert.ok(idx.capacity >= 100 && idx.capacity < 1024, `capacity ${idx.capacity}`);
  for (let i = 0; i < 100; i += 7) assert.equal(idx.search(vs[i], 1)[0].label, i + 1);
  for (let i = 1; i <= 10; i++) idx.remove(i);

  const state = { stateVersion: 7, modelId: 'm', dim: 24, count: 90 };
  idx.save(state);
  const marker = readMarker(markerPathFor(idx.file))!;
  assert.equal(marker.sha256, sha256File(idx.file));
  assert.equal(marker.stateVersion, 7);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['i.hnsw', 'i.hnsw.json'], 'no temp files left');

  fs.writeFileSync(`${idx.file}.tmp-1-dead`, 'left by a crash mid-save');
  const live = Array.from({ length: 90 }, (_, i) => i + 11);
  const back = new HnswIndex({ dim: 24, file: idx.file });
  assert.deepEqual(back.load(state, live), { loaded: true });
  assert.equal(back.size, 90);
  assert.equal(back.capacity, idx.capacity);
  assert.ok(!fs.existsSync(`${idx.file}.tmp-1-dead`), 'stale temp file removed on load');
  for (let i = 0; i < 100; i += 3) {
    const top = back.search(vs[i], 5).map((h) => h.label);
    assert.ok(top.every((l) => l > 10), 'labels deleted before the save stay deleted');
    if (i >= 10) assert.equal(top[0], i + 1);
  }
  back.upsert(500, randomUnit(24, rand)); // a loaded index keeps growing
  assert.equal(back.size, 91);
});

test('load refuses a snapshot for another state, and an unloadable file even with a matching checksum', () => {
  const rand = rng(12);
  const idx = new HnswIndex({ dim: 8, file: path.join(tempDir(), 'i.hnsw') });
  for (let i = 1; i <= 20; i++) idx.upsert(i, randomUnit(8, rand));
  const state = { stateVersion: 3, modelId: 'm', dim: 8, count: 20 };
  const labels = Array.from({ length: 20 }, (_, i) => i + 1);
  idx.save(state);
  const fresh = (): HnswIndex => new HnswIndex({ dim: 8, file: idx.file });
  const reason = (o: ReturnType<HnswIndex['load']>): string => (o.loaded ? 'loaded' : o.reason);
  assert.match(reason(fresh().load({ ...state, stateVersion: 4 }, labels)), /state_version 3/);
  assert.match(reason(fresh().load({ ...state, modelId: 'other' }, labels)), /model "m"/);
  assert.match(reason(fresh().load({ ...state, count: 21 }, [...labels, 99])), /holds 20/);
  assert.match(reason(fresh().load(state, [...labels.slice(1), 99])), /label 99/);
  // A graph built with other parameters (e.g. by an older version with M 16) is rebuilt rather than loaded.
  const m16 = new HnswIndex({ dim: 8, file: idx.file, m: 16 });
  assert.match(reason(m16.load(state, labels)), /index format "hnswlib-node\/3 cosine M32 efConstruction200" is not "hnswlib-node\/3 cosine M16/);
  assert.equal(reason(fresh().load(state, labels)), 'loaded');

  // A truncated file whose marker was rewritten to match: the checksum passes, hnswlib's loader must refuse it.
  fs.truncateSync(idx.file, fs.statSync(idx.file).size - 100);
  const m = readMarker(markerPathFor(idx.file))!;
  fs.writeFileSync(markerPathFor(idx.file), JSON.stringify({ ...m, bytes: fs.statSync(idx.file).size, sha256: sha256File(idx.file) }));
  const broken = fresh();
  assert.match(reason(broken.load(state, labels)), /unloadable/);
  assert.equal(broken.size, 0, 'a failed load leaves the index empty, ready to rebuild');
});

test('the automatic search beam is 64 up to 100k vectors, then doubles per 10x (128 at 1M, 256 at 10M, capped at 1024)', () => {
  assert.equal(autoEfSearch(0), 64);
  assert.equal(autoEfSearch(100_000), 64);
  assert.equal(autoEfSearch(1_000_000), 128);
  assert.equal(autoEfSearch(10_000_000), 256);
  assert.equal(autoEfSearch(10_000_000_000), 1024);
  for (let n = 100_000; n < 10_000_000; n = Math.ceil(n * 1.5)) assert.ok(autoEfSearch(n * 1.5) >= autoEfSearch(n), `monotone at ${n}`);
  const idx = new HnswIndex({ dim: 4, file: path.join(tempDir(), 'i.hnsw') });
  assert.equal(idx.efFor(10), 64);
  assert.equal(idx.efFor(100), 100, 'never below k');
  const fixed = new HnswIndex({ dim: 4, file: path.join(tempDir(), 'f.hnsw'), efSearch: 200 });
  assert.equal(fixed.efFor(10), 200);
  assert.throws(() => new HnswIndex({ dim: 4, file: path.join(tempDir(), 'b.hnsw'), efSearch: 0 }), /efSearch/);
});

test('a loaded index grows on upsert, even a saved empty one; a log-mode load trusts the sequence; a replayed removal of a label outside the live set takes effect', () => {
  const dir = tempDir();
  const file = path.join(dir, 'i.hnsw');
  const state = { stateVersion: 0, modelId: 'm', dim: 3, count: 0, logSeq: 7 };
  new HnswIndex({ dim: 3, file }).save(state);
  const empty = new HnswIndex({ dim: 3, file });
  assert.equal(empty.savedLogSeq(), 7);
  assert.deepEqual(empty.load(state, []), { loaded: true });
  empty.upsert(5, vec(1, 0, 0)); // hnswlib sizes a loaded index to its count (0 here): upsert must grow it
  empty.upsert(6, vec(0, 1, 0));
  empty.save({ ...state, count: 2, logSeq: 9 });

  const again = new HnswIndex({ dim: 3, file });
  // Another sequence than the marker's is refused; the store's state_version and count do not matter here.
  assert.equal(again.load({ ...state, logSeq: 8, stateVersion: 99, count: 1 }, [5]).loaded, false);
  // Label 6 changed after seq 9 (left out of the live set): the replayed removal still erases its slot.
  assert.deepEqual(again.load({ ...state, logSeq: 9, stateVersion: 99, count: 1 }, [5]), { loaded: true });
  assert.equal(again.size, 1);
  assert.equal(again.remove(6), false, 'it was not live');
  assert.deepEqual(again.search(vec(0, 1, 0), 5).map((h) => h.label), [5]);
  again.save({ ...state, count: 1, logSeq: 10 });
  // A marker written by a SQLite gallery (no sequence) is not trusted in log mode and vice versa.
  assert.equal(new HnswIndex({ dim: 3, file }).load({ stateVersion: 0, modelId: 'm', dim: 3, count: 1 }, [5]).loaded, false);
});
