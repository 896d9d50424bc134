/**
 * Handlers of bench/jobs.ts, loaded by `switchboard worker` as a plugin module
 * (SB_WORKER_HANDLERS=bench/jobs-handlers.ts): `bench.noop` answers `{}` at once, `bench.io50` awaits
 * 50 ms (an I/O-bound job: a remote call that keeps no CPU busy) and answers `{}`.
 */
import { Type } from '@sinclair/typebox';
import type { JobHandler } from '../workers/types.js';

const Empty = Type.Object({}, { additionalProperties: true });

const noop: JobHandler = {
  type: 'bench.noop', inputSchema: Empty, outputSchema: Empty,
  async handle() {
    return {};
  },
};

const io50: JobHandler = {
  type: 'bench.io50', inputSchema: Empty, outputSchema: Empty,
  async handle() {
    await new Promise((resolve) => setTimeout(resolve, 50));
    return {};
  },
};

export default [noop, io50];
