// Liveness that proves inference works: re-embeds a face captured at start-up and compares the result.
import type { FacePipeline } from './face-pipeline.ts';
import type { Embedder } from '../pipeline/types.ts';
import type { RgbImage } from '../pipeline/warp.ts';
import { dot } from '../pipeline/vectors.ts';

export interface HealthReport {
  ok: boolean;
  model: string;
  inference_ms: number;
  self_similarity: number;
  reference: string;
}

export class HealthCheck {
  private constructor(
    private readonly pipeline: FacePipeline,
    private readonly embedder: Embedder,
    private readonly crop: RgbImage,
    private readonly expected: Float32Array,
    private readonly reference: string,
  ) {}

  /**
   * Runs the whole pipeline once on a bundled photo (fails start-up if it finds no face), and keeps the
   * aligned crop and its embedding as the reference each health check must reproduce.
   */
  /**
   * `embedder` should be the model's own embedder, not the micro-batching queue in front of it, so that
   * a health check under load does not wait behind queued batches.
   */
  static async create(pipeline: FacePipeline, embedder: Embedder, photo: Buffer, reference: string): Promise<HealthCheck> {
    const { decoded, faces } = await pipeline.analyze(photo);
    if (faces.length === 0) throw new Error(`self-test: no face found in the bundled test image ${reference}`);
    const [face] = await pipeline.embed(decoded.image, faces.slice(0, 1));
    return new HealthCheck(pipeline, embedder, face.crop, face.embedding, reference);
  }

  async check(): Promise<HealthReport> {
    const t0 = performance.now();
    const [emb] = await this.embedder.embed([this.crop]);
    const ms = performance.now() - t0;
    const sim = dot(emb, this.expected);
    return {
      ok: sim > 0.999,
      model: this.pipeline.modelId,
      inference_ms: Math.round(ms * 100) / 100,
      self_similarity: Math.round(sim * 1e6) / 1e6,
      reference: this.reference,
    };
  }
}
