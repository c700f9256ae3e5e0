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
  /** 68 landmarks (iBUG scheme) in the coordinates of the image passed to detect(). */
  landmarks: Point[];
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
