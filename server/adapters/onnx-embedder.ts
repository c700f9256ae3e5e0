// Embedder backed by an onnxruntime session (in this thread or a worker thread, as its SessionHost decides).
import { inlineHost, type SessionHost, type TensorSession } from './ort/session.ts';
import type { Embedder } from '../pipeline/types.ts';
import type { RgbImage } from '../pipeline/warp.ts';
import { toNchwBatch } from '../pipeline/preprocess.ts';
import type { LoadedModel } from '../model/card.ts';
import type { Device } from '../config.ts';
import { l2Normalize } from '../../gallery/center-math.ts';

export interface OnnxEmbedderOptions {
  device: Device;
  threads: number;
  /** onnxruntime's spin-waiting of idle threads (see SessionOptions.spinning). */
  spinning?: boolean;
  maxBatch?: number;
  log?: (msg: string) => void;
  /** Where the session runs; this thread by default. The server passes a worker thread. */
  host?: SessionHost;
}

export class OnnxEmbedder implements Embedder {
  readonly modelId: string;
  readonly dim: number;
  private readonly maxBatch: number;

  private constructor(
    private readonly session: TensorSession,
    private readonly model: LoadedModel,
    readonly device: string,
    maxBatch: number,
  ) {
    this.modelId = model.card.id;
    this.dim = model.card.output.dim;
    this.maxBatch = maxBatch;
  }

  static async create(model: LoadedModel, opts: OnnxEmbedderOptions): Promise<OnnxEmbedder> {
    const host = opts.host ?? inlineHost;
    const session = await host.open(model.onnxPath, { device: opts.device, threads: opts.threads, spinning: opts.spinning, log: opts.log });
    const { input, output } = model.card;
    if (!session.inputs.some((i) => i.name === input.name) || !session.outputNames.includes(output.name)) {
      await session.release();
      throw new Error(
        `model ${model.onnxPath} has inputs [${session.inputs.map((i) => i.name)}] and outputs [${session.outputNames}]; ` +
        `its card expects input "${input.name}" and output "${output.name}"`);
    }
    return new OnnxEmbedder(session, model, session.device, opts.maxBatch ?? 32);
  }

  async embed(crops: readonly RgbImage[]): Promise<Float32Array[]> {
    const { input, output } = this.model.card;
    for (const c of crops) {
      if (c.width !== input.width || c.height !== input.height) {
        throw new Error(`crop is ${c.width}x${c.height}; model ${this.modelId} expects ${input.width}x${input.height}`);
      }
    }
    const out: Float32Array[] = [];
    for (let start = 0; start < crops.length; start += this.maxBatch) {
      const chunk = crops.slice(start, start + this.maxBatch);
      const data = toNchwBatch(chunk, input.normalization);
      const result = await this.session.run({ [input.name]: { data, dims: [chunk.length, 3, input.height, input.width] } });
      const emb = result[output.name].data;
      for (let i = 0; i < chunk.length; i++) {
        const v = emb.slice(i * this.dim, (i + 1) * this.dim);
        out.push(this.model.card.output.l2_normalized ? v : l2Normalize(v));
      }
    }
    return out;
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
