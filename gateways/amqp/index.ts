/** The AMQP bridges (docs/bridges.md): `amqp-in` (queue → topic) and `amqp-out` (subscription → exchange). */
export { amqpInKind, AmqpInBridge, type AmqpInStored } from './amqp-in.js';
export { amqpOutKind, AmqpOutBridge, type AmqpOutStored } from './amqp-out.js';
export { AMQP_IN_HEADERS } from './mapping.js';
