// GalleryStore on PostgreSQL (the `pg` client): a connection pool, numbered migrations, transactions with
// retry on deadlock/serialisation failures, and the change feed that keeps every replica's index in step.
//
// The SQL statements are in pg-tx.ts and the log's reading and listening in pg-change-feed.ts; the schema
// with its change-log trigger in pg-migrations/.
//
// Erasure: a DELETE removes the rows from every query at commit, and the store's tables are never copied
// elsewhere by irface; the old row versions stay in the table files until VACUUM reclaims them and in the
// WAL until it is recycled (README, "Deployment with PostgreSQL" says how to bound both).

import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { GalleryError } from './errors.ts';
import { loadMigrations, pendingMigrations } from './migrations.ts';
import { PgChangeFeed } from './pg-change-feed.ts';
import { PgTx } from './pg-tx.ts';
import type { ChangeFeed, GalleryStore, StoreTx } from './types.ts';

export const PG_MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'pg-migrations');

// Arbitrary constant for pg_advisory_xact_lock: "irface migrations". Held by the migrating transaction only.
const MIGRATION_LOCK = 0x69726661;
// Deadlock (40P01) and serialisation failure (40001): the transaction did nothing durable and can rerun.
const RETRYABLE = new Set(['40P01', '40001']);
const MAX_ATTEMPTS = 5;

export interface PgStoreOptions {
  poolSize?: number; // connections per process; default 10
  applicationName?: string; // shown in pg_stat_activity; default irface:<host>:<pid>
}

export class PgStore implements GalleryStore {
  readonly #pool: pg.Pool;
  readonly changeFeed: ChangeFeed;
  #closed = false;

  /** Connects, applies pending migrations under an advisory lock, and returns the store. */
  static async open(url: string, opts: PgStoreOptions = {}): Promise<PgStore> {
    const applicationName = opts.applicationName ?? `irface:${os.hostname()}:${process.pid}`;
    const pool = new pg.Pool({ connectionString: url, max: opts.poolSize ?? 10, application_name: applicationName });
    // An idle pooled connection that the server drops (restart, pg_terminate_backend) is reported here; without
    // a listener it would crash the process. The pool discards it and opens a new one on the next query.
    pool.on('error', () => {});
    try {
      await migratePostgres(pool);
    } catch (err) {
      await pool.end();
      throw err;
    }
    return new PgStore(pool, url, applicationName);
  }

  private constructor(pool: pg.Pool, url: string, applicationName: string) {
    this.#pool = pool;
    this.changeFeed = new PgChangeFeed(pool, () => new pg.Client({ connectionString: url, application_name: `${applicationName}:listen` }));
  }

  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.#run('BEGIN', true, fn);
  }

  read<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    // One snapshot for all the statements of fn (e.g. listFaces + faceEmbeddings must agree).
    return this.#run('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', false, fn);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await (this.changeFeed as PgChangeFeed).close();
    await this.#pool.end();
  }

  async #run<T>(begin: string, write: boolean, fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      if (this.#closed) throw new GalleryError('gallery_closed', 'the gallery store is closed');
      const client = await this.#pool.connect();
      let began = false;
      let broken: Error | undefined;
      try {
        await client.query(begin);
        began = true;
        const out = await fn(new PgTx(client, write));
        await client.query('COMMIT');
        return out;
      } catch (err) {
        if (connectionLost(err)) broken = err as Error;
        else if (began) await client.query('ROLLBACK').catch((e: Error) => { broken = e; });
        // Safe to rerun: nothing was sent yet (a pooled connection died idle), or PostgreSQL rolled it back.
        const retry = !began ? broken !== undefined : RETRYABLE.has((err as { code?: string }).code ?? '');
        if (attempt < MAX_ATTEMPTS && retry) continue;
        throw err;
      } finally {
        client.release(broken); // a dead connection is closed, not handed out again
      }
    }
  }
}

/** The connection itself failed (dropped, terminated by an administrator, server shutting down). */
function connectionLost(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code !== 'string' || code.startsWith('08') || code.startsWith('57');
}

/** Applies pending migrations of the PostgreSQL schema (gallery and API keys) once, under an advisory lock. */
export async function migratePostgres(pool: pg.Pool): Promise<void> {
  const all = loadMigrations(PG_MIGRATIONS_DIR);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    // Two replicas starting on a fresh database at once: the second waits here, then finds nothing pending.
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations');
    for (const m of pendingMigrations(all, rows[0].v ?? 0)) {
      await client.query(m.sql);
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
