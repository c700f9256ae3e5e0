// Composition root of the gallery layer: builds the store (SQLite, or PostgreSQL when a database URL is given)
// and the HNSW index under one data directory.
//
// Layout of <dataDir>: gallery.sqlite (+ -wal, -shm) unless the gallery is in PostgreSQL, centers.hnsw and its
// marker centers.hnsw.json. With PostgreSQL every replica has its own data directory (its own index copy).

import fs from 'node:fs';
import path from 'node:path';
import { Gallery } from './gallery.ts';
import { HnswIndex } from './hnsw-index.ts';
import type { GalleryLogger, SavePolicy } from './index-keeper.ts';
import { PgStore } from './pg-store.ts';
import { SqliteStore } from './sqlite-store.ts';
import type { GalleryStore } from './types.ts';

export const GALLERY_DB_FILE = 'gallery.sqlite';
export const INDEX_FILE = 'centers.hnsw';

/** Where a gallery lives: the data directory, and the PostgreSQL database when it is shared by replicas. */
export interface GalleryLocation {
  dataDir: string;
  databaseUrl?: string | null; // postgres://…; null/absent: SQLite in dataDir
}

export interface OpenGalleryOptions extends GalleryLocation {
  modelId: string; // id of the embedding model the server runs (from its model card)
  dim: number; // that model's embedding size
  savePolicy?: SavePolicy;
  logger?: GalleryLogger;
  indexCapacity?: number; // initial HNSW slots; the index grows by doubling anyway
  efSearch?: number | 'auto'; // HNSW query-time beam; 'auto' (default) grows with the gallery (autoEfSearch)
}

/** Opens (or creates) the gallery in dataDir; throws GalleryError model_mismatch when another model built it. */
export async function openGallery(opts: OpenGalleryOptions): Promise<Gallery> {
  if (typeof opts.dataDir !== 'string' || opts.dataDir.length === 0) throw new RangeError('openGallery: dataDir must be a path');
  if (!Number.isInteger(opts.dim) || opts.dim < 1) throw new RangeError(`openGallery: dim must be a positive integer, got ${opts.dim}`);
  const store = await openGalleryStore(opts);
  try {
    const index = new HnswIndex({
      dim: opts.dim, file: path.join(opts.dataDir, INDEX_FILE), initialCapacity: opts.indexCapacity, efSearch: opts.efSearch,
    });
    const gallery = new Gallery({ store, index, modelId: opts.modelId, dim: opts.dim, savePolicy: opts.savePolicy, logger: opts.logger });
    await gallery.init();
    return gallery;
  } catch (err) {
    await store.close();
    throw err;
  }
}

/** The store alone, with no model check and no index: for `irface reindex` and other offline tools. */
export async function openGalleryStore(loc: GalleryLocation): Promise<GalleryStore> {
  fs.mkdirSync(loc.dataDir, { recursive: true });
  if (loc.databaseUrl) return PgStore.open(loc.databaseUrl);
  return SqliteStore.open(path.join(loc.dataDir, GALLERY_DB_FILE));
}
