// Erasure: after deleting an identity or a face, no file of the data directory holds its embedding, crop or center.
//
// The scan looks for the deleted values as raw bytes (float32 LE, and the crop's bytes) in every file: SQLite
// (with its -wal and -shm), the HNSW index and its marker. It runs twice: while the gallery is still open (what a
// crash would leave behind, WAL included) and after a clean close. The kept identities' bytes must still be
// found, so a scan that finds nothing because it reads the wrong thing fails too.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { l2Normalize } from './center-math.ts';
import type { Gallery } from './gallery.ts';
import { openGallery } from './open.ts';
import { face, gaussian, rng, tempDir } from './test-helpers.ts';

const DIM = 128;
const CHUNK = 32; // bytes: 8 float32 values, or 32 bytes of a random crop; no chance of a coincidental match

const rand = rng(2024);
const embedding = () => l2Normalize(Array.from({ length: DIM }, () => gaussian(rand)));
// 12 KB of random bytes: like a real JPEG crop, larger than a SQLite page, so it spills into overflow pages.
const crop = () => Buffer.from(Array.from({ length: 12 * 1024 }, () => Math.floor(rand() * 256)));

/** Every file under dir, read whole. */
function readAll(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.set(path.relative(dir, path.join(e.parentPath, e.name)), fs.readFileSync(path.join(e.parentPath, e.name)));
  }
  return out;
}

/** A value to look for: raw bytes (a crop), or float32 values (embeddings, centers) matched within EPS. */
type Pattern = Buffer | Float32Array;
// The index stores centers re-normalised by hnswlib in float32, which may move a value by an ulp or so.
const EPS = 1e-6;
const FLOATS = CHUNK / 4;

/** The file's bytes as float32 LE at each of the 4 byte alignments (the index header is not 4-byte aligned). */
function floatViews(bytes: Buffer): Float32Array[] {
  return [0, 1, 2, 3].map((a) => {
    const n = Math.max(0, Math.floor((bytes.length - a) / 4));
    const copy = new Uint8Array(n * 4);
    copy.set(bytes.subarray(a, a + n * 4));
    return new Float32Array(copy.buffer);
  });
}

function hasFloats(views: Float32Array[], w: Float32Array): boolean {
  for (const f of views) {
    for (let j = 0; j + w.length <= f.length; j++) {
      if (Math.abs(f[j] - w[0]) > EPS) continue;
      let k = 1;
      while (k < w.length && Math.abs(f[j + k] - w[k]) <= EPS) k++;
      if (k === w.length) return true;
    }
  }
  return false;
}

/** How many of the pattern's CHUNK-byte pieces (8 floats for vectors) occur in some file, and where. */
function piecesFound(files: Map<string, Buffer>, pattern: Pattern): { found: number; of: number; where: Set<string> } {
  let found = 0;
  const where = new Set<string>();
  const isBytes = Buffer.isBuffer(pattern);
  const of = isBytes ? Math.floor(pattern.length / CHUNK) : Math.floor(pattern.length / FLOATS);
  for (let i = 0; i < of; i++) {
    const hit = [...files].filter(([, bytes]) => isBytes
      ? bytes.includes(pattern.subarray(i * CHUNK, (i + 1) * CHUNK))
      : hasFloats(viewsOf(bytes), pattern.subarray(i * FLOATS, (i + 1) * FLOATS))).map(([name]) => name);
    if (hit.length > 0) found++;
    hit.forEach((h) => where.add(h));
  }
  return { found, of, where };
}

const views = new WeakMap<Buffer, Float32Array[]>();
function viewsOf(bytes: Buffer): Float32Array[] {
  let v = views.get(bytes);
  if (!v) views.set(bytes, (v = floatViews(bytes)));
  return v;
}

type Patterns = Record<string, Pattern>;

