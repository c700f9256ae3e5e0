// Keeps the vector index in step with the store: load-or-rebuild on open, serialised write-then-apply, save policy.
//
// Every gallery write runs here as "commit to the store, then apply to the index" under one lock, and saves
// take the same lock; so a saved index always reflects exactly the state_version its marker names.
//
// A store shared by several replicas (PostgreSQL) has a change feed instead: the index then follows the
// store's change log (replica-sync.ts), and its marker names the last log sequence applied.

import { GalleryError } from './errors.ts';
import { ReplicaSync } from './replica-sync.ts';
import type { GalleryStore, IndexState, StoreTx, VectorIndex } from './types.ts';

export interface SavePolicy {
  afterChanges?: number; // save once this many writes are unsaved (0 = never by count); default 1000
  intervalMs?: number; // save unsaved changes this often (0 = no timer); default 60 s
}

export interface IndexOpenReport {
  source: 'loaded' | 'rebuilt';
  reason: string | null; // why the saved index could not be used, when rebuilt
  count: number;
  ms: number;
  replayed?: number; // replicated store: change-log entries applied on top of the loaded or rebuilt index
}

export interface GalleryLogger {
  info(msg: string, data?: Record<string, unknown>): void;
  warn(msg: string, data?: Record<string, unknown>): void;
}

export const silentLogger: GalleryLogger = { info() {}, warn() {} };

const REBUILD_PAGE = 1000;

export class IndexKeeper {
  readonly #store: GalleryStore;
  readonly #index: VectorIndex;
  readonly #modelId: string;
  readonly #afterChanges: number;
  readonly #intervalMs: number;
  readonly #log: GalleryLogger;
  #lock: Promise<unknown> = Promise.resolve();
  #unsaved = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #sync: ReplicaSync | undefined;

