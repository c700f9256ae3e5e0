// Face enrolment and deletion through the real gallery: per-face results, duplicates, exact center recomputation.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { centerFromEmbeddings, cosine, l2Norm } from './center-math.ts';
import { GalleryError } from './errors.ts';
import { openGallery } from './open.ts';
import { freshLocation } from './test-backend.ts';
import { face, noisy, randomUnit, rng } from './test-helpers.ts';

const DIM = 16;

function code(c: string): (err: unknown) => boolean {
  return (err) => err instanceof GalleryError && err.code === c;
}

test('addFaces stores faces, reports duplicates and bad faces per face, keeps one unit center', async () => {
  const g = await openGallery({ ...(await freshLocation()), modelId: 'm1', dim: DIM });
  const rand = rng(3);
  const base = randomUnit(DIM, rand);
  const id = (await g.createIdentity({ name: 'A' })).id;
  const e = [noisy(base, 0.3, rand, 5), noisy(base, 0.3, rand, 0.2), noisy(base, 0.3, rand)];

  const r1 = await g.addFaces(id, [face(e[0], 'img0'), face(e[1], 'img1', null)]);
  assert.deepEqual(r1.results.map((r) => r.status), ['added', 'added']);
  assert.equal(r1.identity.faceCount, 2);

  const r2 = await g.addFaces(id, [
    face(e[0], 'img0'), // already enrolled for this identity
    face(e[2], 'img2'),
    face(e[2], 'img2'), // repeated within the same call
    face(new Float32Array(DIM + 1).fill(1), 'img3'), // wrong dimension: rejected, the others still go in
    face(new Float32Array(DIM), 'img4'), // zero vector
  ]);
  assert.deepEqual(r2.results.map((r) => r.status), ['duplicate_image', 'added', 'duplicate_image', 'rejected', 'rejected']);
  const [dup, , dup2, bad, zero] = r2.results;
  assert.ok(dup.status === 'duplicate_image' && r1.results[0].status === 'added');
  assert.equal(dup.existingFaceId, r1.results[0].face.id);
  assert.ok(dup2.status === 'duplicate_image' && r2.results[1].status === 'added');
  assert.equal(dup2.existingFaceId, r2.results[1].face.id);
  assert.ok(bad.status === 'rejected' && bad.code === 'dimension_mismatch', JSON.stringify(bad));
  assert.match(bad.message, /17 values.*"m1" produces 16/);
  assert.ok(zero.status === 'rejected' && zero.code === 'invalid_embedding');
  assert.equal(r2.identity.faceCount, 3);

  const faces = await g.listFaces(id);
  assert.equal(faces.length, 3);
  assert.deepEqual(faces.map((f) => f.hasCrop), [true, false, true]);
  assert.equal(faces[0].modelId, 'm1');
  assert.deepEqual(faces[0].box, { x: 10, y: 20, width: 100, height: 120 });
  assert.deepEqual(await g.getFace(id, faces[0].id), faces[0]);
  assert.deepEqual(await g.getFaceCrop(id, faces[0].id), Buffer.from('jpeg:img0'));
  assert.equal(await g.getFaceCrop(id, faces[1].id), null);

  const c = (await g.centerOf(id))!;
  assert.equal(c.count, 3);
  assert.ok(Math.abs(l2Norm(c.center) - 1) < 1e-6);
  // Equal weight whatever the raw norm; incremental adds go through a float32 sum, hence the tolerance.
  const exact = centerFromEmbeddings(e)!.center;
  c.center.forEach((x, i) => assert.ok(Math.abs(x - exact[i]) < 1e-6, `center[${i}]`));
  const s = await g.stats();
  assert.deepEqual([s.faces, s.facesWithoutCrop, s.centers, s.indexed], [3, 1, 1, 1]);
  await g.close();
});

