// API keys in <data>/keys.sqlite: hashes only, never the keys themselves (pg-key-store.ts: the same in PostgreSQL).
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { generateKey, hashKey, keyId, matches, type Scope, type StoredKey } from '../security/keys.ts';

interface Row { id: string; name: string; scope: Scope; hash: Buffer; created_at: string; revoked_at: string | null }

type MaybePromise<T> = T | Promise<T>;

/** What the server and `irface keys` need of a key store; verify() is synchronous since it runs on every request. */
export interface ApiKeyStore {
  create(scope: Scope, name: string): MaybePromise<{ id: string; key: string; scope: Scope }>;
  seed(key: string, scope: Scope, name: string): MaybePromise<string>;
  verify(key: string): StoredKey | null;
  revoke(id: string): MaybePromise<boolean>;
  list(): MaybePromise<Omit<StoredKey, 'hash'>[]>;
  activeCount(): MaybePromise<number>;
  close(): MaybePromise<void>;
}

const toKey = (r: Row): StoredKey => ({ id: r.id, name: r.name, scope: r.scope, hash: r.hash, createdAt: r.created_at, revokedAt: r.revoked_at });

export class KeyStore implements ApiKeyStore {
  private readonly db: Database.Database;

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    this.db = new Database(join(dataDir, 'keys.sqlite'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.exec(`CREATE TABLE IF NOT EXISTS api_keys (
      id TEXT PRIMARY KEY, name TEXT NOT NULL, scope TEXT NOT NULL CHECK (scope IN ('admin', 'recognize')),
      hash BLOB NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT)`);
  }

  /** Creates a key and returns it; this is the only time the key exists outside the client. */
  create(scope: Scope, name: string): { id: string; key: string; scope: Scope } {
    const { id, key } = generateKey();
    this.insert(id, name, scope, hashKey(key));
    return { id, key, scope };
  }

  /** Makes sure an operator-chosen key (IRFACE_ADMIN_KEY) exists as an active key of `scope`. */
  seed(key: string, scope: Scope, name: string): string {
    const id = keyId(key);
    const row = this.db.prepare('SELECT * FROM api_keys WHERE id = ?').get(id) as Row | undefined;
    if (!row) this.insert(id, name, scope, hashKey(key));
    else if (row.revoked_at !== null || row.scope !== scope) {
      this.db.prepare('UPDATE api_keys SET revoked_at = NULL, scope = ? WHERE id = ?').run(scope, id);
    }
    return id;
  }

  private insert(id: string, name: string, scope: Scope, hash: Buffer) {
    this.db.prepare('INSERT INTO api_keys (id, name, scope, hash, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(id, name, scope, hash, new Date().toISOString());
  }

  /** The active key the presented string is, or null. */
  verify(key: string): StoredKey | null {
    const row = this.db.prepare('SELECT * FROM api_keys WHERE id = ? AND revoked_at IS NULL').get(keyId(key)) as Row | undefined;
    return row && matches(key, row.hash) ? toKey(row) : null;
  }

  revoke(id: string): boolean {
    return this.db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(new Date().toISOString(), id).changes > 0;
  }

  list(): Omit<StoredKey, 'hash'>[] {
    const rows = this.db.prepare('SELECT * FROM api_keys ORDER BY created_at').all() as Row[];
    return rows.map((r) => ({ id: r.id, name: r.name, scope: r.scope, createdAt: r.created_at, revokedAt: r.revoked_at }));
  }

  activeCount(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM api_keys WHERE revoked_at IS NULL').get() as { n: number }).n;
  }

  close(): void {
    this.db.close();
  }
}
