// Embedder backed by onnxruntime-node: the only file that imports the inference runtime.
import * as ort from 'onnxruntime-node';
import type { Embedder } from '../pipeline/types.ts';
import type { RgbImage } from '../pipeline/warp.ts';
import { toNchwBatch } from '../pipeline/preprocess.ts';
import type { LoadedModel } from '../model/card.ts';
import type { Device } from '../config.ts';
import { l2normalize } from '../pipeline/vectors.ts';

export interface OnnxEmbedderOptions {
  device: Device;
  threads: number;
  maxBatch?: number;
  log?: (msg: string) => void;
}

export class OnnxEmbedder implements Embedder {
  readonly modelId: string;
  readonly dim: number;
  private readonly maxBatch: number;

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly model: LoadedModel,
    readonly device: string,
    maxBatch: number,
  ) {
    this.modelId = model.card.id;
    this.dim = model.card.output.dim;
    this.maxBatch = maxBatch;
  }

  static async create(model: LoadedModel, opts: OnnxEmbedderOptions): Promise<OnnxEmbedder> {
    const log = opts.log ?? (() => undefined);
    const base: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: opts.threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    };
    let session: ort.InferenceSession | undefined;
    let device = 'cpu';
    if (opts.device === 'cuda') {
      try {
        session = await ort.InferenceSession.create(model.onnxPath, { ...base, executionProviders: ['cuda'] });
        device = 'cuda';
      } catch (e) {
        log(`CUDA execution provider unavailable (${(e as Error).message.split('\n')[0]}); falling back to CPU`);
      }
    }
    session ??= await ort.InferenceSession.create(model.onnxPath, { ...base, executionProviders: ['cpu'] });
    const { input, output } = model.card;
    if (!session.inputNames.includes(input.name) || !session.outputNames.includes(output.name)) {
      throw new Error(
        `model ${model.onnxPath} has inputs [${session.inputNames}] and outputs [${session.outputNames}]; ` +
        `its card expects input "${input.name}" and output "${output.name}"`);
    }
    return new OnnxEmbedder(session, model, device, opts.maxBatch ?? 32);
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
      const tensor = new ort.Tensor('float32', data, [chunk.length, 3, input.height, input.width]);
      const result = await this.session.run({ [input.name]: tensor });
      const emb = result[output.name].data as Float32Array;
      for (let i = 0; i < chunk.length; i++) {
        const v = emb.slice(i * this.dim, (i + 1) * this.dim);
        out.push(this.model.card.output.l2_normalized ? v : l2normalize(v));
      }
    }
    return out;
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
