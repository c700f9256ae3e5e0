// Pure conversion of aligned RGB crops into the model's input tensor, as the model card prescribes.
import type { RgbImage } from './warp.ts';

export interface Normalization {
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

/** Packs crops into one (N, 3, H, W) float32 batch with (pixel - mean) / std per channel. */
export function toNchwBatch(crops: readonly RgbImage[], norm: Normalization): Float32Array {
  if (crops.length === 0) return new Float32Array(0);
  const { width, height } = crops[0];
  const plane = width * height;
  const out = new Float32Array(crops.length * 3 * plane);
  const scale = norm.std.map((s) => 1 / s);
  crops.forEach((crop, n) => {
    if (crop.width !== width || crop.height !== height) {
      throw new Error(`all crops in a batch must be ${width}x${height}, got ${crop.width}x${crop.height}`);
    }
    const base = n * 3 * plane;
    for (let i = 0; i < plane; i++) {
      for (let c = 0; c < 3; c++) {
        out[base + c * plane + i] = (crop.data[i * 3 + c] - norm.mean[c]) * scale[c];
      }
    }
  });
  return out;
}
