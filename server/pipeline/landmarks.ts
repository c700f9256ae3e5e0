// Reduces the 68-point (iBUG/dlib) landmark scheme to the 5 points the alignment templates use.
import type { Point } from './geometry.ts';

/** Order matches model cards: left eye, right eye, nose tip, mouth left, mouth right (as seen in the image). */
export const FIVE_POINT_NAMES = ['left_eye', 'right_eye', 'nose_tip', 'mouth_left', 'mouth_right'] as const;

function mean(points: readonly Point[], from: number, to: number): Point {
  let x = 0, y = 0;
  for (let i = from; i <= to; i++) {
    x += points[i].x;
    y += points[i].y;
  }
  const n = to - from + 1;
  return { x: x / n, y: y / n };
}

export function fivePointsFrom68(points: readonly Point[]): Point[] {
  if (points.length !== 68) throw new Error(`expected 68 landmarks, got ${points.length}`);
  return [
    mean(points, 36, 41), // eye on the image's left (subject's right)
    mean(points, 42, 47),
    { x: points[30].x, y: points[30].y },
    { x: points[48].x, y: points[48].y },
    { x: points[54].x, y: points[54].y },
  ];
}
