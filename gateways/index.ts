export type { Gateway, GatewayDeps, GatewayFactory, GatewayHealth } from './types.js';
export { gatewayRegistry } from './registry.js';
export { createRestGateway, RestGateway, DEFAULT_STOP_DEADLINE_MS } from './rest/server.js';
export { toHttpError } from './rest/errors.js';
export { RESERVED_PATHS } from './rest/channels.js';
export { attachWebSocket, WsGateway, type WsOptions, type WsAttachment, type WsStats } from './ws/index.js';
