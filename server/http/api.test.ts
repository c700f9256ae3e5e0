// End-to-end HTTP tests: one real server on 127.0.0.1 (port 0) for health, detect, embed, verify and errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { testConfig, testServer, form, assertError, demoPhoto, lfwPhoto, LFW_DIR, LFW_MISSING, type Reply } from '../test-support.ts';

// Small limits so the limit paths are cheap to reach; the demo photos (<= 300 KB) stay well inside them.
const MAX_IMAGE_BYTES = 1024 * 1024;
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
const MAX_IMAGES = 4;

const server = testServer(testConfig({
  IRFACE_MAX_IMAGE_BYTES: String(MAX_IMAGE_BYTES),
  IRFACE_MAX_REQUEST_BYTES: String(MAX_REQUEST_BYTES),
  IRFACE_MAX_IMAGES_PER_REQUEST: String(MAX_IMAGES),
}));
const { call, json, postForm } = server;
const photo1 = readFileSync(demoPhoto(1)); // 1920x1280, 3 people

before(() => server.start());
after(() => server.close());

interface Box { x: number; y: number; width: number; height: number }

function iou(a: Box, b: Box): number {
  const ix = Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));
  const inter = ix * iy;
  return inter / (a.width * a.height + b.width * b.height - inter);
}

const inside = (p: [number, number], b: Box) => p[0] >= b.x && p[0] <= b.x + b.width && p[1] >= b.y && p[1] <= b.y + b.height;
const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

// Detection results of photo1 are reused by several tests.
let detected: Reply;
const detectPhoto1 = async () => (detected ??= await postForm('/v1/detect', { image: photo1 }));

test('GET /healthz reports the latest inference self-test, and ?fresh=true runs a new one', async () => {
  const r = await call('/healthz');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.status, 'ok');
  assert.equal(r.body.ok, true);
  assert.ok(r.body.self_similarity > 0.999, r.text);
  assert.ok(r.body.inference_ms > 0, r.text);
  assert.equal(r.body.model, 'dlib-resnet-port');
  assert.equal(r.body.problem, undefined);
  const fresh = await call('/healthz?fresh=true');
  assert.equal(fresh.status, 200, fresh.text);
  assert.ok(Date.parse(fresh.body.checked_at) > Date.parse(r.body.checked_at), `${r.text} then ${fresh.text}`);
  assert.ok(fresh.body.age_ms < 1000, fresh.text);
  assertError(await call('/healthz?fresh=maybe'), 400, 'invalid_request');
});

test('GET /v1/status describes model, device and thresholds', async () => {
  const r = await call('/v1/status');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.model.id, 'dlib-resnet-port');
  assert.equal(r.body.model.embedding_dim, 128);
  assert.equal(r.body.device, 'cpu');
  assert.equal(typeof r.body.model.thresholds.default.value, 'number');
  assert.equal(typeof r.body.model.thresholds.default.method, 'string');
  assert.equal(r.body.limits.max_image_bytes, MAX_IMAGE_BYTES);
  assert.equal(r.body.limits.max_images_per_request, MAX_IMAGES);
  assert.match(r.body.model.sha256, /^[0-9a-f]{64}$/);
});

test('POST /v1/detect finds the faces of a group photo, with boxes and 5 landmarks inside', async () => {
  const r = await detectPhoto1();
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.image, { width: 1920, height: 1280, format: 'jpeg' });
  assert.ok(r.body.faces.length >= 2, `found ${r.body.faces.length} faces`);
  let prevArea = Infinity;
  for (const f of r.body.faces) {
    const b: Box = f.box;
    assert.ok(b.x >= -1 && b.y >= -1 && b.x + b.width <= 1921 && b.y + b.height <= 1281, `box ${JSON.stringify(b)} inside the image`);
    assert.ok(b.width >= 20 && b.height >= 20);
    assert.ok(f.score >= 0.3 && f.score <= 1);
    assert.deepEqual(Object.keys(f.landmarks), ['left_eye', 'right_eye', 'nose_tip', 'mouth_left', 'mouth_right']);
    for (const [name, p] of Object.entries(f.landmarks) as [string, [number, number]][]) {
      assert.ok(inside(p, b), `${name} ${p} inside ${JSON.stringify(b)}`);
    }
    assert.ok(f.landmarks.left_eye[0] < f.landmarks.right_eye[0], 'left eye is on the image left');
    assert.ok(f.landmarks.nose_tip[1] < f.landmarks.mouth_left[1], 'nose above mouth');
    const area = b.width * b.height;
    assert.ok(area <= prevArea + 1e-6, 'largest first');
    prevArea = area;
  }
});

