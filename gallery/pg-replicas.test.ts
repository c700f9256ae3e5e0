// Several gallery replicas on one PostgreSQL database, in one process: each with its own data directory and
// HNSW index, kept in step by the change log. Real PostgreSQL, real indexes; the HTTP-level version of these
// checks (separate server processes) is server/http/replicas.test.ts.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, afterEach, test } from 'node:test';
import { centerFromEmbeddings } from './center-math.ts';
import type { Gallery } from './gallery.ts';
import { INDEX_FILE, openGallery, openGalleryStore } from './open.ts';
import { loadMigrations } from './migrations.ts';
import { PG_MIGRATIONS_DIR, PgStore } from './pg-store.ts';
import { testPgOrSkip } from './pg-test-server.ts';
import { face, noisy, randomUnit, rng, tempDir } from './test-helpers.ts';

const DIM = 32;
const PROMISE_MS = 1000; // a write acknowledged by one replica is reflected by the others within this

const server = await testPgOrSkip();
const pg = server.pg;
if (pg) after(() => pg.stop());
const skip = server.skip;

// Closed after each test even when it fails: an open pool or listener would keep the test process alive.
const opened: Gallery[] = [];
afterEach(async () => {
  await Promise.allSettled(opened.splice(0).map((g) => g.close()));
});

async function open(databaseUrl: string, dataDir = tempDir()): Promise<Gallery> {
  const g = await openGallery({ dataDir, databaseUrl, modelId: 'm1', dim: DIM, savePolicy: { afterChanges: 0, intervalMs: 0 } });
  opened.push(g);
  return g;
}

/** Polls until check() holds; returns the milliseconds it took, or fails after `ms`. */
async function within(ms: number, what: string, check: () => Promise<boolean>): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (await check()) return performance.now() - t0;
    if (performance.now() - t0 > ms) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const top = async (g: Gallery, q: Float32Array) => (await g.search(q, 1))[0]?.identity.id;

test('an enrolment on A is found on B within 1 s; a deletion on B is gone from A within 1 s', { skip }, async () => {
  const url = await pg!.newDatabase();
  const [a, b] = await Promise.all([open(url), open(url)]); // two replicas starting together: migrations run once
  const rand = rng(1);
  const delays: number[] = [];
  const people: Array<{ id: string; q: Float32Array }> = [];
  for (let i = 0; i < 10; i++) {
    const c = randomUnit(DIM, rand);
    const id = (await a.createIdentity({ name: `p${i}` })).id;
    await a.addFaces(id, [face(noisy(c, 0.3, rand), `p${i}`)]);
    const q = noisy(c, 0.3, rand);
    delays.push(await within(PROMISE_MS, `enrolment ${i} on A seen by B`, async () => (await top(b, q)) === id));
    people.push({ id, q });
  }
  await b.deleteIdentity(people[3].id);
  await within(PROMISE_MS, 'deletion on B seen by A', async () => (await top(a, people[3].q)) !== people[3].id);
  for (const p of people) assert.ok((await a.search(p.q, 20)).every((h) => h.identity.id !== people[3].id), 'never returned again');
  assert.equal((await a.stats()).indexed, 9);
  assert.equal((await b.stats()).indexed, 9);
  await Promise.all([a.close(), b.close()]);
  process.stderr.write(`# A->B delays (ms): ${delays.map((d) => d.toFixed(0)).join(' ')}\n`);
});

test('concurrent enrolment into one identity on two replicas ends with the exact center of all faces', { skip }, async () => {
  const url = await pg!.newDatabase();
  const a = await open(url);
  const b = await open(url);
  const rand = rng(2);
  const base = randomUnit(DIM, rand);
  const id = (await a.createIdentity({ name: 'shared' })).id;
  const embs = Array.from({ length: 40 }, () => noisy(base, 0.5, rand, 0.5 + rand()));
  // 20 one-face requests on each replica, all in flight at once: every transaction reads and rewrites the center.
  const results = await Promise.all(embs.map((e, i) => (i % 2 === 0 ? a : b).addFaces(id, [face(e, `img${i}`)])));
  assert.ok(results.every((r) => r.results[0].status === 'added'));
  const c = (await a.centerOf(id))!;
  assert.equal(c.count, 40, 'no lost update');
  const exact = centerFromEmbeddings(embs)!.center;
  c.center.forEach((x, k) => assert.ok(Math.abs(x - exact[k]) < 1e-5, `center[${k}] ${x} vs ${exact[k]}`));
  assert.equal((await b.getIdentity(id)).faceCount, 40);
  // Both indexes end up with that center.
  for (const g of [a, b]) {
    await within(PROMISE_MS, 'index holds the final center', async () => {
      const hit = (await g.search(exact, 1))[0];
      return hit?.identity.id === id && hit.similarity > 1 - 1e-5;
    });
  }
  await Promise.all([a.close(), b.close()]);
});

