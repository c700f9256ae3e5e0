// Detector backed by a pool of face-api worker threads, so detection never blocks the HTTP event loop.
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Detector, DetectOptions, DetectedFace } from '../../pipeline/types.ts';
import type { RgbImage } from '../../pipeline/warp.ts';
import { fivePointsFrom68 } from '../../pipeline/landmarks.ts';
import type { DetectRequest, InitMessage, WorkerFace, WorkerReply } from './protocol.ts';

const require = createRequire(import.meta.url);

export function faceApiPaths(): InitMessage {
  const faceapiRoot = dirname(require.resolve('@vladmandic/face-api/package.json'));
  const wasmRoot = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  return { modelDir: join(faceapiRoot, 'model'), wasmDir: join(wasmRoot, 'dist') + '/' };
}

interface Job {
  request: Omit<DetectRequest, 'id'>;
  resolve: (faces: DetectedFace[]) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  ready: Promise<void>;
  busy?: { id: number; job: Job };
}

function toFace(f: WorkerFace): DetectedFace {
  const landmarks = [];
  for (let i = 0; i < f.landmarks.length; i += 2) landmarks.push({ x: f.landmarks[i], y: f.landmarks[i + 1] });
  // A reference descriptor computed on a given box comes without landmarks.
  const points = landmarks.length === 68 ? fivePointsFrom68(landmarks) : [];
  const face: DetectedFace = { score: f.score, box: { x: f.box[0], y: f.box[1], width: f.box[2], height: f.box[3] }, points, landmarks };
  return f.descriptor ? { ...face, descriptor: Float32Array.from(f.descriptor) } : face;
}

export class FaceApiDetector implements Detector {
  readonly name = 'face-api ssd_mobilenetv1 + landmark68 (tfjs wasm)';
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;
  version = 'unknown';

  /** `nice`: how much lower than the caller the workers are scheduled (0 = same; the server uses INFERENCE_NICE). */
  constructor(private readonly workers: number, private readonly paths: InitMessage = faceApiPaths(), private readonly nice = 0) {
    for (let i = 0; i < workers; i++) this.slots.push(this.spawn());
  }

  /** Resolves once every worker has loaded its models; rejects with the worker's reason otherwise. */
  async ready(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.ready));
  }

  get queued(): number {
    return this.queue.length;
  }

  private spawn(): Slot {
    const worker = new Worker(new URL('./worker-entry.mjs', import.meta.url), {
      workerData: { ...this.paths, nice: this.nice },
    });
    worker.unref();
    const slot: Slot = { worker, ready: Promise.resolve() };
    slot.ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (m: WorkerReply) => {
        if (m.type === 'ready') {
          this.version = m.version;
          resolve();
          this.pump();
        } else if (m.type === 'fatal') {
          reject(new Error(`face-api worker failed to start: ${m.message}`));
        } else if (slot.busy && slot.busy.id === m.id) {
          const { job } = slot.busy;
          slot.busy = undefined;
          if (m.type === 'result') job.resolve(m.faces.map(toFace));
          else job.reject(new Error(`detection failed: ${m.message}`));
          this.pump();
        }
      });
      worker.on('error', (e: Error) => {
        process.stderr.write(`face-api worker error: ${e.message}\n`);
        reject(e);
      });
      worker.on('exit', (code) => this.onExit(slot, code));
    });
    slot.ready.catch(() => undefined); // surfaced through ready() and failing jobs
    return slot;
  }

  private onExit(slot: Slot, code: number) {
    if (this.closed) return;
    slot.busy?.job.reject(new Error(`face-api worker exited with code ${code}`));
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots[i] = this.spawn(); // keep the pool at full size
  }

  private pump() {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (slot.busy) continue;
      const job = this.queue.shift()!;
      const id = this.nextId++;
      slot.busy = { id, job };
      slot.ready.then(
        () => slot.worker.postMessage({ id, ...job.request }, [job.request.pixels]),
        (e: Error) => { slot.busy = undefined; job.reject(e); },
      );
    }
  }

  detect(image: RgbImage, options: DetectOptions): Promise<DetectedFace[]> {
    return this.submit(image, { minScore: options.minScore, maxResults: options.maxResults ?? 100 });
  }

  /**
   * Reference mode for evaluations: face-api's own end-to-end result, i.e. its detections with its
   * descriptors (withFaceDescriptors), or its descriptor of fixed regions when `regions` is given.
   */
  reference(image: RgbImage, minScore: number, regions?: [number, number, number, number][]): Promise<DetectedFace[]> {
    return this.submit(image, { minScore, maxResults: 100, descriptors: true, regions });
  }

  private submit(image: RgbImage, options: Omit<DetectRequest, 'id' | 'pixels' | 'width' | 'height'>): Promise<DetectedFace[]> {
    if (this.closed) return Promise.reject(new Error('detector is closed'));
    // Copy into a fresh buffer that can be transferred to the worker without detaching the caller's.
    const pixels = new Uint8Array(image.data).buffer as ArrayBuffer;
    return new Promise((resolve, reject) => {
      this.queue.push({
        request: { pixels, width: image.width, height: image.height, ...options },
        resolve,
        reject,
      });
      this.pump();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new Error('detector is closed'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
