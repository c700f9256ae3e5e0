// An exclusive lock on the data directory, so the server and offline commands never share a gallery.
import { openSync, writeSync, closeSync, readFileSync, unlinkSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export interface DataLock {
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes <dataDir>/LOCK; a lock left by a dead process is taken over. Throws naming the holder otherwise. */
export function lockDataDir(dataDir: string, purpose: string): DataLock {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, 'LOCK');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, JSON.stringify({ pid: process.pid, purpose, since: new Date().toISOString() }));
      closeSync(fd);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        try { unlinkSync(path); } catch { /* already gone */ }
      };
      process.once('exit', release);
      return { release };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let holder: { pid?: number; purpose?: string } = {};
      try { holder = JSON.parse(readFileSync(path, 'utf8')); } catch { /* torn or empty: treat as stale */ }
      if (holder.pid && holder.pid !== process.pid && alive(holder.pid)) {
        throw new Error(`data directory ${dataDir} is in use by process ${holder.pid} (${holder.purpose ?? 'unknown'}); ` +
          'stop it first, or use the HTTP API of the running server');
      }
      try { unlinkSync(path); } catch { /* raced with another taker */ }
    }
  }
  throw new Error(`could not lock data directory ${dataDir}`);
}
