/**
 * Builds the Fastify instance: options (limits, no request logging), error mapping, the auth hook,
 * metrics, OpenAPI, and the route plugins. Lifecycle (listen, drain, close) lives in server.ts.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import type { Metrics } from '../../broker/metrics.js';
import type { GatewayDeps, GatewayHealth } from '../types.js';
import { SbError } from '../../broker/errors.js';
import { createAuthHook } from './auth.js';
import type { ChannelTable } from './channels.js';
import { clientErrorHandler, errorHandler, sendError } from './errors.js';
import { batchRoutes, rawPublishRoutes } from './routes/messages.js';
import { channelRoutes } from './routes/channels.js';
import { jobRoutes } from './routes/jobs.js';
import { opsRoutes } from './routes/ops.js';
import { subscriptionRoutes } from './routes/subscriptions.js';
import { topicRoutes } from './routes/topics.js';
import { userRoutes } from './routes/users.js';
import { winrmRoutes } from './routes/winrm.js';
import { sqlRoutes } from './routes/sql.js';
import { wsChannelRoutes } from './routes/ws-channels.js';
import { bridgeRoutes } from './routes/bridges.js';
import { wsOutgoingRoutes } from './routes/ws-outgoing.js';

/** What the app needs from the gateway that owns it. */
export interface AppState {
  draining(): boolean;
  health(): GatewayHealth;
  channels: ChannelTable;
}

type ResponseHook = (req: FastifyRequest, reply: FastifyReply, done: () => void) => void;

/** Counts and times every answer of one route, labelled with the route pattern (bounded cardinality). */
function metricsHook(metrics: Metrics, route: string, draining: () => boolean): ResponseHook {
  const { httpRequests, httpLatency } = metrics;
  return function onResponse(req, reply, done) {
    httpRequests.inc({ method: req.method, route, status: reply.statusCode });
    httpLatency.observe({ method: req.method, route }, reply.elapsedTime / 1000);
    // While draining, do not keep the client's socket for a next request.
    if (draining() && !req.raw.socket.destroyed) req.raw.socket.end();
    done();
  };
}

function toArray<T>(v: T | T[] | undefined): T[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** Creates the configured (not yet listening) Fastify app. */
export function buildApp(deps: GatewayDeps, state: AppState): FastifyInstance {
  const { http } = deps.config;
  const app = Fastify({
    logger: false, // request logging costs throughput; errors go to deps.logger in the error handler
    bodyLimit: http.bodyLimitBytes,
    requestTimeout: http.requestTimeoutMs,
    routerOptions: { maxParamLength: 1024 }, // topic names reach 200 characters; longer ones must reach validateTopicName
    return503OnClosing: false, // our onRequest hook answers SB_ERR_SHUTTING_DOWN instead
    clientErrorHandler,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false } },
  });
  app.decorateRequest('principal', null);
  // The management API speaks JSON only: a text/plain body must be a 415, not a string that fails the schema.
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler(errorHandler(deps.logger));
  app.setNotFoundHandler((req, reply) => sendError(reply, new SbError('SB_ERR_NOT_FOUND', `no route ${req.method} ${req.url.slice(0, 200)}`)));
  // Hooks are attached per route when it is registered, so nothing is looked up per request:
  // public routes get no auth hook, and each route's metrics closure knows its own pattern.
  const auth = createAuthHook(deps.security, state.draining);
  app.addHook('onRoute', (route) => {
    const onResponse = metricsHook(deps.metrics, route.url ?? route.path, state.draining);
    route.onResponse = [onResponse, ...toArray(route.onResponse)];
    if (route.config?.public !== true) route.onRequest = [auth, ...toArray(route.onRequest)];
  });
  void app.register(swagger, {
    openapi: {
      info: { title: 'Switchboard REST API', version: '1' },
      components: { securitySchemes: { basic: { type: 'http', scheme: 'basic' }, apiKey: { type: 'http', scheme: 'bearer' } } },
      security: [{ basic: [] }, { apiKey: [] }],
    },
  });
  void app.register(opsRoutes(deps, state.health));
  void app.register(topicRoutes(deps));
  void app.register(batchRoutes(deps));
  void app.register(subscriptionRoutes(deps));
  void app.register(channelRoutes(deps));
  void app.register(userRoutes(deps));
  void app.register(winrmRoutes(deps));
  void app.register(sqlRoutes(deps));
  void app.register(wsChannelRoutes(deps));
  void app.register(bridgeRoutes(deps));
  void app.register(wsOutgoingRoutes(deps));
  void app.register(jobRoutes(deps));
  void app.register(rawPublishRoutes(deps, state.channels));
  return app;
}
