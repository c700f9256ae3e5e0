// Messages between the main thread (worker-host.ts) and an inference worker (worker.ts). A worker holds
// handles: onnxruntime sessions, or whole ONNX detectors (SSD or RetinaFace; their image pre- and post-processing
// then run there too).
import type { Device } from '../../config.ts';
import type { DetectorModels, LoadedCard, RetinaFaceCard } from '../../model/detector-card.ts';
import type { Orientation } from '../../config.ts';
import type { DetectedFace, DetectOptions } from '../../pipeline/types.ts';
import type { RgbImage } from '../../pipeline/warp.ts';
import type { InputInfo, TensorMap } from './session.ts';

interface Placement {
  device: Device;
  threads: number;
  spinning?: boolean;
}

export type OpenSpec =
  | ({ kind: 'session'; onnxPath: string } & Placement)
  | ({ kind: 'detector'; models: DetectorModels } & Placement)
  | ({ kind: 'retinaface'; model: LoadedCard<RetinaFaceCard>; orientation: Orientation } & Placement);

export type Opened =
  | { kind: 'session'; device: 'cpu' | 'cuda'; notes: string[]; inputs: InputInfo[]; outputNames: string[] }
  | { kind: 'detector'; device: string; notes: string[]; name: string; version: string };

export type HostRequest =
  | { op: 'open'; id: number; handle: number; spec: OpenSpec }
  | { op: 'run'; id: number; handle: number; feeds: TensorMap }
  | { op: 'detect'; id: number; handle: number; image: RgbImage; options: DetectOptions }
  | { op: 'release'; id: number; handle: number };

export type WorkerReply =
  | { id: number; ok: true; opened: Opened }
  | { id: number; ok: true; outputs: TensorMap }
  | { id: number; ok: true; faces: DetectedFace[] }
  | { id: number; ok: true; released: true }
  | { id: number; ok: false; message: string };
