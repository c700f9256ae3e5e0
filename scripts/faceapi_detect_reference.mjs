// Runs face-api's SSD MobileNet V1 + 68-point landmarks on its demo photos: the ground truth for the PyTorch ports.
// Usage: node scripts/faceapi_detect_reference.mjs <out_dir> [minConfidence]
// Writes <out_dir>/reference.json plus, per photo, the decoded pixels (<name>.rgb, HWC uint8) so Python
// sees exactly what face-api saw (no second JPEG decoder), and the detector's raw outputs for all 5118
// anchors (<name>.boxes.f32: 5118x4 [ymin, xmin, ymax, xmax] relative to the padded square,
// <name>.scores.f32: 5118), little-endian float32, to localise a disagreement to net vs post-processing.
import { createRequire } from 'node:module';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const faceapiDir = path.join(repoRoot, 'node_modules', '@vladmandic', 'face-api');
const wasmDir = path.join(repoRoot, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist') + path.sep;

const SAMPLES = [1, 2, 3, 4, 5, 6].map((i) => `sample${i}`);
const MAX_RESULTS = 100; // face-api's default

async function setup() {
  const tf = require('@tensorflow/tfjs');
  const wasm = require('@tensorflow/tfjs-backend-wasm');
  // Must precede setBackend, otherwise the backend fetches its .wasm files from a CDN.
  wasm.setWasmPaths(wasmDir);
  await tf.setBackend('wasm');
  await tf.ready();
  const faceapi = require(path.join(faceapiDir, 'dist', 'face-api.node-wasm.js'));
  const modelDir = path.join(faceapiDir, 'model');
  await faceapi.nets.ssdMobilenetv1.loadFromDisk(modelDir);
  await faceapi.nets.faceLandmark68Net.loadFromDisk(modelDir);
  return { tf, faceapi };
}

// The raw network outputs for one image, as locateFaces sees them before NMS.
async function rawOutputs(faceapi, image) {
  const { boxes, scores } = await faceapi.nets.ssdMobilenetv1.forward(image);
  const out = { boxes: boxes[0].dataSync().slice(), scores: scores[0].dataSync().slice() };
  [...boxes, ...scores].forEach((t) => t.dispose());
  return out;
}

async function main() {
  const outDir = process.argv[2];
  if (!outDir) throw new Error('usage: node scripts/faceapi_detect_reference.mjs <out_dir> [minConfidence]');
  const minConfidence = Number(process.argv[3] ?? 0.3);
  mkdirSync(outDir, { recursive: true });
  const sharp = require('sharp');
  const { tf, faceapi } = await setup();
  const samples = [];
  let detectMs = 0;
  for (const name of SAMPLES) {
    // Same decode as the server: EXIF-rotated, alpha dropped, 8-bit RGB.
    const { data, info } = await sharp(path.join(faceapiDir, 'demo', `${name}.jpg`))
      .rotate().removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const image = tf.tensor3d(new Uint8Array(data), [info.height, info.width, 3], 'int32');
    try {
      const options = new faceapi.SsdMobilenetv1Options({ minConfidence, maxResults: MAX_RESULTS });
      const t0 = performance.now();
      const found = await faceapi.detectAllFaces(image, options).withFaceLandmarks();
      detectMs += performance.now() - t0;
      const raw = await rawOutputs(faceapi, image);
      writeFileSync(path.join(outDir, `${name}.rgb`), data);
      writeFileSync(path.join(outDir, `${name}.boxes.f32`), Buffer.from(raw.boxes.buffer));
      writeFileSync(path.join(outDir, `${name}.scores.f32`), Buffer.from(raw.scores.buffer));
      samples.push({
        name,
        width: info.width,
        height: info.height,
        faces: found.map((f) => ({
          score: f.detection.score,
          box: [f.detection.box.x, f.detection.box.y, f.detection.box.width, f.detection.box.height],
          landmarks: f.landmarks.positions.map((p) => [p.x, p.y]),
        })),
      });
    } finally {
      image.dispose();
    }
  }
  const out = {
    faceapi_version: faceapi.version, tfjs_version: tf.version_core, backend: tf.getBackend(),
    min_confidence: minConfidence, max_results: MAX_RESULTS, detect_ms_total: detectMs, samples,
  };
  writeFileSync(path.join(outDir, 'reference.json'), JSON.stringify(out));
  const faces = samples.reduce((n, s) => n + s.faces.length, 0);
  console.log(`faceapi_detect_reference: ${samples.length} photos, ${faces} faces, `
    + `detectAllFaces+landmarks ${detectMs.toFixed(0)} ms total -> ${outDir}`);
}

main().catch((err) => {
  console.error(`faceapi_detect_reference failed: ${err.stack || err}`);
  process.exit(1);
});