test('max_faces=1 keeps only the largest face', async () => {
  const all = await detectPhoto1();
  const r = await call('/v1/detect?max_faces=1', { method: 'POST', body: form({ image: photo1 }) });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.faces.length, 1);
  assert.deepEqual(r.body.faces[0].box, all.body.faces[0].box);
});

test('the same photo as JSON base64 and as a data: URL gives the same result', async () => {
  const all = await detectPhoto1();
  const b64 = photo1.toString('base64');
  const plain = await json('POST', '/v1/detect', { image: b64 });
  assert.equal(plain.status, 200, plain.text);
  assert.deepEqual(plain.body, all.body);
  const dataUrl = await json('POST', '/v1/detect', { image: `data:image/jpeg;base64,${b64}` });
  assert.equal(dataUrl.status, 200, dataUrl.text);
  assert.deepEqual(dataUrl.body, all.body);
});

test('boxes found on the downscaled copy are mapped back to original pixels', async () => {
  // The server detects on a 640px copy of the 1920px photo, so a 640px version sent directly must give
  // the same faces at exactly a third of the size.
  const all = await detectPhoto1();
  const small = await sharp(photo1).resize(640).jpeg({ quality: 95 }).toBuffer();
  const r = await postForm('/v1/detect', { image: small });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.image.width, 640);
  assert.equal(r.body.faces.length, all.body.faces.length);
  for (const f of all.body.faces) {
    const best = Math.max(...r.body.faces.map((g: { box: Box }) =>
      iou(f.box, { x: g.box.x * 3, y: g.box.y * 3, width: g.box.width * 3, height: g.box.height * 3 })));
    assert.ok(best > 0.9, `IoU ${best} for ${JSON.stringify(f.box)}`);
  }
});

test('POST /v1/embed returns one 128-d unit-length embedding per face', async () => {
  const all = await detectPhoto1();
  const r = await postForm('/v1/embed', { image: photo1 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.model, 'dlib-resnet-port');
  assert.equal(r.body.faces.length, all.body.faces.length);
  r.body.faces.forEach((f: { box: Box; embedding: number[] }, i: number) => {
    assert.deepEqual(f.box, all.body.faces[i].box);
    assert.equal(f.embedding.length, 128);
    assert.ok(Math.abs(norm(f.embedding) - 1) < 1e-4, `|e| = ${norm(f.embedding)}`);
  });
  // Different people in one photo get clearly different embeddings.
  const [a, b] = r.body.faces.map((f: { embedding: number[] }) => f.embedding);
  const cos = a.reduce((s: number, v: number, i: number) => s + v * b[i], 0);
  assert.ok(cos < 0.99, `cosine between two people ${cos}`);
});

// A crop around the largest face of photo1, 3x its box: a one-face photo of a person in the group photo.
async function faceCrop(): Promise<Buffer> {
  const b: Box = (await detectPhoto1()).body.faces[0].box;
  const cx = b.x + b.width / 2, cy = b.y + b.height / 2, side = Math.round(Math.max(b.width, b.height) * 2.2);
  const left = Math.max(0, Math.round(cx - side / 2)), top = Math.max(0, Math.round(cy - side / 2));
  return sharp(photo1)
    .extract({ left, top, width: Math.min(side, 1920 - left), height: Math.min(side, 1280 - top) })
    .jpeg({ quality: 92 }).toBuffer();
}

test('verify: a group photo against a crop of its largest face picks the largest and matches', async () => {
  const crop = await faceCrop();
  const r = await postForm('/v1/verify', { image_a: photo1, image_b: crop });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.faces.image_a.selection, 'largest');
  assert.ok(r.body.faces.image_a.faces_found > 1);
  assert.equal(r.body.faces.image_b.selection, 'only');
  assert.equal(r.body.faces.image_b.faces_found, 1);
  assert.equal(r.body.match, true, r.text);
  assert.ok(r.body.similarity > r.body.threshold.value);
});

