// Operational routes: a health check backed by an inference self-test, metrics, and the status of model and runtime.
import type { HealthCheck } from '../../services/health.ts';
import { answer, route, type RouteDef } from '../route.ts';

export interface SystemRouteDeps {
  health: HealthCheck;
  metrics: { render(): Promise<string> };
  status: () => Record<string, unknown>;
}

export const systemRoutes = (deps: SystemRouteDeps): RouteDef[] => [
  // The latest background self-test at once (so it answers under full load), or a new one with ?fresh=true.
  route<{ fresh?: boolean }>({
    method: 'GET', path: '/healthz', access: 'loopback',
    schema: {
      querystring: {
        type: 'object', additionalProperties: false,
        properties: { fresh: { type: 'boolean', description: 'run a self-test now and report it (waits behind queued inference)' } },
      },
    },
    handler: async ({ query }) => {
      const report = query.fresh ? await deps.health.refresh() : deps.health.report();
      return answer(report.ok ? 200 : 503, { status: report.ok ? 'ok' : 'failing', ...report });
    },
  }),
  route({
    method: 'GET', path: '/metrics', access: 'loopback',
    handler: async () => answer(200, await deps.metrics.render(), 'text/plain; version=0.0.4; charset=utf-8'),
  }),
  route({ method: 'GET', path: '/v1/status', access: 'recognize', handler: async () => deps.status() }),
];
