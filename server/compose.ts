// Composition root: builds every adapter and service from the parsed configuration, once.
import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PROJECT_ROOT, type Config } from './config.ts';
import { loadModel, templatePoints, type LoadedModel } from './model/card.ts';
import { SharpDecoder } from './adapters/sharp-decoder.ts';
import { FaceApiDetector } from './adapters/faceapi/detector.ts';
import { OnnxEmbedder } from './adapters/onnx-embedder.ts';
import { RemoteOnnxDetector } from './adapters/ort/remote-detector.ts';
import { loadDetectorModels, loadRetinaFaceModel } from './model/detector-card.ts';
import { WorkerSessionHost } from './adapters/ort/worker-host.ts';
import { INFERENCE_NICE } from './adapters/thread-priority.ts';
import type { Detector } from './pipeline/types.ts';
import { FacePipeline } from './services/face-pipeline.ts';
import { BatchingEmbedder } from './services/batching-embedder.ts';
import { Metrics } from './observability/metrics.ts';
import { openKeyStore } from './adapters/key-stores.ts';
import { HealthCheck } from './services/health.ts';
import type { NamedThreshold } from './services/verify.ts';
import { buildApp, type AppDeps } from './http/app.ts';
import type { ApiServer } from './http/server.ts';
import { openGallery } from '../gallery/open.ts';
import type { Gallery } from '../gallery/gallery.ts';
import { RecognitionService } from './services/recognition.ts';
import { lockDataDir } from './adapters/data-lock.ts';

const require = createRequire(import.meta.url);

/** A detector as the runtime needs it: detection plus what /v1/status and evaluation cache keys show. */
export type RuntimeDetector = Detector & { readonly version: string; readonly queued: number };

/**
 * Scores at or above which a detector's faces count as clear faces when choosing "the largest face". RetinaFace's
 * card states its own; face-api's SSD scores the 22 faces of its demo photos 0.63 to 1.00 (IRFACE_DETECTOR=ssd-mobilenet,
 * score 0.3), so its boxes under 0.5 rank after every clear face.
 */
const SSD_CONFIDENT_SCORE = 0.5;

export interface Runtime {
  config: Config;
  model: LoadedModel;
  pipeline: FacePipeline;
  detector: RuntimeDetector;
  embedder: OnnxEmbedder;
  metrics: Metrics;
  close(): Promise<void>;
}

function packageVersion(name: string): string {
  try {
    return require(`${name}/package.json`).version as string;
  } catch {
    return 'unknown';
  }
}

/** The face pipeline alone (used by the server, the CLI tools and the LFW evaluation alike). */
export async function buildRuntime(config: Config, log: (msg: string) => void = () => undefined): Promise<Runtime> {
  const model = loadModel(config.modelPath);
  // onnxruntime runs block their thread, so the sessions live in worker threads: one for detection, one for
  // embedding (they run side by side; each runs its own calls one at a time). They run at a lower priority than
  // the event loop, which then always gets a core to accept and answer requests while inference saturates the CPU.
  const detectHost = new WorkerSessionHost('detector', INFERENCE_NICE);
  const embedHost = new WorkerSessionHost('embedder', INFERENCE_NICE);
  // IRFACE_DETECT_WORKERS sizes either detector: face-api's worker pool or the ONNX sessions' intra-op threads.
  // The ONNX detector runs whole in its worker (image resizing and post-processing included).
  const placement = { device: config.device, threads: config.detectWorkers, spinning: config.ortSpinning, log };
  const modelsDir = join(PROJECT_ROOT, 'models');
  const retina = config.detector === 'retinaface' ? loadRetinaFaceModel(modelsDir) : null;
  const detector: RuntimeDetector = retina
    ? await RemoteOnnxDetector.createRetinaFace(detectHost, retina, { ...placement, orientation: config.orientation })
    : config.detector === 'ssd-mobilenet'
      ? await RemoteOnnxDetector.create(detectHost, loadDetectorModels(modelsDir), placement)
      : new FaceApiDetector(config.detectWorkers, undefined, INFERENCE_NICE);
  const embedder = await OnnxEmbedder.create(model,
    { device: config.device, threads: config.embedThreads, spinning: config.ortSpinning, maxBatch: config.batchMax, log, host: embedHost });
  if (detector instanceof FaceApiDetector) await detector.ready(); // its workers load while the embedder does
  const { card } = model;
  const metrics = new Metrics(() => detector.queued);
  const pipeline = new FacePipeline(
    new SharpDecoder({ maxImageBytes: config.maxImageBytes, maxPixels: config.maxPixels }),
    metrics.timeDetector(detector, detector.version),
    new BatchingEmbedder(metrics.timeEmbedder(embedder), { maxBatch: config.batchMax, maxWaitMs: config.batchWaitMs }),
    { template: templatePoints(card), width: card.alignment.size[0], height: card.alignment.size[1] },
    {
      detectMaxSide: config.detectMaxSide, minDetectionScore: config.minDetectionScore, minFaceSize: config.minFaceSize,
      confidentScore: retina ? retina.card.postprocessing.confident_score : SSD_CONFIDENT_SCORE,
    },
  );
  return {
    config, model, pipeline, detector, embedder, metrics,
    async close() {
      await detector.close();
      await embedder.close();
      await Promise.all([detectHost.close(), embedHost.close()]);
    },
  };
}

