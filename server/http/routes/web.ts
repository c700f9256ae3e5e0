// Public pages: the browser client (server/web) at / and the rendered API reference at /docs.
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { resolve } from 'node:path';
import fastifyStatic from '@fastify/static';
import swaggerUi from '@fastify/swagger-ui';
import { PROJECT_ROOT } from '../../config.ts';

export const WEB_DIR = resolve(PROJECT_ROOT, 'server/web');

// The client only talks to this origin, draws photos the user picked (blob:/data: images) and may show a
// camera stream; nothing else may load, and the page may not be framed.
const WEB_CSP = [
  "default-src 'self'", "img-src 'self' blob: data:", "media-src 'self' blob:", "object-src 'none'",
  "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
].join('; ');

function webHeaders(reply: FastifyReply): void {
  reply.header('content-security-policy', WEB_CSP);
  reply.header('x-content-type-options', 'nosniff');
  reply.header('referrer-policy', 'no-referrer');
}

/**
 * Both plugins are registered inside this encapsulated plugin, so the onRoute hook below marks their routes
 * (and only theirs) open: the pages hold no data, and every API call they make carries the user's key.
 */
export const webRoutes = (): FastifyPluginAsync => async (app) => {
  app.addHook('onRoute', (route) => {
    route.config = { ...route.config, access: 'open' };
  });
  // wildcard: false gives one route per file present at start-up, so other paths keep the API's 404.
  await app.register(fastifyStatic, {
    root: WEB_DIR, prefix: '/', wildcard: false, decorateReply: false, index: ['index.html'], setHeaders: webHeaders,
  });
  // Swagger UI's files come from the installed package; it renders the same document as /openapi.json
  // (served to it at /docs/json), with the online validator off so the page makes no outside requests.
  await app.register(swaggerUi, { routePrefix: '/docs', validatorUrl: false, uiConfig: { deepLinking: true } });
};
