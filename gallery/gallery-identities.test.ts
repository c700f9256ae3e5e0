// Identity CRUD through the real gallery (SQLite, and PostgreSQL under pg-suite.test.ts) + HNSW: create, paginate, patch, delete, external ids, errors.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { GalleryError } from './errors.ts';
import type { Gallery } from './gallery.ts';
import { GALLERY_DB_FILE, openGallery } from './open.ts';
import { freshLocation, testBackend } from './test-backend.ts';
import { face, randomUnit, rng } from './test-helpers.ts';

const DIM = 8;

async function fresh(): Promise<{ g: Gallery; dir: string }> {
  const loc = await freshLocation();
  return { g: await openGallery({ ...loc, modelId: 'm1', dim: DIM }), dir: loc.dataDir };
}

function rejectsWith(code: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof GalleryError, `expected GalleryError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  };
}

test('the database is set up: WAL, migrations recorded in user_version', { skip: testBackend() !== 'sqlite' && 'SQLite file header' }, async () => {
  const { g, dir } = await fresh();
  await g.close();
  // Read from the SQLite file header, so that better-sqlite3 stays imported by sqlite-store.ts alone.
  const header = fs.readFileSync(path.join(dir, GALLERY_DB_FILE)).subarray(0, 100);
  assert.equal(header.toString('latin1', 0, 15), 'SQLite format 3');
  assert.equal(header[18], 2, 'file format write version 2 = WAL');
  assert.equal(header.readUInt32BE(60), 2, 'user_version = number of the last migration');
});

test('create, get, get by external id, patch and delete an identity', async () => {
  const { g } = await fresh();
  const a = await g.createIdentity({ name: '  Ada  ', externalId: 'emp-1', metadata: { team: 'x' } });
  assert.equal(a.name, 'Ada');
  assert.equal(a.faceCount, 0);
  assert.deepEqual(await g.getIdentity(a.id), a);
  assert.deepEqual(await g.getIdentityByExternalId('emp-1'), a);

  const p = await g.updateIdentity(a.id, { name: 'Ada L.', metadata: null });
  assert.equal(p.name, 'Ada L.');
  assert.equal(p.externalId, 'emp-1'); // untouched when not in the patch
  assert.equal(p.metadata, null);
  assert.ok(p.updatedAt >= a.updatedAt);
  const cleared = await g.updateIdentity(a.id, { externalId: null });
  assert.equal(cleared.externalId, null);

  await g.addFaces(a.id, [face(randomUnit(DIM, rng(1)), 'img-a')]);
  await g.deleteIdentity(a.id);
  await assert.rejects(g.getIdentity(a.id), rejectsWith('identity_not_found'));
  await assert.rejects(g.deleteIdentity(a.id), rejectsWith('identity_not_found'));
  const s = await g.stats();
  assert.deepEqual([s.identities, s.faces, s.centers, s.indexed], [0, 0, 0, 0]); // faces and center cascade
  await g.close();
});

test('external id collisions are a typed error naming the holder, on create and on patch', async () => {
  const { g } = await fresh();
  const a = await g.createIdentity({ name: 'A', externalId: 'ext-1' });
  const b = await g.createIdentity({ name: 'B' });
  await assert.rejects(g.createIdentity({ name: 'C', externalId: 'ext-1' }), (err) => {
    rejectsWith('external_id_conflict')(err);
    assert.equal((err as GalleryError).details?.identityId, a.id);
    return true;
  });
  await assert.rejects(g.updateIdentity(b.id, { externalId: 'ext-1' }), rejectsWith('external_id_conflict'));
  assert.equal((await g.updateIdentity(a.id, { externalId: 'ext-1' })).externalId, 'ext-1'); // own id is fine
  await assert.rejects(g.getIdentityByExternalId('nope'), rejectsWith('identity_not_found'));
  assert.equal((await g.stats()).identities, 2);
  await g.close();
});

test('invalid input is rejected with invalid_argument / invalid_cursor', async () => {
  const { g } = await fresh();
  await assert.rejects(g.createIdentity({ name: '   ' }), rejectsWith('invalid_argument'));
  await assert.rejects(g.createIdentity({ name: 'x', metadata: [1] as never }), rejectsWith('invalid_argument'));
  await assert.rejects(g.createIdentity({ name: 'x', externalId: '' }), rejectsWith('invalid_argument'));
  await assert.rejects(g.listIdentities({ limit: 0 }), rejectsWith('invalid_argument'));
  await assert.rejects(g.listIdentities({ cursor: 'garbage' }), rejectsWith('invalid_cursor'));
  await g.close();
  await assert.rejects(g.listIdentities(), rejectsWith('gallery_closed'));
});

test('pagination walks every identity once, in a stable order, across inserts and deletes', async () => {
  const { g } = await fresh();
  const created = [];
  for (let i = 0; i < 23; i++) created.push(await g.createIdentity({ name: `p${i}` }));
  const seen: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page = await g.listIdentities({ limit: 5, cursor });
    seen.push(...page.items.map((x) => x.id));
    cursor = page.nextCursor;
    pages++;
    if (pages === 2) {
      await g.deleteIdentity(created[2].id); // already returned: must not shift later pages
      created.push(await g.createIdentity({ name: 'late' })); // appended after everything: must show up
    }
  } while (cursor);
  assert.equal(pages, 5);
  assert.equal(new Set(seen).size, seen.length, 'no duplicates');
  assert.deepEqual(seen, created.map((x) => x.id), 'no omissions, creation order');
  const exact = await g.listIdentities({ limit: 23 }); // 23 live identities, exactly one page
  assert.equal(exact.items.length, 23);
  assert.equal(exact.nextCursor, null);
  await g.close();
});

test('identities without faces have no center; the data dir holds the database and the index', async () => {
  const { g, dir } = await fresh();
  const a = await g.createIdentity({ name: 'A' });
  assert.equal(await g.centerOf(a.id), null);
  await g.close();
  assert.equal(fs.existsSync(path.join(dir, GALLERY_DB_FILE)), testBackend() === 'sqlite');
  assert.ok(fs.existsSync(path.join(dir, 'centers.hnsw')));
  assert.ok(fs.existsSync(path.join(dir, 'centers.hnsw.json')));
});
