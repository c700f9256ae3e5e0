// Detector on one onnxruntime session: RetinaFace MobileNet-0.25 (5 landmarks), with the orientation rule
// and a zoomed-out second look for faces that fill the frame. Pure math lives in server/pipeline/.
import { inlineHost, type SessionHost, type TensorSession } from './ort/session.ts';
import type { Detector, DetectOptions, DetectedFace } from '../pipeline/types.ts';
import { assertRgb, type RgbImage } from '../pipeline/warp.ts';
import { ImagePyramid, viewsTensor } from '../pipeline/pyramid.ts';
import type { Device, Orientation } from '../config.ts';
import { FIVE_POINTS, type LoadedCard, type RetinaFaceCard } from '../model/detector-card.ts';
import { decodeRetinaFace, priorBoxes, toBgrMinusMean, type PriorSpec, type RawFace } from '../pipeline/retinaface-math.ts';
import type { Similarity } from '../pipeline/geometry.ts';
import { ORIENTATION, ORIENTATION_RULE, orientFaces, zoomOutView, type OrientationSettings, type ViewRunner } from '../pipeline/orient-faces.ts';
import { pointsFromView } from '../pipeline/orientation.ts';

export interface RetinaFaceOptions {
  device: Device;
  /** onnxruntime intra-op threads. */
  threads: number;
  spinning?: boolean;
  log?: (msg: string) => void;
  /** Where the session runs; this thread by default. The server passes a worker thread. */
  host?: SessionHost;
  /** 'auto' finds the true orientation of turned faces (see README, "Orientation"); 'upright' trusts the photo. */
  orientation: Orientation;
  /** The rule's view sizes and tolerance (measured defaults; evaluations vary them). */
  orientationSettings?: OrientationSettings;
}

export class RetinaFaceDetector implements Detector {
  readonly name: string;
  readonly version: string;
  private inFlight = 0;
  private readonly spec: PriorSpec;
  /** perm[k] = output index of FIVE_POINTS[k]. */
  private readonly perm: number[];
  private readonly priorCache = new Map<string, Float32Array>();

  private constructor(
    private readonly model: LoadedCard<RetinaFaceCard>,
    private readonly session: TensorSession,
    readonly device: string,
    readonly orientation: Orientation,
    private readonly settings: OrientationSettings,
  ) {
    const { card } = model;
    this.name = `onnx retinaface mobilenet-0.25 (onnxruntime ${device}, orientation ${orientation})`;
    this.version = `${card.id}@${card.sha256.slice(0, 12)}${orientation === 'auto' ? `+orient${ORIENTATION_RULE}` : ''}`;
    this.spec = { steps: card.priors.steps, minSizes: card.priors.min_sizes, variances: card.priors.variances };
    this.perm = FIVE_POINTS.map((n) => card.outputs.landmarks.points.indexOf(n));
  }

  static async create(model: LoadedCard<RetinaFaceCard>, opts: RetinaFaceOptions): Promise<RetinaFaceDetector> {
    const host = opts.host ?? inlineHost;
    const session = await host.open(model.onnxPath, { device: opts.device, threads: opts.threads, spinning: opts.spinning, log: opts.log });
    const { input, outputs } = model.card;
    const meta = session.inputs.find((m) => m.name === input.name);
    const names = [outputs.boxes.name, outputs.scores.name, outputs.landmarks.name];
    if (!meta || meta.shape.length !== 4 || meta.shape[1] !== 3 || !names.every((n) => session.outputNames.includes(n))) {
      await session.release();
      throw new Error(`model ${model.onnxPath} has inputs [${session.inputs.map((i) => `${i.name} [${i.shape}]`)}] and outputs ` +
        `[${session.outputNames}]; its card ${model.cardPath} expects input "${input.name}" [N, 3, H, W] and outputs ${names.join(', ')}`);
    }
    return new RetinaFaceDetector(model, session, session.device, opts.orientation, opts.orientationSettings ?? ORIENTATION);
  }

  get queued(): number {
    return this.inFlight;
  }

  async detect(image: RgbImage, options: DetectOptions): Promise<DetectedFace[]> {
    assertRgb(image);
    const { width, height } = image;
    this.inFlight++;
    try {
      // Every second look and every view of the orientation rule samples this pyramid (levels made on first use).
      const pyramid = new ImagePyramid(image);
      let faces = (await this.run([image], options.minScore))[0];
      if (faces.length === 0) faces = await this.zoomedOut(pyramid, options.minScore);
      if (faces.length === 0 && this.orientation === 'auto') faces = await this.turned(pyramid, options.minScore);
      faces = faces.slice(0, options.maxResults ?? this.model.card.postprocessing.max_results);
      if (this.orientation === 'auto' && faces.length > 0) {
        const views: ViewRunner = (view, side) => this.viewFaces(pyramid, view, side);
        faces = await orientFaces(faces, views, this.settings);
      }
      return faces.map((f) => ({ score: f.score, box: clip(f.box, width, height), points: f.points }));
    } finally {
      this.inFlight--;
    }
  }

  /**
   * A face that fills the whole frame has no context around it, and one larger than the biggest prior is
   * missed: look again at the image shrunk into the middle of a mean-grey canvas.
   */
  private async zoomedOut(pyramid: ImagePyramid, minScore: number): Promise<RawFace[]> {
    const { view, side } = zoomOutView(pyramid.base.width, pyramid.base.height);
    const faces = await this.viewFaces(pyramid, [view], side, side);
    return faces[0].map((f) => ({ ...f, box: boxFromView(view, f.box), points: pointsFromView(view, f.points) }))
      .filter((f) => f.score > minScore);
  }

