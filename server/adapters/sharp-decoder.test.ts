// Checks image decoding: format sniffing, EXIF orientation, limits, corrupt input, channel layouts, downscaling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import type { Color } from 'sharp';
import { SharpDecoder, sniffFormat, encodeJpeg } from './sharp-decoder.ts';
import { ApiError, type ErrorCode } from '../errors.ts';

const LIMITS = { maxImageBytes: 10 * 1024 * 1024, maxPixels: 40_000_000 };
const decoder = new SharpDecoder(LIMITS);

const solid = (width: number, height: number, channels: 3 | 4, background: Color) =>
  sharp({ create: { width, height, channels, background } });

/** Asserts the promise rejects with an ApiError of this code and returns it. */
async function rejectsWith(p: Promise<unknown>, code: ErrorCode): Promise<ApiError> {
  let err: unknown;
  await assert.rejects(p, (e) => { err = e; return true; });
  assert.ok(err instanceof ApiError, `expected an ApiError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  return err;
}

function pixel(img: { data: Uint8Array; width: number }, x: number, y: number): number[] {
  const o = (y * img.width + x) * 3;
  return Array.from(img.data.subarray(o, o + 3));
}

test('sniffs JPEG, PNG, WebP and GIF from their magic bytes', async () => {
  const base = solid(8, 8, 3, '#808080');
  assert.equal(sniffFormat(await base.clone().jpeg().toBuffer()), 'jpeg');
  assert.equal(sniffFormat(await base.clone().png().toBuffer()), 'png');
  assert.equal(sniffFormat(await base.clone().webp().toBuffer()), 'webp');
  assert.equal(sniffFormat(await base.clone().gif().toBuffer()), 'gif');
  // Truncated magic, RIFF that is not WebP, and look-alikes are not images.
  assert.equal(sniffFormat(Buffer.from([0xff, 0xd8])), null);
  assert.equal(sniffFormat(Buffer.from('RIFF\0\0\0\0WAVEfmt ', 'latin1')), null);
  assert.equal(sniffFormat(Buffer.from('\x89PNG\r\n\x1a', 'latin1')), null);
});

test('each supported format decodes and reports its sniffed format, whatever the content', async () => {
  const base = solid(6, 4, 3, { r: 10, g: 200, b: 30 });
  for (const format of ['jpeg', 'png', 'webp', 'gif', 'avif', 'tiff'] as const) {
    const bytes = await base.clone().toFormat(format).toBuffer();
    assert.equal(sniffFormat(bytes), format);
    const d = await decoder.decode(bytes);
    assert.equal(d.format, format);
    const [r, g, b] = pixel(d.image, 3, 2); // lossy codecs move colours a little, never to another colour
    assert.ok(Math.abs(r - 10) < 12 && Math.abs(g - 200) < 12 && Math.abs(b - 30) < 12, `${format}: ${r},${g},${b}`);
    assert.deepEqual([d.image.width, d.image.height, d.image.data.length], [6, 4, 6 * 4 * 3]);
    assert.match(d.sha256, /^[0-9a-f]{64}$/);
  }
});

/** A 2x1 24-bit BMP, written byte by byte (sharp writes no BMP). */
function tinyBmp(): Buffer {
  const b = Buffer.alloc(62);
  b.write('BM', 0, 'latin1'); b.writeUInt32LE(62, 2); b.writeUInt32LE(54, 10); // size, pixel offset
  b.writeUInt32LE(40, 14); b.writeInt32LE(2, 18); b.writeInt32LE(1, 22); b.writeUInt16LE(1, 26); b.writeUInt16LE(24, 28);
  b.writeUInt32LE(8, 34); // pixel bytes: one row of 2 BGR pixels, padded to 8
  b.set([0, 0, 255, 255, 0, 0], 54);
  return b;
}

/** The start of a HEIC file: an ISO-BMFF ftyp box with HEIF brands (no HEVC encoder exists here to make a whole one). */
const heicHeader = (major: string, compatible: string[]) => {
  const brands = [major, '\0\0\0\0', ...compatible].join('');
  const size = 8 + brands.length;
  return Buffer.concat([Buffer.from([0, 0, 0, size]), Buffer.from('ftyp' + brands, 'latin1'), Buffer.alloc(64)]);
};

test('HEIC and BMP are recognised and refused with 415 and what to send instead', async () => {
  for (const bytes of [heicHeader('heic', ['mif1', 'heic']), heicHeader('mif1', ['heic'])]) {
    assert.equal(sniffFormat(bytes), 'heic');
    const e = await rejectsWith(decoder.decode(bytes), 'unsupported_format');
    assert.match(e.message, /HEIC.*Send JPEG or AVIF/);
    assert.equal(e.status, 415);
  }
  assert.equal(sniffFormat(heicHeader('mif1', ['avif'])), 'avif'); // AVIF still images carry mif1 + avif
  const bmp = tinyBmp();
  assert.equal(sniffFormat(bmp), 'bmp');
  const e = await rejectsWith(decoder.decode(bmp), 'unsupported_format');
  assert.match(e.message, /BMP.*PNG/);
});

test('SVG, PDF, text and BM-prefixed junk are refused as unsupported_format', async () => {
  const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>');
  const pdf = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n');
  const text = Buffer.from('hello, this is not an image\n');
  const bmText = Buffer.from('BMW is a car maker, not an image format\n');
  for (const bytes of [svg, pdf, text, bmText]) {
    assert.equal(sniffFormat(bytes), null);
    const e = await rejectsWith(decoder.decode(bytes), 'unsupported_format');
    assert.match(e.message, /JPEG, PNG, WebP, AVIF, TIFF or GIF/);
  }
});

test('EXIF orientation is applied: orientation 6 swaps width and height', async () => {
  // Left half red, right half blue, 40x20; orientation 6 = rotate 90° clockwise to display.
  const raw = Buffer.alloc(40 * 20 * 3);
  for (let y = 0; y < 20; y++) for (let x = 0; x < 40; x++) raw.set(x < 20 ? [255, 0, 0] : [0, 0, 255], (y * 40 + x) * 3);
  const jpeg = await sharp(raw, { raw: { width: 40, height: 20, channels: 3 } }).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
  assert.equal((await sharp(jpeg).metadata()).orientation, 6);
  const d = await decoder.decode(jpeg);
  assert.deepEqual([d.image.width, d.image.height], [20, 40]);
  // After a clockwise turn the left (red) half is on top.
  const top = pixel(d.image, 10, 5), bottom = pixel(d.image, 10, 35);
  assert.ok(top[0] > 200 && top[2] < 60, `top ${top}`);
  assert.ok(bottom[2] > 200 && bottom[0] < 60, `bottom ${bottom}`);
});

test('an image over the byte limit is refused before anything is read', async () => {
  const small = new SharpDecoder({ maxImageBytes: 1024, maxPixels: 1e6 });
  const bytes = await solid(300, 300, 3, '#000').png({ compressionLevel: 0 }).toBuffer();
  assert.ok(bytes.length > 1024);
  const e = await rejectsWith(small.decode(bytes), 'image_too_large');
  assert.match(e.message, /1024/);
});

test('an image over the pixel limit is refused (large solid PNG, default limits)', async () => {
  const bytes = await solid(8000, 6000, 3, { r: 1, g: 2, b: 3 }).png({ compressionLevel: 1 }).toBuffer();
  const e = await rejectsWith(decoder.decode(bytes), 'image_too_large');
  assert.deepEqual(e.details, { width: 8000, height: 6000, max_pixels: 40_000_000 });
});

test('the pixel limit is checked from the header, before decoding', async () => {
  // A JPEG cut after its first 2 KB: the header says 3000x3000, the pixel data is missing. Only a
  // header check can call this too large; decoding would have said invalid_image.
  const full = await solid(3000, 3000, 3, '#abc').jpeg().toBuffer();
  const head = full.subarray(0, 2048);
  const tight = new SharpDecoder({ maxImageBytes: LIMITS.maxImageBytes, maxPixels: 1_000_000 });
  const e = await rejectsWith(tight.decode(head), 'image_too_large');
  assert.equal(e.details?.width, 3000);
  await rejectsWith(decoder.decode(head), 'invalid_image');
});

test('a truncated JPEG and an empty file are invalid_image', async () => {
  const noisy = await sharp({ create: { width: 200, height: 200, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 40 } } })
    .jpeg().toBuffer();
  await rejectsWith(decoder.decode(noisy.subarray(0, noisy.length >> 1)), 'invalid_image');
  await rejectsWith(decoder.decode(noisy.subarray(0, 4)), 'invalid_image');
  const e = await rejectsWith(decoder.decode(Buffer.alloc(0)), 'invalid_image');
  assert.match(e.message, /empty/);
});

test('grayscale, RGBA and 16-bit PNGs decode to 8-bit RGB', async () => {
  const gray = await solid(5, 3, 3, '#646464').toColourspace('b-w').png().toBuffer();
  assert.equal((await sharp(gray).metadata()).channels, 1);
  const rgba = await solid(5, 3, 4, { r: 10, g: 20, b: 30, alpha: 0.5 }).png().toBuffer();
  assert.equal((await sharp(rgba).metadata()).channels, 4);
  const deep = await solid(5, 3, 3, { r: 200, g: 100, b: 50 }).toColourspace('rgb16').png().toBuffer();
  assert.equal((await sharp(deep).metadata()).depth, 'ushort');
  for (const [bytes, want] of [[gray, [100, 100, 100]], [rgba, [10, 20, 30]], [deep, [200, 100, 50]]] as const) {
    const d = await decoder.decode(bytes);
    assert.deepEqual([d.image.width, d.image.height, d.image.data.length], [5, 3, 5 * 3 * 3]);
    const got = pixel(d.image, 2, 1);
    got.forEach((v, c) => assert.ok(Math.abs(v - want[c]) <= 1, `got ${got}, want ${want}`));
  }
});

test('an animated GIF decodes to its first frame', async () => {
  const frames = await Promise.all(['#ff0000', '#0000ff', '#00ff00'].map((c) => solid(8, 4, 3, c).png().toBuffer()));
  const gif = await sharp(frames, { join: { animated: true } }).gif().toBuffer();
  assert.equal((await sharp(gif).metadata()).pages, 3);
  const d = await decoder.decode(gif);
  assert.equal(d.format, 'gif');
  assert.deepEqual([d.image.width, d.image.height], [8, 4]);
  const p = pixel(d.image, 4, 2);
  assert.ok(p[0] > 200 && p[1] < 50 && p[2] < 50, `first frame is red, got ${p}`);
});

test('downscale caps the longer side and returns the factor mapping coordinates back', async () => {
  const img = { data: new Uint8Array(1000 * 500 * 3).fill(90), width: 1000, height: 500 };
  const wide = await decoder.downscale(img, 640);
  assert.deepEqual([wide.image.width, wide.image.height, wide.image.data.length], [640, 320, 640 * 320 * 3]);
  assert.equal(wide.scale, 1000 / 640);
  assert.equal(wide.image.data[1234], 90);

  const tall = await decoder.downscale({ data: new Uint8Array(333 * 1001 * 3), width: 333, height: 1001 }, 640);
  assert.deepEqual([tall.image.width, tall.image.height], [213, 640]);
  assert.equal(tall.scale, 333 / 213);
  assert.ok(Math.abs(tall.scale - 1001 / 640) < 0.01);

  const same = await decoder.downscale(img, 1000);
  assert.equal(same.image, img);
  assert.equal(same.scale, 1);
});

test('encodeJpeg round-trips an RGB crop', async () => {
  const crop = { data: new Uint8Array(150 * 150 * 3).fill(128), width: 150, height: 150 };
  const d = await decoder.decode(await encodeJpeg(crop));
  assert.deepEqual([d.format, d.image.width, d.image.height], ['jpeg', 150, 150]);
  assert.ok(Math.abs(d.image.data[500] - 128) <= 2);
});
