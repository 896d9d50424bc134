/**
 * The public surface of `cli/` for tests, benchmarks and embedders. The `switchboard` bin is main.ts,
 * which imports the files directly so `--help`, `pub` and `sub` start without loading the server side.
 */
export { RestClient, type RestClientOptions, type PublishOptions } from './client.js';
export { SERVER_ENV, CLIENT_ENV, WORKER_ENV, clientEnv, type ClientEnv } from './env-vars.js';
export { processConfigFromEnv } from './env.js';
export { startDev, type DevOptions, type DevProcess } from './dev.js';
export { ensureNats, answers, natsHostPort, findNatsServer, type AutoNats, type AutoNatsOptions } from './nats-autostart.js';
export { Lifecycle, type StepFailure } from './lifecycle.js';
export { runPub, runSub, readAll, intOption, type SubArgs } from './pubsub.js';
export { runJobCommand, type JobArgs } from './jobs.js';
export { commandHelp, topHelp, envHelp } from './help.js';