  /**
   * A photo turned by 90°, 180° or 270° can hide its faces from an upright look altogether: look at the
   * three turns and keep the faces of the turn with the most confident face, mapped back to the image.
   */
  private async turned(pyramid: ImagePyramid, minScore: number): Promise<RawFace[]> {
    const { width: w, height: h } = pyramid.base;
    const sideways = [90, -90].map((deg) => turnView(w, h, deg));
    const [a, b] = await this.viewFaces(pyramid, sideways, h, w);
    const [c] = await this.viewFaces(pyramid, [turnView(w, h, 180)], w, h);
    const looks = [{ view: sideways[0], faces: a }, { view: sideways[1], faces: b }, { view: turnView(w, h, 180), faces: c }]
      .map((l) => ({ ...l, faces: l.faces.filter((f) => f.score > minScore) }));
    const best = looks.reduce((p, q) => (Math.max(-Infinity, ...q.faces.map((f) => f.logit)) > Math.max(-Infinity, ...p.faces.map((f) => f.logit)) ? q : p));
    return best.faces.map((f) => ({ ...f, box: boxFromView(best.view, f.box), points: pointsFromView(best.view, f.points) }));
  }

  /** Runs width x height views of the image (one batch) and returns each view's faces in view pixels. */
  private async viewFaces(pyramid: ImagePyramid, views: readonly Similarity[], width: number, height = width): Promise<RawFace[][]> {
    const { color, normalization: { mean } } = this.model.card.input;
    const order: [number, number, number] = color === 'BGR' ? [2, 1, 0] : [0, 1, 2];
    const data = viewsTensor(pyramid, views, width, height, this.meanRgb(), mean, order);
    return this.infer(data, views.length, width, height, 0.02);
  }

  /** One batch of images through the network, decoded per image, landmarks in FIVE_POINTS order. */
  private async run(images: readonly RgbImage[], minScore: number): Promise<RawFace[][]> {
    const { card } = this.model;
    const { width, height } = images[0];
    return this.infer(toBgrMinusMean(images, card.input.normalization.mean, card.input.color), images.length, width, height, minScore);
  }

  /** The network on an N x 3 x height x width input (already normalised), decoded per image. */
  private async infer(data: Float32Array, n: number, width: number, height: number, minScore: number): Promise<RawFace[][]> {
    const { card } = this.model;
    const out = await this.session.run({ [card.input.name]: { data, dims: [n, 3, height, width] } });
    const tensors = { boxes: out[card.outputs.boxes.name].data, scores: out[card.outputs.scores.name].data, landmarks: out[card.outputs.landmarks.name].data };
    const priors = this.priors(width, height);
    const opts = { minScore, iouThreshold: card.postprocessing.iou_threshold, maxResults: card.postprocessing.max_results };
    return Array.from({ length: n }, (_, i) => decodeRetinaFace(tensors, i, priors, this.spec.variances, opts)
      .map((f) => ({ ...f, points: this.perm.map((k) => f.points[k]) })));
  }

  private priors(width: number, height: number): Float32Array {
    const key = `${width}x${height}`;
    let p = this.priorCache.get(key);
    if (!p) {
      if (this.priorCache.size > 64) this.priorCache.clear(); // bounded: photos come in many sizes
      p = priorBoxes(width, height, this.spec);
      this.priorCache.set(key, p);
    }
    return p;
  }

  /** The pixel that the network sees as zero (its mean), in RGB: what padding outside the image reads as. */
  private meanRgb(): [number, number, number] {
    const { color, normalization: { mean } } = this.model.card.input;
    const m = mean.map(Math.round);
    return color === 'BGR' ? [m[2], m[1], m[0]] : [m[0], m[1], m[2]];
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

/** The axis-aligned image box around a box found in a view (views turn by multiples of 90° or not at all). */
function boxFromView(view: Similarity, b: DetectedFace['box']): DetectedFace['box'] {
  const [p, q] = pointsFromView(view, [{ x: b.x, y: b.y }, { x: b.x + b.width, y: b.y + b.height }]);
  return { x: Math.min(p.x, q.x), y: Math.min(p.y, q.y), width: Math.abs(q.x - p.x), height: Math.abs(q.y - p.y) };
}

/** The view of a width x height image turned clockwise by `deg` (±90 or 180) about its centre, filling its canvas. */
function turnView(width: number, height: number, deg: number): Similarity {
  const side = Math.abs(deg) === 90;
  const [W, H] = side ? [height, width] : [width, height];
  const phi = (deg * Math.PI) / 180;
  const a = Math.round(Math.cos(phi)), b = Math.round(Math.sin(phi));
  const cx = width / 2, cy = height / 2;
  return { a, b, tx: W / 2 - (a * cx - b * cy), ty: H / 2 - (b * cx + a * cy) };
}

/** The box cut to the image (RetinaFace's boxes may reach past the border). */
function clip(b: DetectedFace['box'], width: number, height: number): DetectedFace['box'] {
  const x0 = Math.max(0, b.x), y0 = Math.max(0, b.y);
  const x1 = Math.min(width, b.x + b.width), y1 = Math.min(height, b.y + b.height);
  return { x: x0, y: y0, width: Math.max(0, x1 - x0), height: Math.max(0, y1 - y0) };
}
