// Index persistence and model binding: stale, corrupt or missing index files are rebuilt; other models refused.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { GalleryError } from './errors.ts';
import type { Gallery } from './gallery.ts';
import { INDEX_FILE, openGallery, openGalleryStore } from './open.ts';
import { face, noisy, randomUnit, rng, tempDir } from './test-helpers.ts';

const DIM = 32;
const N = 30;

interface Built {
  dir: string;
  ids: string[];
  queries: Float32Array[];
}

/** A closed gallery of N identities (2 faces each) and one unseen query per identity. */
async function build(seed: number): Promise<Built> {
  const dir = tempDir();
  const rand = rng(seed);
  const g = await openGallery({ dataDir: dir, modelId: 'm1', dim: DIM });
  const ids: string[] = [];
  const queries: Float32Array[] = [];
  for (let i = 0; i < N; i++) {
    const c = randomUnit(DIM, rand);
    const id = (await g.createIdentity({ name: `n${i}` })).id;
    await g.addFaces(id, [face(noisy(c, 0.4, rand), `${i}a`), face(noisy(c, 0.4, rand), `${i}b`)]);
    ids.push(id);
    queries.push(noisy(c, 0.4, rand));
  }
  await g.close();
  return { dir, ids, queries };
}

const open = (dir: string, modelId = 'm1', dim = DIM): Promise<Gallery> => openGallery({ dataDir: dir, modelId, dim });

async function assertAllFound(g: Gallery, b: Built, skip: ReadonlySet<string> = new Set()): Promise<void> {
  for (let i = 0; i < N; i++) {
    const hits = await g.search(b.queries[i], N);
    assert.ok(hits.every((h) => !skip.has(h.identity.id)), 'no deleted identity');
    if (!skip.has(b.ids[i])) assert.equal(hits[0].identity.id, b.ids[i]);
  }
}

test('writes committed after the last index save (a crash) are picked up by a rebuild on open', async () => {
  const b = await build(1);
  const g = await open(b.dir);
  assert.equal(g.indexReport?.source, 'loaded');
  await g.deleteIdentity(b.ids[3]);
  const extra = await g.createIdentity({ name: 'extra' });
  await g.addFaces(extra.id, [face(randomUnit(DIM, rng(99)), 'extra')]);
  // Simulate a crash: copy the files as they are now, before close() saves the index.
  const crashed = tempDir();
  for (const f of fs.readdirSync(b.dir)) fs.copyFileSync(path.join(b.dir, f), path.join(crashed, f));
  await g.close();

  const g2 = await open(crashed);
  assert.equal(g2.indexReport?.source, 'rebuilt');
  assert.match(g2.indexReport!.reason!, /state_version/);
  await assertAllFound(g2, b, new Set([b.ids[3]]));
  assert.equal((await g2.stats()).indexed, N);
  await g2.close();
  const g3 = await open(crashed); // the rebuilt index was saved: no second rebuild
  assert.equal(g3.indexReport?.source, 'loaded');
  await g3.close();
});

test('changes made to SQLite behind the index (another tool) make the marker stale and trigger a rebuild', async () => {
  const b = await build(2);
  const store = await openGalleryStore({ dataDir: b.dir });
  await store.transaction(async (tx) => {
    await tx.deleteIdentity((await tx.getIdentity(b.ids[5]))!.label);
    await tx.bumpStateVersion();
  });
  await store.close();
  const g = await open(b.dir);
  assert.equal(g.indexReport?.source, 'rebuilt');
  await assertAllFound(g, b, new Set([b.ids[5]]));
  await g.close();
});

test('a corrupt, truncated or missing index file, or a broken marker, triggers a rebuild', async () => {
  const b = await build(3);
  const file = path.join(b.dir, INDEX_FILE);
  const damage: Array<[string, () => void, RegExp]> = [
    ['flipped bytes', () => {
      const buf = fs.readFileSync(file);
      for (let i = 200; i < 260; i++) buf[i] ^= 0xff;
      fs.writeFileSync(file, buf);
    }, /checksum/],
    ['truncated', () => fs.truncateSync(file, Math.floor(fs.statSync(file).size / 2)), /size/],
    ['missing', () => fs.rmSync(file), /missing/],
    ['garbage marker', () => fs.writeFileSync(`${file}.json`, '{not json'), /marker/],
    ['missing marker', () => fs.rmSync(`${file}.json`), /marker/],
  ];
  for (const [what, hurt, reason] of damage) {
    hurt();
    const g = await open(b.dir);
    assert.equal(g.indexReport?.source, 'rebuilt', what);
    assert.match(g.indexReport!.reason!, reason, what);
    await assertAllFound(g, b);
    await g.close();
  }
});

test('opening with another model is refused with a message naming both models; the gallery stays usable', async () => {
  const b = await build(4);
  await assert.rejects(open(b.dir, 'arcface-r100'), (err) => {
    assert.ok(err instanceof GalleryError);
    assert.equal(err.code, 'model_mismatch');
    assert.match(err.message, /"m1"/);
    assert.match(err.message, /"arcface-r100"/);
    assert.match(err.message, /irface reindex/);
    assert.deepEqual(err.details, { galleryModelId: 'm1', configuredModelId: 'arcface-r100' });
    return true;
  });
  await assert.rejects(open(b.dir, 'm1', DIM * 2), (err) => err instanceof GalleryError && err.code === 'dimension_mismatch');
  const g = await open(b.dir); // the refused opens closed their store cleanly
  await assertAllFound(g, b);
  await g.close();
});

test('the save policy saves after N changes, so a crash then needs no rebuild', async () => {
  const b = await build(5);
  const g = await openGallery({ dataDir: b.dir, modelId: 'm1', dim: DIM, savePolicy: { afterChanges: 2, intervalMs: 0 } });
  await g.deleteIdentity(b.ids[0]);
  assert.equal((await g.stats()).unsavedIndexChanges, 1);
  await g.deleteIdentity(b.ids[1]); // second change: saved
  assert.equal((await g.stats()).unsavedIndexChanges, 0);
  const crashed = tempDir();
  for (const f of fs.readdirSync(b.dir)) fs.copyFileSync(path.join(b.dir, f), path.join(crashed, f));
  await g.close();
  const g2 = await open(crashed);
  assert.equal(g2.indexReport?.source, 'loaded');
  await assertAllFound(g2, b, new Set([b.ids[0], b.ids[1]]));
  await g2.close();
});
