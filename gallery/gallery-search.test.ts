// Search over many clustered identities with the real HNSW index; deletions and reopening keep results right.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Gallery } from './gallery.ts';
import { openGallery } from './open.ts';
import type { GalleryLocation } from './open.ts';
import { freshLocation } from './test-backend.ts';
import { face, noisy, randomUnit, rng } from './test-helpers.ts';

const DIM = 128;
const IDENTITIES = 200;
const FACES_EACH = 3;
const NOISE = 0.6; // sample = center + noise of norm 0.6: cos(sample, center) ~ 0.86; random pairs ~ +-0.09

interface Fixture {
  loc: GalleryLocation;
  ids: string[];
  queries: Float32Array[]; // one unseen noisy sample per identity
}

// Built once and shared: the tests below run in order in this file and each leaves the gallery closed.
let fixture: Promise<Fixture> | null = null;
function build(): Promise<Fixture> {
  fixture ??= (async () => {
    const loc = await freshLocation();
    const rand = rng(42);
    // A small initial capacity forces the index to grow (16 -> 32 -> ... -> 256) while enrolling.
    const g = await openGallery({ ...loc, modelId: 'm1', dim: DIM, indexCapacity: 16 });
    const ids: string[] = [];
    const queries: Float32Array[] = [];
    for (let i = 0; i < IDENTITIES; i++) {
      const center = randomUnit(DIM, rand);
      const id = (await g.createIdentity({ name: `person ${i}`, externalId: `p${i}` })).id;
      const faces = Array.from({ length: FACES_EACH }, (_, j) => face(noisy(center, NOISE, rand, 0.5 + rand()), `p${i}-img${j}`));
      await g.addFaces(id, faces);
      ids.push(id);
      queries.push(noisy(center, NOISE, rand));
    }
    await g.close();
    return { loc, ids, queries };
  })();
  return fixture;
}

async function rank1(g: Gallery, queries: Float32Array[]): Promise<Array<string | undefined>> {
  const out: Array<string | undefined> = [];
  for (const q of queries) out.push((await g.search(q, 1))[0]?.identity.id);
  return out;
}

test('search finds the right identity at rank 1 among 200 clustered identities', async () => {
  const { loc, ids, queries } = await build();
  const g = await openGallery({ ...loc, modelId: 'm1', dim: DIM });
  assert.equal(g.indexReport?.source, 'loaded');
  assert.deepEqual(await rank1(g, queries), ids);
  const top = await g.search(queries[7], 10);
  assert.equal(top.length, 10);
  assert.equal(top[0].identity.id, ids[7]);
  assert.equal(top[0].identity.externalId, 'p7');
  assert.equal(top[0].identity.faceCount, FACES_EACH);
  for (let i = 1; i < top.length; i++) assert.ok(top[i - 1].similarity >= top[i].similarity, 'best first');
  assert.ok(top[0].similarity > 0.7 && top[1].similarity < 0.4, `margin: ${top[0].similarity} vs ${top[1].similarity}`);
  assert.equal((await g.search(queries[0], 1000)).length, IDENTITIES, 'k above the gallery size is clamped');
  const s = await g.stats();
  assert.deepEqual([s.identities, s.faces, s.centers, s.indexed], [IDENTITIES, IDENTITIES * FACES_EACH, IDENTITIES, IDENTITIES]);
  await g.close();
});

test('close and reopen give exactly the same results', async () => {
  const { loc, queries } = await build();
  const g1 = await openGallery({ ...loc, modelId: 'm1', dim: DIM });
  const before = await Promise.all(queries.slice(0, 30).map((q) => g1.search(q, 5)));
  await g1.close();
  const g2 = await openGallery({ ...loc, modelId: 'm1', dim: DIM });
  assert.equal(g2.indexReport?.source, 'loaded');
  const after = await Promise.all(queries.slice(0, 30).map((q) => g2.search(q, 5)));
  assert.deepEqual(after, before);
  await g2.close();
});

test('deleted identities are never returned by search, before and after reopening', async () => {
  const { loc, ids, queries } = await build();
  const gone = new Set([ids[0], ids[50], ids[51], ids[199]]);
  const g = await openGallery({ ...loc, modelId: 'm1', dim: DIM });
  for (const id of gone) await g.deleteIdentity(id);
  const check = async (gal: Gallery): Promise<void> => {
    for (const q of queries) {
      const hits = await gal.search(q, 1000);
      assert.equal(hits.length, IDENTITIES - gone.size);
      assert.ok(hits.every((h) => !gone.has(h.identity.id)));
    }
    const r = await rank1(gal, queries);
    ids.forEach((id, i) => assert.equal(r[i], gone.has(id) ? r[i] : id));
  };
  await check(g);
  await g.close();
  const g2 = await openGallery({ ...loc, modelId: 'm1', dim: DIM });
  assert.equal(g2.indexReport?.source, 'loaded');
  await check(g2);
  // Re-enrolling the same person creates a new identity (new label); the deleted label stays dead.
  const again = await g2.createIdentity({ name: 'person 50 again' });
  await g2.addFaces(again.id, [face(queries[50], 'p50-new')]);
  assert.equal((await g2.search(queries[50], 1))[0].identity.id, again.id);
  await g2.close();
});
