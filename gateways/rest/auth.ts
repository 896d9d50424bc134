/**
 * The onRequest hook of every non-public route: refuse intake while draining, then authenticate.
 * Runs before the body is read, so an unauthenticated or late client never costs us a body parse.
 * Public routes (health, readiness, metrics, OpenAPI) have no such hook, so /readyz keeps answering
 * while draining: that is how a balancer learns it.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SbError } from '../../broker/errors.js';
import type { Socket } from 'node:net';
import type { AuthSession, Principal, Security, Action } from '../../security/types.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on every non-public route. */
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** No authentication (health, readiness, metrics, OpenAPI). */
    public?: boolean;
  }
}

/** Builds the onRequest hook of every non-public route. `draining` is read per request so stop() takes effect at once. */
export function createAuthHook(security: Security, draining: () => boolean) {
  return async function onRequest(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (draining()) {
      // Tell keep-alive clients to reconnect (to another replica) rather than reuse this socket.
      reply.header('connection', 'close');
      throw new SbError('SB_ERR_SHUTTING_DOWN', 'this gateway is shutting down; retry on another replica');
    }
    // One memo per keep-alive connection: its repeated header skips re-verification (AuthSession).
    const socket = req.raw.socket as Socket & { [kAuthSession]?: AuthSession };
    const session = (socket[kAuthSession] ??= {});
    req.principal = await security.authenticate(req.headers.authorization, session);
  };
}

const kAuthSession = Symbol('switchboard.authSession');

/** The authenticated principal of a request (the hook guarantees it on non-public routes). */
export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new SbError('SB_ERR_UNAUTHENTICATED', 'authentication required');
  return req.principal;
}

/** Asserts `action` on `resource` for the request's principal; returns the principal. */
export function authorize(security: Security, req: FastifyRequest, action: Action, resource?: string): Principal {
  const p = principalOf(req);
  security.assert(p, action, resource);
  return p;
}
