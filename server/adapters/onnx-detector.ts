// Detector on onnxruntime sessions: face-api's SSD MobileNet V1 and 68-point landmark nets ported to ONNX.
import { inlineHost, type SessionHost, type TensorSession } from './ort/session.ts';
import type { Detector, DetectOptions, DetectedFace } from '../pipeline/types.ts';
import { assertRgb, type RgbImage } from '../pipeline/warp.ts';
import { fivePointsFrom68 } from '../pipeline/landmarks.ts';
import type { Device } from '../config.ts';
import type { DetectorModels, LoadedCard } from '../model/detector-card.ts';
import {
  greedyNms, landmarkWindow, landmarksToImage, letterbox, resizeToNchw, toPixelBox, type SquareWindow,
} from '../pipeline/detection-math.ts';

export interface OnnxDetectorOptions {
  device: Device;
  /** onnxruntime intra-op threads of each of the two sessions. */
  threads: number;
  /** onnxruntime's spin-waiting of idle threads (see SessionOptions.spinning). */
  spinning?: boolean;
  log?: (msg: string) => void;
  /** Where the two sessions run; this thread by default. The server passes a worker thread. */
  host?: SessionHost;
}

const LANDMARK_POINTS = 68;

/** Refuses a graph whose input or outputs differ from what its card promises, naming both. */
function checkGraph(session: TensorSession, loaded: LoadedCard<{ input: { name: string; width: number; height: number } }>, outputs: string[]): void {
  const { input } = loaded.card;
  const expected = `input "${input.name}" [batch, 3, ${input.height}, ${input.width}] and outputs ${outputs.map((o) => `"${o}"`).join(', ')}`;
  const meta = session.inputs.find((m) => m.name === input.name);
  const shape = meta ? meta.shape : [];
  const fits = meta !== undefined && outputs.every((o) => session.outputNames.includes(o)) &&
    shape.length === 4 && shape[1] === 3 && shape[2] === input.height && shape[3] === input.width;
  if (!fits) {
    throw new Error(`model ${loaded.onnxPath} has inputs [${session.inputs.map((i) => i.name)}] (shape [${shape}]) and outputs ` +
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
    private readonly ssd: TensorSession,
    private readonly landmarker: TensorSession,
    readonly device: string,
  ) {
    this.name = `onnx ssd_mobilenetv1 + landmark68 (onnxruntime ${device})`;
    const { detector, landmarks } = models;
    this.version = `${detector.card.id}@${detector.card.sha256.slice(0, 12)}+${landmarks.card.id}@${landmarks.card.sha256.slice(0, 12)}`;
  }

  static async create(models: DetectorModels, opts: OnnxDetectorOptions): Promise<OnnxDetector> {
    const host = opts.host ?? inlineHost;
    const session = { device: opts.device, threads: opts.threads, spinning: opts.spinning, log: opts.log };
    const ssd = await host.open(models.detector.onnxPath, session);
    const lmk = await host.open(models.landmarks.onnxPath, session);
    try {
      const { boxes, scores } = models.detector.card.outputs;
      checkGraph(ssd, models.detector, [boxes.name, scores.name]);
      checkGraph(lmk, models.landmarks, [models.landmarks.card.outputs.landmarks.name]);
    } catch (e) {
      await Promise.all([ssd.release(), lmk.release()]);
      throw e;
    }
    // Reported as cuda only when both nets run there.
    const device = ssd.device === 'cuda' && lmk.device === 'cuda' ? 'cuda' : 'cpu';
    return new OnnxDetector(models, ssd, lmk, device);
  }

  /** detect() calls in progress (they share the sessions' thread pools). */
  get queued(): number {
    return this.inFlight;
  }

  async detect(image: RgbImage, options: DetectOptions): Promise<DetectedFace[]> {
    assertRgb(image);
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
    const result = await this.ssd.run({ [card.input.name]: { data: input, dims: [1, 3, size, size] } });
    const boxes = result[card.outputs.boxes.name].data; // (1, 5118, 4) ymin, xmin, ymax, xmax
    const scores = result[card.outputs.scores.name].data; // (1, 5118)
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
    const result = await this.landmarker.run({ [card.input.name]: { data: batch, dims: [faces.length, 3, size, size] } });
    const out = result[card.outputs.landmarks.name].data; // (K, 136) x0, y0, x1, ...
    return faces.map((f, k) => {
      const landmarks = landmarksToImage(out, k * 2 * LANDMARK_POINTS, LANDMARK_POINTS, f.box, f.win);
      return { score: f.score, box: f.box, points: fivePointsFrom68(landmarks), landmarks };
    });
  }

  async close(): Promise<void> {
    await Promise.all([this.ssd.release(), this.landmarker.release()]);
  }
}
