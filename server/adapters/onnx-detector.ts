// Detector backed by onnxruntime-node: face-api's SSD MobileNet V1 and 68-point landmark nets ported to ONNX.
import * as ort from 'onnxruntime-node';
import type { Detector, DetectOptions, DetectedFace } from '../pipeline/types.ts';
import type { RgbImage } from '../pipeline/warp.ts';
import type { Device } from '../config.ts';
import type { DetectorModels, LoadedCard } from '../model/detector-card.ts';
import {
  greedyNms, landmarkWindow, landmarksToImage, letterbox, resizeToNchw, toPixelBox, type SquareWindow,
} from '../pipeline/detection-math.ts';

export interface OnnxDetectorOptions {
  device: Device;
  /** onnxruntime intra-op threads of each of the two sessions. */
  threads: number;
  log?: (msg: string) => void;
}

const LANDMARK_POINTS = 68;

async function openSession(onnxPath: string, opts: OnnxDetectorOptions): Promise<{ session: ort.InferenceSession; device: string }> {
  const base: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: opts.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  };
  if (opts.device === 'cuda') {
    try {
      return { session: await ort.InferenceSession.create(onnxPath, { ...base, executionProviders: ['cuda'] }), device: 'cuda' };
    } catch (e) {
      opts.log?.(`CUDA execution provider unavailable for ${onnxPath} (${(e as Error).message.split('\n')[0]}); falling back to CPU`);
    }
  }
  return { session: await ort.InferenceSession.create(onnxPath, { ...base, executionProviders: ['cpu'] }), device: 'cpu' };
}

/** Refuses a graph whose input or outputs differ from what its card promises, naming both. */
function checkGraph(session: ort.InferenceSession, loaded: LoadedCard<{ input: { name: string; width: number; height: number } }>, outputs: string[]): void {
  const { input } = loaded.card;
  const expected = `input "${input.name}" [batch, 3, ${input.height}, ${input.width}] and outputs ${outputs.map((o) => `"${o}"`).join(', ')}`;
  const meta = session.inputMetadata.find((m) => m.name === input.name);
  const shape = meta && meta.isTensor ? meta.shape : [];
  const fits = meta !== undefined && outputs.every((o) => session.outputNames.includes(o)) &&
    shape.length === 4 && shape[1] === 3 && shape[2] === input.height && shape[3] === input.width;
  if (!fits) {
    throw new Error(`model ${loaded.onnxPath} has inputs [${session.inputNames}] (shape [${shape}]) and outputs ` +
      `[${session.outputNames}]; its card ${loaded.cardPath} expects ${expected}`);
  }
}

interface Candidate {
  score: number;
  box: DetectedFace['box'];
  win: SquareWindow;
}

export class OnnxDetector implements Detector {
  readonly name: string;
  /** Identifies the exact detector (cards and checksums), e.g. for evaluation cache keys. */
  readonly version: string;
  private inFlight = 0;

  private constructor(
    private readonly models: DetectorModels,
    private readonly ssd: ort.InferenceSession,
    private readonly landmarker: ort.InferenceSession,
    readonly device: string,
  ) {
    this.name = `onnx ssd_mobilenetv1 + landmark68 (onnxruntime ${device})`;
    const { detector, landmarks } = models;
    this.version = `${detector.card.id}@${detector.card.sha256.slice(0, 12)}+${landmarks.card.id}@${landmarks.card.sha256.slice(0, 12)}`;
  }

  static async create(models: DetectorModels, opts: OnnxDetectorOptions): Promise<OnnxDetector> {
    const ssd = await openSession(models.detector.onnxPath, opts);
    const lmk = await openSession(models.landmarks.onnxPath, opts);
    try {
      const { boxes, scores } = models.detector.card.outputs;
      checkGraph(ssd.session, models.detector, [boxes.name, scores.name]);
      checkGraph(lmk.session, models.landmarks, [models.landmarks.card.outputs.landmarks.name]);
    } catch (e) {
      await Promise.all([ssd.session.release(), lmk.session.release()]);
      throw e;
    }
    // Reported as cuda only when both nets run there.
    const device = ssd.device === 'cuda' && lmk.device === 'cuda' ? 'cuda' : 'cpu';
    return new OnnxDetector(models, ssd.session, lmk.session, device);
  }

  /** detect() calls in progress (they share the sessions' thread pools). */
  get queued(): number {
    return this.inFlight;
  }

  async detect(image: RgbImage, options: DetectOptions): Promise<DetectedFace[]> {
    const { width, height } = image;
    if (!(width >= 1 && height >= 1) || image.data.length !== width * height * 3) {
      throw new Error(`detect() needs RGB pixels: got ${image.data.length} bytes for ${width}x${height} (expected ${width * height * 3})`);
    }
    this.inFlight++;
    try {
      const found = await this.locate(image, options);
      return found.length > 0 ? await this.withLandmarks(image, found) : [];
    } finally {
      this.inFlight--;
    }
  }

  private async locate(image: RgbImage, options: DetectOptions): Promise<Candidate[]> {
    const { card } = this.models.detector;
    const size = card.input.width;
    const input = new Float32Array(3 * size * size); // (1, 3, 512, 512)
    resizeToNchw(image, letterbox(image.width, image.height), size, card.input.normalization, input);
    const result = await this.ssd.run({ [card.input.name]: new ort.Tensor('float32', input, [1, 3, size, size]) });
    const boxes = result[card.outputs.boxes.name].data as Float32Array; // (1, 5118, 4) ymin, xmin, ymax, xmax
    const scores = result[card.outputs.scores.name].data as Float32Array; // (1, 5118)
    const keep = greedyNms(boxes, scores, {
      minScore: options.minScore,
      maxResults: options.maxResults ?? card.postprocessing.max_results,
      iouThreshold: card.postprocessing.iou_threshold,
    });
    const out: Candidate[] = [];
    for (const i of keep) {
      const box = toPixelBox(boxes, i, image.width, image.height, size);
      // A box with no pixel inside the image has no landmarks; face-api drops it as well.
      const win = landmarkWindow(box, image.width, image.height);
      if (win) out.push({ score: scores[i], box, win });
    }
    return out;
  }

  private async withLandmarks(image: RgbImage, faces: Candidate[]): Promise<DetectedFace[]> {
    const { card } = this.models.landmarks;
    const size = card.input.width;
    const slot = 3 * size * size;
    const batch = new Float32Array(faces.length * slot); // (K, 3, 112, 112)
    faces.forEach((f, k) => resizeToNchw(image, f.win, size, card.input.normalization, batch, k * slot));
    const result = await this.landmarker.run({ [card.input.name]: new ort.Tensor('float32', batch, [faces.length, 3, size, size]) });
    const out = result[card.outputs.landmarks.name].data as Float32Array; // (K, 136) x0, y0, x1, ...
    return faces.map((f, k) => ({
      score: f.score,
      box: f.box,
      landmarks: landmarksToImage(out, k * 2 * LANDMARK_POINTS, LANDMARK_POINTS, f.box, f.win),
    }));
  }

  async close(): Promise<void> {
    await Promise.all([this.ssd.release(), this.landmarker.release()]);
  }
}
