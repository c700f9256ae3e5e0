// VectorIndex on hnswlib-node (HNSW graph, cosine space), persisted with a marker; the only hnswlib-node importer.
//
// hnswlib facts this file leans on: addPoint/searchKnn take plain number arrays; the cosine space normalises
// inputs itself and returns distance = 1 - cosine; capacity is fixed until resizeIndex; markDelete keeps the
// slot (and the label) in the graph, and addPoint on a deleted label un-deletes and overwrites it. Since a
// deleted slot keeps its vector (and writeIndexSync saves it), remove() first overwrites it with a constant.

import fs from 'node:fs';
import path from 'node:path';
import hnswlib from 'hnswlib-node';
import type { HierarchicalNSW } from 'hnswlib-node';
import {
  commitTempFile, markerMismatch, markerPathFor, readMarker, removeStaleTempFiles, sha256File, tempPathFor, writeFileAtomic,
} from './index-marker.ts';
import type { IndexHit, IndexLoadOutcome, IndexState, VectorIndex } from './types.ts';

export interface HnswIndexOptions {
  dim: number;
  file: string; // save() writes here, and the marker to `${file}.json`
  initialCapacity?: number; // slots before the first resize (doubles when full)
  m?: number; // graph degree (32 by default; see DEFAULT_M)
  efConstruction?: number; // build-time beam; higher = better recall, slower inserts
  efSearch?: number | 'auto'; // query-time beam (raised to k when k is larger); 'auto' (default) grows it with the index, see autoEfSearch
}

/**
 * The default query-time beam for an index of `n` live vectors (graphs of degree DEFAULT_M). A fixed beam loses
 * recall as the graph grows. On the benchmark's face-like centers (M 32): at 100k, efSearch 48 already found the
 * exact nearest center for 99.6% of stranger queries and 100% of enrolled ones; at 1M, efSearch 64 found it for
 * 99.4% of enrolled queries but only 98.0% of stranger queries, and 128 for 100% of both (docs/BENCHMARKS.md,
 * section 4). So: 64 up to 100k, then twice as wide for every 10 times more vectors (128 at 1M), capped at 1024.
 */
export function autoEfSearch(n: number): number {
  if (n <= 100_000) return 64;
  return Math.min(1024, Math.ceil(64 * 2 ** Math.log10(n / 100_000) - 1e-9));
}

/**
 * Graph degree. On the benchmark's 1M face-like centers M 32 reached recall@1 0.997 at efSearch 64 (0.33 ms),
 * where M 16 needed efSearch 256 for 0.994 (0.64 ms); building takes about twice as long.
 */
export const DEFAULT_M = 32;
const EF_CONSTRUCTION = 200;
const MAX_LABEL = 2 ** 32 - 1; // the addon reads labels as uint32

export class HnswIndex implements VectorIndex {
  readonly dim: number;
  readonly file: string;
  readonly #initialCapacity: number;
  readonly #m: number;
  readonly #efConstruction: number;
  readonly #efSearch: number | 'auto';
  #hnsw: HierarchicalNSW;
  #live = new Set<number>(); // searchable labels
  #stored = new Set<number>(); // every label with a slot in the graph, deleted ones included
  readonly #erased: number[]; // the unit vector e0 that a removed label's slot is overwritten with

  constructor(opts: HnswIndexOptions) {
    if (!Number.isInteger(opts.dim) || opts.dim < 1) throw new RangeError(`HnswIndex: dim must be a positive integer, got ${opts.dim}`);
    this.dim = opts.dim;
    this.file = opts.file;
    this.#initialCapacity = Math.max(16, opts.initialCapacity ?? 1024);
    this.#m = opts.m ?? DEFAULT_M;
    this.#efConstruction = opts.efConstruction ?? EF_CONSTRUCTION;
    this.#efSearch = opts.efSearch ?? 'auto';
    if (this.#efSearch !== 'auto' && !(Number.isInteger(this.#efSearch) && this.#efSearch >= 1)) {
      throw new RangeError(`HnswIndex: efSearch must be a positive integer or 'auto', got ${this.#efSearch}`);
    }
    this.#hnsw = this.#fresh(this.#initialCapacity);
    this.#erased = Array.from({ length: this.dim }, (_, i) => (i === 0 ? 1 : 0));
  }

  get size(): number {
    return this.#live.size;
  }

  /** Slots allocated (live + deleted + free); grows by doubling. */
  get capacity(): number {
    return this.#hnsw.getMaxElements();
  }

