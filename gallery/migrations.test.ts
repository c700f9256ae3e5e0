// Migration ordering rules, and a database newer than the code is refused rather than misread.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { GalleryError } from './errors.ts';
import { loadMigrations, pendingMigrations } from './migrations.ts';
import { GALLERY_DB_FILE, openGallery, openGalleryStore } from './open.ts';
import { tempDir } from './test-helpers.ts';

test('the shipped migrations are numbered from 001 without gaps', () => {
  const all = loadMigrations();
  assert.deepEqual(all.map((m) => m.version), all.map((_, i) => i + 1));
  assert.equal(all[0].name, 'init');
  assert.deepEqual(pendingMigrations(all, 1).map((m) => m.version), all.slice(1).map((m) => m.version));
});

test('gaps and badly named files are refused', () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, '001_a.sql'), 'SELECT 1;');
  fs.writeFileSync(path.join(dir, '003_c.sql'), 'SELECT 1;');
  assert.throws(() => loadMigrations(dir), /without gaps/);
  fs.rmSync(path.join(dir, '003_c.sql'));
  fs.writeFileSync(path.join(dir, '2_b.sql'), 'SELECT 1;');
  assert.throws(() => loadMigrations(dir), /NNN_lower_snake/);
});

test('a database written by a newer version is refused with schema_too_new', async () => {
  const dir = tempDir();
  await (await openGallery({ dataDir: dir, modelId: 'm', dim: 4 })).close();
  // Pretend a newer release migrated it: user_version lives at byte 60 of the header (the WAL is empty after close).
  const file = path.join(dir, GALLERY_DB_FILE);
  const buf = fs.readFileSync(file);
  buf.writeUInt32BE(99, 60);
  fs.writeFileSync(file, buf);
  await assert.rejects(openGalleryStore({ dataDir: dir }), (err) => err instanceof GalleryError && err.code === 'schema_too_new' && /99/.test(err.message));
});
