// Liveness that proves inference works: a self-test re-embeds a face captured at start-up and compares the result.
// The self-test runs in the background every interval; a health check reads its latest result at once, so it
// answers quickly even while every inference thread is busy, and turns failing when the self-test fails or when
// none has completed for `staleMs` (inference stuck). `refresh()` runs a self-test on demand.
import type { FacePipeline } from './face-pipeline.ts';
import type { Embedder } from '../pipeline/types.ts';
import type { RgbImage } from '../pipeline/warp.ts';
import { dot } from '../../gallery/center-math.ts';

export interface HealthReport {
  ok: boolean;
  model: string;
  reference: string;
  /** The latest completed self-test: when it finished, how long ago, what it measured. */
  checked_at: string;
  age_ms: number;
  inference_ms: number;
  self_similarity: number;
  /** Why ok is false. */
  problem?: string;
}

export interface HealthOptions {
  /** Background self-test period. */
  intervalMs: number;
  /** With no self-test completed for this long, the check fails; 3 intervals (at least 30 s) by default. */
  staleMs?: number;
  now?: () => number;
}

interface SelfTest {
  at: number;
  ms: number;
  similarity: number;
  error?: string;
}

/** A self-test passes when the stored face re-embeds to (almost) the same vector. */
export const MIN_SELF_SIMILARITY = 0.999;

export class HealthCheck {
  #last: SelfTest;
  #running?: Promise<SelfTest>;
  #timer?: NodeJS.Timeout;
  readonly #staleMs: number;
  readonly #now: () => number;

  private constructor(
    private readonly modelId: string,
    private readonly embedder: Embedder,
    private readonly crop: RgbImage,
    private readonly expected: Float32Array,
    private readonly reference: string,
    private readonly opts: HealthOptions,
  ) {
    this.#now = opts.now ?? Date.now;
    this.#staleMs = opts.staleMs ?? Math.max(3 * opts.intervalMs, 30_000);
    this.#last = { at: this.#now(), ms: 0, similarity: 1 };
  }

  /**
   * Runs the whole pipeline once on a bundled photo (fails start-up if it finds no face), keeps the aligned crop
   * and its embedding as the reference, and runs the first self-test. `embedder` should be the model's own
   * embedder, not the micro-batching queue in front of it.
   */
  static async create(pipeline: FacePipeline, embedder: Embedder, photo: Buffer, reference: string, opts: HealthOptions): Promise<HealthCheck> {
    const { decoded, faces } = await pipeline.analyze(photo);
    if (faces.length === 0) throw new Error(`self-test: no face found in the bundled test image ${reference}`);
    const [face] = await pipeline.embed(decoded.image, faces.slice(0, 1));
    const check = new HealthCheck(pipeline.modelId, embedder, face.crop, face.embedding, reference, opts);
    await check.refresh();
    return check;
  }

  /** Starts the background self-tests (the timer does not keep the process alive). */
  start(): void {
    this.#timer ??= setInterval(() => void this.refresh(), this.opts.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Runs a self-test now, or joins the one already running; resolves with the report after it. */
  async refresh(): Promise<HealthReport> {
    this.#running ??= this.#selfTest().finally(() => { this.#running = undefined; });
    this.#last = await this.#running;
    return this.report();
  }

  /** The latest self-test's result, at once. */
  report(): HealthReport {
    const last = this.#last;
    const age = Math.max(0, this.#now() - last.at);
    let problem: string | undefined;
    if (last.error) problem = `self-test failed: ${last.error}`;
    else if (last.similarity <= MIN_SELF_SIMILARITY) problem = `self-test embedding differs from the reference (similarity ${last.similarity.toFixed(6)})`;
    else if (age > this.#staleMs) problem = `no self-test has completed for ${Math.round(age / 1000)} s (inference may be stuck)`;
    return {
      ok: problem === undefined,
      model: this.modelId,
      reference: this.reference,
      checked_at: new Date(last.at).toISOString(),
      age_ms: Math.round(age),
      inference_ms: Math.round(last.ms * 100) / 100,
      self_similarity: Math.round(last.similarity * 1e6) / 1e6,
      ...(problem ? { problem } : {}),
    };
  }

  async #selfTest(): Promise<SelfTest> {
    const t0 = performance.now();
    try {
      const [emb] = await this.embedder.embed([this.crop]);
      return { at: this.#now(), ms: performance.now() - t0, similarity: dot(emb, this.expected) };
    } catch (e) {
      // The reason is kept short and free of stack traces: /healthz shows it.
      const reason = (e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 200);
      return { at: this.#now(), ms: performance.now() - t0, similarity: 0, error: reason };
    }
  }
}