  constructor(store: GalleryStore, index: VectorIndex, modelId: string, policy: SavePolicy = {}, log = silentLogger) {
    this.#store = store;
    this.#index = index;
    this.#modelId = modelId;
    this.#afterChanges = policy.afterChanges ?? 1000;
    this.#intervalMs = policy.intervalMs ?? 60_000;
    this.#log = log;
    if (store.changeFeed) {
      this.#sync = new ReplicaSync(store.changeFeed, index, modelId, log, {
        exclusive: (fn) => this.#exclusive(fn),
        applied: (n) => this.#applied(n),
        rebuildLocked: () => this.#rebuild(),
      });
    }
  }

  get unsavedChanges(): number {
    return this.#unsaved;
  }

  /** Loads the saved index when its marker matches the store, else rebuilds it from the stored centers. */
  open(): Promise<IndexOpenReport> {
    return this.#exclusive(async () => {
      const t0 = performance.now();
      if (this.#sync) return this.#openReplica(t0);
      const { state, labels } = await this.#store.read(async (tx) => ({ state: await this.#state(tx), labels: await tx.centerLabels() }));
      const outcome = this.#index.load(state, labels);
      let reason: string | null = null;
      if (!outcome.loaded) {
        reason = outcome.reason;
        this.#log.warn('gallery index: rebuilding from stored centers', { reason });
        await this.#rebuild();
      }
      this.#startTimer();
      const report: IndexOpenReport = { source: outcome.loaded ? 'loaded' : 'rebuilt', reason, count: this.#index.size, ms: Math.round(performance.now() - t0) };
      this.#log.info('gallery index ready', { ...report });
      return report;
    });
  }

  async #openReplica(t0: number): Promise<IndexOpenReport> {
    const sync = this.#sync!;
    const loaded = await sync.load();
    if (!loaded.loaded) {
      this.#log.warn('gallery index: rebuilding from stored centers', { reason: loaded.reason });
      sync.startAt(await sync.head());
      await this.#rebuild(); // reads centers at least as new as that head; the replay below covers the rest
    }
    const replayed = await sync.catchUp();
    await sync.start(); // listening from here on; writes of other replicas now follow within milliseconds
    this.#startTimer();
    const report: IndexOpenReport = {
      source: loaded.loaded ? 'loaded' : 'rebuilt', reason: loaded.loaded ? null : loaded.reason, count: this.#index.size,
      ms: Math.round(performance.now() - t0), replayed,
    };
    this.#log.info('gallery index ready', { ...report, logSeq: sync.appliedSeq });
    return report;
  }

  /** Counts changes applied from the change log towards the save policy. */
  async #applied(n: number): Promise<void> {
    this.#unsaved += n;
    if (this.#afterChanges > 0 && this.#unsaved >= this.#afterChanges) await this.#save();
  }

  /**
   * Runs one write: `commit` does the store transaction, `apply` mirrors its result into the index. If apply
   * fails after the commit, the index is rebuilt from the store rather than left silently out of step.
   */
  write<T>(commit: () => Promise<T>, apply: (result: T, index: VectorIndex) => void): Promise<T> {
    return this.#exclusive(async () => {
      const result = await commit();
      try {
        apply(result, this.#index);
      } catch (err) {
        this.#log.warn('gallery index: update failed after commit, rebuilding', { error: String(err) });
        await this.#rebuild();
      }
      this.#unsaved++;
      if (this.#afterChanges > 0 && this.#unsaved >= this.#afterChanges) await this.#save();
      return result;
    });
  }

  save(): Promise<void> {
    return this.#exclusive(() => this.#save());
  }

  rebuild(): Promise<void> {
    return this.#exclusive(() => this.#rebuild());
  }

  /** Stops the timer and saves unsaved changes; call before closing the store. */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#sync?.stop();
    return this.#exclusive(async () => {
      if (this.#unsaved > 0) await this.#save();
    });
  }

  async #save(afterRebuild = false): Promise<void> {
    if (this.#sync) {
      // The store moves on with other replicas' writes; what the index reflects is the log sequence applied.
      const meta = await this.#store.read((tx) => tx.getMeta());
      this.#index.save({ stateVersion: meta.stateVersion, modelId: this.#modelId, dim: this.#index.dim, count: this.#index.size, logSeq: this.#sync.appliedSeq });
      this.#unsaved = 0;
      return;
    }
    const state = await this.#store.read((tx) => this.#state(tx));
    if (state.count !== this.#index.size) {
      if (afterRebuild) throw new Error(`gallery index: rebuilt ${this.#index.size} centers but the store has ${state.count}`);
      // Cannot happen while every write goes through write(); if it does, trust the store, not the index.
      this.#log.warn('gallery index: size differs from the store at save, rebuilding', { store: state.count, index: this.#index.size });
      await this.#rebuild();
      return;
    }
    this.#index.save(state);
    this.#unsaved = 0;
  }

  async #rebuild(): Promise<void> {
    const count = await this.#store.read((tx) => tx.countCenters());
    this.#index.clear(count);
    for (let after = 0; ; ) {
      const page = await this.#store.read((tx) => tx.listCenters(after, REBUILD_PAGE));
      for (const c of page) this.#index.upsert(c.label, c.center);
      if (page.length < REBUILD_PAGE) break;
      after = page[page.length - 1].label;
    }
    await this.#save(true); // the next open then loads instead of rebuilding again
  }

  async #state(tx: StoreTx): Promise<IndexState> {
    const meta = await tx.getMeta();
    if (meta.modelId !== this.#modelId || meta.dim === null) {
      throw new GalleryError('model_mismatch', `store is bound to model "${meta.modelId}", index keeper to "${this.#modelId}"`);
    }
    return { stateVersion: meta.stateVersion, modelId: meta.modelId, dim: meta.dim, count: await tx.countCenters() };
  }

  #startTimer(): void {
    if (this.#intervalMs <= 0 || this.#timer) return;
    this.#timer = setInterval(() => {
      if (this.#unsaved === 0) return;
      this.save().catch((err) => this.#log.warn('gallery index: periodic save failed', { error: String(err) }));
    }, this.#intervalMs);
    this.#timer.unref(); // a pending save must not keep the process alive; close() saves on shutdown
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn);
    this.#lock = run.then(noop, noop);
    return run;
  }
}

function noop(): void {}
