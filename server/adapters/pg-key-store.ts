// API keys in the PostgreSQL gallery database, shared by every replica: hashes only, never the keys themselves.
//
// verify() runs on every request and must not wait for the database, so each replica keeps the active keys in
// memory and reloads them whenever the table changes (LISTEN irface_keys, on its own reconnecting connection)
// and every few seconds as a backup; a key created or revoked on one replica takes effect on the others in
// milliseconds. Writes reload at once, so the replica that made the change is consistent immediately.
import os from 'node:os';
import pg from 'pg';
import { listenForever } from '../../gallery/pg-change-feed.ts';
import { migratePostgres } from '../../gallery/pg-store.ts';
import { generateKey, hashKey, keyId, matches, type Scope, type StoredKey } from '../security/keys.ts';
import type { ApiKeyStore } from './key-store.ts';

interface Row { id: string; name: string; scope: Scope; hash: Buffer; created_at: string; revoked_at: string | null }

const toKey = (r: Row): StoredKey => ({ id: r.id, name: r.name, scope: r.scope, hash: r.hash, createdAt: r.created_at, revokedAt: r.revoked_at });
const POLL_MS = 5000;

export class PgKeyStore implements ApiKeyStore {
  readonly #pool: pg.Pool;
  #active = new Map<string, StoredKey>();
  #stopListening: (() => Promise<void>) | undefined;
  #poll: NodeJS.Timeout | undefined;

  /** Connects, applies pending migrations, loads the active keys; `follow` keeps them refreshed (servers). */
  static async open(url: string, opts: { follow: boolean; log?: (msg: string) => void }): Promise<PgKeyStore> {
    const appName = `irface:${os.hostname()}:${process.pid}:keys`;
    const pool = new pg.Pool({ connectionString: url, max: 2, application_name: appName });
    pool.on('error', () => {}); // a dropped idle connection is replaced on the next query
    const store = new PgKeyStore(pool);
    try {
      await migratePostgres(pool);
      await store.#reload();
      if (opts.follow) {
        const log = opts.log ?? (() => {});
        store.#stopListening = await listenForever(() => new pg.Client({ connectionString: url, application_name: `${appName}:listen` }),
          'irface_keys', () => store.#refresh(log), (m) => log(`api keys: ${m}`));
        store.#poll = setInterval(() => store.#refresh(log), POLL_MS);
        store.#poll.unref();
      }
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }

  private constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async create(scope: Scope, name: string): Promise<{ id: string; key: string; scope: Scope }> {
    const { id, key } = generateKey();
    await this.#insert(id, name, scope, hashKey(key));
    return { id, key, scope };
  }

  async seed(key: string, scope: Scope, name: string): Promise<string> {
    const id = keyId(key);
    // Replicas starting together may seed the same key: the insert ignores a row another one wrote first.
    await this.#pool.query(`INSERT INTO api_keys (id, name, scope, hash, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`,
      [id, name, scope, hashKey(key), new Date().toISOString()]);
    await this.#pool.query('UPDATE api_keys SET revoked_at = NULL, scope = $1 WHERE id = $2 AND (revoked_at IS NOT NULL OR scope <> $1)', [scope, id]);
    await this.#reload();
    return id;
  }

  verify(key: string): StoredKey | null {
    const k = this.#active.get(keyId(key));
    return k && matches(key, k.hash) ? k : null;
  }

  async revoke(id: string): Promise<boolean> {
    const r = await this.#pool.query('UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [new Date().toISOString(), id]);
    await this.#reload();
    return (r.rowCount ?? 0) > 0;
  }

  async list(): Promise<Omit<StoredKey, 'hash'>[]> {
    const { rows } = await this.#pool.query<Row>('SELECT * FROM api_keys ORDER BY created_at');
    return rows.map((r) => ({ id: r.id, name: r.name, scope: r.scope, createdAt: r.created_at, revokedAt: r.revoked_at }));
  }

  async activeCount(): Promise<number> {
    return (await this.#pool.query<{ n: number }>('SELECT count(*)::int AS n FROM api_keys WHERE revoked_at IS NULL')).rows[0].n;
  }

  async close(): Promise<void> {
    clearInterval(this.#poll);
    await this.#stopListening?.();
    await this.#pool.end();
  }

  async #insert(id: string, name: string, scope: Scope, hash: Buffer): Promise<void> {
    await this.#pool.query('INSERT INTO api_keys (id, name, scope, hash, created_at) VALUES ($1, $2, $3, $4, $5)',
      [id, name, scope, hash, new Date().toISOString()]);
    await this.#reload();
  }

  async #reload(): Promise<void> {
    const { rows } = await this.#pool.query<Row>('SELECT * FROM api_keys WHERE revoked_at IS NULL');
    this.#active = new Map(rows.map((r) => [r.id, toKey(r)]));
  }

  #refresh(log: (msg: string) => void): void {
    // On failure the previous set stays in force until the next wake-up or poll.
    this.#reload().catch((err) => log(`api keys: reload failed: ${String(err)}`));
  }
}
