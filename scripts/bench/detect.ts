// Section 1: detection per photo for every detector the server offers, interleaved: RetinaFace (the default,
// with and without the orientation rule), face-api's SSD + 68 landmarks ported to ONNX, and face-api itself.
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../server/config.ts';
import { SharpDecoder } from '../../server/adapters/sharp-decoder.ts';
import { OnnxDetector } from '../../server/adapters/onnx-detector.ts';
import { RetinaFaceDetector } from '../../server/adapters/retinaface-detector.ts';
import { FaceApiDetector } from '../../server/adapters/faceapi/detector.ts';
import { loadDetectorModels, loadRetinaFaceModel } from '../../server/model/detector-card.ts';
import type { Detector } from '../../server/pipeline/types.ts';
import type { RgbImage } from '../../server/pipeline/warp.ts';
import { benchConfig, demoPhotos, lfwAvailable, lfwPhotos, LFW_IMAGES } from './inputs.ts';
import { atLeast, atMost, table, type SectionOptions, type SectionResult } from './report.ts';
import { fmtMs, fmtRatio, median, summarize, timed } from './stats.ts';

const TARGETS = { overFaceApi: 5, overSsd: 3, orientationCost: 2 };

interface Contender {
  short: string;
  label: string;
  detector: Detector;
  minScore: number;
}

export async function detectSection({ quick, log }: SectionOptions): Promise<SectionResult> {
  const config = benchConfig({ IRFACE_DETECTOR: 'retinaface' });
  const ssdScore = benchConfig({ IRFACE_DETECTOR: 'ssd-mobilenet' }).minDetectionScore;
  const reps = quick ? 3 : 20;
  const decoder = new SharpDecoder({ maxImageBytes: config.maxImageBytes, maxPixels: config.maxPixels });
  // The server's own path: decode, then downscale to the detection size (640 px longer side).
  const sources = [...demoPhotos(), ...lfwPhotos(quick ? 2 : 6)];
  const photos: { name: string; image: RgbImage }[] = [];
  for (const p of sources) {
    const decoded = await decoder.decode(p.bytes);
    photos.push({ name: p.name, image: (await decoder.downscale(decoded.image, config.detectMaxSide)).image });
  }

  const models = join(PROJECT_ROOT, 'models');
  const retina = loadRetinaFaceModel(models);
  const placement = { device: 'cpu' as const, threads: config.detectWorkers, spinning: config.ortSpinning };
  const faceapi = new FaceApiDetector(1);
  const contenders: Contender[] = [
    { short: 'RetinaFace', label: 'RetinaFace, orientation auto (the default)', detector: await RetinaFaceDetector.create(retina, { ...placement, orientation: 'auto' }), minScore: config.minDetectionScore },
    { short: 'upright', label: 'RetinaFace, orientation upright', detector: await RetinaFaceDetector.create(retina, { ...placement, orientation: 'upright' }), minScore: config.minDetectionScore },
    { short: 'SSD', label: 'SSD MobileNet V1 + 68 landmarks, ONNX', detector: await OnnxDetector.create(loadDetectorModels(models), placement), minScore: ssdScore },
    { short: 'face-api', label: 'face-api wasm (1 worker)', detector: faceapi, minScore: ssdScore },
  ];
  await faceapi.ready();
  const times = contenders.map(() => photos.map((): number[] => []));
  const faces = contenders.map(() => photos.map(() => 0));
  try {
    // Warm-up (first runs allocate and compile), then repeated rounds; within a round every photo goes
    // through every detector back to back, in an order rotated per round, so drift hits all alike.
    for (const [i, c] of contenders.entries()) {
      for (const [j, p] of photos.entries()) faces[i][j] = (await c.detector.detect(p.image, { minScore: c.minScore })).length;
    }
    for (let r = 0; r < reps; r++) {
      log(`detect: round ${r + 1}/${reps}`);
      for (const [j, p] of photos.entries()) {
        for (let k = 0; k < contenders.length; k++) {
          const c = contenders[(k + r) % contenders.length];
          times[(k + r) % contenders.length][j].push((await timed(() => c.detector.detect(p.image, { minScore: c.minScore }))).ms);
        }
      }
    }
  } finally {
    for (const c of contenders) await c.detector.close();
  }

  const [auto, upright, ssd, ref] = [0, 1, 2, 3];
  const med = times.map((perPhoto) => perPhoto.map(median));
  const rows = photos.map((p, j) => [
    p.name, `${p.image.width}x${p.image.height}`, faces.map((f) => f[j]).join(' / '),
    ...contenders.map((_, i) => { const s = summarize(times[i][j]); return `${fmtMs(s.p50)} / ${fmtMs(s.p99)}`; }),
    `${fmtRatio(med[ssd][j] / med[auto][j])} / ${fmtRatio(med[ssd][j] / med[upright][j])}`, fmtRatio(med[auto][j] / med[upright][j]),
  ]);
  const total = med.map((m) => m.reduce((a, b) => a + b, 0));
  rows.push([
    '**all photos** (sum of medians)', '', faces.map((f) => f.reduce((a, b) => a + b, 0)).join(' / '),
    ...total.map((t) => fmtMs(t)), `${fmtRatio(total[ssd] / total[auto])} / ${fmtRatio(total[ssd] / total[upright])}`, fmtRatio(total[auto] / total[upright]),
  ]);
  const perPhoto = photos.map((_, j) => med[ssd][j] / med[upright][j]);

  const body = [
    `Each photo is decoded and downscaled to the server's detection size (longer side ${config.detectMaxSide} px) ` +
      `exactly as the server does, then timed through \`detect()\` with each detector's default score (RetinaFace ` +
      `${config.minDetectionScore}, SSD and face-api ${ssdScore}), ${config.detectWorkers} onnxruntime threads: ${reps} rounds after one ` +
      `warm-up, the detectors interleaved photo by photo. face-api runs in one worker thread (tfjs wasm, single-threaded); ` +
      `its time includes the hand-off to the worker. RetinaFace runs at the photo's own resolution; "orientation auto" adds ` +
      `the orientation rule (two 96 px views per face, more only for turned, tilted or doubtful faces; README, "Detection and orientation"). ` +
      `${lfwAvailable() ? 'LFW photos are 250x250 and are not resized.' : `LFW is absent (${LFW_IMAGES}): demo photos only.`}`,
    table(
      ['photo', 'detected at', `faces found (${contenders.map((c) => c.short).join(' / ')})`,
        ...contenders.map((c) => `${c.label}: p50 / p99 ms`), 'speed-up over SSD (auto / upright)', 'orientation cost (auto / upright)'],
      rows,
    ),
    `RetinaFace's own speed-up (one pass) over the SSD path per photo ranges from ${fmtRatio(Math.min(...perPhoto))} to ${fmtRatio(Math.max(...perPhoto))}.`,
  ];
  return {
    id: 'detect',
    title: '1. Detection per photo',
    body,
    targets: [
      atLeast(`default detector (RetinaFace, orientation auto) speed-up over face-api wasm (all ${photos.length} photos, sum of medians)`,
        total[ref] / total[auto], TARGETS.overFaceApi, fmtRatio),
      atLeast('RetinaFace (one pass: orientation upright) speed-up over the SSD path (sum of medians)', total[ssd] / total[upright], TARGETS.overSsd, fmtRatio),
      atMost('orientation rule cost on upright photos (auto / upright, sum of medians)', total[auto] / total[upright], TARGETS.orientationCost, fmtRatio),
    ],
  };
}