/** The bundled photo the health check runs on: face-api's own demo image, shipped in its npm package. */
export function selfTestPhoto(): { bytes: Buffer; path: string } {
  const path = join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'demo', 'sample1.jpg');
  if (!existsSync(path)) throw new Error(`self-test photo missing: ${path} (reinstall @vladmandic/face-api)`);
  return { bytes: readFileSync(path), path };
}

export function thresholdsOf(model: LoadedModel): Record<string, NamedThreshold> {
  return Object.fromEntries(
    Object.entries(model.card.similarity.thresholds).map(([name, t]) => [name, { name, ...t }]),
  );
}

/** The gallery under the data directory, bound to the runtime's model (a different model is refused). */
export interface OpenedGallery {
  gallery: Gallery;
  /** Saves and closes the gallery, then releases the data-directory lock. */
  close(): Promise<void>;
}

/** The gallery under the data directory, locked and bound to the runtime's model (another model is refused). */
export async function openRuntimeGallery(config: Config, runtime: Runtime, purpose: string, log: (m: string) => void = () => undefined): Promise<OpenedGallery> {
  const lock = lockDataDir(config.dataDir, purpose);
  try {
    const gallery = await openGallery({
      dataDir: config.dataDir,
      databaseUrl: config.databaseUrl,
      modelId: runtime.model.card.id,
      dim: runtime.model.card.output.dim,
      efSearch: config.hnswEfSearch,
      logger: { info: log, warn: log },
    });
    return {
      gallery,
      async close() {
        try { await gallery.close(); } finally { lock.release(); }
      },
    };
  } catch (e) {
    lock.release();
    throw e;
  }
}

export async function buildServer(config: Config, opts: { logger?: AppDeps['logger']; log?: (m: string) => void } = {}): Promise<{ app: ApiServer; runtime: Runtime; gallery: Gallery }> {
  const model = loadModel(config.modelPath);
  const thresholds = thresholdsOf(model);
  if (!thresholds.default) {
    throw new Error(`model card ${model.cardPath} has no similarity.thresholds.default; calibrate it with npm run eval:lfw -- --write-card`);
  }
  const runtime = await buildRuntime(config, opts.log);
  let opened: OpenedGallery;
  try {
    opened = await openRuntimeGallery(config, runtime, 'irface server', opts.log);
  } catch (e) {
    await runtime.close();
    throw e;
  }
  const { pipeline, embedder, detector, metrics } = runtime;
  const keys = await openKeyStore(config, true, opts.log); // inside the data-directory lock taken above
  if (config.adminKey) await keys.seed(config.adminKey, 'admin', 'IRFACE_ADMIN_KEY');
  if ((await keys.activeCount()) === 0) {
    const first = await keys.create('admin', 'created at first start');
    process.stderr.write(`irface: no API key existed, so an admin key was created. It is shown only this once:\n\n    ${first.key}\n\n` +
      'irface: keep it; create more with `irface keys create --scope admin|recognize`.\n');
  }
  metrics.watchGallery(opened.gallery);
  const photo = selfTestPhoto();
  const health = await HealthCheck.create(pipeline, embedder, photo.bytes, 'face-api demo/sample1.jpg', { intervalMs: config.healthIntervalMs });
  health.start();
  const versions = {
    irface: (require('../package.json') as { version: string }).version,
    node: process.versions.node,
    onnxruntime: packageVersion('onnxruntime-node'),
    face_api: packageVersion('@vladmandic/face-api'),
    sharp: packageVersion('sharp'),
  };
  const { gallery } = opened;
  const { card } = model;
  const recognition = new RecognitionService(pipeline, gallery, { keepCrops: config.keepCrops });
  const app = buildApp({
    config,
    version: versions.irface,
    gallery,
    recognition,
    modelId: card.id,
    keys,
    metrics,
    logger: opts.logger,
    pipeline,
    limits: { maxImageBytes: config.maxImageBytes, maxImagesPerRequest: config.maxImagesPerRequest },
    thresholds,
    health,
    status: () => ({
      model: {
        id: card.id,
        embedding_dim: card.output.dim,
        input: { width: card.input.width, height: card.input.height, normalization: card.input.normalization },
        alignment: card.alignment,
        test_time_augmentation: card.test_time_augmentation,
        thresholds: card.similarity.thresholds,
        evaluation: card.evaluation,
        provenance: card.provenance,
        sha256: card.sha256,
      },
      device: embedder.device,
      detector: { kind: config.detector, orientation: config.orientation, name: detector.name, version: detector.version, workers: config.detectWorkers, queued: detector.queued },
      limits: {
        max_image_bytes: config.maxImageBytes, max_request_bytes: config.maxRequestBytes,
        max_images_per_request: config.maxImagesPerRequest, max_pixels: config.maxPixels, detect_max_side: config.detectMaxSide,
      },
      gallery: { data_dir: config.dataDir, keep_crops: config.keepCrops, index: gallery.indexReport },
      versions,
    }),
  });
  app.onClose(async () => {
    health.stop();
    await opened.close();
    await keys.close();
    await runtime.close();
  });
  return { app, runtime, gallery };
}
