/** Every gateway kind and its factory (STYLE §1). The CLI starts the kinds the config names. */
import type { GatewayFactory } from './types.js';
import { createRestGateway } from './rest/server.js';
import { WsGateway } from './ws/index.js';
import { createBridgeRunner } from './bridges/runner.js';

/** kind → factory. */
export const gatewayRegistry: Readonly<Record<string, GatewayFactory>> = Object.freeze({
  rest: createRestGateway,
  // The WebSocket gateway on its own port; `rest` serves /ws/{channel} on its port as well.
  ws: (deps) => new WsGateway(deps),
  // Runs the bridge definitions of the config store (AMQP, Kafka) in this process (docs/bridges.md).
  bridges: (deps) => createBridgeRunner(deps),
});
