// Inference worker: opens onnxruntime sessions (or whole ONNX detectors) and runs them, one message at a time,
// off the main event loop.
import { parentPort, workerData } from 'node:worker_threads';
import { openInline, type TensorMap, type TensorSession } from './session.ts';
import { OnnxDetector } from '../onnx-detector.ts';
import { RetinaFaceDetector } from '../retinaface-detector.ts';
import { lowerThreadPriority } from '../thread-priority.ts';
import type { HostRequest, OpenSpec, Opened, WorkerReply } from './protocol.ts';

if (!parentPort) throw new Error('ort/worker.ts must run in a worker thread');
const port = parentPort;

// Before any session exists, so that onnxruntime's pool threads inherit the lower priority.
lowerThreadPriority((workerData as { nice?: number } | undefined)?.nice ?? 0);

type Held = { kind: 'session'; session: TensorSession } | { kind: 'detector'; detector: OnnxDetector | RetinaFaceDetector };
const handles = new Map<number, Held>();

/** Copies each output into a buffer of its own (onnxruntime may own the original) and lists them for transfer. */
function detach(outputs: TensorMap): { outputs: TensorMap; transfer: ArrayBuffer[] } {
  const out: TensorMap = {};
  const transfer: ArrayBuffer[] = [];
  for (const [name, t] of Object.entries(outputs)) {
    const data = t.data.slice();
    out[name] = { data, dims: t.dims };
    transfer.push(data.buffer as ArrayBuffer);
  }
  return { outputs: out, transfer };
}

async function open(spec: OpenSpec): Promise<{ held: Held; opened: Opened }> {
  const notes: string[] = [];
  const placement = { device: spec.device, threads: spec.threads, spinning: spec.spinning, log: (m: string) => notes.push(m) };
  if (spec.kind === 'session') {
    const s = await openInline(spec.onnxPath, placement);
    return { held: { kind: 'session', session: s }, opened: { kind: 'session', device: s.device, notes, inputs: [...s.inputs], outputNames: [...s.outputNames] } };
  }
  const d = spec.kind === 'detector'
    ? await OnnxDetector.create(spec.models, placement)
    : await RetinaFaceDetector.create(spec.model, { ...placement, orientation: spec.orientation });
  return { held: { kind: 'detector', detector: d }, opened: { kind: 'detector', device: d.device, notes, name: d.name, version: d.version } };
}

function held<K extends Held['kind']>(handle: number, kind: K): Extract<Held, { kind: K }> {
  const h = handles.get(handle);
  if (!h || h.kind !== kind) throw new Error(`no open ${kind} ${handle}`);
  return h as Extract<Held, { kind: K }>;
}

async function handle(req: HostRequest): Promise<{ reply: WorkerReply; transfer?: ArrayBuffer[] }> {
  switch (req.op) {
    case 'open': {
      const { held: h, opened } = await open(req.spec);
      handles.set(req.handle, h);
      return { reply: { id: req.id, ok: true, opened } };
    }
    case 'run': {
      const { outputs, transfer } = detach(await held(req.handle, 'session').session.run(req.feeds));
      return { reply: { id: req.id, ok: true, outputs }, transfer };
    }
    case 'detect': {
      const faces = await held(req.handle, 'detector').detector.detect(req.image, req.options);
      return { reply: { id: req.id, ok: true, faces } };
    }
    case 'release': {
      const h = handles.get(req.handle);
      handles.delete(req.handle);
      if (h?.kind === 'session') await h.session.release();
      if (h?.kind === 'detector') await h.detector.close();
      return { reply: { id: req.id, ok: true, released: true } };
    }
  }
}

port.on('message', (req: HostRequest) => {
  handle(req).then(
    ({ reply, transfer }) => port.postMessage(reply, transfer ?? []),
    (e: unknown) => port.postMessage({ id: req.id, ok: false, message: e instanceof Error ? e.message : String(e) } satisfies WorkerReply),
  );
});
