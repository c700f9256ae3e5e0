// The marker file beside a persisted vector index (which store state it reflects + checksum) and atomic file writes.
//
// The index file is only trusted when its marker names the store's current state_version and model, and the
// file's sha256 matches: a crash between writing the index and the marker, a stale file, or a truncated one
// all fail one of these checks and lead to a rebuild from the store instead of silently wrong search results.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { IndexState } from './types.ts';

export interface IndexMarker extends IndexState {
  format: string; // index implementation and file format, e.g. "hnswlib-node/3 cosine"
  file: string; // index file name, relative to the marker's directory
  bytes: number;
  sha256: string;
  savedAt: string;
}

export function markerPathFor(indexFile: string): string {
  return `${indexFile}.json`;
}

/** The marker, or null when it is missing or unreadable (both mean: rebuild). */
export function readMarker(markerPath: string): IndexMarker | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(markerPath, 'utf8'));
  } catch {
    return null;
  }
  const m = parsed as Partial<IndexMarker> | null;
  const ok = m !== null && typeof m === 'object' && typeof m.stateVersion === 'number' && typeof m.modelId === 'string'
    && typeof m.dim === 'number' && typeof m.count === 'number' && typeof m.format === 'string'
    && typeof m.file === 'string' && typeof m.bytes === 'number' && typeof m.sha256 === 'string'
    && (m.logSeq === undefined || Number.isInteger(m.logSeq));
  return ok ? (m as IndexMarker) : null;
}

/** Why the marker does not describe `state` in `format`, or null when it does. */
export function markerMismatch(marker: IndexMarker, state: IndexState, format: string): string | null {
  if (marker.format !== format) return `index format "${marker.format}" is not "${format}"`;
  if (marker.modelId !== state.modelId) return `index built for model "${marker.modelId}", gallery uses "${state.modelId}"`;
  if (marker.dim !== state.dim) return `index dim ${marker.dim}, gallery dim ${state.dim}`;
  if (state.logSeq !== undefined) {
    // Replicated store: the marker's sequence is what counts; the log after it is replayed by the caller.
    return marker.logSeq === state.logSeq ? null : `index reflects log sequence ${marker.logSeq ?? 'none'}, expected ${state.logSeq}`;
  }
  if (marker.logSeq !== undefined) return 'index was saved from a replicated (PostgreSQL) gallery';
  if (marker.stateVersion !== state.stateVersion) {
    return `index reflects state_version ${marker.stateVersion}, store is at ${state.stateVersion}`;
  }
  if (marker.count !== state.count) return `index holds ${marker.count} centers, store has ${state.count}`;
  return null;
}

export function sha256File(file: string): string {
  const hash = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) hash.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/** A temporary name in the same directory as `file`, so the final rename stays on one filesystem (atomic). */
export function tempPathFor(file: string): string {
  return `${file}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
}

/** Deletes temp files a crash left behind for `file` (and its marker); one process owns a data dir at a time. */
export function removeStaleTempFiles(file: string): void {
  const dir = path.dirname(file);
  const prefixes = [`${path.basename(file)}.tmp-`, `${path.basename(markerPathFor(file))}.tmp-`];
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return; // no directory yet: nothing to clean
  }
  for (const name of names) if (prefixes.some((p) => name.startsWith(p))) fs.rmSync(path.join(dir, name), { force: true });
}

/** Makes a fully written temp file durable and moves it over `file` in one step. */
export function commitTempFile(tempPath: string, file: string): void {
  const fd = fs.openSync(tempPath, 'r+');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tempPath, file);
  fsyncDir(path.dirname(file));
}

export function writeFileAtomic(file: string, data: string | Buffer): void {
  const tmp = tempPathFor(file);
  try {
    fs.writeFileSync(tmp, data);
    commitTempFile(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

function fsyncDir(dir: string): void {
  // Persists the rename itself; not possible on every platform (e.g. Windows), where it is skipped.
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    /* best effort */
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
