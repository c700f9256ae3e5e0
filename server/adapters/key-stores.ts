// Chooses the API key store: PostgreSQL (shared by replicas) when the gallery is there, else <data>/keys.sqlite.
import { KeyStore, type ApiKeyStore } from './key-store.ts';
import { PgKeyStore } from './pg-key-store.ts';

/** `follow`: keep the in-memory keys refreshed from the database (a server); off for one-shot commands. */
export async function openKeyStore(where: { dataDir: string; databaseUrl: string | null }, follow: boolean, log?: (m: string) => void): Promise<ApiKeyStore> {
  if (where.databaseUrl) return PgKeyStore.open(where.databaseUrl, { follow, log });
  return new KeyStore(where.dataDir);
}
