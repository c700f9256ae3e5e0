// The orientation rule and the zoomed-out second look, written against a function that runs the detector on
// similarity views of the image, so the rule itself stays free of I/O and testable with a fake detector.
import type { Similarity } from './geometry.ts';
import type { RawFace } from './retinaface-math.ts';
import { centralFace, faceFrame, mostConfident, pointsFromView, rollDeg, uprightView, wrapDeg } from './orientation.ts';

/** Runs the detector on side x side views of the image (image → view similarities), one batch; faces in view pixels. */
export type ViewRunner = (views: readonly Similarity[], side: number) => Promise<RawFace[][]>;

export interface OrientationSettings {
  /** Side of the two views that test each face's roll hypotheses (pixels; the face spans `faceFraction` of it). */
  testSide: number;
  /**
   * Largest side of the view in which a turned or tilted face's landmarks are found again, upright. The view is
   * smaller when the faces are small: it never enlarges a face beyond its size in the image (multiples of 32 px,
   * at least testSide).
   */
  refineSide: number;
  /** The share of a test view's side that the face spans. */
  faceFraction: number;
  /** The share of the refining view's side that the face spans (less context than the tests need, fewer pixels). */
  refineFaceFraction: number;
  /** A view whose face reaches this logit settles the test; below it, the four quadrants are tried too. */
  confidentLogit: number;
  /**
   * A face whose points look upright (roll within uprightToleranceDeg) and whose logit in the photo itself reaches
   * this is taken as upright without any view: turned faces whose points look upright score lower (README).
   */
  uprightLogit: number;
  /** A face that the tests find upright and whose points roll at most this much (degrees) keeps its first landmarks. */
  uprightToleranceDeg: number;
}

/** Names this version of the rule in detector versions (evaluation caches key on them); bump it when the rule changes. */
export const ORIENTATION_RULE = 6;

/** Measured choices (README, "Orientation"): the test views cost a fraction of a full pass per face. */
export const ORIENTATION: OrientationSettings = { testSide: 96, refineSide: 224, faceFraction: 0.5, refineFaceFraction: 0.7, confidentLogit: 5, uprightLogit: 7.5, uprightToleranceDeg: 15 };

/** Stage 2's hypotheses (degrees): any roll is within 45° of one of them. */
const QUADRANTS = [0, 90, 180, -90];
/** Two rolls closer than this (degrees) give the detector practically the same view (20° was too wide: eval:orientation lost 2 of 60 faces turned 90°). */
const SAME_ROLL_DEG = 10;

/** A face with the roll (degrees, clockwise on screen) the rule settled on. */
export type OrientedFace = RawFace & { rollDeg: number };

/**
 * RetinaFace finds turned faces but its landmarks only roughly follow a 90° turn and look upright on an
 * upside-down face, so the points alone cannot be trusted. For each face: estimate the roll θ from its
 * points; show the face upright under θ and θ + 180° (two small views, all faces in one batch); where neither
 * convinces the detector, also under the photo's own four quadrants; keep the hypothesis
 * whose view the detector is most confident of (its logit, not the saturated probability).
 * Faces found upright and barely tilted keep their full-resolution landmarks; the others are detected again
 * in a larger upright view and their landmarks mapped back to the image. Boxes stay as found; a face seen
 * again upright keeps the higher of its two scores (a turned face scores lower than the same face upright, and
 * the API ranks faces by confidence first).
 */
