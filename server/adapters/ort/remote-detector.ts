// An ONNX detector (SSD + landmarks, or RetinaFace) run whole in an inference worker: resizing, the networks,
// NMS, orientation and landmark mapping happen there; the caller's event loop only copies pixels and gets faces.
import type { Device } from '../../config.ts';
import type { DetectorModels, LoadedCard, RetinaFaceCard } from '../../model/detector-card.ts';
import type { Orientation } from '../../config.ts';
import type { DetectedFace, Detector, DetectOptions } from '../../pipeline/types.ts';
import type { RgbImage } from '../../pipeline/warp.ts';
import type { WorkerSessionHost } from './worker-host.ts';
import type { OpenSpec } from './protocol.ts';

export interface RemoteDetectorOptions {
  device: Device;
  threads: number;
  spinning?: boolean;
  log?: (msg: string) => void;
}

export class RemoteOnnxDetector implements Detector {
  #inFlight = 0;

  private constructor(
    private readonly host: WorkerSessionHost,
    private readonly handle: number,
    readonly name: string,
    readonly version: string,
    readonly device: string,
  ) {}

  /** face-api's SSD MobileNet V1 and 68-point landmark nets, ported to ONNX. */
  static create(host: WorkerSessionHost, models: DetectorModels, opts: RemoteDetectorOptions): Promise<RemoteOnnxDetector> {
    return RemoteOnnxDetector.open(host, { kind: 'detector', models, device: opts.device, threads: opts.threads, spinning: opts.spinning }, opts.log);
  }

  /** RetinaFace MobileNet-0.25 with the orientation rule. */
  static createRetinaFace(host: WorkerSessionHost, model: LoadedCard<RetinaFaceCard>, opts: RemoteDetectorOptions & { orientation: Orientation }): Promise<RemoteOnnxDetector> {
    return RemoteOnnxDetector.open(host, { kind: 'retinaface', model, orientation: opts.orientation, device: opts.device, threads: opts.threads, spinning: opts.spinning }, opts.log);
  }

  private static async open(host: WorkerSessionHost, spec: OpenSpec, log?: (msg: string) => void): Promise<RemoteOnnxDetector> {
    const { handle, opened } = await host.openHandle(spec, log);
    if (opened.kind !== 'detector') throw new Error('inference worker: unexpected reply to opening a detector');
    return new RemoteOnnxDetector(host, handle, opened.name, opened.version, opened.device);
  }

  /** detect() calls sent and not yet answered. */
  get queued(): number {
    return this.#inFlight;
  }

  async detect(image: RgbImage, options: DetectOptions): Promise<DetectedFace[]> {
    // A copy goes over (and its buffer is moved, not cloned again): the caller keeps its pixels for alignment.
    const data = new Uint8Array(image.data);
    this.#inFlight++;
    try {
      const reply = await this.host.call({ op: 'detect', handle: this.handle, image: { data, width: image.width, height: image.height }, options },
        [data.buffer as ArrayBuffer]);
      if (!reply.ok) throw new Error(reply.message);
      if (!('faces' in reply)) throw new Error('inference worker: unexpected reply to detect');
      return reply.faces;
    } finally {
      this.#inFlight--;
    }
  }

  async close(): Promise<void> {
    await this.host.release(this.handle);
  }
}
