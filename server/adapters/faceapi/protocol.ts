// Messages exchanged between the detector pool and its face-api worker threads.

export interface InitMessage {
  modelDir: string;
  wasmDir: string;
  /** How much lower than the caller the worker is scheduled (a nice increment; 0 = same). */
  nice?: number;
}

export interface DetectRequest {
  id: number;
  pixels: ArrayBuffer;
  width: number;
  height: number;
  minScore: number;
  maxResults: number;
  /** Reference mode: also run face-api's own descriptor (withFaceDescriptors) on each face. */
  descriptors?: boolean;
  /** Reference mode: skip detection and describe these [x, y, w, h] regions with face-api's descriptor. */
  regions?: [number, number, number, number][];
}

export interface WorkerFace {
  score: number;
  box: [number, number, number, number];
  /** 68 points flattened as x0, y0, x1, y1, ... */
  landmarks: number[];
  descriptor?: number[];
}

export type WorkerReply =
  | { type: 'ready'; backend: string; version: string }
  | { type: 'result'; id: number; faces: WorkerFace[] }
  | { type: 'error'; id: number; message: string }
  | { type: 'fatal'; message: string };
