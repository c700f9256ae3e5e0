// Operational routes: a health check backed by an inference self-test, metrics, and the status of model and runtime.
import type { FastifyPluginAsync } from 'fastify';
import type { HealthCheck } from '../../services/health.ts';

export interface SystemRouteDeps {
  health: HealthCheck;
  metrics: { render(): Promise<string> };
  status: () => Record<string, unknown>;
}

export const systemRoutes = (deps: SystemRouteDeps): FastifyPluginAsync => async (app) => {
  // The latest background self-test at once (so it answers under full load), or a new one with ?fresh=true.
  app.get<{ Querystring: { fresh?: boolean } }>('/healthz', {
    config: { access: 'loopback' },
    schema: {
      querystring: {
        type: 'object', additionalProperties: false,
        properties: { fresh: { type: 'boolean', description: 'run a self-test now and report it (waits behind queued inference)' } },
      },
    },
  }, async (req, reply) => {
    const report = req.query.fresh ? await deps.health.refresh() : deps.health.report();
    return reply.status(report.ok ? 200 : 503).send({ status: report.ok ? 'ok' : 'failing', ...report });
  });

  app.get('/metrics', { config: { access: 'loopback' } }, async (_req, reply) =>
    reply.type('text/plain; version=0.0.4; charset=utf-8').send(await deps.metrics.render()));

  app.get('/v1/status', { config: { access: 'recognize' } }, async () => deps.status());
};
