// Operational routes: a health check that runs real inference, and the status of model and runtime.
import type { FastifyPluginAsync } from 'fastify';
import type { HealthCheck } from '../../services/health.ts';

export interface SystemRouteDeps {
  health: HealthCheck;
  metrics: { render(): Promise<string> };
  status: () => Record<string, unknown>;
}

export const systemRoutes = (deps: SystemRouteDeps): FastifyPluginAsync => async (app) => {
  app.get('/healthz', { config: { access: 'loopback' } }, async (_req, reply) => {
    try {
      const report = await deps.health.check();
      return reply.status(report.ok ? 200 : 503).send({ status: report.ok ? 'ok' : 'failing', ...report });
    } catch (e) {
      return reply.status(503).send({ status: 'failing', error: { code: 'unavailable', message: 'inference failed' } });
    }
  });

  app.get('/metrics', { config: { access: 'loopback' } }, async (_req, reply) =>
    reply.type('text/plain; version=0.0.4; charset=utf-8').send(await deps.metrics.render()));

  app.get('/v1/status', { config: { access: 'recognize' } }, async () => deps.status());
};
