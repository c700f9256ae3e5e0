// Messages between the main thread (worker-host.ts) and an inference worker (worker.ts).
import type { Device } from '../../config.ts';
import type { InputInfo, TensorMap } from './session.ts';

export type HostRequest =
  | { op: 'open'; id: number; session: number; onnxPath: string; device: Device; threads: number; spinning?: boolean }
  | { op: 'run'; id: number; session: number; feeds: TensorMap }
  | { op: 'release'; id: number; session: number };

export type WorkerReply =
  | { id: number; ok: true; opened: { device: 'cpu' | 'cuda'; inputs: InputInfo[]; outputNames: string[]; notes: string[] } }
  | { id: number; ok: true; outputs: TensorMap }
  | { id: number; ok: true; released: true }
  | { id: number; ok: false; message: string };
