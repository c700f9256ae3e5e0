// `irface keys create|list|revoke`: API keys, stored as hashes in <data>/keys.sqlite or in PostgreSQL with the
// gallery (safe while the server runs; with PostgreSQL every replica sees the change).
import { parseConfig } from '../config.ts';
import { openKeyStore } from '../adapters/key-stores.ts';
import { SCOPES, type Scope } from '../security/keys.ts';

export async function keysCommand(action: string | undefined, arg: string | undefined, opts: { scope?: string; name?: string }) {
  const store = await openKeyStore(parseConfig(), false);
  try {
    switch (action) {
      case 'create': {
        const scope = (opts.scope ?? '') as Scope;
        if (!SCOPES.includes(scope)) throw new Error(`--scope must be one of ${SCOPES.join(', ')}`);
        const k = await store.create(scope, opts.name ?? 'created with irface keys create');
        return { ...k, note: 'the key is shown only now; only its hash is stored' };
      }
      case 'list':
        return await store.list();
      case 'revoke':
        if (!arg) throw new Error('keys revoke needs a key id (see irface keys list)');
        if (!(await store.revoke(arg))) throw new Error(`no active key with id "${arg}"`);
        return { revoked: arg };
      default:
        throw new Error('keys takes create --scope admin|recognize [--name N], list, or revoke <id>');
    }
  } finally {
    await store.close();
  }
}
