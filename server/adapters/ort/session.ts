// onnxruntime sessions behind a small interface: where a session runs (this thread or a worker) is a host's choice.
// The only file that imports onnxruntime-node. Note that onnxruntime-node's run() is synchronous on the calling
// thread (it only defers the call with setImmediate), so the server opens its sessions in worker threads.
import * as ort from 'onnxruntime-node';
import type { Device } from '../../config.ts';

/** A float32 tensor: row-major data and its dimensions. */
export interface Tensor {
  data: Float32Array;
  dims: number[];
}

export type TensorMap = Record<string, Tensor>;

export interface SessionOptions {
  device: Device;
  /** Intra-op threads of the session. */
  threads: number;
  /**
   * Whether idle intra-op threads spin-wait for work (onnxruntime's default, lowest latency). Off, they sleep:
   * better when several sessions run side by side on few cores and spinning threads would steal them.
   */
  spinning?: boolean;
  /** Where the CUDA fallback is reported. */
  log?: (msg: string) => void;
}

export interface InputInfo {
  name: string;
  /** Fixed sizes as numbers, symbolic ones (e.g. a dynamic batch) as their names. */
  shape: (number | string)[];
}

export interface TensorSession {
  /** Where the graph runs: 'cuda' only when the CUDA execution provider loaded. */
  readonly device: 'cpu' | 'cuda';
  readonly inputs: readonly InputInfo[];
  readonly outputNames: readonly string[];
  /** Runs the graph. The feeds' buffers may be handed to another thread: callers must not reuse them. */
  run(feeds: TensorMap): Promise<TensorMap>;
  release(): Promise<void>;
}

/** Opens sessions somewhere: in this thread, or in a worker thread. */
export interface SessionHost {
  open(onnxPath: string, opts: SessionOptions): Promise<TensorSession>;
  close(): Promise<void>;
}

class InlineSession implements TensorSession {
  readonly inputs: InputInfo[];
  readonly outputNames: string[];

  constructor(private readonly session: ort.InferenceSession, readonly device: 'cpu' | 'cuda') {
    this.inputs = session.inputMetadata.map((m) => ({ name: m.name, shape: m.isTensor ? [...m.shape] : [] }));
    this.outputNames = [...session.outputNames];
  }

  async run(feeds: TensorMap): Promise<TensorMap> {
    const inputs: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) inputs[name] = new ort.Tensor('float32', t.data, t.dims);
    const result = await this.session.run(inputs);
    const out: TensorMap = {};
    for (const [name, t] of Object.entries(result)) {
      if (t.type !== 'float32') throw new Error(`output "${name}" is ${t.type}; only float32 outputs are supported`);
      out[name] = { data: t.data as Float32Array, dims: [...t.dims] };
    }
    return out;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** Opens a session in this thread: on CUDA when asked and available (the fallback is logged), else on the CPU. */
export async function openInline(onnxPath: string, opts: SessionOptions): Promise<TensorSession> {
  const base: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: opts.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    ...(opts.spinning === false ? { extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } } } : {}),
  };
  if (opts.device === 'cuda') {
    try {
      return new InlineSession(await ort.InferenceSession.create(onnxPath, { ...base, executionProviders: ['cuda'] }), 'cuda');
    } catch (e) {
      opts.log?.(`CUDA execution provider unavailable for ${onnxPath} (${(e as Error).message.split('\n')[0]}); falling back to CPU`);
    }
  }
  return new InlineSession(await ort.InferenceSession.create(onnxPath, { ...base, executionProviders: ['cpu'] }), 'cpu');
}

/** Sessions in the calling thread: for scripts and tools, where blocking the event loop does not matter. */
export const inlineHost: SessionHost = {
  open: openInline,
  close: async () => undefined,
};