test('verify: a mirrored copy of a face matches the original (hflip TTA)', async () => {
  const crop = await faceCrop();
  const mirrored = await sharp(crop).flop().jpeg({ quality: 92 }).toBuffer();
  const r = await postForm('/v1/verify', { image_a: crop, image_b: mirrored });
  assert.equal(r.status, 200, r.text);
  assert.ok(r.body.similarity > 0.95, `similarity ${r.body.similarity}`);
  assert.equal(r.body.match, true);
});

const lfwSkip = LFW_MISSING ? `LFW not found at ${LFW_DIR}` : false;

test('verify on LFW: same people match, different people do not', { skip: lfwSkip }, async () => {
  const same = [['George_W_Bush', 1, 'George_W_Bush', 2], ['Colin_Powell', 1, 'Colin_Powell', 2], ['Serena_Williams', 1, 'Serena_Williams', 2]] as const;
  const different = [['George_W_Bush', 1, 'Serena_Williams', 1], ['Colin_Powell', 1, 'George_W_Bush', 2], ['Tony_Blair', 2, 'Serena_Williams', 2]] as const;
  for (const [pairs, want] of [[same, true], [different, false]] as const) {
    for (const [na, ia, nb, ib] of pairs) {
      const r = await postForm('/v1/verify', { image_a: readFileSync(lfwPhoto(na, ia)), image_b: readFileSync(lfwPhoto(nb, ib)) });
      const label = `${na}_${ia} vs ${nb}_${ib}`;
      assert.equal(r.status, 200, `${label}: ${r.text}`);
      assert.equal(r.body.match, want, `${label}: similarity ${r.body.similarity} vs threshold ${r.body.threshold.value}`);
      assert.equal(r.body.similarity > r.body.threshold.value, want, label);
      assert.equal(r.body.threshold.name, 'default');
      assert.equal(typeof r.body.threshold.value, 'number');
      assert.equal(typeof r.body.threshold.method, 'string');
      assert.equal(r.body.model, 'dlib-resnet-port');
      for (const side of ['image_a', 'image_b']) {
        const s = r.body.faces[side];
        assert.ok(s.box.width > 40 && s.box.x >= -1 && s.box.x + s.box.width <= 251, `${label} ${side}: ${JSON.stringify(s)}`);
        assert.ok(s.faces_found >= 1);
        assert.equal(s.selection, s.faces_found > 1 ? 'largest' : 'only');
      }
    }
  }
});

// ---- errors: each one a clear code, never a stack trace, and the server keeps serving ----

const tinyPng = () => sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } }).png().toBuffer();

test('no image field -> missing_field 400', async () => {
  const fd = new FormData();
  fd.append('note', 'no file here');
  assertError(await call('/v1/detect', { method: 'POST', body: fd }), 400, 'missing_field');
  assertError(await json('POST', '/v1/detect', {}), 400, 'missing_field');
  assertError(await postForm('/v1/verify', { image_a: photo1 }), 400, 'missing_field');
});

test('a file under the wrong field name -> invalid_request 400, naming the expected field', async () => {
  const r = await postForm('/v1/detect', { photo: await tinyPng() });
  assertError(r, 400, 'invalid_request');
  assert.match(r.body.error.message, /"photo".*"image"/);
});

test('a text file as the image -> unsupported_format 415', async () => {
  assertError(await postForm('/v1/detect', { image: Buffer.from('just some text, not a picture\n') }), 415, 'unsupported_format');
});

test('a truncated JPEG and an empty file -> invalid_image 400', async () => {
  assertError(await postForm('/v1/detect', { image: photo1.subarray(0, photo1.length >> 1) }), 400, 'invalid_image');
  assertError(await postForm('/v1/detect', { image: Buffer.alloc(0) }), 400, 'invalid_image');
  assertError(await json('POST', '/v1/detect', { image: '' }), 400, 'invalid_image');
});

