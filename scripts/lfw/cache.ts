// Append-only JSON-lines cache keyed by image path, so long evaluations resume where they stopped.
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

export class JsonlCache<T> {
  private readonly map = new Map<string, T>();

  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    if (!existsSync(path)) return;
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (!line) continue;
      try {
        const { key, value } = JSON.parse(line) as { key: string; value: T };
        this.map.set(key, value);
      } catch {
        // A torn last line from an interrupted run is simply recomputed.
      }
    }
  }

  get(key: string): T | undefined {
    return this.map.get(key);
  }

  set(key: string, value: T): void {
    this.map.set(key, value);
    appendFileSync(this.path, JSON.stringify({ key, value }) + '\n');
  }

  get size(): number {
    return this.map.size;
  }
}

/** Names a detection cache by everything that changes detections: detector, version and settings. */
export function detectionCacheKey(c: { detector: string; minDetectionScore: number; detectMaxSide: number; minFaceSize: number }, version: string): string {
  return `det-${c.detector}${version}-s${c.minDetectionScore}-m${c.detectMaxSide}-f${c.minFaceSize}`;
}
