// Shared fixtures for the gallery tests: temp data dirs, a seeded RNG, clustered unit vectors and face inputs.

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { l2Normalize } from './center-math.ts';
import type { NewFace } from './types.ts';

/** A fresh directory under the OS temp dir, removed when the process exits. */
export function tempDir(prefix = 'irface-gallery-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** mulberry32: tiny deterministic PRNG so clustered fixtures and their results are reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function gaussian(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

export function randomUnit(dim: number, rand: () => number): Float32Array {
  return l2Normalize(Array.from({ length: dim }, () => gaussian(rand)));
}

/** A sample near `center`: center + noise of total norm ~`noise`, not normalised (like raw model output). */
export function noisy(center: Float32Array, noise: number, rand: () => number, scale = 1): Float32Array {
  const sd = noise / Math.sqrt(center.length);
  return Float32Array.from(center, (c) => scale * (c + sd * gaussian(rand)));
}

export function sha(seed: string): string {
  return crypto.createHash('sha256').update(seed).digest('hex');
}

export function face(embedding: Float32Array, imageSeed: string, crop: Buffer | null = Buffer.from(`jpeg:${imageSeed}`)): NewFace {
  return { embedding, detScore: 0.99, box: { x: 10, y: 20, width: 100, height: 120 }, imageSha256: sha(imageSeed), crop };
}

export function vec(...values: number[]): Float32Array {
  return Float32Array.from(values);
}
