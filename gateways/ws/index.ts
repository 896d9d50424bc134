/** The WebSocket gateway's public surface. */
export { attachWebSocket, WsGateway, type WsAttachment, type WsOptions, type WsStats } from './server.js';
export { startOutgoing, type OutgoingRunner, type OutgoingOptions } from './outgoing.js';
