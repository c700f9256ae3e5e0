// The LFW face-choice policy shared by every row of the evaluation, and its documented fallback.
import type { Box } from '../../server/pipeline/types.ts';
import type { Point } from '../../server/pipeline/geometry.ts';
import { nearestCentre } from '../../server/pipeline/select.ts';
import type { FacePipeline, Face } from '../../server/services/face-pipeline.ts';
import type { DecodedImage } from '../../server/adapters/sharp-decoder.ts';

/**
 * LFW images are centred on their subject, so the subject is the plausible face nearest the centre.
 * A face narrower than this fraction of the image is a background face or a false detection.
 */
export const MIN_BOX_FRACTION = 0.2;

export function chooseFace<T extends { box: Box }>(faces: readonly T[], width: number, height: number): T | undefined {
  return nearestCentre(faces.filter((f) => f.box.width >= MIN_BOX_FRACTION * width), width, height);
}

/** Detections of one image: at the configured score, and (optionally) again at a low score when none was chosen. */
export interface SubjectDetections {
  w: number;
  h: number;
  faces: Face[];
  retry?: Face[];
}

/** The subject; `useRetry` also considers the low-score detections (eval:lfw --retry-score, off by default). */
export function subjectFace(d: SubjectDetections, useRetry = false): Face | undefined {
  return chooseFace(d.faces, d.w, d.h) ?? (useRetry ? chooseFace(d.retry ?? [], d.w, d.h) : undefined);
}

/** Runs what `known` lacks: the server pipeline's detection, then the low-score retry when asked and needed. */
export async function detectSubject(pipeline: FacePipeline, decoded: DecodedImage, known?: SubjectDetections, retryScore?: number): Promise<SubjectDetections> {
  const d = known ?? { w: decoded.image.width, h: decoded.image.height, faces: await pipeline.detect(decoded) };
  if (retryScore === undefined || d.retry !== undefined || chooseFace(d.faces, d.w, d.h)) return d;
  return { ...d, retry: await pipeline.detect(decoded, { minScore: retryScore }) };
}

/** Fallback geometry: the mean of the chosen faces' points (or boxes) over all images where one was found. */
export function meanPoints(sets: readonly Point[][]): Point[] {
  const n = sets.length;
  if (n === 0) throw new Error('no detected faces to derive the fallback from');
  return sets[0].map((_, k) => ({
    x: sets.reduce((s, p) => s + p[k].x, 0) / n,
    y: sets.reduce((s, p) => s + p[k].y, 0) / n,
  }));
}

export function meanBox(boxes: readonly Box[]): Box {
  const n = boxes.length;
  const avg = (f: (b: Box) => number) => boxes.reduce((s, b) => s + f(b), 0) / n;
  return { x: avg((b) => b.x), y: avg((b) => b.y), width: avg((b) => b.width), height: avg((b) => b.height) };
}
