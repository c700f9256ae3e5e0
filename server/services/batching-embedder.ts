// Micro-batching: crops from concurrent requests are embedded together in one model run.
import type { Embedder } from '../pipeline/types.ts';
import type { RgbImage } from '../pipeline/warp.ts';

export interface BatchingOptions {
  /** Most crops in one model run. */
  maxBatch: number;
  /** Longest a crop waits for company before its batch runs anyway (ms). */
  maxWaitMs: number;
}

interface Pending {
  crops: readonly RgbImage[];
  resolve: (v: Float32Array[]) => void;
  reject: (e: unknown) => void;
}

/**
 * Wraps an Embedder. While a run is in flight, arriving requests queue; when it finishes (or after
 * maxWaitMs for the first one), up to maxBatch queued crops go in one run. Throughput therefore grows
 * with load, and an idle server adds at most maxWaitMs of latency (0 means: run as soon as idle).
 */
export class BatchingEmbedder implements Embedder {
  private queue: Pending[] = [];
  private queued = 0;
  private running = false;
  private timer: NodeJS.Timeout | null = null;
  runs = 0;

  constructor(private readonly inner: Embedder, private readonly opts: BatchingOptions) {}

  get modelId() { return this.inner.modelId; }
  get dim() { return this.inner.dim; }
  get device() { return this.inner.device; }

  embed(crops: readonly RgbImage[]): Promise<Float32Array[]> {
    if (crops.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.queue.push({ crops, resolve, reject });
      this.queued += crops.length;
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.running) return;
    if (this.queued >= this.opts.maxBatch || this.opts.maxWaitMs <= 0) {
      void this.flush();
    } else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.opts.maxWaitMs);
    }
  }

  private async flush(): Promise<void> {
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    if (this.running || this.queue.length === 0) return;
    // Take whole requests until the batch is full; a single oversized request still runs alone.
    const take: Pending[] = [];
    let n = 0;
    while (this.queue.length > 0 && (take.length === 0 || n + this.queue[0].crops.length <= this.opts.maxBatch)) {
      const p = this.queue.shift()!;
      take.push(p);
      n += p.crops.length;
    }
    this.queued -= n;
    this.running = true;
    try {
      this.runs++;
      const out = await this.inner.embed(take.flatMap((p) => p.crops));
      let at = 0;
      for (const p of take) {
        p.resolve(out.slice(at, at + p.crops.length));
        at += p.crops.length;
      }
    } catch (e) {
      for (const p of take) p.reject(e);
    } finally {
      this.running = false;
      if (this.queue.length > 0) this.schedule();
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
