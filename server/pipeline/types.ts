// The pipeline's own types and the small interfaces its runtimes sit behind.
import type { Point } from './geometry.ts';
import type { RgbImage } from './warp.ts';

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface DetectedFace {
  score: number;
  box: Box;
  /**
   * The 5 alignment landmarks (left eye, right eye, nose tip, mouth left, mouth right; left = image left on an
   * upright face) in the coordinates of the image passed to detect().
   */
  points: Point[];
  /** 68 landmarks (iBUG scheme), from detectors that find them (face-api's SSD path). */
  landmarks?: Point[];
  /** Only from a reference detector run in descriptor mode (evaluations). */
  descriptor?: Float32Array;
}

export interface DetectOptions {
  minScore: number;
  maxResults?: number;
}

/** Finds faces and their landmarks. Implementations must not block the caller's event loop. */
export interface Detector {
  readonly name: string;
  detect(image: RgbImage, options: DetectOptions): Promise<DetectedFace[]>;
  close(): Promise<void>;
}

/** Turns aligned crops (the model card's size) into L2-normalised embeddings. */
export interface Embedder {
  readonly modelId: string;
  readonly dim: number;
  readonly device: string;
  embed(crops: readonly RgbImage[]): Promise<Float32Array[]>;
  close(): Promise<void>;
}
