// The orientation geometry and the rule's decisions, with a fake detector that only sees upright faces well.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applySimilarity, type Point, type Similarity } from './geometry.ts';
import { centralFace, pointsFromView, rollDeg, UPRIGHT_FIVE_POINTS, uprightView, wrapDeg } from './orientation.ts';
import { ORIENTATION, orientFaces, refineViewSide, zoomOutView } from './orient-faces.ts';
import type { RawFace } from './retinaface-math.ts';

/** The upright template turned clockwise (on screen) by deg about (cx, cy) and scaled by s. */
function turned(deg: number, cx = 300, cy = 200, s = 2): Point[] {
  const r = (deg * Math.PI) / 180;
  return UPRIGHT_FIVE_POINTS.map((p) => {
    const x = (p.x - 56) * s, y = (p.y - 72) * s;
    return { x: cx + x * Math.cos(r) - y * Math.sin(r), y: cy + x * Math.sin(r) + y * Math.cos(r) };
  });
}

const near = (a: number, b: number, tol: number) => Math.abs(wrapDeg(a - b)) <= tol;

test('roll: 0 upright, clockwise positive, ±180 upside down', () => {
  for (const deg of [0, 30, -45, 90, -90, 135]) assert.ok(near(rollDeg(turned(deg)), deg, 1e-6), `roll of ${deg}`);
  assert.ok(near(Math.abs(rollDeg(turned(180))), 180, 1e-6));
  assert.equal(wrapDeg(270), -90);
  assert.equal(wrapDeg(-180), 180);
});

test('an upright view of a turned face shows it upright, centred and at the asked size; points map back', () => {
  for (const deg of [0, 37, 90, 180, -100]) {
    const pts = turned(deg);
    const v = uprightView({ x: 300, y: 200 }, 100, deg, 96, 0.5);
    const inView = pts.map((p) => applySimilarity(v, p));
    assert.ok(Math.abs(rollDeg(inView)) < 1e-6, `face turned ${deg} is upright in its view`);
    const cx = inView.reduce((s, p) => s + p.x, 0) / 5;
    assert.ok(Math.abs(cx - 48) < 10);
    const back = pointsFromView(v, inView);
    back.forEach((p, k) => assert.ok(Math.hypot(p.x - pts[k].x, p.y - pts[k].y) < 1e-9));
  }
});

test('the central face is the one nearest the view centre, within a quarter side', () => {
  const f = (x: number) => ({ box: { x, y: 40, width: 16, height: 16 } });
  assert.equal(centralFace([f(0), f(42), f(70)], 96)?.box.x, 42);
  assert.equal(centralFace([f(42)], 96)?.box.x, 42);
  assert.equal(centralFace([f(0)], 96), undefined);
});

/**
 * A fake detector over a scene of true faces: in a view it finds each face whose centre lands in the view,
 * with landmarks that look upright whatever the truth (RetinaFace's failure on upside-down faces), and a
 * logit that falls with how far from upright the face stands in that view.
 */
function scene(truth: { centre: Point; roll: number; size: number }[], degreesPerLogit = 10) {
  const calls: number[] = [];
  const run = async (views: readonly Similarity[], side: number): Promise<RawFace[][]> => {
    calls.push(views.length);
    return views.map((v) => truth.flatMap((t) => {
      const c = applySimilarity(v, t.centre);
      if (c.x < 0 || c.y < 0 || c.x > side || c.y > side) return [];
      const viewRoll = wrapDeg(t.roll + (Math.atan2(v.b, v.a) * 180) / Math.PI);
      const size = t.size * Math.hypot(v.a, v.b);
      // Points: the true points where the face is within 60° of upright, else upright-looking ones.
      const shown = Math.abs(viewRoll) <= 60 ? viewRoll : 0;
      const points = turned(shown, c.x, c.y, size / 60);
      return [{ score: 0.99, logit: 8 - Math.abs(viewRoll) / degreesPerLogit, box: { x: c.x - size / 2, y: c.y - size / 2, width: size, height: size }, points }];
    }));
  };
  return { run, calls };
}

function detected(t: { centre: Point; roll: number; size: number }, pointsRoll: number): RawFace {
  return { score: 0.99, logit: 5, box: { x: t.centre.x - t.size / 2, y: t.centre.y - t.size / 2, width: t.size, height: t.size }, points: turned(pointsRoll, t.centre.x, t.centre.y, t.size / 60) };
}

test('upright faces keep their own landmarks and cost one batch of two views each', async () => {
  const t = { centre: { x: 300, y: 200 }, roll: 5, size: 120 };
  const { run, calls } = scene([t]);
  const first = detected(t, 5);
  const [out] = await orientFaces([first], run);
  assert.deepEqual(out.points, first.points);
  assert.deepEqual(calls, [2]);
});

