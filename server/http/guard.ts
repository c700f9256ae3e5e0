// Request guards: API-key authentication by route scope, CORS from an allow-list, and the work queue bound.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ApiError } from '../errors.ts';
import { allows, presentedKey, type Access, type StoredKey } from '../security/keys.ts';

export interface KeyVerifier {
  verify(key: string): StoredKey | null;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/**
 * CORS for allow-listed origins on every path; a preflight from such an origin is answered 204 here. Any other
 * OPTIONS request is an unknown route (the API has no OPTIONS routes).
 */
export function cors(corsOrigins: readonly string[]): RequestHandler {
  const origins = new Set(corsOrigins);
  return (req: Request, res: Response, next: NextFunction) => {
    const origin = req.headers.origin;
    if (origin && origins.has(origin)) {
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('vary', 'Origin');
      if (req.method === 'OPTIONS') {
        res.setHeader('access-control-allow-methods', 'GET, POST, PATCH, DELETE');
        res.setHeader('access-control-allow-headers', 'authorization, content-type, x-api-key, x-request-id');
        res.setHeader('access-control-max-age', '600');
        res.status(204).end();
        return;
      }
    }
    if (req.method === 'OPTIONS') throw new ApiError('not_found', `no route OPTIONS ${req.originalUrl.split('?')[0]}`);
    next();
  };
}

/** The key a route needs, checked; open routes (and loopback ones called from loopback) need none. */
export function authorize(access: Access, keys: KeyVerifier): RequestHandler {
  return (req: Request, _res: Response, next: NextFunction) => {
    if (access === 'open' || (access === 'loopback' && LOOPBACK.has(req.socket.remoteAddress ?? ''))) return next();
    const key = presentedKey(req.headers);
    if (!key) throw new ApiError('unauthorized', 'an API key is required: send "Authorization: Bearer <key>" or "X-API-Key: <key>"');
    const stored = keys.verify(key);
    if (!stored) throw new ApiError('unauthorized', 'the API key is not valid (unknown or revoked)');
    const need = access === 'loopback' ? 'recognize' : access;
    if (!allows(stored.scope, need)) {
      throw new ApiError('forbidden', `this route needs a key with scope "${need}"; the key has scope "${stored.scope}"`);
    }
    next();
  };
}

/**
 * Back-pressure for image work: at most `maxInFlight` such requests at once; the next one gets 429 with Retry-After
 * at once instead of queueing without limit. One counter is shared by every heavy route.
 */
export function inFlightBound(maxInFlight: number): RequestHandler {
  let inFlight = 0;
  return (_req: Request, res: Response, next: NextFunction) => {
    if (inFlight >= maxInFlight) {
      res.setHeader('retry-after', '1');
      throw new ApiError('rate_limited', `the server is busy (${inFlight} image requests in progress); retry shortly`);
    }
    inFlight++;
    let released = false;
    const release = () => { if (!released) { released = true; inFlight--; } };
    res.once('finish', release);
    res.once('close', release);
    next();
  };
}
