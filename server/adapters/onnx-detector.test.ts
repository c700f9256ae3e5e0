// Checks the ONNX detector against face-api itself (demo photos, LFW), its card checks, and prints timings.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { FaceApiDetector } from './faceapi/detector.ts';
import { OnnxDetector } from './onnx-detector.ts';
import { SharpDecoder } from './sharp-decoder.ts';
import { parseConfig, PROJECT_ROOT } from '../config.ts';
import { DETECTOR_FILE, loadDetectorCard, loadDetectorModels, validateLandmarkCard, validateSsdCard, type DetectorModels } from '../model/detector-card.ts';
import { letterbox, resizeToNchw } from '../pipeline/detection-math.ts';
import type { Box, DetectedFace } from '../pipeline/types.ts';
import type { RgbImage } from '../pipeline/warp.ts';
import { demoPhoto, LFW_DIR, LFW_MISSING, lfwPhoto } from '../test-support.ts';

const MODELS_DIR = join(PROJECT_ROOT, 'models');
const { detectMaxSide, minDetectionScore } = parseConfig({});
const TOL = { minIou: 0.95, maxLandmarkMeanPx: 1, maxScoreDiff: 1e-3 };

let models: DetectorModels;
let onnx: OnnxDetector;
let faceapi: FaceApiDetector;
const decoder = new SharpDecoder({ maxImageBytes: 64 * 1024 * 1024, maxPixels: 100_000_000 });
const tmp = mkdtempSync(join(tmpdir(), 'irface-detcard-'));

before(async () => {
  models = loadDetectorModels(MODELS_DIR);
  faceapi = new FaceApiDetector(1);
  onnx = await OnnxDetector.create(models, { device: 'cpu', threads: 2 });
  await faceapi.ready();
});

after(async () => {
  await faceapi?.close();
  await onnx?.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function load(path: string, maxSide = detectMaxSide): Promise<RgbImage> {
  const { image } = await decoder.decode(readFileSync(path));
  return (await decoder.downscale(image, maxSide)).image;
}

function iou(a: Box, b: Box): number {
  const ix = Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));
  return (ix * iy) / (a.width * a.height + b.width * b.height - ix * iy);
}

interface Agreement { faces: number; minIou: number; maxScoreDiff: number; maxLandmarkMeanPx: number }

/** Pairs each face-api face with our face of highest IoU and asserts the tolerances; returns the worst case. */
function assertParity(label: string, theirs: DetectedFace[], ours: DetectedFace[]): Agreement {
  assert.equal(ours.length, theirs.length, `${label}: face-api found ${theirs.length} faces, onnx ${ours.length}`);
  const worst: Agreement = { faces: theirs.length, minIou: 1, maxScoreDiff: 0, maxLandmarkMeanPx: 0 };
  for (const t of theirs) {
    const o = ours.reduce((best, f) => (iou(t.box, f.box) > iou(t.box, best.box) ? f : best));
    const tl = t.landmarks ?? [], ol = o.landmarks ?? [];
    assert.equal(tl.length, 68);
    assert.equal(ol.length, 68);
    const err = tl.reduce((s, p, k) => s + Math.hypot(p.x - ol[k].x, p.y - ol[k].y), 0) / tl.length;
    worst.minIou = Math.min(worst.minIou, iou(t.box, o.box));
    worst.maxScoreDiff = Math.max(worst.maxScoreDiff, Math.abs(t.score - o.score));
    worst.maxLandmarkMeanPx = Math.max(worst.maxLandmarkMeanPx, err);
  }
  const at = `${label}: ${JSON.stringify(worst)}`;
  assert.ok(worst.minIou >= TOL.minIou, at);
  assert.ok(worst.maxScoreDiff <= TOL.maxScoreDiff, at);
  assert.ok(worst.maxLandmarkMeanPx <= TOL.maxLandmarkMeanPx, at);
  return worst;
}

async function parityOn(t: { diagnostic: (m: string) => void }, label: string, image: RgbImage): Promise<Agreement> {
  const opts = { minScore: minDetectionScore };
  const [theirs, ours] = await Promise.all([faceapi.detect(image, opts), onnx.detect(image, opts)]);
  const a = assertParity(label, theirs, ours);
  t.diagnostic(`${label} ${image.width}x${image.height}: ${a.faces} faces, min IoU ${a.minIou.toFixed(6)}, ` +
    `max |score diff| ${a.maxScoreDiff.toExponential(2)}, max mean landmark error ${a.maxLandmarkMeanPx.toFixed(4)} px`);
  return a;
}

