// `npm run eval:orientation`: LFW photos turned and tilted without EXIF, through the RetinaFace detector with the
// orientation rule (auto) and without it (upright): is the subject found, is its roll right, where are its points.
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { PROJECT_ROOT } from '../server/config.ts';
import { RetinaFaceDetector } from '../server/adapters/retinaface-detector.ts';
import { loadRetinaFaceModel } from '../server/model/detector-card.ts';
import { SharpDecoder } from '../server/adapters/sharp-decoder.ts';
import { rollDeg, wrapDeg } from '../server/pipeline/orientation.ts';
import { ORIENTATION, type OrientationSettings } from '../server/pipeline/orient-faces.ts';
import { nearestCentre } from '../server/pipeline/select.ts';
import type { Point } from '../server/pipeline/geometry.ts';
import type { RgbImage } from '../server/pipeline/warp.ts';

const { values: args } = parseArgs({
  options: {
    lfw: { type: 'string', default: resolve('../shared/datasets/lfw') },
    people: { type: 'string', default: '60' },
    angles: { type: 'string', default: '0,90,180,270,10,20,30,45,-45' },
    // Overrides of the rule's settings for the auto detector, as JSON (e.g. '{"uprightToleranceDeg": 30}'): to measure a variant.
    settings: { type: 'string', default: '{}' },
  },
});

/** Where a point of the upright photo lands when sharp turns it clockwise by deg about its centre (canvas grows to fit). */
function turned(p: Point, deg: number, w: number, h: number, W: number, H: number): Point {
  const r = (deg * Math.PI) / 180, c = Math.cos(r), s = Math.sin(r);
  const x = p.x - w / 2, y = p.y - h / 2;
  return { x: W / 2 + x * c - y * s, y: H / 2 + x * s + y * c };
}

const quantile = (v: number[], q: number) => [...v].sort((a, b) => a - b)[Math.min(v.length - 1, Math.floor(q * v.length))];

