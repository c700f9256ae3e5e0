// Sessions in a worker thread: the main thread only posts tensors and awaits results, so inference never
// blocks HTTP handling. One worker runs its sessions one call at a time, in the order the calls arrive.
// If the worker dies, pending calls fail with the reason and the next call starts a new worker that re-opens
// every session, so one crash does not take inference down for good.
import { Worker } from 'node:worker_threads';
import type { HostRequest, WorkerReply } from './protocol.ts';
import type { InputInfo, SessionHost, SessionOptions, TensorMap, TensorSession } from './session.ts';

type Opened = Extract<WorkerReply, { opened: unknown }>['opened'];
type Body = HostRequest extends infer R ? (R extends HostRequest ? Omit<R, 'id'> : never) : never;

interface Pending {
  resolve: (reply: WorkerReply) => void;
  reject: (e: Error) => void;
}

interface Spec {
  onnxPath: string;
  opts: SessionOptions;
}

/** Moves a tensor's buffer when the view covers all of it, else copies, so the caller's other data stays put. */
function transferable(feeds: TensorMap): { feeds: TensorMap; transfer: ArrayBuffer[] } {
  const out: TensorMap = {};
  const transfer: ArrayBuffer[] = [];
  for (const [name, t] of Object.entries(feeds)) {
    const whole = t.data.byteOffset === 0 && t.data.byteLength === t.data.buffer.byteLength && t.data.buffer instanceof ArrayBuffer;
    const data = whole ? t.data : t.data.slice();
    out[name] = { data, dims: t.dims };
    transfer.push(data.buffer as ArrayBuffer);
  }
  return { feeds: out, transfer };
}

export class WorkerSessionHost implements SessionHost {
  #worker?: { thread: Worker; ready: Promise<void> };
  readonly #pending = new Map<number, Pending>();
  readonly #specs = new Map<number, Spec>();
  #nextId = 1;
  #nextSession = 1;
  #closed = false;
  /** Worker starts so far (1 + restarts after a crash). */
  starts = 0;

  constructor(private readonly label = 'inference') {}

  async open(onnxPath: string, opts: SessionOptions): Promise<TensorSession> {
    const session = this.#nextSession++;
    await this.#ensure();
    const opened = await this.#openIn(session, { onnxPath, opts });
    this.#specs.set(session, { onnxPath, opts });
    return new RemoteSession(this, session, opened);
  }

  /** Runs one call in the worker (starting it again first if it died). */
  async call(body: Body, transfer: ArrayBuffer[] = []): Promise<WorkerReply> {
    if (this.#closed) throw new Error(`${this.label} worker is closed`);
    await this.#ensure();
    return this.#send(body, transfer);
  }

  /** Stops the worker thread now: calls in flight fail, and the next call starts a new worker. */
  async stopWorker(): Promise<void> {
    const w = this.#worker;
    if (w) await w.thread.terminate();
  }

  forget(session: number): void {
    this.#specs.delete(session);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const w = this.#worker;
    this.#worker = undefined;
    this.#failAll(new Error(`${this.label} worker is closed`));
    if (w) await w.thread.terminate();
  }

  #send(body: Body, transfer: ArrayBuffer[]): Promise<WorkerReply> {
    const thread = this.#worker?.thread;
    if (!thread) return Promise.reject(new Error(`${this.label} worker is not running`));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      thread.postMessage({ ...body, id } as HostRequest, transfer);
    });
  }

  async #openIn(session: number, { onnxPath, opts }: Spec): Promise<Opened> {
    const reply = await this.#send({ op: 'open', session, onnxPath, device: opts.device, threads: opts.threads, spinning: opts.spinning }, []);
    if (!reply.ok) throw new Error(reply.message);
    if (!('opened' in reply)) throw new Error(`${this.label} worker: unexpected reply to open`);
    for (const note of reply.opened.notes) opts.log?.(note);
    return reply.opened;
  }

  #ensure(): Promise<void> {
    if (this.#worker) return this.#worker.ready;
    const thread = new Worker(new URL('./worker-entry.mjs', import.meta.url));
    thread.unref(); // an idle worker does not keep the process alive
    this.starts++;
    thread.on('message', (reply: WorkerReply) => {
      const p = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      p?.resolve(reply);
    });
    const died = (reason: string) => {
      if (this.#worker?.thread !== thread) return;
      this.#worker = undefined;
      this.#failAll(new Error(`${this.label} worker stopped: ${reason}`));
    };
    thread.on('error', (e: Error) => died(e.message));
    thread.on('exit', (code) => died(`exit code ${code}`));
    const entry = { thread, ready: Promise.resolve() };
    this.#worker = entry;
    // After a restart, sessions opened before it are opened again before any call reaches them.
    const reopen = [...this.#specs.entries()];
    entry.ready = Promise.all(reopen.map(([session, spec]) => this.#openIn(session, spec))).then(() => undefined);
    entry.ready.catch(() => undefined); // surfaced to the callers awaiting it
    return entry.ready;
  }

  #failAll(e: Error): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(e);
  }
}

class RemoteSession implements TensorSession {
  readonly device: 'cpu' | 'cuda';
  readonly inputs: readonly InputInfo[];
  readonly outputNames: readonly string[];

  constructor(private readonly host: WorkerSessionHost, private readonly session: number, opened: Opened) {
    this.device = opened.device;
    this.inputs = opened.inputs;
    this.outputNames = opened.outputNames;
  }

  async run(feeds: TensorMap): Promise<TensorMap> {
    const moved = transferable(feeds);
    const reply = await this.host.call({ op: 'run', session: this.session, feeds: moved.feeds }, moved.transfer);
    if (!reply.ok) throw new Error(reply.message);
    if (!('outputs' in reply)) throw new Error('inference worker: unexpected reply to run');
    return reply.outputs;
  }

  async release(): Promise<void> {
    this.host.forget(this.session);
    await this.host.call({ op: 'release', session: this.session }).catch(() => undefined);
  }
}