test('a stopped replica restarts from its saved index and applies only the newer log entries', { skip }, async () => {
  const url = await pg!.newDatabase();
  const a = await open(url);
  const bDir = tempDir();
  let b = await open(url, bDir);
  const rand = rng(3);
  const ids: string[] = [];
  const qs: Float32Array[] = [];
  for (let i = 0; i < 20; i++) {
    const c = randomUnit(DIM, rand);
    ids.push((await a.createIdentity({ name: `p${i}` })).id);
    await a.addFaces(ids[i], [face(noisy(c, 0.3, rand), `p${i}`)]);
    qs.push(noisy(c, 0.3, rand));
  }
  await within(PROMISE_MS, 'B caught up', async () => (await b.stats()).indexed === 20);
  await b.close(); // saves its index with the last applied sequence
  const marker = JSON.parse(fs.readFileSync(path.join(bDir, `${INDEX_FILE}.json`), 'utf8'));
  assert.equal(typeof marker.logSeq, 'number');
  // While B is down: one new identity, one deleted, one with another face.
  const c = randomUnit(DIM, rand);
  const late = (await a.createIdentity({ name: 'late' })).id;
  await a.addFaces(late, [face(noisy(c, 0.3, rand), 'late')]);
  await a.deleteIdentity(ids[5]);
  await a.addFaces(ids[7], [face(noisy(randomUnit(DIM, rand), 0.1, rand), 'p7-b')]);
  b = await open(url, bDir);
  assert.equal(b.indexReport?.source, 'loaded', JSON.stringify(b.indexReport));
  assert.equal(b.indexReport?.replayed, 3, 'only the 3 centers changed while it was down');
  assert.equal(await top(b, noisy(c, 0.3, rand)), late);
  assert.ok((await b.search(qs[5], 25)).every((h) => h.identity.id !== ids[5]));
  assert.equal((await b.stats()).indexed, 20);
  const exact7 = (await a.centerOf(ids[7]))!.center;
  assert.ok((await b.search(exact7, 1))[0].similarity > 1 - 1e-5, 'the updated center, not the saved one');
  await Promise.all([a.close(), b.close()]);
});

test('a replica whose PostgreSQL connections are cut catches up once they are back', { skip }, async () => {
  const url = await pg!.newDatabase();
  const a = await open(url);
  const b = await open(url);
  const rand = rng(4);
  const dbName = new URL(url).pathname.slice(1);
  const killed = await pg!.query<{ n: number }>(
    'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [dbName]);
  assert.ok(killed[0].n >= 2, `terminated ${killed[0].n} connections (both listeners at least)`);
  // Written while B's listener is reconnecting: its notification is lost, the log is not.
  const c = randomUnit(DIM, rand);
  const id = (await a.createIdentity({ name: 'during-outage' })).id;
  await a.addFaces(id, [face(noisy(c, 0.3, rand), 'x')]);
  await within(2 * PROMISE_MS, 'B caught up after reconnecting', async () => (await top(b, noisy(c, 0.3, rand))) === id);
  await Promise.all([a.close(), b.close()]);
});

test('erasure on PostgreSQL: a deleted identity leaves no row, embedding or crop in any table', { skip }, async () => {
  const url = await pg!.newDatabase();
  const g = await open(url);
  const rand = rng(5);
  const emb = randomUnit(DIM, rand);
  const crop = Buffer.from(`secret-crop-${rand()}`);
  const id = (await g.createIdentity({ name: 'to-erase', externalId: 'erase-me', metadata: { note: 'private' } })).id;
  await g.addFaces(id, [{ ...face(emb, 'e1'), crop }]);
  await g.deleteIdentity(id);
  await g.close();
  const store = await openGalleryStore({ dataDir: tempDir(), databaseUrl: url });
  await store.close();
  const c = await import('pg');
  const client = new c.default.Client({ connectionString: url });
  await client.connect();
  try {
    const tables = (await client.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`)).rows.map((r) => r.tablename as string);
    const embHex = Buffer.from(emb.buffer).toString('hex').slice(0, 64);
    for (const t of tables) {
      // Every row of every table as text: neither the name, the external id, the embedding nor the crop remain.
      const dump = (await client.query(`SELECT t::text AS row FROM ${t} t`)).rows.map((r) => r.row as string).join('\n');
      for (const needle of ['to-erase', 'erase-me', 'private', embHex, crop.toString('hex')]) {
        assert.ok(!dump.includes(needle), `table ${t} still holds ${needle.slice(0, 20)}`);
      }
    }
    const log = (await client.query('SELECT label FROM center_log')).rows;
    assert.ok(log.length >= 2, 'the change log keeps only labels (insert and delete of the center)');
  } finally {
    await client.end();
  }
});

test('two stores migrating one fresh database at once apply each migration exactly once', { skip }, async () => {
  const url = await pg!.newDatabase();
  const stores = await Promise.all([1, 2, 3].map(() => PgStore.open(url)));
  await Promise.all(stores.map((s) => s.close()));
  const c = new (await import('pg')).default.Client({ connectionString: url });
  await c.connect();
  const versions = (await c.query('SELECT version FROM schema_migrations ORDER BY version')).rows.map((r) => r.version);
  await c.end();
  assert.deepEqual(versions, loadMigrations(PG_MIGRATIONS_DIR).map((m) => m.version));
  assert.ok(versions.length >= 2);
});
