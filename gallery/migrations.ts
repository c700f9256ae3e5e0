// Finds the numbered SQL migration files (NNN_name.sql) beside this module and checks their numbering.
//
// Kept apart from the SQLite store so the ordering rules are testable without a database, and so a future
// PostgreSQL store can keep its own directory with the same convention.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GalleryError } from './errors.ts';

export interface Migration {
  version: number; // NNN from the file name; recorded as the schema version once applied
  name: string;
  sql: string;
}

export const SQLITE_MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

const FILE_RE = /^(\d{3})_([a-z0-9_]+)\.sql$/;

/** Migrations in version order; throws when numbers skip or repeat, which would make the order ambiguous. */
export function loadMigrations(dir: string = SQLITE_MIGRATIONS_DIR): Migration[] {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.sql')).sort();
  const migrations = files.map((file) => {
    const m = FILE_RE.exec(file);
    if (!m) throw new Error(`migration file "${file}" in ${dir} must be named NNN_lower_snake.sql`);
    return { version: Number(m[1]), name: m[2], sql: fs.readFileSync(path.join(dir, file), 'utf8') };
  });
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new Error(`migrations in ${dir} must be numbered 001, 002, ... without gaps; found ${m.version} at position ${i + 1}`);
    }
  });
  return migrations;
}

/** The migrations still to apply to a database at `currentVersion`. */
export function pendingMigrations(all: readonly Migration[], currentVersion: number): Migration[] {
  const latest = all.length === 0 ? 0 : all[all.length - 1].version;
  if (currentVersion > latest) {
    throw new GalleryError(
      'schema_too_new',
      `gallery database schema version ${currentVersion} is newer than this code knows (${latest}); upgrade irface`,
      { schemaVersion: currentVersion, supported: latest },
    );
  }
  return all.filter((m) => m.version > currentVersion);
}
