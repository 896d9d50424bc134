/** Unauthenticated operations endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document. */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { GatewayDeps, GatewayHealth } from '../../types.js';

const tags = ['operations'];
const security: Array<Record<string, string[]>> = []; // OpenAPI: no credentials needed
const config = { public: true };

/** Registers /healthz, /readyz, /metrics and /v1/openapi.json. `health` reports this gateway's state. */
export function opsRoutes(deps: GatewayDeps, health: () => GatewayHealth): FastifyPluginAsyncTypebox {
  const { metrics } = deps;
  return async (app) => {
    app.get('/healthz', {
      config, schema: { tags, security, summary: 'Liveness: 200 while the process serves', response: { 200: Type.Object({ status: Type.Literal('ok') }) } },
    }, async () => ({ status: 'ok' as const }));

    app.get('/readyz', {
      config, schema: { tags, security, summary: 'Readiness: 200 when the backbone is ready and the gateway is not draining, else 503' },
    }, async (_req, reply) => {
      const h = health();
      return reply.code(h.ready ? 200 : 503).send({ status: h.ready ? 'ready' : 'not_ready', ...h.detail });
    });

    app.get('/metrics', { config, schema: { tags, security, summary: 'Prometheus metrics (text format)' } }, async (_req, reply) => {
      const text = await metrics.registry.metrics();
      return reply.header('content-type', metrics.registry.contentType).send(text);
    });

    app.get('/v1/openapi.json', { config, schema: { tags, security, summary: 'This API as an OpenAPI 3 document' } }, async () => app.swagger());
  };
}
