// Reindex primitives: crop accounting, staged re-embedding, one-transaction switch, index rebuilt for the new model.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { centerFromEmbeddings } from './center-math.ts';
import { GalleryError } from './errors.ts';
import { openGallery, openGalleryStore } from './open.ts';
import { commitReindex, facesToReembed, reindex, reindexSummary, stageEmbeddings } from './reindex.ts';
import type { GalleryLocation } from './open.ts';
import { freshLocation } from './test-backend.ts';
import { face, noisy, randomUnit, rng } from './test-helpers.ts';

const OLD_DIM = 16;
const NEW_DIM = 8;

/** The "new model": a fixed function of the crop bytes, so every face of one person lands near one point. */
function newModelEmbed(crop: Buffer): Float32Array {
  const person = Number(/^jpeg:p(\d+)-/.exec(crop.toString())![1]);
  const r = rng(1000 + person);
  const center = randomUnit(NEW_DIM, r);
  return noisy(center, 0.3, rng(crop.length * 31 + crop[crop.length - 1]));
}

async function build(withoutCrop: number): Promise<{ loc: GalleryLocation; ids: string[] }> {
  const loc = await freshLocation();
  const rand = rng(8);
  const g = await openGallery({ ...loc, modelId: 'old', dim: OLD_DIM });
  const ids: string[] = [];
  for (let p = 0; p < 10; p++) {
    const c = randomUnit(OLD_DIM, rand);
    const id = (await g.createIdentity({ name: `p${p}` })).id;
    const faces = [0, 1, 2].map((j) => face(noisy(c, 0.3, rand), `p${p}-${j}`, Buffer.from(`jpeg:p${p}-${j}`)));
    if (p < withoutCrop) faces[0].crop = null;
    await g.addFaces(id, faces);
    ids.push(id);
  }
  await g.close();
  return { loc, ids };
}

test('faces without crops are counted, and the switch is refused until they are dropped explicitly', async () => {
  const { loc } = await build(2);
  const store = await openGalleryStore(loc);
  assert.deepEqual(await reindexSummary(store), { modelId: 'old', dim: OLD_DIM, faces: 30, facesWithoutCrop: 2 });
  const embed = async (crop: Buffer) => newModelEmbed(crop);
  await assert.rejects(reindex(store, { modelId: 'new', dim: NEW_DIM, embed }), (err) => {
    assert.ok(err instanceof GalleryError && err.code === 'crops_missing');
    assert.match(err.message, /2 of 30 faces/);
    return true;
  });
  const res = await reindex(store, { modelId: 'new', dim: NEW_DIM, embed, dropFacesWithoutCrop: true });
  assert.deepEqual([res.facesUpdated, res.facesDropped, res.centers], [28, 2, 10]);
  await store.close();
});

test('a staged reindex commits at once; reopening with the new model rebuilds the index and search works', async () => {
  const { loc, ids } = await build(0);
  const store = await openGalleryStore(loc);
  // Stage only part of the faces first: committing now must fail and change nothing.
  const batches = facesToReembed(store, 'new', 4);
  const next = await batches.next();
  assert.ok(!next.done);
  const first = next.value;
  await stageEmbeddings(store, 'new', NEW_DIM, first.map(({ face: f, crop }) => ({ faceId: f.id, embedding: newModelEmbed(crop) })));
  await assert.rejects(commitReindex(store, { modelId: 'new', dim: NEW_DIM }), (err) =>
    err instanceof GalleryError && err.code === 'reindex_incomplete' && /26 of 30/.test(err.message));
  assert.equal((await reindexSummary(store)).modelId, 'old');
  await assert.rejects(stageEmbeddings(store, 'new', NEW_DIM, [{ faceId: first[0].face.id, embedding: new Float32Array(3) }]),
    (err) => err instanceof GalleryError && err.code === 'dimension_mismatch');

  // Resuming embeds only the 26 faces not staged yet.
  let embedded = 0;
  const res = await reindex(store, { modelId: 'new', dim: NEW_DIM, batchSize: 7, embed: async (crop) => (embedded++, newModelEmbed(crop)) });
  assert.equal(embedded, 26);
  assert.equal(res.facesUpdated, 30);
  await store.close();

  await assert.rejects(openGallery({ ...loc, modelId: 'old', dim: OLD_DIM }),
    (err) => err instanceof GalleryError && err.code === 'model_mismatch');
  const g = await openGallery({ ...loc, modelId: 'new', dim: NEW_DIM });
  assert.equal(g.indexReport?.source, 'rebuilt');
  for (let p = 0; p < 10; p++) {
    const faces = await g.listFaces(ids[p]);
    assert.ok(faces.every((f) => f.modelId === 'new'));
    const c = (await g.centerOf(ids[p]))!;
    const want = centerFromEmbeddings([0, 1, 2].map((j) => newModelEmbed(Buffer.from(`jpeg:p${p}-${j}`))))!;
    assert.deepEqual(c.center, want.center);
    const query = newModelEmbed(Buffer.from(`jpeg:p${p}-query`));
    assert.equal((await g.search(query, 1))[0].identity.id, ids[p]);
  }
  await g.close();
});
