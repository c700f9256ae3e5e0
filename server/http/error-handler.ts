// The one error handler: every failure, from the HTTP parser to a service, answered as {"error": {"code", "message"}}.
import type { NextFunction, Request, Response } from 'express';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { ApiError, type ErrorCode } from '../errors.ts';
import { GalleryError } from '../../gallery/errors.ts';

/** Gallery codes the API exposes as they are; the others are server-side conditions. */
const GALLERY_TO_API: Partial<Record<string, ErrorCode>> = {
  identity_not_found: 'identity_not_found',
  face_not_found: 'face_not_found',
  external_id_conflict: 'external_id_conflict',
  invalid_cursor: 'invalid_cursor',
  invalid_argument: 'invalid_request',
  invalid_embedding: 'invalid_request',
  dimension_mismatch: 'dimension_mismatch',
};

/** Maps an error to its stable API code; anything unexpected (a bug, a failed disk) is null and becomes a 500. */
export function toApiError(err: unknown): ApiError | null {
  if (err instanceof ApiError) return err;
  if (err instanceof GalleryError) {
    const code = GALLERY_TO_API[err.code];
    return code ? new ApiError(code, err.message, err.details) : null;
  }
  // The router's parameter decoding (a malformed %-sequence) is the only other error that carries a client status.
  const status = (err as { status?: unknown }).status;
  if (err instanceof URIError || status === 400) return new ApiError('invalid_request', 'the URL is not valid (bad percent-encoding)');
  return null;
}

/** Unknown routes: 404 in the API's shape, naming the method and path (never the query string). */
export function notFound(req: Request): never {
  throw new ApiError('not_found', `no route ${req.method} ${req.originalUrl.split('?')[0]}`);
}

/** Express error middleware (four arguments): known errors get their code, the rest a logged, generic 500. */
export function errorHandler(log: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    let api = toApiError(err);
    if (!api) {
      ((req as Request & { log?: Logger }).log ?? log).error({ err }, 'unhandled error');
      api = new ApiError('internal_error', 'internal error; see the server log');
    }
    if (res.headersSent) {
      res.destroy(); // a streamed answer cannot turn into an error answer; cut it so the client sees the failure
      return;
    }
    res.status(api.status).json(api.toBody());
  };
}

/** Bad percent-encoding anywhere in the path is refused before routing (the router would only notice in parameters). */
export function checkPath(req: Request, _res: Response, next: NextFunction): void {
  try {
    decodeURIComponent(req.path);
  } catch {
    throw new ApiError('invalid_request', 'the URL is not valid (bad percent-encoding)');
  }
  next();
}

/** Malformed HTTP (Node's parser: 400; headers too large: 431; body too slow: 408), answered in the API's error shape. */
export function clientError(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, message] = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'the request took too long to arrive']
    : err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'the request headers are larger than the server accepts']
      : [400, 'the request is not valid HTTP'];
  const body = JSON.stringify(new ApiError('invalid_request', message).toBody());
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(err);
}
