// Options in a JSON body are honoured like the query string (which wins), unknown JSON fields are refused by name,
// and base64url / unpadded base64 images give the same answer as the file itself, over real HTTP.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { testConfig, testServer, assertError, demoPhoto } from '../test-support.ts';

const server = testServer(testConfig());
const { json, postForm } = server;
const group = readFileSync(demoPhoto(1)); // 3 people
const b64 = group.toString('base64');
let people: Buffer[] = []; // one-face photos of three different people, cut from the group photo

before(async () => {
  await server.start();
  const faces = (await postForm('/v1/detect', { image: group })).body.faces as { box: { x: number; y: number; width: number; height: number } }[];
  assert.ok(faces.length >= 3, `${faces.length} faces in the group photo`);
  people = await Promise.all(faces.slice(0, 3).map(({ box }) => {
    const side = Math.round(Math.max(box.width, box.height) * 2);
    const left = Math.max(0, Math.round(box.x + box.width / 2 - side / 2));
    const top = Math.max(0, Math.round(box.y + box.height / 2 - side / 2));
    return sharp(group).extract({ left, top, width: Math.min(side, 1920 - left), height: Math.min(side, 1280 - top) }).jpeg().toBuffer();
  }));
  for (const [i, photo] of people.entries()) {
    const id = (await json('POST', '/v1/identities', { name: `person ${i}` })).body.id;
    const r = await json('POST', `/v1/identities/${id}/faces`, { images: [photo.toString('base64')], on_multiple_faces: 'largest' });
    assert.equal(r.status, 201, r.text);
  }
});
after(() => server.close());

test('detect: max_faces in the JSON body keeps only the largest face; the query string wins over it', async () => {
  const all = await json('POST', '/v1/detect', { image: b64 });
  assert.ok(all.body.faces.length >= 3, all.text);
  const one = await json('POST', '/v1/detect', { image: b64, max_faces: 1 });
  assert.equal(one.status, 200, one.text);
  assert.deepEqual(one.body.faces, all.body.faces.slice(0, 1));
  const two = await json('POST', '/v1/detect?max_faces=2', { image: b64, max_faces: 1 });
  assert.deepEqual(two.body.faces, all.body.faces.slice(0, 2));
});

test('search: k in the JSON body sets the matches per face (the user report: k 3 gave 5); the query wins', async () => {
  const probe = people[0].toString('base64');
  const byDefault = await json('POST', '/v1/search', { image: probe });
  assert.equal(byDefault.status, 200, byDefault.text);
  assert.equal(byDefault.body.faces[0].matches.length, 3, 'three enrolled, default k 5');
  const k1 = await json('POST', '/v1/search', { image: probe, k: 1 });
  assert.equal(k1.status, 200, k1.text);
  assert.equal(k1.body.faces[0].matches.length, 1);
  assert.equal(k1.body.faces[0].matches[0].identity.id, byDefault.body.faces[0].matches[0].identity.id);
  const k2 = await json('POST', '/v1/search?k=2', { image: probe, k: 1 });
  assert.equal(k2.body.faces[0].matches.length, 2);
});

test('threshold and min_score in the JSON body of verify, search and identity verify', async () => {
  const pair = { image_a: people[0].toString('base64'), image_b: people[0].toString('base64') };
  const strict = await json('POST', '/v1/verify', { ...pair, threshold: 'far_1e-3' });
  assert.equal(strict.status, 200, strict.text);
  assert.equal(strict.body.threshold.name, 'far_1e-3');
  const custom = await json('POST', '/v1/verify', { ...pair, threshold: '0.5' });
  assert.deepEqual([custom.body.threshold.name, custom.body.threshold.value], ['custom', 0.5]);
  const queryWins = await json('POST', '/v1/verify?threshold=default', { ...pair, threshold: 'far_1e-3' });
  assert.equal(queryWins.body.threshold.name, 'default');
  const search = await json('POST', '/v1/search', { image: b64, threshold: 'far_1e-3', min_score: 0.99 });
  assert.equal(search.status, 200, search.text);
  assert.equal(search.body.threshold.name, 'far_1e-3');
  assert.ok(search.body.faces.every((f: { score: number }) => f.score >= 0.99), search.text);
  const ids = (await json('GET', '/v1/identities', undefined)).body.items;
  const own = await json('POST', `/v1/identities/${ids[0].id}/verify`, { image: people[0].toString('base64'), threshold: '0.1' });
  assert.equal(own.status, 200, own.text);
  assert.deepEqual([own.body.threshold.name, own.body.threshold.value], ['custom', 0.1]);
});

test('enroll: on_multiple_faces in the JSON body', async () => {
  const id = (await json('POST', '/v1/identities', { name: 'group enrollee' })).body.id;
  const refusedFirst = (r: { status: number; body: any; text: string }) => {
    assert.equal(r.status, 422, r.text);
    assert.equal(r.body.results[0].error.code, 'multiple_faces', r.text);
  };
  refusedFirst(await json('POST', `/v1/identities/${id}/faces`, { images: [b64] }));
  const r = await json('POST', `/v1/identities/${id}/faces`, { images: [b64], on_multiple_faces: 'largest' });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.added, 1);
  const other = (await json('POST', '/v1/identities', { name: 'second group enrollee' })).body.id;
  refusedFirst(await json('POST', `/v1/identities/${other}/faces?on_multiple_faces=reject`, { images: [b64], on_multiple_faces: 'largest' }));
});

test('an unknown JSON field is refused with 400 naming it; a bad option value in the body too', async () => {
  const r = await json('POST', '/v1/search', { image: b64, kk: 3 });
  assertError(r, 400, 'invalid_request');
  assert.match(r.body.error.message, /"kk"/);
  const v = await json('POST', '/v1/verify', { image_a: b64, image_b: b64, treshold: 'default' });
  assertError(v, 400, 'invalid_request');
  assert.match(v.body.error.message, /"treshold"/);
  assertError(await json('POST', '/v1/detect', { image: b64, max_faces: 0 }), 400, 'invalid_request');
  assertError(await json('POST', '/v1/search', { image: b64, k: 1000 }), 400, 'invalid_request');
  assertError(await json('POST', '/v1/identities/x/faces', { images: [b64], on_multiple_faces: 'all' }), 400, 'invalid_request');
});

test('base64url and unpadded base64 give the same faces as the file', async () => {
  const file = await postForm('/v1/detect', { image: people[1] });
  assert.equal(file.status, 200, file.text);
  for (const image of [people[1].toString('base64url'), people[1].toString('base64').replace(/=+$/, ''),
    `data:image/jpeg;base64,${people[1].toString('base64url')}`]) {
    const r = await json('POST', '/v1/detect', { image });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, file.body);
  }
  assertError(await json('POST', '/v1/detect', { image: 'ab+_cd-/' }), 400, 'invalid_base64');
});