test('a blank image on either side of verify -> no_face 422 naming that side', async () => {
  const grey = await sharp({ create: { width: 400, height: 300, channels: 3, background: '#7f7f7f' } }).jpeg().toBuffer();
  const crop = await faceCrop();
  const b = await postForm('/v1/verify', { image_a: crop, image_b: grey });
  assertError(b, 422, 'no_face');
  assert.equal(b.body.error.details.field, 'image_b');
  const a = await json('POST', '/v1/verify', { image_a: grey.toString('base64'), image_b: crop.toString('base64') });
  assertError(a, 422, 'no_face');
  assert.equal(a.body.error.details.field, 'image_a');
  // detect on a blank image is not an error: just no faces
  const d = await postForm('/v1/detect', { image: grey });
  assert.equal(d.status, 200);
  assert.deepEqual(d.body.faces, []);
});

test('invalid base64 -> invalid_base64 400; a non-string -> invalid_request', async () => {
  assertError(await json('POST', '/v1/detect', { image: 'this is not base64!' }), 400, 'invalid_base64');
  assertError(await json('POST', '/v1/detect', { image: 'abcde' }), 400, 'invalid_base64');
  assertError(await json('POST', '/v1/detect', { image: 12345 }), 400, 'invalid_request');
});

test('a JSON body that is an array, or malformed JSON -> invalid_request 400', async () => {
  assertError(await json('POST', '/v1/detect', [photo1.toString('base64')]), 400, 'invalid_request');
  assertError(await json('POST', '/v1/detect', '{"image": '), 400, 'invalid_request');
});

test('bad query parameters -> invalid_request 400', async () => {
  const png = await tinyPng();
  for (const q of ['foo=1', 'min_score=2', 'min_score=abc', 'max_faces=0']) {
    const r = await call(`/v1/detect?${q}`, { method: 'POST', body: form({ image: png }) });
    assertError(r, 400, 'invalid_request');
  }
  const r = await call('/v1/verify?threshold=nope', { method: 'POST', body: form({ image_a: png, image_b: png }) });
  assertError(r, 400, 'invalid_request');
  assert.match(r.body.error.message, /nope.*default/);
});

test('too many files -> too_many_images 413 (multipart and JSON)', async () => {
  const png = await tinyPng();
  assertError(await postForm('/v1/detect', { image: Array(MAX_IMAGES + 1).fill(png) }), 413, 'too_many_images');
  assertError(await json('POST', '/v1/detect', { image: Array(MAX_IMAGES + 1).fill(png.toString('base64')) }), 413, 'too_many_images');
  // two images where one is expected is a plain request error
  assertError(await postForm('/v1/detect', { image: [png, png] }), 400, 'invalid_request');
});

test('an image over the per-image byte limit -> image_too_large 413 (multipart and JSON)', async () => {
  const big = Buffer.concat([photo1, Buffer.alloc(MAX_IMAGE_BYTES + 10 - photo1.length, 7)]);
  assertError(await postForm('/v1/detect', { image: big }), 413, 'image_too_large');
  assertError(await json('POST', '/v1/detect', { image: big.toString('base64') }), 413, 'image_too_large');
});

test('a body over the request limit -> payload_too_large 413', async () => {
  const huge = { image: 'A'.repeat(MAX_REQUEST_BYTES + 1024) };
  assertError(await json('POST', '/v1/detect', huge), 413, 'payload_too_large');
});

test('an unsupported content type -> unsupported_media_type 415', async () => {
  assertError(await call('/v1/detect', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' }), 415, 'unsupported_media_type');
  assertError(await call('/v1/detect', { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: new Uint8Array(photo1) }), 415, 'unsupported_media_type');
});

test('an unknown route -> not_found 404', async () => {
  const r = await call('/v1/nothing-here?x=1');
  assertError(r, 404, 'not_found');
  assert.match(r.body.error.message, /GET \/v1\/nothing-here$/);
  assertError(await call('/healthz', { method: 'POST' }), 404, 'not_found');
});

test('after all the errors the server still serves', async () => {
  const h = await call('/healthz');
  assert.equal(h.status, 200, h.text);
  assert.equal(h.body.status, 'ok');
  const d = await postForm('/v1/detect', { image: photo1 });
  assert.deepEqual(d.body, (await detectPhoto1()).body);
});
