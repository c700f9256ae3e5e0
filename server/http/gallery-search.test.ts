// End-to-end tests of 1:N search over a 20-person LFW gallery, its rank-1 accuracy, persistence and model binding.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import sharp from 'sharp';
import { buildServer } from '../compose.ts';
import { testConfig, testServer, assertError, demoPhoto, lfwPhoto, LFW_DIR, LFW_MISSING, type Reply } from '../test-support.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'irface-gallery-search-'));
const config = testConfig({ IRFACE_DATA_DIR: dataDir });
const server = testServer(config);
const { call, json, postForm } = server;

before(() => server.start());

after(async () => {
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const search = (image: Buffer, query = '') => postForm(`/v1/search${query ? `?${query}` : ''}`, { image });

const lfw = (name: string, n: number) => readFileSync(lfwPhoto(name, n));
const lfwSkip = LFW_MISSING ? `LFW not found at ${LFW_DIR} (set IRFACE_LFW)` : false;
const groupPhoto = readFileSync(demoPhoto(1)); // face-api demo: 3 faces

// The gallery: the first 20 LFW people (code-point order) with at least 4 photos; photos 1-3 enrolled, 4 held out.
const PEOPLE = LFW_MISSING ? [] : readdirSync(LFW_DIR).sort().filter((p) => readdirSync(join(LFW_DIR, p)).length >= 4).slice(0, 20);
const STRANGER = ['Halle_Berry', 1] as const; // not enrolled; top similarity against these 20 is about 0.85
const KNOWN = 'Al_Gore';
// The lead is writing calibrated thresholds into the card; until then it may have only "default".
const CARD_THRESHOLDS = JSON.parse(readFileSync(config.modelPath.replace(/\.onnx$/, '.json'), 'utf8')).similarity.thresholds;
const farSkip = CARD_THRESHOLDS['far_1e-3'] ? false
  : `the model card has no "far_1e-3" threshold yet (has: ${Object.keys(CARD_THRESHOLDS).join(', ')}); run npm run eval:lfw -- --write-card`;

/** Enrolls PEOPLE once (two requests in flight: the detector pool has two workers); name -> identity id. */
let enrolledOnce: Promise<Map<string, string>> | undefined;
const enrolled = () => (enrolledOnce ??= enrollAll());

async function enrollAll(): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  const misses: string[] = [];
  const one = async (name: string) => {
    const c = await json('POST', '/v1/identities', { name });
    assert.equal(c.status, 201, c.text);
    // LFW photos often show bystanders too: the subject is the largest face.
    const r = await postForm(`/v1/identities/${c.body.id}/faces?on_multiple_faces=largest`, { images: [1, 2, 3].map((n) => lfw(name, n)) });
    assert.equal(r.status, 201, `${name}: ${r.text}`);
    for (const x of r.body.results) {
      if (x.status === 'added') continue;
      // The only acceptable loss is a face face-api's SSD does not find (it misses ~6% of LFW photos).
      assert.equal(x.error.code, 'no_face', `${name} photo ${x.index + 1}: ${JSON.stringify(x)}`);
      misses.push(`${name}_${x.index + 1}`);
    }
    assert.ok(r.body.added >= 2, `${name}: only ${r.body.added} faces enrolled`);
    ids.set(name, c.body.id);
  };
  for (let i = 0; i < PEOPLE.length; i += 2) await Promise.all(PEOPLE.slice(i, i + 2).map(one));
  assert.ok(misses.length <= 4, `too many photos without a detected face: ${misses.join(', ')}`);
  return ids;
}

test('rank-1: a held-out photo of each of 20 enrolled LFW people finds that person first', { skip: lfwSkip }, async (t) => {
  const t0 = Date.now();
  const ids = await enrolled();
  t.diagnostic(`enrolled ${ids.size} people in ${Date.now() - t0} ms`);
  const wrong: string[] = [];
  let margin = Infinity;
  for (const name of PEOPLE) {
    // min_score=0.25: face-api's SSD scores the face in Adam_Sandler_0004 0.291, under the 0.3 default, and
    // finds nothing else there; this checks recognition, so the detector is given that slack (max_faces=1: the subject).
    const r = await search(lfw(name, 4), 'k=5&max_faces=1&min_score=0.25');
    assert.equal(r.status, 200, `${name}: ${r.text}`);
    const m = r.body.faces[0]?.matches ?? [];
    if (m[0]?.identity.id !== ids.get(name)) {
      wrong.push(`${name}_0004 -> ${m.map((x: any) => `${x.identity.name} ${x.similarity}`).join(', ') || 'no face'}`);
    } else {
      margin = Math.min(margin, m[0].similarity - (m[1]?.similarity ?? -1));
    }
  }
  t.diagnostic(`rank-1 ${PEOPLE.length - wrong.length}/${PEOPLE.length}, smallest gap to the runner-up ${margin.toFixed(4)}, ${Date.now() - t0} ms`);
  assert.deepEqual(wrong, [], `not found at rank 1:\n${wrong.join('\n')}`);
});

test('search: a known face is found above the threshold, not unknown', { skip: lfwSkip }, async () => {
  const ids = await enrolled();
  const r = await search(lfw(KNOWN, 4));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.model, 'dlib-resnet-port');
  assert.equal(r.body.threshold.name, 'default');
  assert.deepEqual(r.body.image, { width: 250, height: 250, format: 'jpeg' });
  const f = r.body.faces[0];
  assert.equal(f.unknown, false);
  assert.equal(f.best.identity.id, ids.get(KNOWN));
  assert.equal(f.best.identity.name, KNOWN);
  assert.ok(f.best.similarity >= r.body.threshold.value, r.text);
  assert.equal(f.matches.length, 5, 'k defaults to 5');
  assert.deepEqual(f.matches[0], { ...f.best, match: true });
  f.matches.forEach((m: any, i: number) => {
    assert.equal(m.match, m.similarity >= r.body.threshold.value);
    if (i > 0) assert.ok(m.similarity <= f.matches[i - 1].similarity, 'best first');
  });
});