function assertGone(dir: string, gone: Patterns, kept: Patterns, when: string): void {
  const files = readAll(dir);
  assert.ok(files.has('gallery.sqlite') && files.has('centers.hnsw'), `${when}: files ${[...files.keys()].join(', ')}`);
  for (const [name, pattern] of Object.entries(gone)) {
    const r = piecesFound(files, pattern);
    assert.equal(r.found, 0, `${when}: ${r.found}/${r.of} pieces of ${name} still in ${[...r.where].join(', ')}`);
  }
  for (const [name, pattern] of Object.entries(kept)) {
    const r = piecesFound(files, pattern);
    // Overflow pages interrupt a long BLOB with page headers, so not every piece of a crop is contiguous.
    assert.ok(r.found >= r.of / 2, `${when}: only ${r.found}/${r.of} pieces of kept ${name} found: the scan is not meaningful`);
  }
}

async function centerOf(g: Gallery, id: string): Promise<Float32Array> {
  const c = await g.centerOf(id);
  assert.ok(c, `identity ${id} has a center`);
  return c.center;
}

test('a deleted identity and a deleted face leave no embedding, crop or center bytes in the data directory', async () => {
  const dir = tempDir('irface-erasure-');
  // No automatic saves: the test decides when the index file is written.
  const g = await openGallery({ dataDir: dir, modelId: 'm1', dim: DIM, savePolicy: { afterChanges: 0, intervalMs: 0 } });
  const v = { a1: embedding(), a2: embedding(), b1: embedding(), b2: embedding(), c1: embedding() };
  const c = { a1: crop(), a2: crop(), b1: crop(), b2: crop(), c1: crop() };
  const a = await g.createIdentity({ name: 'to be deleted' });
  const b = await g.createIdentity({ name: 'loses one face' });
  const k = await g.createIdentity({ name: 'kept' });
  await g.addFaces(a.id, [face(v.a1, 'a1', c.a1), face(v.a2, 'a2', c.a2)]);
  const added = await g.addFaces(b.id, [face(v.b1, 'b1', c.b1), face(v.b2, 'b2', c.b2)]);
  await g.addFaces(k.id, [face(v.c1, 'c1', c.c1)]);
  const b2 = added.results[1];
  assert.equal(b2.status, 'added');
  const centerA = await centerOf(g, a.id);
  const centerBOld = await centerOf(g, b.id);
  await g.save();

  // Before: every value is on disk (the index holds the centers), so finding none later means they were erased.
  const before = readAll(dir);
  for (const [name, pattern] of Object.entries<Pattern>({ ...c, ...v, centerA, centerBOld })) {
    const r = piecesFound(before, pattern);
    assert.ok(r.found >= r.of / 2, `before deletion ${name} is on disk (${r.found}/${r.of} pieces)`);
  }
  const index = new Map([['centers.hnsw', before.get('centers.hnsw')!]]);
  assert.equal(piecesFound(index, centerA).found, DIM / FLOATS, 'the index file holds A\'s center');

  await g.deleteIdentity(a.id);
  await g.deleteFace(b.id, b2.status === 'added' ? b2.face.id : '');
  await g.save();
  const gone = {
    'A face 1 embedding': v.a1, 'A face 2 embedding': v.a2, 'A face 1 crop': c.a1, 'A face 2 crop': c.a2,
    'A center': centerA, 'B face 2 embedding': v.b2, 'B face 2 crop': c.b2, 'B center before the deletion': centerBOld,
  };
  const kept = {
    'B face 1 embedding': v.b1, 'B face 1 crop': c.b1, 'B center': await centerOf(g, b.id),
    'kept embedding': v.c1, 'kept crop': c.c1, 'kept center': await centerOf(g, k.id),
  };
  // While open: what a crash at this moment would leave, the WAL included.
  assertGone(dir, gone, kept, 'gallery open');

  await g.close();
  assertGone(dir, gone, kept, 'gallery closed');

  // The gallery still works on the erased files.
  const again = await openGallery({ dataDir: dir, modelId: 'm1', dim: DIM });
  try {
    assert.equal(again.indexReport?.source, 'loaded');
    assert.equal((await again.search(v.b1, 3))[0].identity.id, b.id);
    assert.equal((await again.search(v.c1, 3))[0].identity.id, k.id);
    assert.ok((await again.search(v.a1, 3)).every((h) => h.identity.id !== a.id), 'the deleted identity is never found');
    assert.equal((await again.getIdentity(b.id)).faceCount, 1);
  } finally {
    await again.close();
  }
});
