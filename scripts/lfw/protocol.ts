// Reads LFW's View 2 protocol (pairs.txt): 10 folds of 300 same + 300 different pairs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Pair {
  fold: number;
  same: boolean;
  a: string;
  b: string;
}

/** Relative image path for LFW's 1-based image number of a person. */
export function imagePath(name: string, n: number): string {
  return join(name, `${name}_${String(n).padStart(4, '0')}.jpg`);
}

export function parsePairs(text: string): Pair[] {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  const [folds, perHalf] = lines[0].split(/\s+/).map(Number);
  const body = lines.slice(1);
  if (body.length !== folds * perHalf * 2) throw new Error(`pairs.txt: expected ${folds * perHalf * 2} pairs, got ${body.length}`);
  return body.map((line, i) => {
    const f = line.split(/\s+/);
    const fold = Math.floor(i / (2 * perHalf));
    if (f.length === 3) return { fold, same: true, a: imagePath(f[0], +f[1]), b: imagePath(f[0], +f[2]) };
    if (f.length === 4) return { fold, same: false, a: imagePath(f[0], +f[1]), b: imagePath(f[2], +f[3]) };
    throw new Error(`pairs.txt line ${i + 2}: cannot parse "${line}"`);
  });
}

export function readPairs(lfwRoot: string): Pair[] {
  return parsePairs(readFileSync(join(lfwRoot, 'protocol', 'pairs.txt'), 'utf8'));
}
