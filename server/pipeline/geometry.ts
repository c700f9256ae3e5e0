// Pure 2-D geometry for face alignment: points, similarity transforms and their least-squares fit.

export interface Point {
  x: number;
  y: number;
}

/** x' = a*x - b*y + tx ; y' = b*x + a*y + ty  (rotation + uniform scale + translation, no reflection). */
export interface Similarity {
  a: number;
  b: number;
  tx: number;
  ty: number;
}

export function applySimilarity(t: Similarity, p: Point): Point {
  return { x: t.a * p.x - t.b * p.y + t.tx, y: t.b * p.x + t.a * p.y + t.ty };
}

export function invertSimilarity(t: Similarity): Similarity {
  const d = t.a * t.a + t.b * t.b;
  if (d === 0) throw new Error('degenerate similarity transform (zero scale)');
  const a = t.a / d;
  const b = -t.b / d;
  // inverse translation: -(R^-1 t)
  return { a, b, tx: -(a * t.tx - b * t.ty), ty: -(b * t.tx + a * t.ty) };
}

export function similarityScale(t: Similarity): number {
  return Math.hypot(t.a, t.b);
}

/** Rotation of the transform in degrees (positive = counter-clockwise in image coordinates). */
export function similarityRotationDeg(t: Similarity): number {
  return (Math.atan2(t.b, t.a) * 180) / Math.PI;
}

/**
 * Least-squares similarity mapping src[i] onto dst[i] (Umeyama restricted to 2-D, reflection excluded
 * by construction because the rotation is parametrised as [a -b; b a]).
 */
export function fitSimilarity(src: readonly Point[], dst: readonly Point[]): Similarity {
  if (src.length !== dst.length || src.length < 2) {
    throw new Error(`fitSimilarity needs matching point lists of length >= 2, got ${src.length} and ${dst.length}`);
  }
  const n = src.length;
  let sx = 0, sy = 0, dx = 0, dy = 0;
  for (let i = 0; i < n; i++) {
    sx += src[i].x; sy += src[i].y; dx += dst[i].x; dy += dst[i].y;
  }
  sx /= n; sy /= n; dx /= n; dy /= n;
  let num = 0, cross = 0, den = 0;
  for (let i = 0; i < n; i++) {
    const px = src[i].x - sx, py = src[i].y - sy;
    const qx = dst[i].x - dx, qy = dst[i].y - dy;
    num += px * qx + py * qy;
    cross += px * qy - py * qx;
    den += px * px + py * py;
  }
  if (den === 0) throw new Error('fitSimilarity: source points are all identical');
  const a = num / den;
  const b = cross / den;
  return { a, b, tx: dx - (a * sx - b * sy), ty: dy - (b * sx + a * sy) };
}
