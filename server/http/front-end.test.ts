// The front end over HTTP with the default detector (RetinaFace): group photos, faces that fill the frame,
// turned and tilted photos without EXIF, and the image formats that are decoded or refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { testConfig, testServer, assertError, demoPhoto, lfwPhoto, LFW_MISSING, LFW_DIR } from '../test-support.ts';

const server = testServer(testConfig());
const { postForm } = server;

after(() => server.close());

interface Box { x: number; y: number; width: number; height: number }
type Pt = [number, number];
interface ApiFace { box: Box; score: number; landmarks: Record<string, Pt> }

async function detect(bytes: Buffer): Promise<ApiFace[]> {
  const r = await postForm('/v1/detect', { image: bytes });
  assert.equal(r.status, 200, r.text);
  return r.body.faces;
}

async function verify(a: Buffer, b: Buffer): Promise<number> {
  const r = await postForm('/v1/verify', { image_a: a, image_b: b });
  assert.equal(r.status, 200, r.text);
  return r.body.similarity;
}

/** How frontal a face looks: the distance between its eyes over its box width (profiles near 0). */
const frontal = (f: ApiFace) => Math.abs(f.landmarks.right_eye[0] - f.landmarks.left_eye[0]) / f.box.width;

/** A portrait: the most frontal face of demo photo 6 with its surroundings (a square twice the face's size). */
let portrait: Buffer;
let portraitFace: ApiFace;
before(async () => {
  await server.start();
  const bytes = readFileSync(demoPhoto(6));
  const face = (await detect(bytes)).reduce((a, b) => (frontal(b) > frontal(a) ? b : a));
  const side = Math.round(2 * Math.max(face.box.width, face.box.height));
  const meta = await sharp(bytes).metadata();
  const left = Math.max(0, Math.round(face.box.x + face.box.width / 2 - side / 2));
  const top = Math.max(0, Math.round(face.box.y + face.box.height / 2 - side / 2));
  portrait = await sharp(bytes).extract({ left, top, width: Math.min(side, meta.width! - left), height: Math.min(side, meta.height! - top) }).jpeg({ quality: 95 }).toBuffer();
  [portraitFace] = await detect(portrait);
});

test("face-api's six demo photos: exactly their 22 faces, no extra box", async () => {
  const expected = [3, 3, 3, 4, 5, 4];
  const counts = [];
  for (let n = 1; n <= 6; n++) counts.push((await detect(readFileSync(demoPhoto(n)))).length);
  assert.deepEqual(counts, expected);
});

test('faces that fill the frame: a face-only crop, a 50x50 thumbnail and a small grey crop', async () => {
  const b = portraitFace.box;
  const tight = await sharp(portrait).extract({ left: Math.round(b.x), top: Math.round(b.y), width: Math.round(b.width), height: Math.round(b.height) }).toBuffer();
  const shapes = {
    'face-only crop': await sharp(tight).jpeg().toBuffer(),
    '50x50 thumbnail': await sharp(tight).resize(50, 50, { fit: 'fill' }).jpeg().toBuffer(),
    '64x64 grey crop': await sharp(tight).resize(64, 64, { fit: 'fill' }).greyscale().png().toBuffer(),
  };
  for (const [label, bytes] of Object.entries(shapes)) {
    const faces = await detect(bytes);
    assert.equal(faces.length, 1, `${label}: ${JSON.stringify(faces)}`);
    const { left_eye: l, right_eye: r, mouth_left: ml } = faces[0].landmarks;
    assert.ok(l[0] < r[0] && l[1] < ml[1], `${label}: landmarks upright and in order: ${JSON.stringify(faces[0].landmarks)}`);
  }
  assert.ok(await verify(portrait, shapes['face-only crop']) > 0.9);
});

/** Where a point of the upright portrait lands once sharp turns the image clockwise by deg (any angle). */
function turnPoint(p: Pt, deg: number, w: number, h: number): Pt {
  const r = (deg * Math.PI) / 180, c = Math.cos(r), s = Math.sin(r);
  const W = Math.abs(w * c) + Math.abs(h * s), H = Math.abs(w * s) + Math.abs(h * c);
  const x = p[0] - w / 2, y = p[1] - h / 2;
  return [W / 2 + x * c - y * s, H / 2 + x * s + y * c];
}

test('turned and tilted photos without EXIF: landmarks on the real eyes, nose and mouth, and the same person', async () => {
  const { width: w, height: h } = await sharp(portrait).metadata();
  const faceSize = Math.max(portraitFace.box.width, portraitFace.box.height);
  for (const deg of [90, 180, 270, 30, 45, -45]) {
    const turned = await sharp(portrait).rotate(deg, { background: '#000000' }).jpeg({ quality: 95 }).toBuffer();
    const faces = await detect(turned);
    assert.equal(faces.length, 1, `${deg}°: ${faces.length} faces`);
    for (const [name, p] of Object.entries(portraitFace.landmarks)) {
      const want = turnPoint(p, deg, w!, h!);
      const got = faces[0].landmarks[name];
      const err = Math.hypot(got[0] - want[0], got[1] - want[1]);
      assert.ok(err < 0.08 * faceSize, `${deg}°: ${name} at ${got} should be near ${want.map(Math.round)} (off by ${err.toFixed(1)} px); upright ${JSON.stringify(portraitFace.landmarks)} turned ${JSON.stringify(faces[0].landmarks)} ${w}x${h}`);
    }
    const sim = await verify(portrait, turned);
    assert.ok(sim >= 0.97, `${deg}°: similarity to the upright portrait ${sim}`);
  }
});

test('a turned photo verifies against an upright photo of the same person like the upright pair does (LFW)', { skip: LFW_MISSING && `LFW not found at ${LFW_DIR}` }, async () => {
  const a = readFileSync(lfwPhoto('Aaron_Peirsol', 1));
  const b = readFileSync(lfwPhoto('Aaron_Peirsol', 2));
  const upright = await verify(a, b);
  for (const deg of [90, 180, 270, 30, 45]) {
    const sim = await verify(a, await sharp(b).rotate(deg, { background: '#000000' }).jpeg({ quality: 95 }).toBuffer());
    assert.ok(Math.abs(sim - upright) <= 0.03, `${deg}°: ${sim} vs upright pair ${upright}`);
  }
});

test('AVIF and TIFF photos are decoded; HEIC and BMP are refused with 415 and what to send instead', async () => {
  const jpeg = readFileSync(demoPhoto(3));
  const expected = (await detect(jpeg)).length;
  for (const format of ['avif', 'tiff'] as const) {
    const bytes = await sharp(jpeg).toFormat(format).toBuffer();
    assert.equal((await detect(bytes)).length, expected, format);
  }
  const heic = Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from('ftypheic\0\0\0\0mif1heic', 'latin1'), Buffer.alloc(200)]);
  const heicReply = await postForm('/v1/detect', { image: heic });
  assertError(heicReply, 415, 'unsupported_format');
  assert.match(heicReply.body.error.message, /Send JPEG or AVIF/);
  const bmp = Buffer.alloc(62);
  bmp.write('BM', 0, 'latin1'); bmp.writeUInt32LE(62, 2); bmp.writeUInt32LE(54, 10); bmp.writeUInt32LE(40, 14);
  const bmpReply = await postForm('/v1/detect', { image: bmp });
  assertError(bmpReply, 415, 'unsupported_format');
  assert.match(bmpReply.body.error.message, /PNG/);
});
