// Request bodies: JSON only as application/json, read with raw-body (size limit, Content-Length checks) and parsed by
// secure-json-parse; multipart/form-data is left to the route that streams it; any other body is refused (415).
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import getRawBody from 'raw-body';
import sjson from 'secure-json-parse';
import { ApiError } from '../errors.ts';

const JSON_BODY = Symbol('irface.jsonBody');

/** Whether the request's body was read as JSON (req.body then holds the parsed value). */
export function isJsonBody(req: Request): boolean {
  return (req as Request & { [JSON_BODY]?: boolean })[JSON_BODY] === true;
}

/** Body errors of raw-body (by its `type`) as API errors. */
function readError(e: unknown): unknown {
  const type = (e as { type?: string }).type;
  if (type === 'entity.too.large') return new ApiError('payload_too_large', 'the request body is larger than the server accepts');
  if (type === 'request.aborted' || type === 'request.size.invalid') {
    return new ApiError('invalid_request', 'the request body does not match its Content-Length');
  }
  if (type === 'encoding.unsupported') return new ApiError('unsupported_media_type', 'send multipart/form-data or application/json');
  return e;
}

/**
 * Reads a JSON body into req.body before validation. GET and HEAD bodies are ignored; a DELETE or a body-less POST
 * or PATCH may omit the content type. JSON with a `__proto__` or `constructor.prototype` key is refused, so a body
 * can never reach an object's prototype.
 */
export function readJsonBody(limit: number): RequestHandler {
  return async (req: Request, _res: Response, next: NextFunction) => {
    if (req.method === 'GET' || req.method === 'HEAD') return next();
    const length = req.headers['content-length'];
    const hasBytes = req.headers['transfer-encoding'] !== undefined || Number(length ?? 0) > 0;
    if (req.headers['content-type'] === undefined || (req.method === 'DELETE' && !hasBytes)) {
      if (hasBytes) throw new ApiError('unsupported_media_type', 'send multipart/form-data or application/json');
      return next();
    }
    if (req.is('multipart/form-data')) return next();
    if (!req.is('application/json')) throw new ApiError('unsupported_media_type', 'send multipart/form-data or application/json');
    let raw: Buffer;
    try {
      raw = await getRawBody(req, { length, limit });
    } catch (e) {
      throw readError(e);
    }
    if (raw.length === 0) throw new ApiError('invalid_request', 'the JSON body is empty');
    try {
      req.body = sjson.parse(raw, undefined, { protoAction: 'error', constructorAction: 'error' });
    } catch (e) {
      throw new ApiError('invalid_request', `the body is not valid JSON (${e instanceof Error ? e.message : String(e)})`);
    }
    (req as Request & { [JSON_BODY]?: boolean })[JSON_BODY] = true;
    next();
  };
}