test('search: a stranger is unknown, with no identity reaching the threshold', { skip: lfwSkip }, async () => {
  const ids = await enrolled();
  assert.ok(!ids.has(STRANGER[0]));
  const r = await search(lfw(...STRANGER));
  assert.equal(r.status, 200, r.text);
  const f = r.body.faces[0];
  assert.ok(f.matches.length > 0, r.text);
  assert.ok(f.matches[0].similarity < r.body.threshold.value,
    `pick another stranger: top similarity ${f.matches[0].similarity} >= threshold ${r.body.threshold.value}`);
  assert.equal(f.unknown, true);
  assert.equal(f.best, null);
  assert.ok(f.matches.every((m: any) => m.match === false));
});

test('search: k caps the matches; a numeric threshold is echoed', { skip: lfwSkip }, async () => {
  await enrolled();
  const probe = lfw(KNOWN, 4);
  for (const [k, want] of [[1, 1], [3, 3], [100, PEOPLE.length]]) {
    const r = await search(probe, `k=${k}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.faces[0].matches.length, want, `k=${k}`);
  }
  const strict = await search(probe, 'threshold=0.99');
  assert.equal(strict.status, 200, strict.text);
  assert.equal(strict.body.threshold.name, 'custom');
  assert.equal(strict.body.threshold.value, 0.99);
  const f = strict.body.faces[0];
  assert.ok(f.matches[0].similarity < 0.99, 'a real photo of a known person stays below 0.99');
  assert.equal(f.matches[0].identity.name, KNOWN);
  assert.equal(f.unknown, true);
  assert.equal(f.matches[0].match, false);
});

test('search: a threshold named in the model card is echoed', { skip: lfwSkip || farSkip }, async () => {
  await enrolled();
  const r = await search(lfw(KNOWN, 4), 'threshold=far_1e-3');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.threshold.name, 'far_1e-3');
  assert.equal(r.body.threshold.value, CARD_THRESHOLDS['far_1e-3'].value);
  assert.equal(r.body.faces[0].unknown, r.body.faces[0].matches[0].similarity < r.body.threshold.value);
});

test('search: bad k or threshold -> 400 invalid_request; missing or non-image input is refused', async () => {
  const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } }).png().toBuffer();
  for (const q of ['k=0', 'k=1000', 'k=abc', 'k=1.5', 'k=', 'threshold=NaN', 'threshold=2', 'threshold=-1.5', 'threshold=', 'max_faces=0', 'unknown=1']) {
    assertError(await search(png, q), 400, 'invalid_request', q);
  }
  assertError(await postForm('/v1/search', {}), 400, 'missing_field');
  assertError(await search(Buffer.from('plain text, not an image')), 415, 'unsupported_format');
  const blank = await search(await sharp({ create: { width: 300, height: 200, channels: 3, background: '#7f7f7f' } }).jpeg().toBuffer());
  assert.equal(blank.status, 200, blank.text);
  assert.deepEqual(blank.body.faces, []);
});

test('search: a group photo returns every face with its box and matches; max_faces=1 the largest', async () => {
  const r = await search(groupPhoto, 'k=3');
  assert.equal(r.status, 200, r.text);
  assert.ok(r.body.faces.length >= 2, `${r.body.faces.length} faces`);
  const boxes = new Set<string>();
  for (const f of r.body.faces) {
    for (const key of ['x', 'y', 'width', 'height']) assert.equal(typeof f.box[key], 'number');
    assert.ok(f.box.width >= 20 && f.score >= 0.3);
    assert.equal(Object.keys(f.landmarks).length, 5);
    assert.ok(Array.isArray(f.matches) && f.matches.length === Math.min(3, PEOPLE.length));
    assert.equal(typeof f.unknown, 'boolean');
    assert.equal(f.unknown, f.best === null);
    boxes.add(JSON.stringify(f.box));
  }
  assert.equal(boxes.size, r.body.faces.length, 'one entry per distinct face');
  const one = await search(groupPhoto, 'max_faces=1');
  assert.equal(one.status, 200, one.text);
  assert.equal(one.body.faces.length, 1);
  assert.deepEqual(one.body.faces[0].box, r.body.faces[0].box);
});

// ---- persistence and model binding: these restart the server on the same data directory ----

async function allIdentities(): Promise<any[]> {
  const out: any[] = [];
  let cursor: string | null = null;
  do {
    const r: Reply = await call(`/v1/identities?limit=7${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    assert.equal(r.status, 200, r.text);
    out.push(...r.body.items);
    cursor = r.body.next_cursor;
  } while (cursor !== null);
  return out;
}

test('after a clean restart identities, faces and search results are the same and the index is loaded', async () => {
  if (LFW_MISSING) await json('POST', '/v1/identities', { name: 'kept' });
  const ids = LFW_MISSING ? new Map<string, string>() : await enrolled();
  const probes = LFW_MISSING ? [] : [lfw(KNOWN, 4), lfw(PEOPLE[0], 4), lfw(...STRANGER)];
  const snapshot = async () => ({
    identities: await allIdentities(),
    faces: await Promise.all([...ids.values()].slice(0, 3).map(async (id) => (await call(`/v1/identities/${id}/faces`)).body)),
    searches: await Promise.all(probes.map(async (p) => (await search(p, 'k=5')).body.faces)),
  });
  const was = await snapshot();
  assert.ok(was.identities.length >= 1);
  await server.close();
  await server.start();

  const status = await call('/v1/status');
  assert.equal(status.body.gallery.index.source, 'loaded', JSON.stringify(status.body.gallery.index));
  assert.equal(status.body.gallery.index.count, ids.size);
  const now = await snapshot();
  assert.deepEqual(now.identities, was.identities);
  assert.deepEqual(now.faces, was.faces);
  now.searches.forEach((faces: any[], i: number) => {
    assert.equal(faces.length, was.searches[i].length);
    faces.forEach((f, j) => {
      const old = was.searches[i][j];
      assert.deepEqual(f.box, old.box);
      assert.equal(f.best?.identity.id, old.best?.identity.id);
      assert.deepEqual(f.matches.map((m: any) => m.identity.id), old.matches.map((m: any) => m.identity.id));
      f.matches.forEach((m: any, k: number) => assert.ok(Math.abs(m.similarity - old.matches[k].similarity) <= 1e-6));
    });
  });
});

test('a gallery built with one model refuses a server running another, naming both and irface reindex', async () => {
  const modelDir = mkdtempSync(join(tmpdir(), 'irface-other-model-'));
  try {
    const cardPath = config.modelPath.replace(/\.onnx$/, '.json');
    const card = JSON.parse(readFileSync(cardPath, 'utf8'));
    const originalId: string = card.id;
    card.id = 'other-model';
    // Only the card changes, so its sha256 of the ONNX file stays valid.
    writeFileSync(join(modelDir, basename(cardPath)), JSON.stringify(card));
    copyFileSync(config.modelPath, join(modelDir, basename(config.modelPath)));
    const other = testConfig({ IRFACE_DATA_DIR: dataDir, IRFACE_MODEL: join(modelDir, basename(config.modelPath)) });
    await assert.rejects(buildServer(other, { logger: false }), (err: Error) => {
      assert.match(err.message, new RegExp(`"${originalId}"`));
      assert.match(err.message, /"other-model"/);
      assert.match(err.message, /irface reindex/);
      return true;
    });
  } finally {
    rmSync(modelDir, { recursive: true, force: true });
  }
});
