// Warps a synthetic image with blobs at known points and checks they land on the template.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alignFace } from './align.ts';
import type { RgbImage } from './warp.ts';
import { toNchwBatch } from './preprocess.ts';

const TEMPLATE = [
  { x: 47.549, y: 46.599 }, { x: 100.476, y: 46.599 }, { x: 74.013, y: 76.562 },
  { x: 50.415, y: 103.023 }, { x: 97.61, y: 103.023 },
];

function blobImage(width: number, height: number, centres: { x: number; y: number }[], sigma: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let v = 0;
      for (const c of centres) v += Math.exp(-((x - c.x) ** 2 + (y - c.y) ** 2) / (2 * sigma * sigma));
      const o = (y * width + x) * 3;
      data[o] = data[o + 1] = data[o + 2] = Math.min(255, Math.round(255 * v));
    }
  }
  return { data, width, height };
}

function centroidNear(img: RgbImage, at: { x: number; y: number }, radius: number) {
  let sw = 0, sx = 0, sy = 0;
  for (let y = Math.floor(at.y - radius); y <= Math.ceil(at.y + radius); y++) {
    for (let x = Math.floor(at.x - radius); x <= Math.ceil(at.x + radius); x++) {
      if (x < 0 || y < 0 || x >= img.width || y >= img.height) continue;
      const w = img.data[(y * img.width + x) * 3];
      sw += w; sx += w * x; sy += w * y;
    }
  }
  return { x: sx / sw, y: sy / sw };
}

for (const [label, scale, angle] of [['upscale, rotated', 0.6, 25], ['downscale 3x, rotated', 3, -40]] as const) {
  test(`known points land within 0.5 px of the template (${label})`, () => {
    // Place the template in a larger source image under a known similarity (scale, rotation, offset).
    const th = (angle * Math.PI) / 180;
    const src = TEMPLATE.map((p) => ({
      x: scale * (Math.cos(th) * (p.x - 75) - Math.sin(th) * (p.y - 75)) + 160,
      y: scale * (Math.sin(th) * (p.x - 75) + Math.cos(th) * (p.y - 75)) + 150,
    }));
    const img = blobImage(320, 300, src, 2.5 * scale);
    const aligned = alignFace(img, src, { template: TEMPLATE, width: 150, height: 150 });
    assert.ok(Math.abs(aligned.rollDeg - angle) < 1e-6, `roll ${aligned.rollDeg} vs ${angle}`);
    assert.ok(Math.abs(aligned.scale - 1 / scale) < 1e-9);
    TEMPLATE.forEach((t, i) => {
      const c = centroidNear(aligned.crop, t, 7);
      const err = Math.hypot(c.x - t.x, c.y - t.y);
      assert.ok(err < 0.5, `point ${i}: landed at (${c.x.toFixed(2)}, ${c.y.toFixed(2)}), ${err.toFixed(3)} px from target`);
    });
  });
}

test('outside the source reads as black; the crop has the spec size', () => {
  const img: RgbImage = { data: new Uint8Array(10 * 10 * 3).fill(200), width: 10, height: 10 };
  const pts = TEMPLATE.map((p) => ({ x: p.x / 15 + 5, y: p.y / 15 + 5 })); // crop spans source 5..15
  const { crop } = alignFace(img, pts, { template: TEMPLATE, width: 150, height: 150 });
  assert.equal(crop.data.length, 150 * 150 * 3);
  assert.equal(crop.data[(149 * 150 + 149) * 3], 0); // bottom-right maps outside the 10x10 source
  assert.equal(crop.data[(20 * 150 + 20) * 3], 200); // top-left quarter lies inside it
});

test('NCHW packing applies (pixel - mean) / std per channel', () => {
  const crop: RgbImage = { data: new Uint8Array([10, 20, 30, 40, 50, 60]), width: 2, height: 1 };
  const out = toNchwBatch([crop, crop], { mean: [10, 0, 30], std: [2, 10, 1] });
  assert.deepEqual(Array.from(out.slice(0, 6)), [0, 15, 2, 5, 0, 30]);
  assert.equal(out.length, 12);
});
