// Worker thread: runs face-api's SSD MobileNet detector and 68-point landmarks on the wasm backend.
import { parentPort, workerData } from 'node:worker_threads';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type { DetectRequest, InitMessage, WorkerFace, WorkerReply } from './protocol.ts';

const require = createRequire(import.meta.url);
const port = parentPort!;
const send = (m: WorkerReply) => port.postMessage(m);

async function init(msg: InitMessage) {
  const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
  // Local wasm files: the default location is a CDN, and these machines have no network.
  setWasmPaths(msg.wasmDir.endsWith('/') ? msg.wasmDir : `${msg.wasmDir}/`);
  await tf.setBackend('wasm');
  await tf.ready();
  await faceapi.nets.ssdMobilenetv1.loadFromDisk(msg.modelDir);
  await faceapi.nets.faceLandmark68Net.loadFromDisk(msg.modelDir);
  return faceapi;
}

async function detect(faceapi: any, req: DetectRequest): Promise<WorkerFace[]> {
  const input = tf.tensor3d(new Uint8Array(req.pixels), [req.height, req.width, 3], 'int32');
  try {
    const options = new faceapi.SsdMobilenetv1Options({ minConfidence: req.minScore, maxResults: req.maxResults });
    const found = await faceapi.detectAllFaces(input, options).withFaceLandmarks();
    return found.map((f: any) => {
      const b = f.detection.box;
      return {
        score: f.detection.score,
        box: [b.x, b.y, b.width, b.height],
        landmarks: f.landmarks.positions.flatMap((p: { x: number; y: number }) => [p.x, p.y]),
      };
    });
  } finally {
    input.dispose();
  }
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
