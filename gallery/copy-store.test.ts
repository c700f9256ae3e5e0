// copyGallery: SQLite -> PostgreSQL -> SQLite keeps ids, timestamps, embeddings, crops and exact centers; a
// non-empty target is refused. Real SQLite files and a throwaway PostgreSQL.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { copyGallery } from './copy-store.ts';
import { GalleryError } from './errors.ts';
import type { Gallery } from './gallery.ts';
import { openGallery, openGalleryStore, type GalleryLocation } from './open.ts';
import { testPgOrSkip } from './pg-test-server.ts';
import { face, noisy, randomUnit, rng, tempDir } from './test-helpers.ts';

const DIM = 16;
const server = await testPgOrSkip();
if (server.pg) after(() => server.pg.stop());

/** Everything a client can see of a gallery, in a comparable form. */
async function view(g: Gallery): Promise<unknown[]> {
  const out = [];
  for (const ident of (await g.listIdentities({ limit: 1000 })).items) {
    const snap = await g.snapshotIdentity(ident.id);
    const c = await g.centerOf(ident.id);
    out.push({ snap: { ...snap, faces: snap.faces.map((f) => ({ ...f, embedding: [...f.embedding] })) }, center: c && { count: c.count, center: [...c.center] } });
  }
  return out;
}

async function copy(from: GalleryLocation, to: GalleryLocation) {
  const [a, b] = [await openGalleryStore(from), await openGalleryStore(to)];
  try {
    return await copyGallery(a, b);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
}

test('a SQLite gallery copied to PostgreSQL and back is the same gallery; a non-empty target is refused', { skip: server.skip }, async () => {
  const sqlite = { dataDir: tempDir() };
  const g = await openGallery({ ...sqlite, modelId: 'm1', dim: DIM });
  const rand = rng(7);
  for (let i = 0; i < 25; i++) {
    const c = randomUnit(DIM, rand);
    const id = (await g.createIdentity({ name: `p${i}`, externalId: i % 3 === 0 ? `ext${i}` : null, metadata: i % 2 ? { z: 1, a: [i] } : null })).id;
    if (i % 5 !== 4) await g.addFaces(id, [face(noisy(c, 0.3, rand), `${i}a`), face(noisy(c, 0.3, rand), `${i}b`, i % 4 === 0 ? null : undefined)]);
    if (i === 6) await g.updateIdentity(id, { name: 'renamed' });
  }
  const before = await view(g);
  await g.close();

  const pgLoc = { dataDir: tempDir(), databaseUrl: await server.pg!.newDatabase() };
  const r1 = await copy(sqlite, pgLoc);
  assert.deepEqual(r1.target, r1.source);
  assert.deepEqual(r1.source, { identities: 25, faces: 40, facesWithoutCrop: 5, centers: 20 });
  const onPg = await openGallery({ ...pgLoc, modelId: 'm1', dim: DIM });
  assert.deepEqual(await view(onPg), before);
  assert.equal(onPg.indexReport?.source, 'rebuilt');
  await onPg.close();

  const back = { dataDir: tempDir() };
  await copy(pgLoc, back);
  const again = await openGallery({ ...back, modelId: 'm1', dim: DIM });
  assert.deepEqual(await view(again), before);
  await again.close();

  await assert.rejects(copy(sqlite, back), (err) => err instanceof GalleryError && /not empty \(25 identities, 40 faces\)/.test(err.message));
});
