// Sessions in a worker thread: the main thread only posts tensors and awaits results, so inference never
// blocks HTTP handling. One worker runs its sessions one call at a time, in the order the calls arrive.
// If the worker dies, pending calls fail with the reason and the next call starts a new worker that re-opens
// every session, so one crash does not take inference down for good.
import { Worker } from 'node:worker_threads';
import type { HostRequest, Opened, OpenSpec, WorkerReply } from './protocol.ts';
import type { InputInfo, SessionHost, SessionOptions, TensorMap, TensorSession } from './session.ts';

type Body = HostRequest extends infer R ? (R extends HostRequest ? Omit<R, 'id'> : never) : never;

interface Pending {
  resolve: (reply: WorkerReply) => void;
  reject: (e: Error) => void;
}

interface Spec {
  spec: OpenSpec;
  log?: (msg: string) => void;
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
  #nextHandle = 1;
  #closed = false;
  /** Worker starts so far (1 + restarts after a crash). */
  starts = 0;

  /**
   * `nice`: how much lower than the caller the worker (and its onnxruntime threads) is scheduled, as a nice
   * increment (0 = same; the server uses 10, os.constants.priority.PRIORITY_BELOW_NORMAL).
   */
  constructor(private readonly label = 'inference', private readonly nice = 0) {}

  async open(onnxPath: string, opts: SessionOptions): Promise<TensorSession> {
    const placement = { device: opts.device, threads: opts.threads, spinning: opts.spinning };
    const { handle, opened } = await this.openHandle({ kind: 'session', onnxPath, ...placement }, opts.log);
    if (opened.kind !== 'session') throw new Error(`${this.label} worker: unexpected reply to open`);
    return new RemoteSession(this, handle, opened);
  }

  /** Opens something in the worker (kept, and opened again after a restart); `log` gets its notes. */
  async openHandle(spec: OpenSpec, log?: (msg: string) => void): Promise<{ handle: number; opened: Opened }> {
    if (this.#closed) throw new Error(`${this.label} worker is closed`);
    const handle = this.#nextHandle++;
    await this.#ensure();
    const opened = await this.#openIn(handle, { spec, log });
    this.#specs.set(handle, { spec, log });
    return { handle, opened };
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

  /** Closes what `handle` names in the worker; it is not reopened after a restart. */
  async release(handle: number): Promise<void> {
    this.#specs.delete(handle);
    await this.call({ op: 'release', handle }).catch(() => undefined);
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

  async #openIn(handle: number, { spec, log }: Spec): Promise<Opened> {
    const reply = await this.#send({ op: 'open', handle, spec }, []);
    if (!reply.ok) throw new Error(reply.message);
    if (!('opened' in reply)) throw new Error(`${this.label} worker: unexpected reply to open`);
    for (const note of reply.opened.notes) log?.(note);
    return reply.opened;
  }

  #ensure(): Promise<void> {
    if (this.#worker) return this.#worker.ready;
    const thread = new Worker(new URL('./worker-entry.mjs', import.meta.url), { workerData: { nice: this.nice } });
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
    // After a restart, what was opened before it is opened again before any call reaches it.
    const reopen = [...this.#specs.entries()];
    entry.ready = Promise.all(reopen.map(([handle, spec]) => this.#openIn(handle, spec))).then(() => undefined);
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

  constructor(private readonly host: WorkerSessionHost, private readonly handle: number, opened: Extract<Opened, { kind: 'session' }>) {
    this.device = opened.device;
    this.inputs = opened.inputs;
    this.outputNames = opened.outputNames;
  }

  async run(feeds: TensorMap): Promise<TensorMap> {
    const moved = transferable(feeds);
    const reply = await this.host.call({ op: 'run', handle: this.handle, feeds: moved.feeds }, moved.transfer);
    if (!reply.ok) throw new Error(reply.message);
    if (!('outputs' in reply)) throw new Error('inference worker: unexpected reply to run');
    return reply.outputs;
  }

  async release(): Promise<void> {
    await this.host.release(this.handle);
  }
}
