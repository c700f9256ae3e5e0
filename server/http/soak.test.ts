// Soak: parallel enroll / search / delete / verify clients against one server for IRFACE_SOAK_SECONDS (default 15),
// then the gallery's invariants: no 5xx, counts that add up, no orphan faces, every identity findable, no ghosts.
//
// `npm run test:soak` runs it for 300 s. The clients keep at most one live identity per person, so "found at rank 1
// by its own enrolled photo" is well defined; deletions are only counted once the server acknowledged them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { demoPhoto, form, lfwPhoto, LFW_MISSING, testConfig, testServer, type Reply } from '../test-support.ts';
import { rng } from '../../gallery/test-helpers.ts';

const SECONDS = Number(process.env.IRFACE_SOAK_SECONDS ?? 15);
const PHOTOS_PER_PERSON = 24;

const server = testServer(testConfig());
const { call, json, postForm } = server;

before(() => server.start());
after(() => server.close());

/** One-face photos per person: LFW when present, else resized copies of face-api's demo photos (distinct bytes). */
async function people(): Promise<Buffer[][]> {
  if (!LFW_MISSING) {
    return ['George_W_Bush', 'Colin_Powell', 'Tony_Blair', 'Donald_Rumsfeld', 'Gerhard_Schroeder', 'Ariel_Sharon']
      .map((name) => Array.from({ length: PHOTOS_PER_PERSON }, (_, i) => readFileSync(lfwPhoto(name, i + 1))));
  }
  return Promise.all([2, 3, 4, 5].map(async (n) => {
    const src = readFileSync(demoPhoto(n));
    const photos = [];
    for (let i = 0; i < PHOTOS_PER_PERSON; i++) photos.push(await sharp(src).resize(500 + 6 * i).jpeg({ quality: 90 }).toBuffer());
    return photos;
  }));
}

interface Ident { id: string; person: number; faces: Map<string, number> } // face id -> photo index

/** Which statuses each operation may answer under concurrency (404: deleted meanwhile; 422: no face, duplicate...). */
const ALLOWED: Record<string, number[]> = {
  create: [201], enroll: [201, 404, 422], search: [200], delete_identity: [204, 404], delete_face: [204, 404],
  verify_identity: [200, 404, 422], verify: [200, 422],
};

