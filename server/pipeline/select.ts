// Pure policies for choosing among detected faces (largest first, nearest the centre, plausibility).
import type { Box } from './types.ts';

export const area = (b: Box) => b.width * b.height;

/** Boxes ordered by area, largest first (ties keep detection order). */
export function largestFirst<T extends { box: Box }>(faces: readonly T[]): T[] {
  return faces.map((f, i) => ({ f, i })).sort((p, q) => area(q.f.box) - area(p.f.box) || p.i - q.i).map((p) => p.f);
}

/**
 * The order "largest face" means to a user: confident faces (score >= confidentScore) before unconfident
 * ones, largest first within each group. A large low-score box (a pattern on clothing, a blurred poster)
 * therefore never displaces a clear face, however small; among clear faces size decides, as users expect.
 */
export function prominentFirst<T extends { box: Box; score: number }>(faces: readonly T[], confidentScore: number): T[] {
  const sure = largestFirst(faces.filter((f) => f.score >= confidentScore));
  return [...sure, ...largestFirst(faces.filter((f) => f.score < confidentScore))];
}

/** The face whose box centre is nearest the image centre, or undefined when there is none. */
export function nearestCentre<T extends { box: Box }>(faces: readonly T[], width: number, height: number): T | undefined {
  let best: T | undefined;
  let bestD = Infinity;
  for (const f of faces) {
    const d = Math.hypot(f.box.x + f.box.width / 2 - width / 2, f.box.y + f.box.height / 2 - height / 2);
    if (d < bestD) { bestD = d; best = f; }
  }
  return best;
}
