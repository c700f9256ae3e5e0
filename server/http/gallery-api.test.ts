// End-to-end tests of the gallery API on one real server: identity CRUD, paging, enrollment, faces, verify, OpenAPI.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { testConfig, testServer, assertError, NO_INTERNALS, demoPhoto, lfwPhoto, LFW_DIR, LFW_MISSING, type Reply } from '../test-support.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'irface-gallery-api-'));
const server = testServer(testConfig({ IRFACE_DATA_DIR: dataDir }));
const { call, json, postForm } = server;

before(() => server.start());

after(async () => {
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function createIdentity(body: Record<string, unknown>): Promise<any> {
  const r = await json('POST', '/v1/identities', body);
  assert.equal(r.status, 201, r.text);
  return r.body;
}

const lfw = (name: string, n: number) => readFileSync(lfwPhoto(name, n));
const lfwSkip = LFW_MISSING ? `LFW not found at ${LFW_DIR} (set IRFACE_LFW)` : false;
const groupPhoto = readFileSync(demoPhoto(1)); // face-api demo: 3 faces
const textFile = Buffer.from('just some text, not a picture\n');
const blank = () => sharp({ create: { width: 400, height: 300, channels: 3, background: '#7f7f7f' } }).jpeg().toBuffer();

/** Creates an identity and enrolls LFW photos of one person in one request (LFW photos often show bystanders too). */
async function enrolled(name: string, photos: number[]): Promise<any> {
  const ident = await createIdentity({ name });
  const r = await postForm(`/v1/identities/${ident.id}/faces?on_multiple_faces=largest`, { images: photos.map((n) => lfw(name, n)) });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.added, photos.length, r.text);
  return r.body.identity;
}

// ---- identities ----

test('POST /v1/identities creates an identity with every field', async () => {
  const r = await json('POST', '/v1/identities', { name: 'Ada Lovelace', external_id: 'emp-1', metadata: { team: 'math', level: 3 } });
  assert.equal(r.status, 201, r.text);
  assert.deepEqual(Object.keys(r.body).sort(), ['created_at', 'external_id', 'face_count', 'id', 'metadata', 'name', 'updated_at']);
  assert.match(r.body.id, /^[0-9a-f-]{36}$/);
  assert.equal(r.body.name, 'Ada Lovelace');
  assert.equal(r.body.external_id, 'emp-1');
  assert.deepEqual(r.body.metadata, { team: 'math', level: 3 });
  assert.equal(r.body.face_count, 0);
  assert.ok(!Number.isNaN(Date.parse(r.body.created_at)) && r.body.updated_at >= r.body.created_at);
  const minimal = await createIdentity({ name: 'Nobody' });
  assert.equal(minimal.external_id, null);
  assert.equal(minimal.metadata, null);
});

test('POST /v1/identities: invalid bodies -> 400 invalid_request; a taken external_id -> 409', async () => {
  for (const body of [{}, { external_id: 'x' }, { name: 'a', extra: 1 }, { name: 'x'.repeat(201) }, { name: '   ' },
    { name: 'a', metadata: 'not an object' }, { name: 'a', metadata: [1, 2] }, { name: 'a', external_id: '' }]) {
    assertError(await json('POST', '/v1/identities', body), 400, 'invalid_request');
  }
  await createIdentity({ name: 'first', external_id: 'dup-ext' });
  const r = await json('POST', '/v1/identities', { name: 'second', external_id: 'dup-ext' });
  assertError(r, 409, 'external_id_conflict');
});

test('GET /v1/identities pages with a cursor; bad cursor -> 400; ?external_id= finds one', async () => {
  const made = new Set<string>();
  for (let i = 0; i < 7; i++) made.add((await createIdentity({ name: `page-${i}`, external_id: `page-ext-${i}` })).id);
  const seen = new Map<string, number>();
  let cursor: string | null = null;
  let pages = 0;
  do {
    const r: Reply = await call(`/v1/identities?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    assert.equal(r.status, 200, r.text);
    assert.ok(r.body.items.length <= 3 && (r.body.next_cursor === null || r.body.items.length === 3), r.text);
    for (const it of r.body.items) seen.set(it.id, (seen.get(it.id) ?? 0) + 1);
    cursor = r.body.next_cursor;
    assert.ok(++pages < 100, 'paging terminates');
  } while (cursor !== null);
  assert.ok(pages >= 3, `${pages} pages`);
  for (const id of made) assert.equal(seen.get(id), 1, `identity ${id} seen once`);
  assert.ok([...seen.values()].every((n) => n === 1), 'no identity on two pages');

  for (const bad of ['not-a-cursor', Buffer.from('c1:x').toString('base64url')]) {
    assertError(await call(`/v1/identities?cursor=${bad}`), 400, 'invalid_cursor');
  }
  assertError(await call('/v1/identities?limit=0'), 400, 'invalid_request');
  const one = await call('/v1/identities?external_id=page-ext-4');
  assert.equal(one.status, 200, one.text);
  assert.equal(one.body.items.length, 1);
  assert.equal(one.body.items[0].name, 'page-4');
  assert.equal(one.body.next_cursor, null);
  assert.deepEqual((await call('/v1/identities?external_id=nobody-has-this')).body, { items: [], next_cursor: null });
});

test('GET/PATCH/DELETE /v1/identities/{id}, with 404, 400 and 409 paths', async () => {
  const a = await createIdentity({ name: 'patch-a', external_id: 'patch-ext-a' });
  const b = await createIdentity({ name: 'patch-b', external_id: 'patch-ext-b', metadata: { k: 1 } });
  assert.deepEqual((await call(`/v1/identities/${a.id}`)).body, a);

  const p = await json('PATCH', `/v1/identities/${b.id}`, { name: 'patch-b2', metadata: null });
  assert.equal(p.status, 200, p.text);
  assert.equal(p.body.name, 'patch-b2');
  assert.equal(p.body.metadata, null);
  assert.equal(p.body.external_id, 'patch-ext-b', 'fields not sent are kept');
  assert.equal(p.body.created_at, b.created_at);

  assertError(await json('PATCH', `/v1/identities/${b.id}`, {}), 400, 'invalid_request');
  assertError(await json('PATCH', `/v1/identities/${b.id}`, { nickname: 'x' }), 400, 'invalid_request');
  const clash = await json('PATCH', `/v1/identities/${b.id}`, { external_id: 'patch-ext-a' });
  assertError(clash, 409, 'external_id_conflict');

  const unknown = '00000000-0000-4000-8000-000000000000';
  assertError(await call(`/v1/identities/${unknown}`), 404, 'identity_not_found');
  assertError(await json('PATCH', `/v1/identities/${unknown}`, { name: 'x' }), 404, 'identity_not_found');
  assertError(await call(`/v1/identities/${unknown}`, { method: 'DELETE' }), 404, 'identity_not_found');
  assertError(await call('/v1/identities/not-even-a-uuid'), 404, 'identity_not_found');

  const d = await call(`/v1/identities/${a.id}`, { method: 'DELETE' });
  assert.equal(d.status, 204, d.text);
  assert.equal(d.text, '');
  assertError(await call(`/v1/identities/${a.id}`), 404, 'identity_not_found');
  assertError(await call(`/v1/identities/${a.id}`, { method: 'DELETE' }), 404, 'identity_not_found');
});

// ---- enrollment ----

test('enrolling several images in one multipart request reports each image in order', { skip: lfwSkip }, async () => {
  const ident = await createIdentity({ name: 'Colin Powell' });
  const faces = `/v1/identities/${ident.id}/faces`;
  const first = await postForm(faces, { images: [lfw('Colin_Powell', 1), lfw('Colin_Powell', 2), lfw('Colin_Powell', 1)] });
  assert.equal(first.status, 201, first.text);
  assert.deepEqual(first.body.results.map((r: any) => r.status), ['added', 'added', 'failed']);
  assert.equal(first.body.results[2].error.code, 'duplicate_image');
  assert.equal(first.body.identity.face_count, 2);

  const second = await postForm(faces, { images: [lfw('Colin_Powell', 3), lfw('Colin_Powell', 2), textFile, await blank(), groupPhoto] });
  assert.equal(second.status, 201, second.text);
  assert.doesNotMatch(second.text, NO_INTERNALS);
  const { results } = second.body;
  assert.deepEqual(results.map((r: any) => r.index), [0, 1, 2, 3, 4]);
  assert.equal(results[0].status, 'added');
  assert.match(results[0].face_id, /^[0-9a-f-]{36}$/);
  assert.deepEqual(results.slice(1).map((r: any) => [r.status, r.error.code]),
    [['failed', 'duplicate_image'], ['failed', 'unsupported_format'], ['failed', 'no_face'], ['failed', 'multiple_faces']]);
  for (const r of results.slice(1)) assert.ok(r.error.message.length > 0 && r.face_id === undefined);
  assert.equal(second.body.added, 1);
  assert.equal(second.body.failed, 4);
  assert.equal(second.body.identity.face_count, 3);

  const none = await postForm(faces, { images: [textFile, await blank()] });
  assert.equal(none.status, 422, none.text);
  assert.equal(none.body.added, 0);
  assert.deepEqual(none.body.results.map((r: any) => r.error.code), ['unsupported_format', 'no_face']);
  assert.equal(none.body.identity.face_count, 3);

  const b64 = await json('POST', faces, { images: [lfw('Colin_Powell', 4).toString('base64'), lfw('Colin_Powell', 5).toString('base64')] });
  assert.equal(b64.status, 201, b64.text);
  assert.deepEqual(b64.body.results.map((r: any) => r.status), ['added', 'added']);
  assert.equal(b64.body.identity.face_count, 5);

  const list = await call(faces);
  assert.equal(list.status, 200, list.text);
  assert.equal(list.body.items.length, 5);
  const added = [...first.body.results, ...second.body.results, ...b64.body.results].filter((r: any) => r.face_id).map((r: any) => r.face_id);
  assert.deepEqual(list.body.items.map((f: any) => f.id).sort(), added.sort());
  for (const f of list.body.items) {
    assert.equal(f.identity_id, ident.id);
    assert.equal(f.has_crop, true);
    assert.equal(f.model, 'dlib-resnet-port');
    assert.match(f.image_sha256, /^[0-9a-f]{64}$/);
    assert.ok(f.box.width > 40 && f.det_score >= 0.3, JSON.stringify(f));
  }
});

test('on_multiple_faces=largest enrolls the largest face of a group photo', async () => {
  const ident = await createIdentity({ name: 'group-largest' });
  const rejected = await postForm(`/v1/identities/${ident.id}/faces`, { images: [groupPhoto] });
  assert.equal(rejected.status, 422, rejected.text);
  assert.equal(rejected.body.results[0].error.code, 'multiple_faces');
  const r = await postForm(`/v1/identities/${ident.id}/faces?on_multiple_faces=largest`, { images: [groupPhoto] });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.results[0].status, 'added');
  const detected = await postForm('/v1/detect?max_faces=1', { image: [groupPhoto] });
  const [face] = (await call(`/v1/identities/${ident.id}/faces`)).body.items;
  assert.deepEqual(face.box, detected.body.faces[0].box);
  assertError(await postForm(`/v1/identities/${ident.id}/faces?on_multiple_faces=all`, { images: [groupPhoto] }), 400, 'invalid_request');
});

test('enrollment errors: unknown identity 404, no images 400, wrong field 400', async () => {
  const png = await blank();
  assertError(await postForm('/v1/identities/00000000-0000-4000-8000-000000000000/faces', { images: [png] }), 404, 'identity_not_found');
  assertError(await call('/v1/identities/00000000-0000-4000-8000-000000000000/faces'), 404, 'identity_not_found');
  const ident = await createIdentity({ name: 'no-images' });
  assertError(await json('POST', `/v1/identities/${ident.id}/faces`, { images: [] }), 400, 'missing_field');
  assertError(await postForm(`/v1/identities/${ident.id}/faces`, { photos: [png] }), 400, 'invalid_request');
  assertError(await json('POST', `/v1/identities/${ident.id}/faces`, { images: ['not base64!'] }), 400, 'invalid_base64');
});

test('a photo of person A enrolled under identity B warns possible_duplicate_of A', { skip: lfwSkip }, async () => {
  const bush = await enrolled('George_W_Bush', [1, 2]);
  const other = await createIdentity({ name: 'someone else' });
  const r = await postForm(`/v1/identities/${other.id}/faces`, { images: [lfw('George_W_Bush', 3)] });
  assert.equal(r.status, 201, r.text);
  const dup = r.body.results[0].possible_duplicate_of;
  assert.ok(dup, `no warning: ${r.text}`);
  assert.equal(dup.identity_id, bush.id);
  assert.equal(dup.name, 'George_W_Bush');
  assert.ok(dup.similarity > 0.9 && dup.similarity <= 1, r.text);
  assert.equal(r.body.results[0].status, 'added', 'a warning, not a refusal');
});

// ---- faces, verify, delete ----

test('deleting faces recomputes the identity; with none left verify -> 422 no_enrolled_faces', { skip: lfwSkip }, async () => {
  const ident = await enrolled('Tony_Blair', [1, 2]);
  const path = `/v1/identities/${ident.id}`;
  const [f1, f2] = (await call(`${path}/faces`)).body.items;
  assertError(await call(`${path}/faces/00000000-0000-4000-8000-000000000000`, { method: 'DELETE' }), 404, 'face_not_found');
  const d1 = await call(`${path}/faces/${f1.id}`, { method: 'DELETE' });
  assert.equal(d1.status, 204, d1.text);
  assert.equal((await call(path)).body.face_count, 1);
  assertError(await call(`${path}/faces/${f1.id}`, { method: 'DELETE' }), 404, 'face_not_found');
  const v1 = await postForm(`${path}/verify`, { image: [lfw('Tony_Blair', 3)] });
  assert.equal(v1.status, 200, v1.text);
  assert.equal(v1.body.compared_with.faces, 1);

  assert.equal((await call(`${path}/faces/${f2.id}`, { method: 'DELETE' })).status, 204);
  const left = await call(path);
  assert.equal(left.status, 200, 'the identity outlives its faces');
  assert.equal(left.body.face_count, 0);
  assert.deepEqual((await call(`${path}/faces`)).body.items, []);
  assertError(await postForm(`${path}/verify`, { image: [lfw('Tony_Blair', 3)] }), 422, 'no_enrolled_faces');
});

test('POST /v1/identities/{id}/verify compares with the class center', { skip: lfwSkip }, async () => {
  const ident = await enrolled('Serena_Williams', [1, 2, 3]);
  const same = await postForm(`/v1/identities/${ident.id}/verify`, { image: [lfw('Serena_Williams', 4)] });
  assert.equal(same.status, 200, same.text);
  assert.equal(same.body.match, true, same.text);
  assert.ok(same.body.similarity >= same.body.threshold.value);
  assert.deepEqual(same.body.compared_with, { kind: 'class_center', faces: 3 });
  assert.equal(same.body.identity.id, ident.id);
  assert.equal(same.body.threshold.name, 'default');
  assert.equal(same.body.model, 'dlib-resnet-port');
  assert.equal(same.body.face.selection, 'only');

  const other = await json('POST', `/v1/identities/${ident.id}/verify`, { image: lfw('Colin_Powell', 6).toString('base64') });
  assert.equal(other.status, 200, other.text);
  assert.equal(other.body.match, false, other.text);
  assert.ok(other.body.similarity < other.body.threshold.value);

  assertError(await postForm('/v1/identities/00000000-0000-4000-8000-000000000000/verify', { image: [lfw('Serena_Williams', 4)] }), 404, 'identity_not_found');
  assertError(await postForm(`/v1/identities/${ident.id}/verify`, { image: [await blank()] }), 422, 'no_face');
  assertError(await postForm(`/v1/identities/${ident.id}/verify?threshold=2`, { image: [lfw('Serena_Williams', 4)] }), 400, 'invalid_request');
});

test('a deleted identity never appears in search results', { skip: lfwSkip }, async () => {
  const gone = await enrolled('Gerhard_Schroeder', [1, 2]);
  const probe = lfw('Gerhard_Schroeder', 3);
  const before = await postForm('/v1/search?k=100', { image: probe });
  assert.equal(before.body.faces[0].best?.identity.id, gone.id, before.text);
  assert.equal((await call(`/v1/identities/${gone.id}`, { method: 'DELETE' })).status, 204);
  const r = await postForm('/v1/search?k=100', { image: probe });
  assert.equal(r.status, 200, r.text);
  assert.ok(r.body.faces.length >= 1);
  for (const f of r.body.faces) {
    assert.ok(f.matches.every((m: any) => m.identity.id !== gone.id), `deleted identity in ${JSON.stringify(f.matches)}`);
    assert.notEqual(f.best?.identity.id, gone.id);
  }
});

// ---- OpenAPI ----

test('GET /openapi.json documents the gallery routes', async () => {
  const r = await call('/openapi.json');
  assert.equal(r.status, 200, r.text);
  assert.match(r.body.openapi, /^3\./);
  assert.equal(r.body.info.title, 'irface');
  for (const p of ['/v1/identities', '/v1/identities/{id}', '/v1/identities/{id}/faces', '/v1/search', '/v1/identities/{id}/verify', '/v1/verify', '/v1/detect']) {
    assert.ok(r.body.paths[p], `path ${p} in ${Object.keys(r.body.paths).join(', ')}`);
  }
  assert.ok(r.body.paths['/v1/identities'].post && r.body.paths['/v1/identities'].get);
  const enroll = r.body.paths['/v1/identities/{id}/faces'].post.requestBody;
  assert.ok(enroll?.content?.['multipart/form-data']?.schema?.properties?.images, JSON.stringify(enroll));
  assert.equal(enroll.content['multipart/form-data'].schema.properties.images.type, 'array');
  assert.ok(r.body.paths['/v1/search'].post.requestBody.content['multipart/form-data'].schema.properties.image);
  const params = r.body.paths['/v1/search'].post.parameters.map((p: any) => p.name);
  for (const q of ['k', 'threshold', 'max_faces']) assert.ok(params.includes(q), `search parameter ${q}`);
});
