// Request guards: API-key authentication by route scope, CORS from an allow-list, and the work queue bound.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../errors.ts';
import { allows, presentedKey, type Access, type StoredKey } from '../security/keys.ts';

export interface KeyVerifier {
  verify(key: string): StoredKey | null;
}

export interface GuardOptions {
  keys: KeyVerifier;
  corsOrigins: readonly string[];
  /** Image-processing requests admitted at once; the next one gets 429. */
  maxInFlight: number;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route; routes without it need an admin key (secure by default). */
    access?: Access;
    /** The route runs detection/embedding and counts against the in-flight bound. */
    heavy?: boolean;
  }
  interface FastifyRequest {
    apiKey?: StoredKey;
  }
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

function isLoopback(req: FastifyRequest): boolean {
  return LOOPBACK.has(req.socket.remoteAddress ?? '');
}

export function registerGuards(app: FastifyInstance, opts: GuardOptions): void {
  const origins = new Set(opts.corsOrigins);
  let inFlight = 0;

  app.addHook('onRequest', async (req, reply) => {
    const origin = req.headers.origin;
    if (origin && origins.has(origin)) {
      reply.header('access-control-allow-origin', origin);
      reply.header('vary', 'Origin');
      if (req.method === 'OPTIONS') {
        reply.header('access-control-allow-methods', 'GET, POST, PATCH, DELETE');
        reply.header('access-control-allow-headers', 'authorization, content-type, x-api-key, x-request-id');
        reply.header('access-control-max-age', '600');
        return reply.status(204).send();
      }
    }
    if (req.is404) return; // unknown routes answer 404 whoever asks
    const access = req.routeOptions.config.access ?? 'admin';
    if (access === 'open' || (access === 'loopback' && isLoopback(req))) return;
    const key = presentedKey(req.headers);
    if (!key) throw new ApiError('unauthorized', 'an API key is required: send "Authorization: Bearer <key>" or "X-API-Key: <key>"');
    const stored = opts.keys.verify(key);
    if (!stored) throw new ApiError('unauthorized', 'the API key is not valid (unknown or revoked)');
    const need = access === 'loopback' ? 'recognize' : access;
    if (!allows(stored.scope, need)) {
      throw new ApiError('forbidden', `this route needs a key with scope "${need}"; the key has scope "${stored.scope}"`);
    }
    req.apiKey = stored;
  });

  // Back-pressure: work beyond the bound is refused at once instead of queueing without limit.
  app.addHook('preHandler', async (req, reply) => {
    if (!req.routeOptions.config.heavy) return;
    if (inFlight >= opts.maxInFlight) {
      reply.header('retry-after', '1');
      throw new ApiError('rate_limited', `the server is busy (${inFlight} image requests in progress); retry shortly`);
    }
    inFlight++;
    let released = false;
    const release = () => { if (!released) { released = true; inFlight--; } };
    reply.raw.once('finish', release);
    reply.raw.once('close', release);
  });
}
