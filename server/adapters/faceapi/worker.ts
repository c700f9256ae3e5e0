// Worker thread: runs face-api's SSD MobileNet detector and 68-point landmarks on the wasm backend.
import { parentPort, workerData } from 'node:worker_threads';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type { DetectRequest, InitMessage, WorkerFace, WorkerReply } from './protocol.ts';
import { lowerThreadPriority } from '../thread-priority.ts';

const require = createRequire(import.meta.url);
const port = parentPort!;
const send = (m: WorkerReply) => port.postMessage(m);

async function init(msg: InitMessage) {
  lowerThreadPriority(msg.nice ?? 0);
  const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
  // Local wasm files: the default location is a CDN, and these machines have no network.
  setWasmPaths(msg.wasmDir.endsWith('/') ? msg.wasmDir : `${msg.wasmDir}/`);
  await tf.setBackend('wasm');
  await tf.ready();
  await faceapi.nets.ssdMobilenetv1.loadFromDisk(msg.modelDir);
  await faceapi.nets.faceLandmark68Net.loadFromDisk(msg.modelDir);
  modelDir = msg.modelDir;
  return faceapi;
}

let modelDir = '';

async function detect(faceapi: any, req: DetectRequest): Promise<WorkerFace[]> {
  // face-api's own recognition net is loaded only when an evaluation asks for the reference row.
  if ((req.descriptors || req.regions) && !faceapi.nets.faceRecognitionNet.isLoaded) {
    await faceapi.nets.faceRecognitionNet.loadFromDisk(modelDir);
  }
  const input = tf.tensor3d(new Uint8Array(req.pixels), [req.height, req.width, 3], 'int32');
  try {
    if (req.regions) return await describeRegions(faceapi, input, req.regions);
    const options = new faceapi.SsdMobilenetv1Options({ minConfidence: req.minScore, maxResults: req.maxResults });
    const task = faceapi.detectAllFaces(input, options).withFaceLandmarks();
    const found = req.descriptors ? await task.withFaceDescriptors() : await task;
    return found.map((f: any) => {
      const b = f.detection.box;
      return {
        score: f.detection.score,
        box: [b.x, b.y, b.width, b.height],
        landmarks: f.landmarks.positions.flatMap((p: { x: number; y: number }) => [p.x, p.y]),
        ...(f.descriptor ? { descriptor: Array.from(f.descriptor as Float32Array) } : {}),
      };
    });
  } finally {
    input.dispose();
  }
}

/** face-api's computeFaceDescriptor on fixed regions (its own resize and normalisation). */
async function describeRegions(faceapi: any, input: tf.Tensor3D, regions: [number, number, number, number][]): Promise<WorkerFace[]> {
  const out: WorkerFace[] = [];
  for (const [x, y, w, h] of regions) {
    const [H, W] = input.shape;
    const x0 = Math.max(0, Math.round(x)), y0 = Math.max(0, Math.round(y));
    const cw = Math.min(W - x0, Math.round(w)), ch = Math.min(H - y0, Math.round(h));
    const crop = tf.slice(input, [y0, x0, 0], [ch, cw, 3]);
    try {
      const d = (await faceapi.computeFaceDescriptor(crop)) as Float32Array;
      out.push({ score: 0, box: [x0, y0, cw, ch], landmarks: [], descriptor: Array.from(d) });
    } finally {
      crop.dispose();
    }
  }
  return out;
}

init(workerData as InitMessage).then(
  (faceapi) => {
    send({ type: 'ready', backend: tf.getBackend(), version: String(faceapi.version) });
    port.on('message', (req: DetectRequest) => {
      detect(faceapi, req).then(
        (faces) => send({ type: 'result', id: req.id, faces }),
        (e: unknown) => send({ type: 'error', id: req.id, message: e instanceof Error ? e.message : String(e) }),
      );
    });
  },
  (e: unknown) => send({ type: 'fatal', message: e instanceof Error ? e.message : String(e) }),
);
