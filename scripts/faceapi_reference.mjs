// Computes face-api's own descriptors on reproducible inputs, the ground truth for the PyTorch port.
// Usage: node scripts/faceapi_reference.mjs <out.json>
// Cases: 4 pseudo-random 150x150 images (an LCG that Python regenerates from the seed) and real face
// crops cut from face-api's demo photos (their pixels are stored, since Python cannot redo detection).
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const faceapiDir = path.join(repoRoot, 'node_modules', '@vladmandic', 'face-api');
const wasmDir = path.join(repoRoot, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist') + path.sep;

const SIZE = 150;
const SEEDS = [1, 2, 3, 4];
const SAMPLES = [1, 2, 3, 4, 5, 6].map((i) => `sample${i}.jpg`);
const FACES_PER_SAMPLE = 2; // a few faces per photo keeps the run short but varied
const CROP_MARGIN = 1.3; // square side relative to the detector box: roughly a face chip

// state = (1103515245 * state + 12345) mod 2^31, value = (state >> 16) & 255, HWC order.
// Math.imul keeps the low 32 bits exactly; masking to 31 bits is the mod 2^31.
export function lcgPixels(seed) {
  const out = new Uint8Array(SIZE * SIZE * 3);
  let state = seed;
  for (let i = 0; i < out.length; i += 1) {
    state = (Math.imul(1103515245, state) + 12345) & 0x7fffffff;
    out[i] = (state >>> 16) & 255;
  }
  return out;
}

async function setup() {
  const tf = require('@tensorflow/tfjs');
  const wasm = require('@tensorflow/tfjs-backend-wasm');
  // Must precede setBackend, otherwise the backend fetches its .wasm files from a CDN.
  wasm.setWasmPaths(wasmDir);
  await tf.setBackend('wasm');
  await tf.ready();
  const faceapi = require(path.join(faceapiDir, 'dist', 'face-api.node-wasm.js'));
  const modelDir = path.join(faceapiDir, 'model');
  await faceapi.nets.faceRecognitionNet.loadFromDisk(modelDir);
  await faceapi.nets.ssdMobilenetv1.loadFromDisk(modelDir);
  return { tf, faceapi };
}

async function describe(tf, faceapi, pixels) {
  const input = tf.tensor3d(pixels, [SIZE, SIZE, 3], 'int32');
  try {
    return Array.from(await faceapi.computeFaceDescriptor(input));
  } finally {
    input.dispose();
  }
}

// Square box around a detection, shrunk and shifted to stay inside the image.
function squareCrop(box, width, height) {
  const side = Math.min(Math.round(Math.max(box.width, box.height) * CROP_MARGIN), width, height);
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  const left = Math.min(Math.max(Math.round(cx - side / 2), 0), width - side);
  const top = Math.min(Math.max(Math.round(cy - side / 2), 0), height - side);
  return { left, top, width: side, height: side };
}

async function realCrops(tf, faceapi, sharp) {
  const crops = [];
  for (const file of SAMPLES) {
    const { data, info } = await sharp(path.join(faceapiDir, 'demo', file))
      .rotate().removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const image = tf.tensor3d(new Uint8Array(data), [info.height, info.width, 3], 'int32');
    const options = new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5, maxResults: 10 });
    const detections = await faceapi.detectAllFaces(image, options);
    image.dispose();
    // Largest faces first: small ones make blurry 150x150 crops.
    detections.sort((a, b) => b.box.area - a.box.area);
    for (const [k, det] of detections.slice(0, FACES_PER_SAMPLE).entries()) {
      const region = squareCrop(det.box, info.width, info.height);
      const pixels = await sharp(data, { raw: { width: info.width, height: info.height, channels: 3 } })
        .extract(region).resize(SIZE, SIZE).raw().toBuffer();
      crops.push({ name: `${file.replace('.jpg', '')}_face${k}`, kind: 'face', pixels: new Uint8Array(pixels) });
    }
  }
  return crops;
}

async function main() {
  const outPath = process.argv[2];
  if (!outPath) throw new Error('usage: node scripts/faceapi_reference.mjs <out.json>');
  const sharp = require('sharp');
  const { tf, faceapi } = await setup();
  const cases = [];
  for (const seed of SEEDS) {
    const descriptor = await describe(tf, faceapi, lcgPixels(seed));
    cases.push({ name: `lcg_seed${seed}`, kind: 'lcg', seed, descriptor });
  }
  for (const crop of await realCrops(tf, faceapi, sharp)) {
    const descriptor = await describe(tf, faceapi, crop.pixels);
    cases.push({
      name: crop.name, kind: crop.kind, pixels_b64: Buffer.from(crop.pixels).toString('base64'), descriptor,
    });
  }
  const out = {
    faceapi_version: faceapi.version, tfjs_version: tf.version_core, backend: tf.getBackend(),
    size: SIZE, cases,
  };
  writeFileSync(outPath, JSON.stringify(out));
  const faces = cases.filter((c) => c.kind === 'face').length;
  console.log(`faceapi_reference: ${cases.length} cases (${faces} face crops) -> ${outPath}`);
}

main().catch((err) => {
  console.error(`faceapi_reference failed: ${err.stack || err}`);
  process.exit(1);
});
