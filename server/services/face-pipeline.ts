// The face pipeline: decode → detect (downscaled) → map back → 5 points → align → embed.
import type { SharpDecoder, DecodedImage } from '../adapters/sharp-decoder.ts';
import type { Detector, Embedder, Box } from '../pipeline/types.ts';
import { alignFace, type AlignmentSpec } from '../pipeline/align.ts';
import { FIVE_POINT_NAMES } from '../pipeline/landmarks.ts';
import type { Point } from '../pipeline/geometry.ts';
import type { RgbImage } from '../pipeline/warp.ts';
import { prominentFirst } from '../pipeline/select.ts';

export interface PipelineSettings {
  detectMaxSide: number;
  minDetectionScore: number;
  minFaceSize: number;
  /** Faces scoring at least this come before others in "largest first" order (the detector's own scale). */
  confidentScore: number;
}

export interface Face {
  score: number;
  /** In original image pixels (after EXIF orientation). */
  box: Box;
  points: Point[];
}

export interface Analysis {
  decoded: DecodedImage;
  /** Prominent first: confident faces before unconfident ones, largest first within each (pipeline/select.ts). */
  faces: Face[];
}

export interface EmbeddedFace extends Face {
  embedding: Float32Array;
  crop: RgbImage;
  rollDeg: number;
}

export interface AnalyzeOptions {
  minScore?: number;
  maxFaces?: number;
}

export class FacePipeline {
  constructor(
    private readonly decoder: SharpDecoder,
    private readonly detector: Detector,
    private readonly embedder: Embedder,
    private readonly alignment: AlignmentSpec,
    private readonly settings: PipelineSettings,
  ) {}

  get modelId(): string {
    return this.embedder.modelId;
  }

  decode(bytes: Buffer): Promise<DecodedImage> {
    return this.decoder.decode(bytes);
  }

  /** Detects faces on a downscaled copy and maps boxes and landmarks back to the original image. */
  async detect(decoded: DecodedImage, opts: AnalyzeOptions = {}): Promise<Face[]> {
    const small = await this.decoder.downscale(decoded.image, this.settings.detectMaxSide);
    const s = small.scale;
    const raw = await this.detector.detect(small.image, { minScore: opts.minScore ?? this.settings.minDetectionScore });
    const faces = raw
      .map((f) => ({
        score: f.score,
        box: { x: f.box.x * s, y: f.box.y * s, width: f.box.width * s, height: f.box.height * s },
        points: f.points.map((p) => ({ x: p.x * s, y: p.y * s })),
      }))
      .filter((f) => Math.min(f.box.width, f.box.height) >= this.settings.minFaceSize);
    const ordered = this.prominent(faces);
    return opts.maxFaces !== undefined ? ordered.slice(0, opts.maxFaces) : ordered;
  }

  /** The order every endpoint shows faces in, and verify's choice (the first): see pipeline/select.ts. */
  prominent<F extends Face>(faces: readonly F[]): F[] {
    return prominentFirst(faces, this.settings.confidentScore);
  }

  async analyze(bytes: Buffer, opts: AnalyzeOptions = {}): Promise<Analysis> {
    const decoded = await this.decode(bytes);
    return { decoded, faces: await this.detect(decoded, opts) };
  }

  /** Aligns each face to the model's template and embeds all of them in one batch. */
  async embed(image: RgbImage, faces: readonly Face[]): Promise<EmbeddedFace[]> {
    return this.embedMany(faces.map((face) => ({ image, face })));
  }

  /** The aligned crop of one face at the model card's size (what training data and embedding both use). */
  align(image: RgbImage, face: Face): RgbImage {
    return alignFace(image, face.points, this.alignment).crop;
  }

  /** Embeds crops that are already aligned to the model's template. */
  embedCrops(crops: readonly RgbImage[]): Promise<Float32Array[]> {
    return this.embedder.embed(crops);
  }

  /** Like embed(), for faces from several images (one onnxruntime batch for all). */
  async embedMany(items: readonly { image: RgbImage; face: Face }[]): Promise<EmbeddedFace[]> {
    // Aligning is about a millisecond of pixel work per face on the event loop. Yielding before each face lets
    // pending I/O (other requests, health checks) run between faces, so a burst of requests whose detections
    // finish together never holds the loop for more than one face at a time.
    const aligned: ReturnType<typeof alignFace>[] = [];
    for (const { image, face } of items) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      aligned.push(alignFace(image, face.points, this.alignment));
    }
    const embeddings = await this.embedder.embed(aligned.map((a) => a.crop));
    return items.map(({ face }, i) => ({ ...face, embedding: embeddings[i], crop: aligned[i].crop, rollDeg: aligned[i].rollDeg }));
  }
}

/** Named 5 landmarks for responses. */
export function namedPoints(points: readonly Point[]): Record<string, [number, number]> {
  return Object.fromEntries(points.map((p, i) => [FIVE_POINT_NAMES[i], [round2(p.x), round2(p.y)]]));
}

export const round2 = (v: number) => Math.round(v * 100) / 100;

export function roundBox(b: Box): Box {
  return { x: round2(b.x), y: round2(b.y), width: round2(b.width), height: round2(b.height) };
}
