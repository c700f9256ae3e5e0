// Pure API-key rules: key format, hashing, scopes. Keys are random; only their sha256 is ever stored.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const SCOPES = ['admin', 'recognize'] as const;
export type Scope = (typeof SCOPES)[number];

/** What a route needs: a key of a scope, or nothing (open), or nothing when called from loopback. */
export type Access = Scope | 'open' | 'loopback';

export interface StoredKey {
  id: string;
  name: string;
  scope: Scope;
  hash: Buffer;
  createdAt: string;
  revokedAt: string | null;
}

/** admin may do everything recognize may do. */
export function allows(have: Scope, need: Scope): boolean {
  return have === 'admin' || have === need;
}

export function hashKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/** A new key `irf_<id>_<secret>`: the id finds the stored hash, the 192-bit secret is the credential. */
export function generateKey(): { id: string; key: string } {
  const id = randomBytes(6).toString('hex');
  return { id, key: `irf_${id}_${randomBytes(24).toString('base64url')}` };
}

/**
 * The id a presented key is stored under: parsed from generated keys; derived from the hash for keys an
 * operator chose (IRFACE_ADMIN_KEY), which therefore need not follow the format.
 */
export function keyId(key: string): string {
  const m = /^irf_([0-9a-f]{12})_[A-Za-z0-9_-]{20,}$/.exec(key);
  return m ? m[1] : `env${hashKey(key).toString('hex').slice(0, 9)}`;
}

/** Constant-time comparison of a presented key with a stored hash. */
export function matches(key: string, stored: Buffer): boolean {
  const h = hashKey(key);
  return h.length === stored.length && timingSafeEqual(h, stored);
}

/** Reads a key from `Authorization: Bearer <key>` or `X-API-Key: <key>`. */
export function presentedKey(headers: Record<string, string | string[] | undefined>): string | null {
  const auth = headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)$/i.exec(auth.trim());
    if (m) return m[1];
  }
  const x = headers['x-api-key'];
  return typeof x === 'string' && x.length > 0 ? x.trim() : null;
}
