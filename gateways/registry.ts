/** Every gateway kind and its factory (STYLE §1). The CLI starts the kinds the config names. */
import type { GatewayFactory } from './types.js';
import { createRestGateway } from './rest/server.js';

/** kind → factory. */
export const gatewayRegistry: Readonly<Record<string, GatewayFactory>> = Object.freeze({
  rest: createRestGateway,
});