test('an upside-down face whose landmarks look upright is found upside down', async () => {
  const t = { centre: { x: 300, y: 200 }, roll: 180, size: 120 };
  const { run } = scene([t]);
  const [out] = await orientFaces([detected(t, 8)], run);
  assert.ok(near(out.rollDeg, 180, 2), `roll ${out.rollDeg}`);
  assert.ok(near(rollDeg(out.points), 180, 2));
});

test('sideways and tilted faces: points that only roughly follow the turn are measured again upright', async () => {
  for (const [roll, pointsRoll] of [[90, 60], [-90, -70], [45, 30], [-30, -20]]) {
    const t = { centre: { x: 300, y: 200 }, roll, size: 120 };
    const { run } = scene([t]);
    const [out] = await orientFaces([detected(t, pointsRoll)], run);
    assert.ok(near(out.rollDeg, roll, 2), `true ${roll}: got ${out.rollDeg}`);
  }
});

test("where no first view convinces, the photo's own quadrants are tried as well", async () => {
  // Points claim 45°, the face is upright: both first views leave it 45° or more from upright, and this
  // detector's confidence falls fast (logit 8 - 45/4 < 5), so neither convinces.
  const t = { centre: { x: 300, y: 200 }, roll: 0, size: 120 };
  const { run, calls } = scene([t], 4);
  const [out] = await orientFaces([detected(t, 45)], run);
  assert.deepEqual(calls.slice(0, 2), [2, 4]);
  assert.ok(near(out.rollDeg, 0, 2), `got ${out.rollDeg}`);
  assert.ok(ORIENTATION.confidentLogit > 8 - 45 / 4);
});

test('a sideways face whose landmarks look upright is found sideways', async () => {
  const t = { centre: { x: 300, y: 200 }, roll: 90, size: 120 };
  const { run } = scene([t]);
  const [out] = await orientFaces([detected(t, -9)], run);
  assert.ok(near(out.rollDeg, 90, 2), `got ${out.rollDeg}`);
});

test('a face whose points look upright and that the photo shows at a high logit costs no view at all', async () => {
  const t = { centre: { x: 300, y: 200 }, roll: 4, size: 120 };
  const { run, calls } = scene([t]);
  const first = { ...detected(t, 4), logit: ORIENTATION.uprightLogit };
  const [out] = await orientFaces([first], run);
  assert.deepEqual(out.points, first.points);
  assert.deepEqual(calls, []);
  // Tilted beyond the tolerance, the same logit does not skip the test.
  const tilted = { ...detected(t, 25), logit: ORIENTATION.uprightLogit + 1 };
  await orientFaces([tilted], run);
  assert.deepEqual(calls.slice(0, 1), [2]);
});

test('the quadrants skip rolls already tried: a sideways face with upright-looking points costs two more views, not four', async () => {
  const t = { centre: { x: 300, y: 200 }, roll: 90, size: 120 };
  const { run, calls } = scene([t]);
  const [out] = await orientFaces([detected(t, 3)], run);
  assert.deepEqual(calls.slice(0, 2), [2, 2]); // 3° and -177° first; then 90° and -90° (0° and 180° were as good as tried)
  assert.ok(near(out.rollDeg, 90, 2), `got ${out.rollDeg}`);
});

test('the refining view shows faces at no more than their own resolution, between the test side and the largest side', () => {
  // The face spans 70% of the refining view: a 100 px face needs 143 px, a 120 px face 171 px (multiples of 32 above).
  assert.equal(ORIENTATION.refineFaceFraction, 0.7);
  assert.equal(refineViewSide(100, ORIENTATION), 160);
  assert.equal(refineViewSide(120, ORIENTATION), 192);
  assert.equal(refineViewSide(30, ORIENTATION), ORIENTATION.testSide);
  assert.equal(refineViewSide(300, ORIENTATION), ORIENTATION.refineSide);
});

test('zoomed-out view: the image spans 60% of a canvas of 160 to 640 pixels, centred', () => {
  const small = zoomOutView(50, 50);
  assert.equal(small.side, 160);
  assert.ok(Math.abs(applySimilarity(small.view, { x: 25, y: 25 }).x - 80) < 1e-9);
  assert.ok(Math.abs(small.view.a * 50 - 96) < 1e-9);
  const big = zoomOutView(640, 480);
  assert.equal(big.side, 640);
  assert.ok(Math.abs(big.view.a * 640 - 384) < 1e-9);
});
