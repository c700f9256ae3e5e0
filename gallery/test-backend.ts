// Which store the gallery's shared test cases run on: SQLite by default, PostgreSQL under pg-suite.test.ts.

import type { GalleryLocation } from './open.ts';
import type { TestPg } from './pg-test-server.ts';
import { tempDir } from './test-helpers.ts';

let pg: TestPg | null = null;

/** Makes every later freshLocation() a new PostgreSQL database on `server`. */
export function useTestPg(server: TestPg): void {
  pg = server;
}

export function testBackend(): 'sqlite' | 'pg' {
  return pg ? 'pg' : 'sqlite';
}

/** A new, empty gallery location: a temp data directory, plus a new database when running on PostgreSQL. */
export async function freshLocation(prefix?: string): Promise<GalleryLocation> {
  return { dataDir: tempDir(prefix), databaseUrl: pg ? await pg.newDatabase() : null };
}
