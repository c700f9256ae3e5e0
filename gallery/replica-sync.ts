// Follows a shared store's change log into this replica's vector index: load at the saved sequence, replay
// what is newer, then apply each new entry when the store announces a commit.
//
// Entries are applied in sequence order and each carries its label's current center, so replaying an entry
// twice, or one whose change the index already holds (this replica's own writes), is harmless. A notification
// only wakes the replica; what it applies always comes from the log after the last applied sequence, so a
// notification lost while disconnected loses nothing. A slow poll backs up the notifications against a
// connection that hangs without failing.

import type { GalleryLogger } from './index-keeper.ts';
import type { ChangeFeed, IndexLoadOutcome, VectorIndex } from './types.ts';

const PAGE = 1000;
const POLL_MS = 5000;

export interface SyncHooks {
  /** Runs fn under the index keeper's lock (no write or save in between). */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  /** Tells the keeper that n labels changed in the index (its save policy counts them). */
  applied(n: number): Promise<void>;
  /** Rebuilds the index from the stored centers; called under the lock already held. */
  rebuildLocked(): Promise<void>;
}

export class ReplicaSync {
  readonly #feed: ChangeFeed;
  readonly #index: VectorIndex;
  readonly #modelId: string;
  readonly #log: GalleryLogger;
  readonly #hooks: SyncHooks;
  #appliedSeq = 0;
  #stopListening: (() => Promise<void>) | undefined;
  #poll: NodeJS.Timeout | undefined;
  #wakePending = false;
  #stopped = false;
  #modelWarned = false;

  constructor(feed: ChangeFeed, index: VectorIndex, modelId: string, log: GalleryLogger, hooks: SyncHooks) {
    this.#feed = feed;
    this.#index = index;
    this.#modelId = modelId;
    this.#log = log;
    this.#hooks = hooks;
  }

  /** The last change-log sequence the index reflects (it may hold newer changes too). */
  get appliedSeq(): number {
    return this.#appliedSeq;
  }

  /** Sets the sequence a rebuild starts from (read before the rebuild reads the centers). */
  startAt(seq: number): void {
    this.#appliedSeq = seq;
  }

  async head(): Promise<number> {
    return (await this.#feed.snapshot(Number.MAX_SAFE_INTEGER)).head;
  }

  /**
   * Loads the saved index when its marker names a log sequence the store's log still continues from. Labels
   * changed after that sequence are left out of the live set here; catchUp() then sets each to its current center.
   */
  async load(): Promise<IndexLoadOutcome> {
    const no = (reason: string): IndexLoadOutcome => ({ loaded: false, reason });
    const saved = this.#index.savedLogSeq();
    if (saved === null) return no('index marker missing, unreadable, or saved without a change-log sequence');
    const snap = await this.#feed.snapshot(saved);
    if (saved > snap.head) return no(`index reflects log sequence ${saved}, beyond the log's head ${snap.head} (another database?)`);
    if (saved + 1 < snap.floor) return no(`change-log entries after ${saved} were pruned (oldest kept: ${snap.floor})`);
    const changed = new Set(snap.changedLabels);
    const unchanged = snap.centerLabels.filter((l) => !changed.has(l));
    const state = { stateVersion: 0, modelId: this.#modelId, dim: this.#index.dim, count: unchanged.length, logSeq: saved };
    const out = this.#index.load(state, unchanged);
    if (out.loaded) this.#appliedSeq = saved;
    return out;
  }

  /** Applies every committed entry after appliedSeq; returns how many labels changed. Call under the keeper's lock. */
  async catchUp(): Promise<number> {
    let labels = 0;
    for (;;) {
      const { modelId, changes } = await this.#feed.changesSince(this.#appliedSeq, PAGE);
      if (changes.length === 0) break;
      if (changes[0].seq !== this.#appliedSeq + 1) {
        // Sequences have no gaps, so entries this replica still needed were pruned from the log: start over.
        this.#log.warn('gallery index: change-log entries were pruned before this replica applied them, rebuilding',
          { appliedSeq: this.#appliedSeq, next: changes[0].seq });
        this.#appliedSeq = await this.head();
        await this.#hooks.rebuildLocked();
        labels += this.#index.size;
        continue;
      }
      if (modelId !== this.#modelId) {
        // `irface reindex` switched the shared gallery to another model: this replica's embeddings no longer
        // compare with the stored ones. It keeps serving what it has and says so; a restart with the new model fixes it.
        if (!this.#modelWarned) this.#log.warn('gallery index: the gallery now uses another model; restart this replica with it', { galleryModelId: modelId, modelId: this.#modelId });
        this.#modelWarned = true;
        break;
      }
      const latest = new Map<number, Float32Array | null>(); // every entry of a label carries the same current center
      for (const c of changes) latest.set(c.label, c.center);
      for (const [label, center] of latest) {
        if (center) this.#index.upsert(label, center);
        else this.#index.remove(label);
      }
      this.#appliedSeq = changes[changes.length - 1].seq;
      labels += latest.size;
      if (changes.length < PAGE) break;
    }
    return labels;
  }

  /** Starts listening for commits (and the backup poll). */
  async start(): Promise<void> {
    this.#stopListening = await this.#feed.listen(() => this.wake(), (msg, data) => this.#log.warn(msg, data));
    this.#poll = setInterval(() => this.wake(), POLL_MS);
    this.#poll.unref();
  }

  /** Schedules one catch-up; wake-ups arriving before it starts are folded into it. */
  wake(): void {
    if (this.#wakePending || this.#stopped) return;
    this.#wakePending = true;
    this.#hooks.exclusive(async () => {
      this.#wakePending = false;
      if (this.#stopped) return;
      const n = await this.catchUp();
      if (n > 0) await this.#hooks.applied(n);
    }).catch((err) => this.#log.warn('gallery index: applying the change log failed; retrying at the next wake-up', { error: String(err) }));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#poll);
    await this.#stopListening?.();
  }
}