export async function orientFaces(faces: readonly RawFace[], run: ViewRunner, o: OrientationSettings = ORIENTATION): Promise<OrientedFace[]> {
  const frames = faces.map((f) => faceFrame(f.box));
  const rolls = faces.map((f) => rollDeg(f.points));
  const view = (i: number, roll: number, side: number, fraction = o.faceFraction) => uprightView(frames[i].centre, frames[i].size, roll, side, fraction);
  const all = faces.map(() => [] as Trial[]);
  // Faces the photo itself shows upright beyond doubt need no view at all.
  const plain = faces.map((f, i) => Math.abs(rolls[i]) <= o.uprightToleranceDeg && f.logit >= o.uprightLogit);

  // Stage 1: the roll the points show and its opposite (upside-down faces get upright-looking points).
  await trials(faces.map((_, i) => (plain[i] ? [] : [rolls[i], wrapDeg(rolls[i] + 180)])), all, view, run, o.testSide);
  // Stage 2, only where neither view is convincing: the four upright quadrants of the photo itself. This catches
  // sideways faces, whose points may look upright or only half turned (their views then stay below the bar).
  // A quadrant within SAME_ROLL_DEG of a roll already tried would show the detector the same view again: skipped.
  const unsure = faces.map((_, i) => !plain[i] && Math.max(...all[i].map((t) => t.logit)) < o.confidentLogit);
  const untried = (i: number) => QUADRANTS.filter((q) => all[i].every((t) => Math.abs(wrapDeg(q - t.roll)) > SAME_ROLL_DEG));
  await trials(faces.map((_, i) => (unsure[i] ? untried(i) : [])), all, view, run, o.testSide);

  const out: OrientedFace[] = faces.map((f, i) => ({ ...f, rollDeg: rolls[i] }));
  const again: { i: number; roll: number; best: Trial }[] = [];
  faces.forEach((_, i) => {
    if (plain[i]) return;
    const k = mostConfident(all[i].map((t) => t.logit));
    const best = all[i][k];
    if (k === 0 && Math.abs(rolls[i]) <= o.uprightToleranceDeg) return; // upright: keep full-resolution points
    // The chosen view shows the face nearly upright; what roll remains there is measured by its own points.
    again.push({ i, roll: best.face ? wrapDeg(best.roll + rollDeg(best.face.points)) : best.roll, best });
  });
  if (again.length === 0) return out;

  const side = refineViewSide(Math.max(...again.map(({ i }) => frames[i].size)), o);
  const views = again.map(({ i, roll }) => view(i, roll, side, o.refineFaceFraction));
  const found = await run(views, side);
  again.forEach(({ i, roll, best }, j) => {
    const c = centralFace(found[j], side);
    if (c) {
      out[i] = { ...out[i], points: pointsFromView(views[j], c.points), rollDeg: wrapDeg(roll + rollDeg(c.points)), score: Math.max(out[i].score, c.score) };
    }
    else if (best.face) out[i] = { ...out[i], points: pointsFromView(best.view, best.face.points), rollDeg: roll };
  });
  return out;
}

/**
 * The side (pixels) of the refining view for faces up to `faceSize` image pixels: the face spans refineFaceFraction of
 * the view at no more than its own resolution, rounded up to a multiple of 32, between testSide and refineSide.
 */
export function refineViewSide(faceSize: number, o: OrientationSettings): number {
  const native = Math.ceil(faceSize / o.refineFaceFraction / 32) * 32;
  return Math.min(o.refineSide, Math.max(o.testSide, native));
}

/** One roll hypothesis tested on one face: its view, the framed face found there (if any) and its logit. */
interface Trial { roll: number; view: Similarity; face?: RawFace; logit: number }

/** Runs every face's listed hypotheses in one batch and appends the trials to `into`. */
async function trials(
  rolls: readonly (readonly number[])[], into: Trial[][], view: (i: number, roll: number, side: number) => Similarity,
  run: ViewRunner, side: number,
): Promise<void> {
  const jobs = rolls.flatMap((rs, i) => rs.map((roll) => ({ i, roll, view: view(i, roll, side) })));
  if (jobs.length === 0) return;
  const seen = await run(jobs.map((j) => j.view), side);
  jobs.forEach((j, n) => {
    const face = centralFace(seen[n], side);
    into[j.i].push({ roll: j.roll, view: j.view, face, logit: face?.logit ?? -Infinity });
  });
}

/** Canvas sides of the zoomed-out look: small images are enlarged to at least the lower bound. */
const ZOOM = { fraction: 0.6, minSide: 160, maxSide: 640 };

/**
 * The view for a second look at an image where nothing was found: the whole image scaled into the middle
 * of a square canvas, spanning 60% of it (side between 160 and 640 pixels), so that a face filling the frame
 * gets context around it and fits the detector's largest priors.
 */
export function zoomOutView(width: number, height: number): { view: Similarity; side: number } {
  const longer = Math.max(width, height);
  const side = Math.round(Math.min(ZOOM.maxSide, Math.max(ZOOM.minSide, longer / ZOOM.fraction)));
  const s = (ZOOM.fraction * side) / longer;
  return { view: { a: s, b: 0, tx: (side - s * width) / 2, ty: (side - s * height) / 2 }, side };
}
