/** The public surface of `workers/`: the runtime, its config, plugin loading and the handler contract. */
export { createWorker, type Worker, type WorkerOptions } from './runtime.js';
export { resolveWorkerConfig, loadWorkerConfigFile } from './config.js';
export { loadHandlerModules, mergeHandlers } from './plugins.js';
export { builtinHandlers } from './builtin.js';
export { JobFailure, abortedFailure, type JobHandler, type JobContext, type JobStreamSink } from './types.js';
