// Section 1: detection + 68 landmarks per photo, irface's ONNX detector vs face-api's wasm detector, interleaved.
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../server/config.ts';
import { SharpDecoder } from '../../server/adapters/sharp-decoder.ts';
import { OnnxDetector } from '../../server/adapters/onnx-detector.ts';
import { FaceApiDetector } from '../../server/adapters/faceapi/detector.ts';
import { loadDetectorModels } from '../../server/model/detector-card.ts';
import type { Detector } from '../../server/pipeline/types.ts';
import type { RgbImage } from '../../server/pipeline/warp.ts';
import { benchConfig, demoPhotos, lfwAvailable, lfwPhotos, LFW_IMAGES } from './inputs.ts';
import { atLeast, table, type SectionOptions, type SectionResult } from './report.ts';
import { fmtMs, fmtRatio, median, summarize, timed } from './stats.ts';

const TARGET_RATIO = 5;

interface Contender {
  short: string;
  label: string;
  detector: Detector;
}

export async function detectSection({ quick, log }: SectionOptions): Promise<SectionResult> {
  const config = benchConfig({ IRFACE_DETECTOR: 'onnx' });
  const reps = quick ? 3 : 20;
  const decoder = new SharpDecoder({ maxImageBytes: config.maxImageBytes, maxPixels: config.maxPixels });
  // The server's own path: decode, then downscale to the detection size (640 px longer side).
  const sources = [...demoPhotos(), ...lfwPhotos(quick ? 2 : 6)];
  const photos: { name: string; image: RgbImage }[] = [];
  for (const p of sources) {
    const decoded = await decoder.decode(p.bytes);
    photos.push({ name: p.name, image: (await decoder.downscale(decoded.image, config.detectMaxSide)).image });
  }

  const models = loadDetectorModels(join(PROJECT_ROOT, 'models'));
  const faceapi = new FaceApiDetector(1);
  const contenders: Contender[] = [
    { short: 'ONNX', label: `irface ONNX (${config.detectWorkers} threads, the server's setting)`, detector: await OnnxDetector.create(models, { device: 'cpu', threads: config.detectWorkers }) },
    { short: 'ONNX 1t', label: 'irface ONNX (1 thread)', detector: await OnnxDetector.create(models, { device: 'cpu', threads: 1 }) },
    { short: 'face-api', label: 'face-api wasm (1 worker)', detector: faceapi },
  ];
  await faceapi.ready();
  const opts = { minScore: config.minDetectionScore };
  const times = contenders.map(() => photos.map((): number[] => []));
  const faces = contenders.map(() => photos.map(() => 0));
  try {
    // Warm-up (first runs allocate and compile), then repeated rounds; within a round every photo goes
    // through every detector back to back, in an order rotated per round, so drift hits all alike.
    for (const [i, c] of contenders.entries()) {
      for (const [j, p] of photos.entries()) faces[i][j] = (await c.detector.detect(p.image, opts)).length;
    }
    for (let r = 0; r < reps; r++) {
      log(`detect: round ${r + 1}/${reps}`);
      for (const [j, p] of photos.entries()) {
        for (let k = 0; k < contenders.length; k++) {
          const i = (k + r) % contenders.length;
          times[i][j].push((await timed(() => contenders[i].detector.detect(p.image, opts))).ms);
        }
      }
    }
  } finally {
    for (const c of contenders) await c.detector.close();
  }

  const [fast, single, ref] = [0, 1, 2];
  const med = times.map((perPhoto) => perPhoto.map(median));
  const rows = photos.map((p, j) => {
    const s = contenders.map((_, i) => summarize(times[i][j]));
    return [
      p.name, `${p.image.width}x${p.image.height}`, faces.map((f) => f[j]).join(' / '),
      ...s.map((x) => `${fmtMs(x.p50)} / ${fmtMs(x.p99)}`),
      fmtRatio(med[ref][j] / med[fast][j]), fmtRatio(med[ref][j] / med[single][j]),
    ];
  });
  const total = med.map((m) => m.reduce((a, b) => a + b, 0));
  const perPhotoRatios = photos.map((_, j) => med[ref][j] / med[fast][j]);
  rows.push([
    '**all photos** (sum of medians)', '', faces.map((f) => f.reduce((a, b) => a + b, 0)).join(' / '),
    ...total.map((t) => `${fmtMs(t)}`), fmtRatio(total[ref] / total[fast]), fmtRatio(total[ref] / total[single]),
  ]);

  const body = [
    `Each photo is decoded and downscaled to the server's detection size (longer side ${config.detectMaxSide} px) ` +
      `exactly as the server does, then timed through \`detect()\` (SSD MobileNet V1 + 68-point landmarks, ` +
      `min score ${config.minDetectionScore}): ${reps} rounds after one warm-up, the detectors interleaved photo by photo. ` +
      `face-api runs in one worker thread (tfjs wasm backend, single-threaded); its time includes the hand-off to the worker, ` +
      `as in the server. ${lfwAvailable() ? 'LFW photos are 250x250 and are not resized.' : `LFW is absent (${LFW_IMAGES}): demo photos only.`}`,
    table(
      ['photo', 'detected at', `faces found (${contenders.map((c) => c.short).join(' / ')})`,
        ...contenders.map((c) => `${c.label}: p50 / p99 ms`), 'speed-up vs face-api', 'speed-up of ONNX 1 thread'],
      rows,
    ),
    `Speed-up = face-api median / irface median. Per photo it ranges from ${fmtRatio(Math.min(...perPhotoRatios))} ` +
      `to ${fmtRatio(Math.max(...perPhotoRatios))}; the ONNX column with 1 thread compares the same number of cores.`,
  ];
  return {
    id: 'detect',
    title: '1. Detection + landmarks per photo',
    body,
    targets: [atLeast(`detection speed-up over face-api wasm (all ${photos.length} photos, sum of medians, ${config.detectWorkers} threads)`,
      total[ref] / total[fast], TARGET_RATIO, fmtRatio)],
  };
}
