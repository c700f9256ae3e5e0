// Checks the ONNX embedder against the PyTorch reference embeddings shipped beside the model, and the card checks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, type LoadedModel } from '../model/card.ts';
import { OnnxEmbedder } from './onnx-embedder.ts';
import type { RgbImage } from '../pipeline/warp.ts';
import { cosine, l2Norm } from '../../gallery/center-math.ts';
import { REFERENCE_FILE, SHIPPED_MODEL } from '../test-support.ts';

interface Reference {
  model_id: string;
  generator: { kind: string; height: number; width: number };
  tolerance: { max_abs_diff: number; min_cosine: number };
  cases: { seed: number; embedding: number[] }[];
}

const reference = JSON.parse(readFileSync(REFERENCE_FILE, 'utf8')) as Reference;

/** The exporter's generator: state = (1103515245*state + 12345) mod 2^31, value = (state >> 16) & 255, HWC. */
function lcgImage(seed: number, width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  let state = seed;
  for (let i = 0; i < data.length; i++) {
    // Math.imul keeps the low 32 bits exactly; masking to 31 bits is the mod 2^31.
    state = (Math.imul(1103515245, state) + 12345) & 0x7fffffff;
    data[i] = (state >>> 16) & 255;
  }
  return { data, width, height };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

let model: LoadedModel;
let embedder: OnnxEmbedder;
let images: RgbImage[];
const tmp = mkdtempSync(join(tmpdir(), 'irface-card-'));

before(async () => {
  model = loadModel(SHIPPED_MODEL);
  embedder = await OnnxEmbedder.create(model, { device: 'cpu', threads: 2 });
  const { width, height } = reference.generator;
  images = reference.cases.map((c) => lcgImage(c.seed, width, height));
});

after(async () => {
  await embedder?.close();
  rmSync(tmp, { recursive: true, force: true });
});

test('the generator reproduces the exporter: first values of seed 1', () => {
  // state1 = 1103527590 -> (>>16)&255 = 0x41c6 & 255 = 198
  const img = lcgImage(1, 2, 1);
  assert.equal(img.data[0], (1103527590 >>> 16) & 255);
  let s = 1n;
  const expected: number[] = [];
  for (let i = 0; i < 6; i++) {
    s = (1103515245n * s + 12345n) % 2147483648n;
    expected.push(Number((s >> 16n) & 255n));
  }
  assert.deepEqual(Array.from(img.data), expected);
});

test('the card describes what the reference was made for', () => {
  assert.equal(reference.model_id, model.card.id);
  assert.equal(reference.cases.length, 4);
  assert.equal(reference.generator.kind, 'lcg');
  assert.equal(embedder.dim, 128);
  assert.equal(embedder.device, 'cpu');
});

function assertMatchesReference(got: Float32Array[]) {
  const tol = reference.tolerance;
  assert.equal(got.length, reference.cases.length);
  got.forEach((e, i) => {
    const want = reference.cases[i].embedding;
    assert.equal(e.length, 128);
    assert.ok(Math.abs(l2Norm(e) - 1) < 1e-5, `seed ${reference.cases[i].seed}: |e| = ${l2Norm(e)}`);
    const d = maxAbsDiff(e, want);
    const c = cosine(e, want);
    assert.ok(d < tol.max_abs_diff && d < 1e-4, `seed ${reference.cases[i].seed}: max |diff| ${d}`);
    assert.ok(c > tol.min_cosine && c > 0.99999, `seed ${reference.cases[i].seed}: cosine ${c}`);
  });
}

test('one batch of the 4 reference images matches the PyTorch embeddings', async () => {
  assertMatchesReference(await embedder.embed(images));
});

test('one image at a time matches the PyTorch embeddings too', async () => {
  const got: Float32Array[] = [];
  for (const img of images) got.push(...(await embedder.embed([img])));
  assertMatchesReference(got);
});

test('batches larger than maxBatch are split and still match', async () => {
  const small = await OnnxEmbedder.create(model, { device: 'cpu', threads: 1, maxBatch: 3 });
  try {
    assertMatchesReference(await small.embed(images));
  } finally {
    await small.close();
  }
});

test('crops normalised twice do NOT match (guards the normalisation convention)', async () => {
  // ((x - m) / s - m) / s == (x - m(1 + s)) / s^2: a card with those numbers feeds twice-normalised crops.
  const { mean, std } = model.card.input.normalization;
  const twice: LoadedModel = {
    ...model,
    card: {
      ...model.card,
      input: {
        ...model.card.input,
        normalization: {
          mean: [0, 1, 2].map((c) => mean[c] * (1 + std[c])) as [number, number, number],
          std: std.map((s) => s * s) as [number, number, number],
        },
      },
    },
  };
  const wrong = await OnnxEmbedder.create(twice, { device: 'cpu', threads: 1 });
  try {
    const got = await wrong.embed(images);
    got.forEach((e, i) => {
      const c = cosine(e, reference.cases[i].embedding);
      assert.ok(c < 0.99, `seed ${reference.cases[i].seed}: twice-normalised input still gives cosine ${c}`);
    });
  } finally {
    await wrong.close();
  }
});

test('a crop of the wrong size is refused, naming both sizes', async () => {
  await assert.rejects(embedder.embed([lcgImage(1, 112, 112)]), /112x112.*150x150/);
});

/** Writes `<name>.json` (a modified copy of the shipped card) beside `<name>.onnx`, a link to the shipped file. */
function cardVariant(name: string, edit: (card: Record<string, any>) => void): string {
  const card = JSON.parse(readFileSync(model.cardPath, 'utf8'));
  card.file = `${name}.onnx`;
  edit(card);
  writeFileSync(join(tmp, `${name}.json`), JSON.stringify(card));
  symlinkSync(model.onnxPath, join(tmp, `${name}.onnx`));
  return join(tmp, `${name}.onnx`);
}

test('a card whose sha256 does not match the file is refused, naming both hashes', () => {
  const bad = 'ab'.repeat(32);
  const path = cardVariant('badsum', (c) => { c.sha256 = bad; });
  assert.throws(() => loadModel(path), (e: Error) => {
    assert.match(e.message, new RegExp(bad));
    assert.match(e.message, new RegExp(model.card.sha256));
    assert.match(e.message, /sha256/);
    return true;
  });
});

test('a card with a bad field is refused, naming the field', () => {
  const path = cardVariant('nhwc', (c) => { c.input.layout = 'NHWC'; });
  assert.throws(() => loadModel(path), /nhwc\.json: model card field input\.layout: expected "NCHW"/);
  const path2 = cardVariant('nostd', (c) => { c.input.normalization.std = [255, 0, 255]; });
  assert.throws(() => loadModel(path2), /input\.normalization\.std/);
  const path3 = cardVariant('badthr', (c) => { c.similarity.thresholds.default = { value: 3, method: 'x' }; });
  assert.throws(() => loadModel(path3), /similarity\.thresholds\.default\.value/);
});

test('a card naming an input the graph does not have is refused by the embedder', async () => {
  const path = cardVariant('badinput', (c) => { c.input.name = 'pixels'; });
  const loaded = loadModel(path);
  await assert.rejects(OnnxEmbedder.create(loaded, { device: 'cpu', threads: 1 }), /input "pixels"/);
});