test(`soak: ${SECONDS} s of parallel enroll, search, delete and verify keep the gallery consistent`, async (t) => {
  const photos = await people();
  const rand = rng(7);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const live = new Map<number, Ident>(); // person -> its live identity
  const creating = new Set<number>();
  const created = new Set<string>();
  const deleted = new Set<string>();
  const statuses = new Map<string, number>(); // "op status" -> count
  const unexpected: string[] = [];
  const ghosts: string[] = [];
  const deadline = Date.now() + SECONDS * 1000;
  const running = () => Date.now() < deadline;

  const record = (op: string, r: Reply): Reply => {
    const key = `${op} ${r.status}`;
    statuses.set(key, (statuses.get(key) ?? 0) + 1);
    if (!ALLOWED[op].includes(r.status)) unexpected.push(`${key}: ${r.text.slice(0, 300)}`);
    return r;
  };
  const liveWithFaces = () => [...live.values()].filter((i) => i.faces.size > 0);
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

  async function enroller(): Promise<void> {
    while (running()) {
      const person = Math.floor(rand() * photos.length);
      const ident = live.get(person);
      if (!ident) {
        if (creating.has(person)) continue;
        creating.add(person);
        const r = record('create', await json('POST', '/v1/identities', { name: `person ${person}`, metadata: { person } }));
        if (r.status === 201) {
          created.add(r.body.id);
          live.set(person, { id: r.body.id, person, faces: new Map() });
        }
        creating.delete(person);
        continue;
      }
      const chosen = [...new Set(Array.from({ length: 1 + Math.floor(rand() * 2) }, () => Math.floor(rand() * PHOTOS_PER_PERSON)))];
      const r = record('enroll', await postForm(`/v1/identities/${ident.id}/faces?on_multiple_faces=largest`, { images: chosen.map((i) => photos[person][i]) }));
      if (r.status === 201) r.body.results.forEach((x: { status: string; face_id?: string }, i: number) => { if (x.status === 'added') ident.faces.set(x.face_id!, chosen[i]); });
    }
  }

  async function searcher(): Promise<void> {
    while (running()) {
      const gone = new Set(deleted); // deletions acknowledged before the search was sent
      const r = record('search', await postForm('/v1/search?k=10', { image: pick(pick(photos)) }));
      for (const f of r.body?.faces ?? []) {
        for (const m of f.matches) if (gone.has(m.identity.id)) ghosts.push(m.identity.id);
      }
    }
  }

  async function deleter(): Promise<void> {
    while (running()) {
      await pause(400 + rand() * 600);
      const ident = pick(liveWithFaces()); // a fresh identity gets some faces before it may go
      if (!ident) continue;
      if (rand() < 0.3) {
        const r = record('delete_identity', await call(`/v1/identities/${ident.id}`, { method: 'DELETE' }));
        if (r.status === 204) {
          deleted.add(ident.id);
          if (live.get(ident.person) === ident) live.delete(ident.person);
        }
      } else {
        const faceId = pick([...ident.faces.keys()]);
        const r = record('delete_face', await call(`/v1/identities/${ident.id}/faces/${faceId}`, { method: 'DELETE' }));
        if (r.status === 204) ident.faces.delete(faceId);
      }
    }
  }

  async function verifier(): Promise<void> {
    while (running()) {
      const ident = pick(liveWithFaces());
      if (ident && rand() < 0.6) {
        const photo = photos[ident.person][pick([...ident.faces.values()])];
        record('verify_identity', await postForm(`/v1/identities/${ident.id}/verify`, { image: photo }));
      } else {
        record('verify', await postForm('/v1/verify', { image_a: pick(pick(photos)), image_b: pick(pick(photos)) }));
        await pause(50);
      }
    }
  }

  await Promise.all([enroller(), enroller(), searcher(), deleter(), verifier()]);
  t.diagnostic(`requests: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);

  assert.deepEqual(unexpected.filter((u) => / 5\d\d:/.test(u)), [], 'no 5xx at all');
  assert.deepEqual(unexpected, [], 'every answer is one the operation may give');
  assert.deepEqual(ghosts, [], 'an identity whose deletion was acknowledged is never returned by search');
  assert.ok(created.size > 0 && (statuses.get('enroll 201') ?? 0) > 0, 'the soak did some work');

  // Identities listed (every page) == created - deleted.
  const listed = new Map<string, any>();
  for (let cursor: string | null = null; ;) {
    const r: Reply = await call(`/v1/identities?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    assert.equal(r.status, 200, r.text);
    for (const i of r.body.items) listed.set(i.id, i);
    if (!(cursor = r.body.next_cursor)) break;
  }
  assert.deepEqual([...listed.keys()].sort(), [...created].filter((id) => !deleted.has(id)).sort(), 'identities listed == created - deleted');

  // face_count agrees with the faces listed, and every face the clients were told about (and did not delete) is there.
  let faces = 0;
  for (const ident of live.values()) {
    const r = await call(`/v1/identities/${ident.id}/faces`);
    assert.equal(r.status, 200, r.text);
    const ids = new Set(r.body.items.map((f: { id: string }) => f.id));
    assert.equal(listed.get(ident.id).face_count, ids.size, `face_count of ${ident.id}`);
    for (const faceId of ident.faces.keys()) assert.ok(ids.has(faceId), `acknowledged face ${faceId} of ${ident.id} is listed`);
    faces += ids.size;
  }
  // No orphan faces: the gallery's own totals (from SQLite, via /metrics) equal what the listed identities hold.
  const metrics = (await call('/metrics')).text;
  const gauge = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1]);
  assert.equal(gauge('irface_gallery_faces'), faces, 'faces in the gallery == faces of listed identities');
  assert.equal(gauge('irface_gallery_identities'), listed.size);

  // Every identity with faces is found at rank 1 by one of its own enrolled photos; deleted ones never appear.
  for (const ident of liveWithFaces()) {
    let rank1 = false;
    for (const index of [...new Set(ident.faces.values())].slice(0, 2)) {
      const r = await postForm('/v1/search?k=10&max_faces=1', { image: photos[ident.person][index] });
      assert.equal(r.status, 200, r.text);
      const matches: { identity: { id: string } }[] = r.body.faces[0]?.matches ?? [];
      assert.ok(matches.every((m) => !deleted.has(m.identity.id)), 'no deleted identity in the results');
      if (matches[0]?.identity.id === ident.id) rank1 = true;
      if (rank1) break;
    }
    assert.ok(rank1, `identity ${ident.id} (person ${ident.person}) is found at rank 1 by its own photo`);
  }
  assert.equal((await call('/healthz')).status, 200);
});