test('cards: the shipped pair loads; a wrong field, a wrong checksum or a wrong output name is refused by name', async () => {
  assert.equal(models.detector.card.input.width, 512);
  assert.equal(models.landmarks.card.input.width, 112);
  const det = JSON.parse(readFileSync(models.detector.cardPath, 'utf8'));
  const lmk = JSON.parse(readFileSync(models.landmarks.cardPath, 'utf8'));
  assert.throws(() => validateSsdCard({ ...det, outputs: { ...det.outputs, boxes: { ...det.outputs.boxes, order: 'xmin,ymin,xmax,ymax' } } }),
    /outputs\.boxes\.order: expected "ymin,xmin,ymax,xmax"/);
  assert.throws(() => validateSsdCard({ ...det, anchors: { count: 100 } }), /outputs\.boxes\.shape: expected \[batch, 100, 4\]/);
  assert.throws(() => validateSsdCard({ ...det, input: { ...det.input, normalization: { mean: [0, 0, 0], std: [1, 0, 1] } } }),
    /input\.normalization\.std/);
  assert.throws(() => validateSsdCard(lmk), /task: expected "face-detection"/);
  assert.throws(() => validateLandmarkCard({ ...lmk, schema: 'irface.model-card/1' }), /schema: expected "irface.detector-card\/1"/);

  symlinkSync(models.detector.onnxPath, join(tmp, DETECTOR_FILE));
  const cardAt = join(tmp, DETECTOR_FILE.replace(/\.onnx$/, '.json'));
  writeFileSync(cardAt, JSON.stringify({ ...det, sha256: '0'.repeat(64) }));
  assert.throws(() => loadDetectorCard(join(tmp, DETECTOR_FILE), validateSsdCard), /has sha256 [0-9a-f]{64} but its card says 0{64}/);
  writeFileSync(cardAt, JSON.stringify({ ...det, outputs: { ...det.outputs, boxes: { ...det.outputs.boxes, name: 'bbox' } } }));
  const renamed = { ...models, detector: loadDetectorCard(join(tmp, DETECTOR_FILE), validateSsdCard) };
  await assert.rejects(OnnxDetector.create(renamed, { device: 'cpu', threads: 1 }), /expects input "image" \[batch, 3, 512, 512\] and outputs "bbox", "scores"/);
});

test('an empty image and a size mismatch are refused with the sizes named', async () => {
  await assert.rejects(onnx.detect({ data: new Uint8Array(5), width: 2, height: 2 }, { minScore: 0.3 }), /got 5 bytes for 2x2 \(expected 12\)/);
  const blank = await onnx.detect({ data: new Uint8Array(64 * 48 * 3), width: 64, height: 48 }, { minScore: 0.3 });
  assert.deepEqual(blank, []);
});

test(`parity with face-api on its demo photos at the server's detection size (${detectMaxSide} px)`, async (t) => {
  let faces = 0;
  for (let n = 1; n <= 6; n++) faces += (await parityOn(t, `sample${n}`, await load(demoPhoto(n)))).faces;
  assert.ok(faces >= 6, `only ${faces} faces in the six demo photos`);
});

test('parity at full size (sample1, no downscale), and with maxResults = 2', async (t) => {
  const image = await load(demoPhoto(1), Infinity);
  await parityOn(t, 'sample1 full size', image);
  const opts = { minScore: minDetectionScore, maxResults: 2 };
  const [theirs, ours] = await Promise.all([faceapi.detect(image, opts), onnx.detect(image, opts)]);
  assert.equal(ours.length, 2);
  assertParity('sample1 maxResults 2', theirs, ours);
});

test('parity on 10 LFW photos', { skip: LFW_MISSING && `LFW not found at ${LFW_DIR}` }, async (t) => {
  const people = readdirSync(LFW_DIR).sort();
  const step = Math.floor(people.length / 10);
  for (let i = 0; i < 10; i++) {
    const name = people[i * step];
    await parityOn(t, name, await load(lfwPhoto(name, 1)));
  }
});

test('timing: one run per demo photo after warm-up (printed, not asserted)', async (t) => {
  const images = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => load(demoPhoto(n))));
  const opts = { minScore: minDetectionScore };
  await onnx.detect(images[0], opts);
  await faceapi.detect(images[0], opts);
  const ms = (t0: number) => (performance.now() - t0).toFixed(1);
  for (const [i, image] of images.entries()) {
    let t0 = performance.now();
    const ours = await onnx.detect(image, opts);
    const onnxMs = ms(t0);
    t0 = performance.now();
    await faceapi.detect(image, opts);
    const faceapiMs = ms(t0);
    t0 = performance.now();
    resizeToNchw(image, letterbox(image.width, image.height), 512, models.detector.card.input.normalization, new Float32Array(3 * 512 * 512));
    t.diagnostic(`sample${i + 1} ${image.width}x${image.height} (${ours.length} faces): onnx ${onnxMs} ms ` +
      `(letterbox+resize in JS ${ms(t0)} ms), face-api ${faceapiMs} ms`);
  }
});