test('deleting a face recomputes the center exactly; the last face takes the identity out of search', async () => {
  const g = await openGallery({ ...(await freshLocation()), modelId: 'm1', dim: DIM });
  const rand = rng(4);
  const base = randomUnit(DIM, rand);
  const id = (await g.createIdentity({ name: 'A' })).id;
  const embs: Array<Float32Array | null> = Array.from({ length: 6 }, () => noisy(base, 0.5, rand, 1 + rand() * 3));
  const added = await g.addFaces(id, embs.map((e, i) => face(e!, `img${i}`)));
  const faceIds = added.results.map((r) => (r.status === 'added' ? r.face.id : ''));

  for (const k of [4, 0, 2, 1, 5]) {
    const after = await g.deleteFace(id, faceIds[k]);
    embs[k] = null;
    const remaining = embs.filter((e): e is Float32Array => e !== null);
    const got = (await g.centerOf(id))!;
    assert.equal(got.count, remaining.length);
    assert.equal(after.faceCount, remaining.length);
    assert.deepEqual(got.center, centerFromEmbeddings(remaining)!.center, 'bit-identical to a recomputation from scratch');
    const hit = (await g.search(remaining[0], 1))[0];
    assert.equal(hit.identity.id, id);
    assert.ok(Math.abs(hit.similarity - cosine(remaining[0], got.center)) < 1e-5);
  }
  const last = await g.deleteFace(id, faceIds[3]);
  assert.equal(last.faceCount, 0);
  assert.equal(await g.centerOf(id), null);
  assert.deepEqual(await g.search(base, 5), []);
  assert.equal((await g.getIdentity(id)).name, 'A'); // the identity itself remains
  assert.equal((await g.stats()).indexed, 0);
  await g.close();
});

test('faces are addressed through their identity; unknown ones are typed errors', async () => {
  const g = await openGallery({ ...(await freshLocation()), modelId: 'm1', dim: DIM });
  const rand = rng(5);
  const a = (await g.createIdentity({ name: 'A' })).id;
  const b = (await g.createIdentity({ name: 'B' })).id;
  const r = (await g.addFaces(a, [face(randomUnit(DIM, rand), 'x')])).results[0];
  assert.ok(r.status === 'added');
  await assert.rejects(g.deleteFace(b, r.face.id), code('face_not_found')); // another identity's face
  await assert.rejects(g.deleteFace(a, 'no-such-face'), code('face_not_found'));
  await assert.rejects(g.addFaces('no-such-id', [face(randomUnit(DIM, rand), 'y')]), code('identity_not_found'));
  await assert.rejects(g.addFaces(a, []), code('invalid_argument'));
  // The same image may be enrolled for two identities (a photo with two people in it).
  assert.equal((await g.addFaces(b, [face(randomUnit(DIM, rand), 'x')])).results[0].status, 'added');
  await g.close();
});

test('searches with a wrong dimension or bad k are rejected', async () => {
  const g = await openGallery({ ...(await freshLocation()), modelId: 'm1', dim: DIM });
  await assert.rejects(g.search(new Float32Array(DIM - 1).fill(1), 1), code('dimension_mismatch'));
  await assert.rejects(g.search(Array.from({ length: DIM }, () => 1) as never, 1), code('invalid_embedding'));
  await assert.rejects(g.search(new Float32Array(DIM).fill(1), 0), code('invalid_argument'));
  assert.deepEqual(await g.search(new Float32Array(DIM).fill(1), 3), []); // empty gallery
  await g.close();
});

test('concurrent writes and searches stay consistent (writes are serialised; the index follows each commit)', async () => {
  const loc = await freshLocation();
  const g = await openGallery({ ...loc, modelId: 'm1', dim: DIM });
  const rand = rng(6);
  const bases = Array.from({ length: 8 }, () => randomUnit(DIM, rand));
  const ids = await Promise.all(bases.map((_, i) => g.createIdentity({ name: `c${i}` }).then((x) => x.id)));
  const embs = bases.map((b) => Array.from({ length: 5 }, () => noisy(b, 0.4, rand)));
  await Promise.all(ids.flatMap((id, i) => [
    ...embs[i].map((e, j) => g.addFaces(id, [face(e, `${i}-${j}`)])), // five one-face calls per identity, interleaved
    g.search(bases[i], 3),
  ]));
  for (let i = 0; i < ids.length; i++) {
    const c = (await g.centerOf(ids[i]))!;
    assert.equal(c.count, 5);
    const exact = centerFromEmbeddings(embs[i])!.center;
    c.center.forEach((x, k) => assert.ok(Math.abs(x - exact[k]) < 1e-6));
    assert.equal((await g.search(bases[i], 1))[0].identity.id, ids[i]);
  }
  await g.close();
  const g2 = await openGallery({ ...loc, modelId: 'm1', dim: DIM });
  assert.equal(g2.indexReport?.source, 'loaded');
  assert.equal((await g2.stats()).indexed, 8);
  await g2.close();
});
