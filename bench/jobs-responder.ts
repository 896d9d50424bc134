/**
 * Baseline A of bench/jobs.ts: a raw core-NATS responder (no JetStream, no envelope, no records) that
 * answers every request on BENCH_SUBJECT with `{}` — the floor of any request/reply round trip.
 *   BENCH_NATS_URL=… BENCH_SUBJECT=… tsx bench/jobs-responder.ts   → prints "ready".
 */
import { connect } from '@nats-io/transport-node';

const nc = await connect({ servers: process.env['BENCH_NATS_URL'] ?? 'nats://127.0.0.1:4222', noAsyncTraces: true });
const reply = new TextEncoder().encode('{}');
nc.subscribe(process.env['BENCH_SUBJECT'] ?? 'bench.rr', { callback: (_e, msg) => { msg.respond(reply); } });
await nc.flush();
process.stdout.write('ready\n');

const shutdown = (): void => {
  void nc.drain().then(() => process.exit(0));
};
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