async function main() {
  const images = join(resolve(args.lfw!), 'images');
  if (!existsSync(images)) {
    console.error(`eval:orientation: LFW not found at ${images}; pass --lfw DIR`);
    process.exit(2);
  }
  const model = loadRetinaFaceModel(join(PROJECT_ROOT, 'models'));
  const modes = ['auto', 'upright'] as const;
  const orientationSettings = { ...ORIENTATION, ...(JSON.parse(args.settings!) as Partial<OrientationSettings>) };
  const detectors = await Promise.all(modes.map((orientation) => RetinaFaceDetector.create(model, { device: 'cpu', threads: 2, orientation, orientationSettings })));
  const decoder = new SharpDecoder({ maxImageBytes: 64 << 20, maxPixels: 100_000_000 });
  const angles = args.angles!.split(',').map(Number);
  const people = readdirSync(images).sort().slice(0, Number(args.people));
  type Tally = { n: number; found: number; rollOk: number; rollErr: number[]; pointErr: number[]; plainLogits: number[] };
  // Face-only thumbnails of the same subjects: the subject's box cut out and resized (README, "faces that fill the frame").
  const thumbs = [['50x50 colour', 50, false], ['50x50 grey', 50, true], ['80x80 grey', 80, true]] as const;
  const thumbFound = new Map<string, number>(thumbs.map(([name]) => [name, 0]));
  let thumbTried = 0;
  const tally = new Map<string, Tally>();
  const at = (mode: string, a: number) => {
    const k = `${mode} ${a}`;
    if (!tally.has(k)) tally.set(k, { n: 0, found: 0, rollOk: 0, rollErr: [], pointErr: [], plainLogits: [] });
    return tally.get(k)!;
  };
  const subject = async (d: RetinaFaceDetector, img: RgbImage) => nearestCentre(await d.detect(img, { minScore: 0.5 }), img.width, img.height);
  for (const [i, person] of people.entries()) {
    const bytes = readFileSync(join(images, person, readdirSync(join(images, person)).sort()[0]));
    const upright = (await decoder.decode(bytes)).image;
    const ref = await subject(detectors[1], upright); // the reference points: the upright photo, upright mode
    if (!ref) continue;
    const iod = Math.hypot(ref.points[1].x - ref.points[0].x, ref.points[1].y - ref.points[0].y);
    const b = ref.box;
    const tight = await sharp(bytes).extract({ left: Math.round(b.x), top: Math.round(b.y), width: Math.round(b.width), height: Math.round(b.height) }).toBuffer();
    thumbTried++;
    for (const [name, side, grey] of thumbs) {
      const small = sharp(tight).resize(side, side, { fit: 'fill' });
      const img = (await decoder.decode(await (grey ? small.greyscale() : small).jpeg({ quality: 90 }).toBuffer())).image;
      if ((await detectors[0].detect(img, { minScore: 0.5 })).length > 0) thumbFound.set(name, thumbFound.get(name)! + 1);
    }
    for (const a of angles) {
      const img = (await decoder.decode(await sharp(bytes).rotate(a, { background: '#000000' }).jpeg({ quality: 95 }).toBuffer())).image;
      for (const [m, mode] of modes.entries()) {
        const t = at(mode, a);
        t.n++;
        const f = await subject(detectors[m], img);
        if (!f) continue;
        t.found++;
        // Upright mode reports the photo's own pass: where its points look upright, the rule's shortcut reads its logit.
        if (mode === 'upright' && Math.abs(rollDeg(f.points)) <= orientationSettings.uprightToleranceDeg) t.plainLogits.push(Math.log(f.score / (1 - f.score)));
        const e = Math.abs(wrapDeg(rollDeg(f.points) - rollDeg(ref.points) - a));
        t.rollErr.push(e);
        if (e <= 30) t.rollOk++;
        const want = ref.points.map((p) => turned(p, a, upright.width, upright.height, img.width, img.height));
        t.pointErr.push(Math.max(...f.points.map((p, k) => Math.hypot(p.x - want[k].x, p.y - want[k].y))) / iod);
      }
    }
    if ((i + 1) % 10 === 0) console.error(`eval:orientation: ${i + 1}/${people.length} people`);
  }
  await Promise.all(detectors.map((d) => d.close()));
  console.log(`\nFace-only thumbnails (the upright subject's box cut out and resized, JPEG q90), orientation auto: ` +
    thumbs.map(([name]) => `${name} ${thumbFound.get(name)}/${thumbTried}`).join(', '));
  console.log(`\nLFW: the first photo of the first ${people.length} people (sorted), turned clockwise by sharp (black corners); RetinaFace, score 0.5, ` +
    'the face nearest the centre. Roll error: against the upright photo\'s own points plus the turn. Point error: the worst of the 5 points ' +
    'against the upright photo\'s points turned with the image, over the inter-ocular distance.');
  console.log('\n| turn | orientation | subject found | roll within 30° | roll error median / max | point error / IOD median / p90 |');
  console.log('|---|---|---|---|---|---|');
  for (const a of angles) {
    for (const mode of modes) {
      const t = at(mode, a);
      const f = (v: number[], q: number, d = 1) => (v.length ? quantile(v, q).toFixed(d) : '-');
      console.log(`| ${a}° | ${mode} | ${t.found}/${t.n} | ${t.rollOk}/${t.n} | ${f(t.rollErr, 0.5)}° / ${f(t.rollErr, 1)}° | ${f(t.pointErr, 0.5, 3)} / ${f(t.pointErr, 0.9, 3)} |`);
    }
  }
  const u = orientationSettings.uprightLogit;
  console.log(`\nThe shortcut (no views for a face whose points look upright, roll within ${orientationSettings.uprightToleranceDeg}°, and whose ` +
    `logit in the photo's own pass is at least ${u}): the subject's first-pass logit where its points look upright, per turn. ` +
    'At 0° the share taken as upright without views; at any other turn a face at or above the bar would keep wrong points.');
  console.log('\n| turn | points look upright | first-pass logit median / max | at or above the bar |');
  console.log('|---|---|---|---|');
  for (const a of angles) {
    const v = at('upright', a).plainLogits;
    console.log(`| ${a}° | ${v.length}/${at('upright', a).n} | ${v.length ? quantile(v, 0.5).toFixed(2) : '-'} / ${v.length ? Math.max(...v).toFixed(2) : '-'} | ${v.filter((x) => x >= u).length} |`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
