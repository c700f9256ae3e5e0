// Builds the express application from the route table: request ids, logs, metrics, guards, validation, the one error handler.
import express, { type NextFunction, type Request, type Response } from 'express';
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { pinoHttp } from 'pino-http';
import { randomUUID } from 'node:crypto';
import type { Config } from '../config.ts';
import type { Metrics } from '../observability/metrics.ts';
import { pipelineRoutes, type PipelineRouteDeps } from './routes/pipeline.ts';
import { systemRoutes, type SystemRouteDeps } from './routes/system.ts';
import { identityRoutes, type IdentityRouteDeps } from './routes/identities.ts';
import { recognitionRoutes, type RecognitionRouteDeps } from './routes/recognition.ts';
import { webRoutes } from './routes/web.ts';
import { openApiDocument } from './openapi.ts';
import { authorize, cors, inFlightBound, type KeyVerifier } from './guard.ts';
import { isJsonBody, readJsonBody } from './body.ts';
import { compileValidator, type Validated } from './validate.ts';
import { checkPath, errorHandler, notFound } from './error-handler.ts';
import { Answer, route, type RouteDef } from './route.ts';
import { ApiServer } from './server.ts';

export type AppDeps = PipelineRouteDeps & SystemRouteDeps & IdentityRouteDeps & RecognitionRouteDeps & {
  config: Config;
  version: string;
  keys: KeyVerifier;
  metrics: Metrics;
  /** pino options (e.g. `{ level: 'info' }`) and where to write (stdout unless `stream` is given), or false for no logs. */
  logger?: false | (LoggerOptions & { stream?: DestinationStream });
};

/** Polled by health checks and scrapers every few seconds: their request logs are debug, not info. */
const QUIET_PATHS = new Set(['/healthz', '/metrics']);

/** The API's routes: the one table that both routes requests and generates the OpenAPI document. */
export function routeTable(deps: AppDeps): RouteDef[] {
  return [...systemRoutes(deps), ...pipelineRoutes(deps), ...identityRoutes(deps), ...recognitionRoutes(deps)];
}

function send(res: Response, out: unknown): void {
  if (!(out instanceof Answer)) {
    res.json(out);
    return;
  }
  res.status(out.status);
  if (out.body === undefined) res.end();
  else if (out.type) res.type(out.type).send(out.body);
  else res.json(out.body);
}

/** Request ids (X-Request-Id honoured when a proxy sets one, else a UUID), echoed on every answer; timing for metrics. */
function requestIds(metrics: Metrics) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && given !== '' ? given : randomUUID();
    (req as Request & { id: string }).id = id;
    res.setHeader('x-request-id', id);
    const start = process.hrtime.bigint();
    res.once('finish', () => {
      // The template of the matched route, a served page's own path (files of server/web), or "unknown".
      const label = res.locals.route ?? (req.route ? req.route.path : res.locals.page ? req.path : 'unknown');
      metrics.observe(String(label), req.method, res.statusCode, Number(process.hrtime.bigint() - start) / 1e9);
    });
    next();
  };
}

export function buildApp(deps: AppDeps): ApiServer {
  const { config } = deps;
  const table = routeTable(deps);
  const document = openApiDocument(table, deps.version);
  table.push(route({ method: 'GET', path: '/openapi.json', access: 'open', hide: true, handler: async () => document }));

  const { stream, ...logOptions } = deps.logger || { enabled: false };
  const log: Logger = stream ? pino(logOptions, stream) : pino(logOptions);
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('strict routing', true); // /v1/status/ is not /v1/status
  app.set('case sensitive routing', true);
  const server = new ApiServer(app, log, { requestTimeoutMs: config.requestTimeoutMs });

  app.use(requestIds(deps.metrics));
  if (deps.logger) {
    app.use(pinoHttp({
      logger: log,
      genReqId: (req) => (req as unknown as { id: string }).id,
      // What a request line shows: never its headers, which carry the API key.
      serializers: {
        req: (req: { id: string; method: string; url: string; remoteAddress?: string }) =>
          ({ id: req.id, method: req.method, url: req.url, remoteAddress: req.remoteAddress }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      customLogLevel: (req, res, err) => (err || res.statusCode >= 500 ? 'error'
        : QUIET_PATHS.has((req.url ?? '').split('?')[0]) ? 'debug' : 'info'),
    }));
  }
  app.use(server.admit);
  app.use(cors(config.corsOrigins));
  app.use(checkPath);

  const jsonBody = readJsonBody(config.maxRequestBytes);
  const bounded = inFlightBound(config.maxInFlight);
  for (const def of table) {
    const validate = compileValidator(def);
    app[def.method.toLowerCase() as 'get' | 'post' | 'patch' | 'delete'](def.path,
      (_req: Request, res: Response, next: NextFunction) => { res.locals.route = def.path; next(); },
      authorize(def.access ?? 'admin', deps.keys),
      jsonBody,
      (req: Request, res: Response, next: NextFunction) => {
        res.locals.validated = validate(req.params, req.query as object, req.body, isJsonBody(req));
        next();
      },
      ...(def.heavy ? [bounded] : []),
      async (req: Request, res: Response) => {
        const v = res.locals.validated as Validated;
        send(res, await def.handler({ params: v.params, query: v.query, body: v.body, req }));
      });
  }
  app.use(webRoutes(() => document));
  app.use(notFound);
  app.use(errorHandler(log));
  return server;
}
