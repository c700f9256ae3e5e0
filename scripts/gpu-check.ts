// `npm run gpu-check`: proves the CUDA execution provider is really used, that its embeddings match the
// CPU's, and how much faster it is. Exit code 1 on any failure (including a silent CPU fallback).
import { parseConfig } from '../server/config.ts';
import { loadModel } from '../server/model/card.ts';
import { OnnxEmbedder } from '../server/adapters/onnx-embedder.ts';
import { buildRuntime, selfTestPhoto } from '../server/compose.ts';
import { dot } from '../gallery/center-math.ts';
import type { RgbImage } from '../server/pipeline/warp.ts';

async function facesPerSecond(e: OnnxEmbedder, crops: RgbImage[], seconds = 3): Promise<number> {
  await e.embed(crops); // warm-up (CUDA kernels, memory arenas)
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    await e.embed(crops);
    n += crops.length;
  }
  return n / ((performance.now() - t0) / 1000);
}

async function main() {
  const config = parseConfig({ ...process.env, IRFACE_DEVICE: 'cpu' });
  const model = loadModel(config.modelPath);
  // Real aligned faces from the bundled photo, through the server's own pipeline on CPU.
  const rt = await buildRuntime(config);
  const { decoded, faces } = await rt.pipeline.analyze(selfTestPhoto().bytes);
  const crops = faces.map((f) => rt.pipeline.align(decoded.image, f));
  await rt.close();
  if (crops.length === 0) throw new Error('no face found in the self-test photo');
  const batch = Array.from({ length: 32 }, (_, i) => crops[i % crops.length]);

  const logs: string[] = [];
  const cpu = await OnnxEmbedder.create(model, { device: 'cpu', threads: config.embedThreads });
  const gpu = await OnnxEmbedder.create(model, { device: 'cuda', threads: config.embedThreads, log: (m) => logs.push(m) });
  console.log(`model ${model.card.id}; CUDA session device: ${gpu.device}`);
  if (gpu.device !== 'cuda') {
    console.error(`FAIL: the CUDA execution provider is not in use (${logs.join('; ') || 'no reason given'})`);
    console.error('Install onnxruntime-node with its CUDA provider: ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci (see README "GPU").');
    process.exit(1);
  }
  const [a, b] = [await cpu.embed(crops), await gpu.embed(crops)];
  const worst = Math.max(...a.map((v, i) => 1 - dot(v, b[i])));
  console.log(`embeddings: ${crops.length} faces, worst cosine distance GPU vs CPU = ${worst.toExponential(2)} (limit 1e-3)`);
  const cpuFps = await facesPerSecond(cpu, batch);
  const gpuFps = await facesPerSecond(gpu, batch);
  console.log(`throughput at batch 32: CPU ${cpuFps.toFixed(0)} faces/s, GPU ${gpuFps.toFixed(0)} faces/s (${(gpuFps / cpuFps).toFixed(1)}x)`);
  await cpu.close();
  await gpu.close();
  if (worst > 1e-3) {
    console.error('FAIL: GPU embeddings differ from CPU embeddings by more than 1e-3 cosine distance');
    process.exit(1);
  }
  console.log('OK: CUDA provider in use and consistent with CPU');
}

main().catch((e) => {
  console.error(`gpu-check: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
