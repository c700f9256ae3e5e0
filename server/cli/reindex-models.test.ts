// Moving one gallery between the two shipped models with `irface reindex`, over HTTP and the real command line:
// enroll with the default model, reindex to the IR-AM model, search with it, and back again.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildServer } from '../compose.ts';
import { PROJECT_ROOT } from '../config.ts';
import { lfwPhoto, LFW_DIR, LFW_MISSING, SHIPPED_MODEL, testConfig, testServer } from '../test-support.ts';

/** The second shipped model: the dlib ResNet port fine-tuned with IR-AM-Softmax on every LFW person (issue 13). */
const IR_AM_MODEL = join(PROJECT_ROOT, 'models/dlib-resnet-ir-am-lfw.onnx');
const cardId = (onnx: string): string => JSON.parse(readFileSync(onnx.replace(/\.onnx$/, '.json'), 'utf8')).id;

const dataDir = mkdtempSync(join(tmpdir(), 'irface-reindex-models-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

const lfwSkip = LFW_MISSING ? `LFW not found at ${LFW_DIR} (set IRFACE_LFW)` : false;
// Six people with at least two photos: photo 1 enrolled, photo 2 searched.
const PEOPLE = LFW_MISSING ? [] : readdirSync(LFW_DIR).sort().filter((p) => readdirSync(join(LFW_DIR, p)).length >= 2).slice(0, 6);

function reindex(model: string): any {
  const out = execFileSync(process.execPath, [join(PROJECT_ROOT, 'bin/irface.mjs'), 'reindex'], {
    env: { ...process.env, IRFACE_DATA_DIR: dataDir, IRFACE_MODEL: model, IRFACE_LOG_LEVEL: 'silent' },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(out);
}

/** Searches photo 2 of every person with a server on `model`; the names found at rank 1, and the model that answered. */
async function searchAll(model: string): Promise<{ found: string[]; model: string }> {
  const server = testServer(testConfig({ IRFACE_DATA_DIR: dataDir, IRFACE_MODEL: model }));
  await server.start();
  try {
    const found: string[] = [];
    for (const name of PEOPLE) {
      const r = await server.postForm('/v1/search?k=3&max_faces=1', { image: readFileSync(lfwPhoto(name, 2)) });
      assert.equal(r.status, 200, `${name}: ${r.text}`);
      found.push(r.body.faces[0]?.matches?.[0]?.identity.name ?? 'no match');
    }
    const v = await server.postForm('/v1/verify', { image_a: readFileSync(lfwPhoto(PEOPLE[0], 1)), image_b: readFileSync(lfwPhoto(PEOPLE[0], 2)) });
    assert.equal(v.status, 200, v.text);
    return { found, model: v.body.model };
  } finally {
    await server.close();
  }
}

test('the gallery moves between the two shipped models with irface reindex and keeps finding its people', { skip: lfwSkip }, async () => {
  const [base, irAm] = [cardId(SHIPPED_MODEL), cardId(IR_AM_MODEL)];
  assert.notEqual(base, irAm);

  // Enroll with the default model.
  const server = testServer(testConfig({ IRFACE_DATA_DIR: dataDir, IRFACE_MODEL: SHIPPED_MODEL }));
  await server.start();
  try {
    for (const name of PEOPLE) {
      const c = await server.json('POST', '/v1/identities', { name });
      assert.equal(c.status, 201, c.text);
      const r = await server.postForm(`/v1/identities/${c.body.id}/faces?on_multiple_faces=largest`, { images: [readFileSync(lfwPhoto(name, 1))] });
      assert.equal(r.status, 201, `${name}: ${r.text}`);
    }
  } finally {
    await server.close();
  }
  assert.deepEqual((await searchAll(SHIPPED_MODEL)).found, PEOPLE);

  // The IR-AM model refuses the gallery until it is reindexed, naming both models and the command.
  await assert.rejects(buildServer(testConfig({ IRFACE_DATA_DIR: dataDir, IRFACE_MODEL: IR_AM_MODEL }), { logger: false }), (err: Error) => {
    assert.match(err.message, new RegExp(`"${base}"`));
    assert.match(err.message, new RegExp(`"${irAm}"`));
    assert.match(err.message, /irface reindex/);
    return true;
  });

  const there = reindex(IR_AM_MODEL);
  assert.equal(there.status, 'reindexed', JSON.stringify(there));
  assert.equal(there.from, base);
  assert.equal(there.to, irAm);
  const withIrAm = await searchAll(IR_AM_MODEL);
  assert.equal(withIrAm.model, irAm);
  assert.deepEqual(withIrAm.found, PEOPLE);

  // And back: the stored crops are re-embedded with the default model again.
  const back = reindex(SHIPPED_MODEL);
  assert.equal(back.status, 'reindexed', JSON.stringify(back));
  assert.equal(back.to, base);
  const again = await searchAll(SHIPPED_MODEL);
  assert.equal(again.model, base);
  assert.deepEqual(again.found, PEOPLE);
});
