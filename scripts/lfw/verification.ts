// Pure verification metrics: k-fold accuracy with thresholds chosen on the other folds, TAR at FAR.

export interface Scored {
  fold: number;
  same: boolean;
  score: number; // higher means more alike
  /** No answer for this pair (e.g. the API found no face in one image): wrong at every threshold. */
  failed?: boolean;
}

function accuracyAt(items: readonly Scored[], t: number): number {
  let ok = 0;
  for (const it of items) if (!it.failed && (it.score >= t) === it.same) ok++;
  return ok / items.length;
}

/** Threshold maximising accuracy on `items` (midpoints between sorted scores; ties take the middle). */
export function bestThreshold(items: readonly Scored[]): number {
  // Failed pairs are wrong at any threshold, so they cannot move the choice.
  const s = [...new Set(items.filter((i) => !i.failed).map((i) => i.score))].sort((a, b) => a - b);
  const cands = [s[0] - 1e-6, ...s.slice(1).map((v, i) => (v + s[i]) / 2), s[s.length - 1] + 1e-6];
  let best = -Infinity;
  let bestIdx: number[] = [];
  cands.forEach((t, i) => {
    const a = accuracyAt(items, t);
    if (a > best + 1e-12) { best = a; bestIdx = [i]; } else if (Math.abs(a - best) <= 1e-12) bestIdx.push(i);
  });
  return cands[bestIdx[Math.floor(bestIdx.length / 2)]];
}

export interface KFoldResult {
  accuracies: number[];
  thresholds: number[];
  mean: number;
  std: number;
}

/** Each fold is scored with the threshold that is best on all the other folds. */
export function kFoldAccuracy(items: readonly Scored[]): KFoldResult {
  const folds = [...new Set(items.map((i) => i.fold))].sort((a, b) => a - b);
  const accuracies: number[] = [];
  const thresholds: number[] = [];
  for (const f of folds) {
    const t = bestThreshold(items.filter((i) => i.fold !== f));
    thresholds.push(t);
    accuracies.push(accuracyAt(items.filter((i) => i.fold === f), t));
  }
  const mean = accuracies.reduce((s, a) => s + a, 0) / accuracies.length;
  const std = Math.sqrt(accuracies.reduce((s, a) => s + (a - mean) ** 2, 0) / accuracies.length);
  return { accuracies, thresholds, mean, std };
}

export interface TarAtFar {
  far: number;
  threshold: number;
  tar: number;
  falseAccepts: number;
  negatives: number;
}

/**
 * The lowest threshold whose false accept count stays within far * negatives, and the true accept rate
 * there. Returns null when there are too few negatives to measure that FAR at all.
 */
export function tarAtFar(items: readonly Scored[], far: number): TarAtFar | null {
  // A failed negative pair is never a false accept; a failed positive pair is never a true accept.
  const neg = items.filter((i) => !i.same).map((i) => (i.failed ? -Infinity : i.score)).sort((a, b) => b - a);
  const pos = items.filter((i) => i.same).map((i) => (i.failed ? -Infinity : i.score));
  const allowed = Math.floor(far * neg.length);
  if (neg.length < 1 / far) return null;
  // Accept scores strictly above the (allowed+1)-th highest negative.
  if (!Number.isFinite(neg[allowed])) return { far, threshold: -Infinity, tar: pos.filter(Number.isFinite).length / pos.length, falseAccepts: 0, negatives: neg.length };
  const threshold = neg[allowed] + 1e-9;
  const tar = pos.filter((s) => s >= threshold).length / pos.length;
  return { far, threshold, tar, falseAccepts: neg.filter((s) => s >= threshold).length, negatives: neg.length };
}
