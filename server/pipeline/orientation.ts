// Pure geometry of the orientation rule: a face's roll from its 5 landmarks, the similarity views that show
// it upright under a roll hypothesis, and the choice between hypotheses from the detector's confidence.
import { applySimilarity, fitSimilarity, invertSimilarity, similarityRotationDeg, type Point, type Similarity } from './geometry.ts';
import type { Box } from './types.ts';

/**
 * An upright 5-point face (left eye, right eye, nose tip, mouth left, mouth right; image left = smaller x),
 * in arbitrary units: the standard 112x112 insightface template. Only its shape matters here (roll estimates).
 */
export const UPRIGHT_FIVE_POINTS: readonly Point[] = [
  { x: 38.2946, y: 51.6963 }, { x: 73.5318, y: 51.5014 }, { x: 56.0252, y: 71.7366 },
  { x: 41.5493, y: 92.3655 }, { x: 70.7299, y: 92.2041 },
];

/** Wraps an angle in degrees to (-180, 180]. */
export function wrapDeg(deg: number): number {
  const r = ((deg % 360) + 360) % 360;
  return r > 180 ? r - 360 : r;
}

/**
 * The face's in-plane roll in degrees: how far the 5 points are turned, clockwise positive as seen on screen
 * (image y points down), from the least-squares similarity fit of the upright template onto them.
 * 0 for an upright face, ±90 for a face lying on its side, 180 for an upside-down one.
 */
export function rollDeg(points: readonly Point[]): number {
  return wrapDeg(similarityRotationDeg(fitSimilarity(UPRIGHT_FIVE_POINTS, points)));
}

/** The centre and size of a face for framing views: the box centre and its longer side, in image pixels. */
export function faceFrame(box: Box): { centre: Point; size: number } {
  return { centre: { x: box.x + box.width / 2, y: box.y + box.height / 2 }, size: Math.max(box.width, box.height) };
}

/**
 * The similarity from image pixels to a side x side view in which a face rolled by `rollDegrees` stands
 * upright: rotated by -roll about `centre`, scaled so that a face of `faceSize` pixels spans
 * `faceFraction` of the view, centred.
 */
export function uprightView(centre: Point, faceSize: number, rollDegrees: number, side: number, faceFraction: number): Similarity {
  const s = (faceFraction * side) / faceSize;
  const phi = (-rollDegrees * Math.PI) / 180;
  const a = s * Math.cos(phi), b = s * Math.sin(phi);
  const c = side / 2;
  return { a, b, tx: c - (a * centre.x - b * centre.y), ty: c - (b * centre.x + a * centre.y) };
}

/** Maps points found in a view back to image pixels. */
export function pointsFromView(view: Similarity, points: readonly Point[]): Point[] {
  const inv = invertSimilarity(view);
  return points.map((p) => applySimilarity(inv, p));
}

/**
 * Among a view's detections, the one that is the framed face: its box centre nearest the view's centre, within
 * a quarter of the side. Undefined when the view shows no face there.
 */
export function centralFace<T extends { box: Box }>(faces: readonly T[], side: number): T | undefined {
  let best: T | undefined;
  let bestD = side / 4;
  for (const f of faces) {
    const d = Math.hypot(f.box.x + f.box.width / 2 - side / 2, f.box.y + f.box.height / 2 - side / 2);
    if (d <= bestD) { bestD = d; best = f; }
  }
  return best;
}

/**
 * The index of the hypothesis whose view the detector is most confident shows a face (largest logit);
 * -Infinity marks a view where no face was found. Ties keep the earlier hypothesis (the upright pass's own).
 */
export function mostConfident(logits: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}
