// Inference worker: opens onnxruntime sessions and runs them, one message at a time, off the main event loop.
import { parentPort } from 'node:worker_threads';
import { openInline, type TensorMap, type TensorSession } from './session.ts';
import type { HostRequest, WorkerReply } from './protocol.ts';

if (!parentPort) throw new Error('ort/worker.ts must run in a worker thread');
const port = parentPort;
const sessions = new Map<number, TensorSession>();

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

async function handle(req: HostRequest): Promise<{ reply: WorkerReply; transfer?: ArrayBuffer[] }> {
  if (req.op === 'open') {
    const notes: string[] = [];
    const s = await openInline(req.onnxPath, { device: req.device, threads: req.threads, spinning: req.spinning, log: (m) => notes.push(m) });
    sessions.set(req.session, s);
    return { reply: { id: req.id, ok: true, opened: { device: s.device, inputs: [...s.inputs], outputNames: [...s.outputNames], notes } } };
  }
  const s = sessions.get(req.session);
  if (!s) throw new Error(`no open session ${req.session}`);
  if (req.op === 'release') {
    sessions.delete(req.session);
    await s.release();
    return { reply: { id: req.id, ok: true, released: true } };
  }
  const { outputs, transfer } = detach(await s.run(req.feeds));
  return { reply: { id: req.id, ok: true, outputs }, transfer };
}

port.on('message', (req: HostRequest) => {
  handle(req).then(
    ({ reply, transfer }) => port.postMessage(reply, transfer ?? []),
    (e: unknown) => port.postMessage({ id: req.id, ok: false, message: e instanceof Error ? e.message : String(e) } satisfies WorkerReply),
  );
});
