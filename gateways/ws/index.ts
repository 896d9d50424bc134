/** The WebSocket gateway's public surface. */
export { attachWebSocket, WsGateway, type WsAttachment, type WsOptions, type WsStats } from './server.js';