  /** The query-time beam a search of k results uses now. */
  efFor(k: number): number {
    return Math.max(Math.floor(k), this.#efSearch === 'auto' ? autoEfSearch(this.#live.size) : this.#efSearch);
  }

  has(label: number): boolean {
    return this.#live.has(label);
  }

  upsert(label: number, vector: Float32Array): void {
    this.#check(vector, 'upsert');
    if (!Number.isInteger(label) || label < 0 || label > MAX_LABEL) throw new RangeError(`HnswIndex: bad label ${label}`);
    if (!this.#stored.has(label) && this.#hnsw.getCurrentCount() >= this.#hnsw.getMaxElements()) {
      // A loaded index has exactly as many slots as it had vectors (hnswlib sizes it so), possibly zero.
      this.#hnsw.resizeIndex(Math.max(this.#initialCapacity, this.#hnsw.getMaxElements() * 2));
    }
    this.#hnsw.addPoint(Array.from(vector), label);
    this.#stored.add(label);
    this.#live.add(label);
  }

  remove(label: number): boolean {
    if (!this.#stored.has(label)) return false;
    // Erasure: addPoint replaces the label's vector (and un-deletes a deleted slot, so markDelete, which throws
    // on a deleted label, always succeeds): the saved file keeps no trace of the center. A slot that is already
    // deleted is erased again, which happens when a replica replays the change log over a loaded index.
    const wasLive = this.#live.delete(label);
    this.#hnsw.addPoint(this.#erased, label);
    this.#hnsw.markDelete(label);
    return wasLive;
  }

  /** The k nearest live vectors, best first; `ef` overrides the beam for this call (benchmarks). */
  search(vector: Float32Array, k: number, ef?: number): IndexHit[] {
    this.#check(vector, 'search');
    const n = Math.min(Math.floor(k), this.#live.size); // the addon refuses k > capacity; fewer live is pointless
    if (n <= 0) return [];
    this.#hnsw.setEf(ef === undefined ? this.efFor(n) : Math.max(n, ef));
    const { distances, neighbors } = this.#hnsw.searchKnn(Array.from(vector), n);
    const hits: IndexHit[] = [];
    for (let i = 0; i < neighbors.length; i++) {
      // Deleted labels are already skipped by hnswlib; the check guards against any drift between the two.
      if (this.#live.has(neighbors[i])) hits.push({ label: neighbors[i], similarity: 1 - distances[i] });
    }
    return hits;
  }

  clear(capacityHint: number): void {
    this.#hnsw = this.#fresh(Math.max(this.#initialCapacity, Math.ceil(capacityHint * 1.25)));
    this.#live = new Set();
    this.#stored = new Set();
  }

  save(state: IndexState): void {
    if (state.dim !== this.dim || state.count !== this.#live.size) {
      throw new Error(`HnswIndex.save: state says dim ${state.dim} / ${state.count} centers, index has ${this.dim} / ${this.#live.size}`);
    }
    const tmp = tempPathFor(this.file);
    let sha256: string;
    let bytes: number;
    try {
      this.#hnsw.writeIndexSync(tmp);
      sha256 = sha256File(tmp);
      bytes = fs.statSync(tmp).size;
      commitTempFile(tmp, this.file);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw err;
    }
    // Written after the index: a crash in between leaves an old marker whose checksum no longer matches.
    const marker = { format: this.#format, ...state, file: path.basename(this.file), bytes, sha256, savedAt: new Date().toISOString() };
    writeFileAtomic(markerPathFor(this.file), `${JSON.stringify(marker, null, 2)}\n`);
  }

  savedLogSeq(): number | null {
    return readMarker(markerPathFor(this.file))?.logSeq ?? null;
  }

  load(state: IndexState, liveLabels: readonly number[]): IndexLoadOutcome {
    const no = (reason: string): IndexLoadOutcome => ({ loaded: false, reason });
    removeStaleTempFiles(this.file); // load runs once at open, before any save of this process
    const marker = readMarker(markerPathFor(this.file));
    if (!marker) return no('index marker missing or unreadable');
    const mismatch = markerMismatch(marker, state, this.#format);
    if (mismatch) return no(mismatch);
    if (state.dim !== this.dim) return no(`index dim ${this.dim}, store dim ${state.dim}`);
    if (marker.file !== path.basename(this.file)) return no(`marker names file "${marker.file}"`);
    if (!fs.existsSync(this.file)) return no('index file missing');
    if (fs.statSync(this.file).size !== marker.bytes) return no('index file size differs from its marker');
    // Checked before hnswlib parses the file: its loader trusts the header and a damaged file can crash it.
    if (sha256File(this.file) !== marker.sha256) return no('index file checksum differs from its marker');
    const loaded = new hnswlib.HierarchicalNSW('cosine', this.dim);
    try {
      loaded.readIndexSync(this.file);
    } catch (err) {
      return no(`index file unloadable: ${(err as Error).message}`);
    }
    const stored = new Set(loaded.getIdsList());
    if (state.logSeq === undefined && liveLabels.length !== state.count) return no(`store lists ${liveLabels.length} centers, expected ${state.count}`);
    for (const label of liveLabels) if (!stored.has(label)) return no(`label ${label} is missing from the index file`);
    this.#hnsw = loaded;
    this.#stored = stored;
    this.#live = new Set(liveLabels);
    return { loaded: true };
  }

  /** Names the file format and the graph parameters: a file built with others is rebuilt at open. */
  get #format(): string {
    return `hnswlib-node/3 cosine M${this.#m} efConstruction${this.#efConstruction}`;
  }

  #fresh(capacity: number): HierarchicalNSW {
    const h = new hnswlib.HierarchicalNSW('cosine', this.dim);
    h.initIndex({ maxElements: capacity, m: this.#m, efConstruction: this.#efConstruction });
    return h;
  }

  #check(vector: Float32Array, op: string): void {
    if (vector.length !== this.dim) throw new RangeError(`HnswIndex.${op}: vector has ${vector.length} values, index dim is ${this.dim}`);
  }
}
