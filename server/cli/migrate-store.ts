// `irface migrate-store <target>`: copies the configured gallery (SQLite in IRFACE_DATA_DIR, or the PostgreSQL
// database of IRFACE_DATABASE_URL) into an empty target: a postgres:// URL, or a directory for a SQLite gallery.
import { resolve } from 'node:path';
import { parseConfig } from '../config.ts';
import { lockDataDir, type DataLock } from '../adapters/data-lock.ts';
import { openGalleryStore, type GalleryLocation } from '../../gallery/open.ts';
import { copyGallery } from '../../gallery/copy-store.ts';
import type { GalleryStore } from '../../gallery/types.ts';
import { progress } from './progress.ts';

const isPgUrl = (s: string) => /^postgres(ql)?:\/\//.test(s);

export async function migrateStoreCommand(target: string) {
  const config = parseConfig();
  const from: GalleryLocation = { dataDir: config.dataDir, databaseUrl: config.databaseUrl };
  const to: GalleryLocation = isPgUrl(target) ? { dataDir: config.dataDir, databaseUrl: target } : { dataDir: resolve(target) };
  if ((from.databaseUrl ?? from.dataDir) === (to.databaseUrl ?? to.dataDir)) throw new Error('the target is the configured gallery itself');
  // A SQLite gallery belongs to one process: the server must be stopped (the lock says who holds it otherwise).
  const locks: DataLock[] = [];
  const stores: GalleryStore[] = [];
  try {
    if (!from.databaseUrl) locks.push(lockDataDir(from.dataDir, 'irface migrate-store (source)'));
    if (!to.databaseUrl) locks.push(lockDataDir(to.dataDir, 'irface migrate-store (target)'));
    const src = await openGalleryStore(from);
    stores.push(src);
    const dst = await openGalleryStore(to);
    stores.push(dst);
    let tick: ((n?: number) => void) | undefined;
    let last = 0;
    const report = await copyGallery(src, dst, (done, total) => {
      tick ??= progress('migrate-store', total);
      tick(done - last);
      last = done;
    });
    return {
      status: 'copied', from: from.databaseUrl ? 'postgresql' : `sqlite:${from.dataDir}`, to: to.databaseUrl ? 'postgresql' : `sqlite:${to.dataDir}`,
      ...report,
      next: to.databaseUrl ? 'start the replicas with IRFACE_DATABASE_URL set to the target; each rebuilds its index once'
        : `start the server with IRFACE_DATA_DIR=${to.dataDir} and without IRFACE_DATABASE_URL`,
    };
  } finally {
    for (const s of stores) await s.close();
    for (const l of locks) l.release();
  }
}
