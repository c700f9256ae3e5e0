// The RetinaFace adapter against the PyTorch port's reference output (raw priors and decoded faces on real
// photos, written by scripts/export_retinaface_onnx.py), and the checks of its card.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { PROJECT_ROOT } from '../config.ts';
import { loadRetinaFaceModel, RETINAFACE_FILE, type LoadedCard, type RetinaFaceCard } from '../model/detector-card.ts';
import { openInline, type TensorSession } from './ort/session.ts';
import { RetinaFaceDetector } from './retinaface-detector.ts';
import { toBgrMinusMean } from '../pipeline/retinaface-math.ts';
import type { RgbImage } from '../pipeline/warp.ts';

const MODELS = join(PROJECT_ROOT, 'models');
const REFERENCE = join(MODELS, RETINAFACE_FILE.replace(/\.onnx$/, '.reference.json'));

interface RefFace { score: number; box: [number, number, number, number]; landmarks: [number, number][] }
interface RefCase {
  photo: string; crop_xywh: [number, number, number, number] | null; width: number; height: number; priors: number; rgb_sha256: string;
  top_priors: { index: number; boxes: number[]; scores: number[]; landmarks: number[] }[];
  faces: RefFace[];
}
interface Reference { min_score: number; tolerance: { raw: number; box_px: number; landmark_px: number; score: number }; cases: RefCase[] }

const ref = JSON.parse(readFileSync(REFERENCE, 'utf8')) as Reference;
let model: LoadedCard<RetinaFaceCard>;
let session: TensorSession;
let detector: RetinaFaceDetector;

before(async () => {
  model = loadRetinaFaceModel(MODELS);
  session = await openInline(model.onnxPath, { device: 'cpu', threads: 2 });
  detector = await RetinaFaceDetector.create(model, { device: 'cpu', threads: 2, orientation: 'upright' });
});
after(async () => {
  await session?.release();
  await detector?.close();
});

/** The case's RGB pixels as the reference saw them (checked by hash). */
async function pixels(c: RefCase): Promise<RgbImage> {
  let img = sharp(join(PROJECT_ROOT, c.photo));
  if (c.crop_xywh) {
    const [left, top, width, height] = c.crop_xywh;
    img = img.extract({ left, top, width, height });
  }
  const { data, info } = await img.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  assert.equal(createHash('sha256').update(data).digest('hex'), c.rgb_sha256, `${c.photo}: decoded pixels differ from the reference's`);
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

test('raw outputs of the shipped ONNX equal the PyTorch port at the reference priors', async () => {
  const { card } = model;
  for (const c of ref.cases) {
    const img = await pixels(c);
    const out = await session.run({ [card.input.name]: { data: toBgrMinusMean([img], card.input.normalization.mean, card.input.color), dims: [1, 3, img.height, img.width] } });
    const boxes = out[card.outputs.boxes.name], scores = out[card.outputs.scores.name], lm = out[card.outputs.landmarks.name];
    assert.equal(boxes.dims[1], c.priors, `${c.photo}: prior count`);
    for (const p of c.top_priors) {
      const close = (got: Float32Array, width: number, want: number[], what: string) => want.forEach((v, k) =>
        assert.ok(Math.abs(got[p.index * width + k] - v) <= ref.tolerance.raw, `${c.photo} prior ${p.index} ${what}[${k}]: ${got[p.index * width + k]} vs ${v}`));
      close(boxes.data, 4, p.boxes, 'boxes');
      close(scores.data, 2, p.scores, 'scores');
      close(lm.data, 10, p.landmarks, 'landmarks');
    }
  }
});

test("decoded faces (priors, decoding, NMS, landmark order) equal the port's, box for box", async () => {
  for (const c of ref.cases) {
    const img = await pixels(c);
    const faces = await detector.detect(img, { minScore: ref.min_score });
    assert.equal(faces.length, c.faces.length, `${c.photo}: face count`);
    c.faces.forEach((want, i) => {
      const got = faces[i];
      const [x0, y0, x1, y1] = [Math.max(0, want.box[0]), Math.max(0, want.box[1]), Math.min(img.width, want.box[2]), Math.min(img.height, want.box[3])];
      const tol = ref.tolerance.box_px;
      assert.ok(Math.abs(got.box.x - x0) <= tol && Math.abs(got.box.y - y0) <= tol &&
        Math.abs(got.box.x + got.box.width - x1) <= tol && Math.abs(got.box.y + got.box.height - y1) <= tol, `${c.photo} face ${i}: box ${JSON.stringify(got.box)} vs ${want.box}`);
      want.landmarks.forEach(([x, y], k) => assert.ok(Math.hypot(got.points[k].x - x, got.points[k].y - y) <= ref.tolerance.landmark_px,
        `${c.photo} face ${i} point ${k}: ${JSON.stringify(got.points[k])} vs ${[x, y]}`));
      assert.ok(Math.abs(got.score - want.score) <= ref.tolerance.score);
    });
  }
});

test('the card is checked: bad fields are named, and a graph that differs from its card is refused', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'irface-retinacard-'));
  try {
    const card = JSON.parse(readFileSync(model.cardPath, 'utf8'));
    symlinkSync(model.onnxPath, join(tmp, RETINAFACE_FILE));
    const cardPath = join(tmp, RETINAFACE_FILE.replace(/\.onnx$/, '.json'));
    const broken: [string, (c: any) => void, RegExp][] = [
      ['landmark names', (c) => { c.outputs.landmarks.points = ['left_eye', 'left_eye', 'nose_tip', 'mouth_left', 'mouth_right']; }, /outputs\.landmarks\.points/],
      ['a scaling std', (c) => { c.input.normalization.std = [58, 57, 57]; }, /input\.normalization\.std/],
      ['fixed input size', (c) => { c.input.height = 640; }, /input\.height\/width/],
      ['priors per level', (c) => { c.priors.min_sizes = [[16, 32]]; }, /priors\.min_sizes/],
      ['checksum', (c) => { c.sha256 = '0'.repeat(64); }, /sha256/],
    ];
    for (const [what, breakIt, message] of broken) {
      const c = structuredClone(card);
      breakIt(c);
      writeFileSync(cardPath, JSON.stringify(c));
      assert.throws(() => loadRetinaFaceModel(tmp), message, what);
    }
    const c = structuredClone(card);
    c.outputs.scores.name = 'conf';
    writeFileSync(cardPath, JSON.stringify(c));
    await assert.rejects(RetinaFaceDetector.create(loadRetinaFaceModel(tmp), { device: 'cpu', threads: 1, orientation: 'auto' }), /expects input "image" \[N, 3, H, W\] and outputs boxes, conf, landmarks/);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
