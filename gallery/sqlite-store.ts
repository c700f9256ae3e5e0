// GalleryStore on SQLite (better-sqlite3): connection pragmas, migrations and serialised transactions.
//
// The SQL statements themselves are in sqlite-tx.ts.
//
// Durability: synchronous=FULL, not NORMAL. In WAL mode NORMAL may lose the last commits on power loss, and
// the index marker trusts that a state_version once committed never goes back (a rolled-back version could
// later be reused by different content and match a saved index). Enrolment writes are few and small, so the
// extra fsync per commit is cheap here.
//
// Erasure: secure_delete makes SQLite zero the space freed by deleted rows and pages, and after a transaction
// that deleted faces or identities the WAL is checkpointed and truncated, so no older copy of the deleted
// pages survives in gallery.sqlite-wal either. Enrolment and search never pay for this; only deletions do.

import Database from 'better-sqlite3';
import { GalleryError } from './errors.ts';
import { loadMigrations, pendingMigrations } from './migrations.ts';
import { SqliteTx } from './sqlite-tx.ts';
import type { GalleryStore, StoreTx } from './types.ts';

export class SqliteStore implements GalleryStore {
  readonly #db: Database.Database;
  readonly #tx: SqliteTx;
  // better-sqlite3 is synchronous but StoreTx is async (so PostgreSQL fits): without this queue another caller
  // could run between two awaits of an open transaction on the same connection and see its uncommitted rows.
  #tail: Promise<unknown> = Promise.resolve();
  #closed = false;

  /** Opens (creating if needed) the database file and applies pending migrations. */
  static open(file: string): SqliteStore {
    const db = new Database(file);
    try {
      if (db.pragma('journal_mode = WAL', { simple: true }) !== 'wal') throw new Error(`cannot enable WAL on ${file}`);
      db.pragma('foreign_keys = ON'); // must precede any transaction; it is a no-op inside one
      db.pragma('synchronous = FULL');
      db.pragma('busy_timeout = 5000');
      db.pragma('secure_delete = ON'); // per connection: deleted faces and crops are overwritten, not just unlinked
      migrate(db);
      return new SqliteStore(db);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  private constructor(db: Database.Database) {
    this.#db = db;
    this.#tx = new SqliteTx(db);
  }

  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.#serial(async () => {
      this.#db.exec('BEGIN IMMEDIATE');
      this.#tx.takeErased(); // reset: only deletions of this transaction count
      try {
        const out = await fn(this.#tx);
        this.#db.exec('COMMIT');
        if (this.#tx.takeErased()) this.#purgeWal();
        return out;
      } catch (err) {
        if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
        throw err;
      }
    });
  }

  read<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.#serial(() => fn(this.#tx));
  }

  close(): Promise<void> {
    return this.#serial(async () => {
      this.#closed = true;
      this.#db.pragma('optimize');
      this.#db.close();
    });
  }

  /**
   * Copies the WAL into the database file and truncates it to zero bytes: until then the WAL keeps the page
   * images written before the deletion. Best effort: with another reader open the checkpoint may stop early,
   * and the next one (at the latest on close) finishes it.
   */
  #purgeWal(): void {
    this.#db.pragma('wal_checkpoint(TRUNCATE)');
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new GalleryError('gallery_closed', 'the gallery store is closed'));
    const run = this.#tail.then(fn);
    this.#tail = run.then(noop, noop);
    return run;
  }
}

function noop(): void {}

function migrate(db: Database.Database): void {
  const all = loadMigrations();
  // IMMEDIATE takes the write lock before reading user_version, so two processes opening a fresh file at
  // once cannot both apply 001.
  db.transaction(() => {
    const current = db.pragma('user_version', { simple: true }) as number;
    for (const m of pendingMigrations(all, current)) {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`); // recorded in the same transaction as the migration itself
    }
  }).immediate();
}
