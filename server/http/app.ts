// Builds the Fastify application: parsers, limits, the one error handler and the routes.
import Fastify, { type FastifyInstance, type FastifyError, type FastifyReply } from 'fastify';
import multipart from '@fastify/multipart';
import { ApiError, type ErrorCode } from '../errors.ts';
import type { Config } from '../config.ts';
import { pipelineRoutes, type PipelineRouteDeps } from './routes/pipeline.ts';
import { systemRoutes, type SystemRouteDeps } from './routes/system.ts';
import { identityRoutes, type IdentityRouteDeps } from './routes/identities.ts';
import { recognitionRoutes, type RecognitionRouteDeps } from './routes/recognition.ts';
import { webRoutes } from './routes/web.ts';
import { registerOpenApi } from './openapi.ts';
import { GalleryError } from '../../gallery/errors.ts';
import { registerGuards, type KeyVerifier } from './guard.ts';
import type { Metrics } from '../observability/metrics.ts';
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';

export type AppDeps = PipelineRouteDeps & SystemRouteDeps & IdentityRouteDeps & RecognitionRouteDeps & {
  config: Config;
  version: string;
  keys: KeyVerifier;
  metrics: Metrics;
  logger?: boolean | object;
};

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

/** Maps framework errors to stable API codes; anything unexpected becomes a generic 500. */
function toApiError(err: FastifyError & { code?: string }): ApiError | null {
  if (err instanceof ApiError) return err;
  if (err instanceof GalleryError) {
    const code = GALLERY_TO_API[err.code];
    return code ? new ApiError(code, err.message, err.details) : null;
  }
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError('payload_too_large', 'the request body is larger than the server accepts');
    case 'FST_REQ_FILE_TOO_LARGE':
      return new ApiError('image_too_large', 'an uploaded file is larger than the per-image limit');
    case 'FST_FILES_LIMIT':
    case 'FST_PARTS_LIMIT':
      return new ApiError('too_many_images', 'the request has more files or parts than allowed');
    case 'FST_FIELDS_LIMIT':
      return new ApiError('invalid_request', 'the request has more form fields than allowed');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new ApiError('unsupported_media_type', 'send multipart/form-data or application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ApiError('invalid_request', 'the JSON body is empty');
  }
  if (err.validation) {
    return new ApiError('invalid_request', `${err.validationContext ?? 'request'} ${err.validation[0]?.instancePath ?? ''} ${err.validation[0]?.message ?? 'is invalid'}`.replace(/\s+/g, ' ').trim());
  }
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    if (err.statusCode === 413) return new ApiError('payload_too_large', 'the request body is larger than the server accepts');
    if (err.statusCode === 415) return new ApiError('unsupported_media_type', 'send multipart/form-data or application/json');
    return new ApiError('invalid_request', err.message);
  }
  return null;
}

/** Malformed HTTP (Node's parser: 400; headers too large: 431; body too slow: 408), answered in the API's error shape. */
function clientError(err: Error & { code?: string }, socket: Socket): void {
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

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const app = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: config.maxRequestBytes,
    requestTimeout: config.requestTimeoutMs,
    // Request ids: taken from X-Request-Id when a proxy sets one, echoed back, and in every log line.
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, allErrors: false } },
    // Errors raised before routing or by the HTTP parser bypass the error handler; these keep the API's shape.
    frameworkErrors: (err, _req, reply) => {
      const what = err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'a path segment is longer than the server accepts' : 'the URL is not valid (bad percent-encoding)';
      void (reply as FastifyReply).status(400).send(new ApiError('invalid_request', what).toBody());
    },
    clientErrorHandler: clientError,
  });
  // Only multipart and JSON bodies are accepted; Fastify's built-in text/plain parser would let text through.
  app.removeContentTypeParser('text/plain');
  await app.register(multipart, {
    limits: {
      fileSize: config.maxImageBytes,
      files: config.maxImagesPerRequest,
      fields: 20,
      fieldSize: 64 * 1024,
      parts: config.maxImagesPerRequest + 20,
    },
  });
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const api = toApiError(err);
    if (api) return reply.status(api.status).send(api.toBody());
    req.log.error({ err }, 'unhandled error');
    return reply.status(500).send(new ApiError('internal_error', 'internal error; see the server log').toBody());
  });
  app.setNotFoundHandler((req, reply) => {
    reply.status(404).send(new ApiError('not_found', `no route ${req.method} ${req.url.split('?')[0]}`).toBody());
  });
  app.addHook('onSend', async (req, reply) => { reply.header('x-request-id', req.id); });
  registerGuards(app, { keys: deps.keys, corsOrigins: config.corsOrigins, maxInFlight: config.maxInFlight });
  deps.metrics.instrument(app);
  await registerOpenApi(app, deps.version);
  await app.register(systemRoutes(deps));
  await app.register(pipelineRoutes(deps));
  await app.register(identityRoutes(deps));
  await app.register(recognitionRoutes(deps));
  await app.register(webRoutes());
  return app;
}
